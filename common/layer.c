/* layer: layer digests and whiteouts (see layer.h). */
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "digest.h"
#include "layer.h"

/* ---- layer digests ---- */

struct img_layer_sum {
	struct img_hash *blob, *diff;
	struct img_decomp *dc;
	enum img_comp comp;
	unsigned max_ratio;
	unsigned char head[8];
	size_t head_n;
	int sniffed, failed;
	uint64_t in;
};

static int ls_sink(void *arg, const void *buf, size_t n)
{
	struct img_layer_sum *ls = arg;
	uint64_t out = img_comp_dec_out(ls->dc);

	if (out > IMG_LAYER_BOMB_MIN && out / ls->max_ratio > ls->in) {
		img_seterr("decompressed layer exceeds %u times its compressed size", ls->max_ratio);
		return -1;
	}
	img_digest_hash_update(ls->diff, buf, n);
	return 0;
}

struct img_layer_sum *img_layer_sum_new(unsigned max_ratio)
{
	struct img_layer_sum *ls = xcalloc(1, sizeof *ls);

	ls->max_ratio = max_ratio ? max_ratio : 100;
	ls->blob = img_digest_hash_new(IMG_SHA256);
	ls->diff = img_digest_hash_new(IMG_SHA256);
	if (!ls->blob || !ls->diff) {
		img_layer_sum_free(ls);
		return NULL;
	}
	return ls;
}

static int ls_start(struct img_layer_sum *ls)
{
	ls->sniffed = 1;
	ls->comp = img_comp_sniff(ls->head, ls->head_n);
	if (ls->comp == IMG_COMP_NONE)
		return 0;
	ls->dc = img_comp_dec_new(ls->comp, 0, ls_sink, ls);
	if (!ls->dc)
		return -1;
	return img_comp_dec_write(ls->dc, ls->head, ls->head_n);
}

int img_layer_sum_write(struct img_layer_sum *ls, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	if (ls->failed) {
		img_seterr("layer digest used after an error");
		return -1;
	}
	img_digest_hash_update(ls->blob, buf, n);
	ls->in += n;
	if (!ls->sniffed) {
		size_t k = sizeof ls->head - 2 - ls->head_n;   /* 6 bytes decide */
		if (k > n)
			k = n;
		memcpy(ls->head + ls->head_n, p, k);
		ls->head_n += k;
		p += k;
		n -= k;
		if (ls->head_n < 6)
			return 0;
		if (ls_start(ls) < 0)
			goto fail;
	}
	if (ls->comp == IMG_COMP_NONE || n == 0)
		return 0;
	if (img_comp_dec_write(ls->dc, p, n) < 0)
		goto fail;
	return 0;
fail:
	ls->failed = 1;
	return -1;
}

int img_layer_sum_finish(struct img_layer_sum *ls, struct img_digest *blob,
                         struct img_digest *diff_id, enum img_comp *comp,
                         uint64_t *blob_size, uint64_t *diff_size)
{
	struct img_digest b, d;

	if (ls->failed) {
		img_seterr("layer digest used after an error");
		return -1;
	}
	if (!ls->sniffed && ls_start(ls) < 0)
		goto fail;
	if (ls->dc && img_comp_dec_finish(ls->dc) < 0)
		goto fail;
	img_digest_hash_final(ls->blob, &b);
	if (ls->comp == IMG_COMP_NONE)
		d = b;
	else
		img_digest_hash_final(ls->diff, &d);
	if (blob)
		*blob = b;
	if (diff_id)
		*diff_id = d;
	if (comp)
		*comp = ls->comp;
	if (blob_size)
		*blob_size = ls->in;
	if (diff_size)
		*diff_size = ls->dc ? img_comp_dec_out(ls->dc) : ls->in;
	return 0;
fail:
	ls->failed = 1;
	return -1;
}

void img_layer_sum_free(struct img_layer_sum *ls)
{
	if (!ls)
		return;
	img_comp_dec_free(ls->dc);
	img_digest_hash_free(ls->blob);
	img_digest_hash_free(ls->diff);
	free(ls);
}

/* ---- whiteouts (formats.md §5.4) ---- */

#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."
#define WH_OPQ ".wh..wh..opq"

int img_layer_whiteout(const char *path, char **target)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dirlen = slash ? (size_t)(slash - path) : 0;
	const char *name;

	*target = NULL;
	if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) != 0)
		return 0;
	if (strcmp(base, WH_OPQ) == 0) {
		*target = xstrndup(path, dirlen);
		return 2;
	}
	if (strncmp(base, WH_META, strlen(WH_META)) == 0)
		return 3;
	name = base + strlen(WH_PREFIX);
	if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		char *e = img_util_escape_cut(path);
		img_seterr("invalid whiteout '%s'", e);
		free(e);
		return -1;
	}
	if (dirlen)
		*target = xasprintf("%.*s/%s", (int)dirlen, path, name);
	else
		*target = xstrdup(name);
	return 1;
}
