/* bstate: an image as a build makes it (see bstate.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "json.h"
#include "image.h"
#include "config.h"
#include "unpack.h"
#include "run.h"
#include "bstate.h"

void
img_bstate_release(struct img_bstate *st)
{
	json_decref(st->config);
	json_decref(st->layers);
	memset(st, 0, sizeof *st);
}

void
img_bstate_copy(struct img_bstate *dst, const struct img_bstate *src)
{
	dst->config = json_deep_copy(src->config);
	dst->layers = json_deep_copy(src->layers);
	dst->manifest = src->manifest;
	dst->mlen = src->mlen;
}

json_t *
img_bstate_cfg(struct img_bstate *st)
{
	json_t *c = json_object_get(st->config, "config");

	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(st->config, "config", c);
	}
	return c;
}

/* The value of K=V entries in arr for k, or NULL. */
const char *
img_bstate_kv_get(json_t *arr, const char *k)
{
	size_t i, kl = strlen(k);
	json_t *v;

	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		if (s && !strncmp(s, k, kl) && s[kl] == '=')
			return s + kl + 1;
	}
	return NULL;
}

void
img_bstate_kv_set(json_t *arr, const char *k, const char *v)
{
	size_t i, kl = strlen(k);
	json_t *e;
	char *kv = xasprintf("%s=%s", k, v);

	json_array_foreach(arr, i, e) {
		const char *s = json_string_value(e);
		if (s && !strncmp(s, k, kl) && s[kl] == '=') {
			json_array_set_new(arr, i, json_string(kv));
			free(kv);
			return;
		}
	}
	json_array_append_new(arr, json_string(kv));
	free(kv);
}

/* Write the config and the manifest of st; st->manifest is the new manifest's digest. */
int
img_bstate_write(struct img_store *s, struct img_bstate *st)
{
	struct img_digest cdig;
	char *cbuf, *mbuf;
	size_t clen, mlen;
	json_t *man;
	int rc = -1;

	cbuf = img_json_dump(st->config, &clen);
	if (img_blob_put(s, cbuf, clen, &cdig) < 0)
		goto out0;
	man = json_object();
	json_object_set_new(man, "schemaVersion", json_integer(2));
	json_object_set_new(man, "mediaType", json_string(IMG_MT_OCI_MANIFEST));
	json_object_set_new(man, "config", img_image_desc_new(IMG_MT_OCI_CONFIG, &cdig, (int64_t)clen));
	json_object_set(man, "layers", st->layers);
	mbuf = img_json_dump(man, &mlen);
	if (img_blob_put(s, mbuf, mlen, &st->manifest) == 0) {
		st->mlen = (int64_t)mlen;
		rc = 0;
	}
	free(mbuf);
	json_decref(man);
out0:
	free(cbuf);
	return rc;
}

/* Read the image of manifest m from the store into st; 1, or 0 when a blob is missing. */
int
img_bstate_read(struct img_store *s, const struct img_digest *m, struct img_bstate *st)
{
	char *buf = NULL;
	size_t len;
	struct img_doc doc;
	json_t *cfg;
	int ok = 0;

	if (img_blob_read(s, m, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		return 0;
	if (img_image_doc_parse(buf, len, NULL, &doc) < 0 || doc.kind != IMG_KIND_MANIFEST) {
		free(buf);
		return 0;
	}
	free(buf);
	buf = NULL;
	for (size_t i = 0; i < doc.n; i++)
		if (img_blob_has(s, &doc.items[i].digest, NULL) != 1)
			goto out;
	if (img_blob_read(s, &doc.config.digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		goto out;
	if (!(cfg = img_json_parse(buf, len, IMG_JSON_MAX_BLOB)))
		goto out;
	memset(st, 0, sizeof *st);
	st->config = cfg;
	st->layers = json_deep_copy(json_object_get(doc.root, "layers"));
	st->manifest = *m;
	ok = 1;
out:
	free(buf);
	img_image_doc_release(&doc);
	return ok;
}

/* The step's history entry (and the layer, if any) added to cur; cur written. */
int
img_bstate_commit(struct img_store *s, struct img_bstate *st, const char *created,
                  const char *created_by, json_t *layer, const struct img_digest *diff_id)
{
	json_object_set_new(st->config, "created", json_string(created));
	img_config_add_history(st->config, created, created_by, "img-build", !layer);
	if (layer) {
		img_config_add_diff_id(st->config, diff_id->str);
		json_array_append_new(st->layers, layer);
	}
	return img_bstate_write(s, st);
}

struct fill { struct img_store *s; struct img_bstate *st; };

static int
fill_state(void *arg, int rootfd)
{
	struct fill *f = arg;
	struct img_unpack *u = img_unpack_new(rootfd, IMG_UNPACK_OWNERS);
	size_t i;
	json_t *l;
	int rc = 0;

	json_array_foreach(f->st->layers, i, l) {
		struct img_digest d;
		int fd;
		if (img_digest_parse(json_string_value(json_object_get(l, "digest")), &d) < 0 ||
		    (fd = img_blob_open(f->s, &d)) < 0) {
			rc = -1;
			break;
		}
		rc = img_unpack_layer(u, fd);
		close(fd);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = img_unpack_finish(u);
	img_unpack_free(u);
	return rc;
}

int
img_bstate_unpack_into(struct img_store *s, struct img_bstate *st, int rootfd)
{
	struct fill f = { s, st };

	return fill_state(&f, rootfd);
}

/* The path of st unpacked (caller frees), or NULL. */
char *
img_bstate_unpacked(struct img_store *s, struct img_bstate *st)
{
	char *root = NULL;
	struct fill f = { s, st };
	int made;

	if (img_run_image(s, &st->manifest, fill_state, &f, &made, &root) < 0)
		return NULL;
	return root;
}

