/* Fuzz target "layer": the input is a layer blob (a tar stream, any compression). Its
 * digests (img_layer_sum); its records applied into a tree twice, as layers 0 and 1
 * (whiteouts and opaque directories then hit what the first pass made); and the same
 * two layers read ahead in threads and applied, as img-diff does, with a clone. Tar
 * header checksums are made right first (fuzz_tar_fixup). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "tree.h"
#include "fuzz.h"

static int apply_rec(void *arg, const struct img_tree_rec *r)
{
	return img_tree_apply(arg, r);
}

static void removed(void *arg, const struct img_tree_node *node, int last, int layer)
{
	(void)layer;
	if (last && node->ino)
		(*(size_t *)arg)++;
}

static void sums(const uint8_t *data, size_t size)
{
	struct img_layer_sum *ls = img_layer_sum_new(100);
	struct img_digest blob, diff;
	enum img_comp comp;
	uint64_t bs, ds;

	if (img_layer_sum_write(ls, data, size) == 0)
		(void)img_layer_sum_finish(ls, &blob, &diff, &comp, &bs, &ds);
	img_layer_sum_free(ls);
}

/* 0, or -1 when the first pass refused a layer that expands too much (the rest would
 * only decompress the same bytes again). */
static int scan_twice(int fd)
{
	int ret = 0;
	struct img_tree *t = img_tree_new();
	const struct img_tree_node **all = NULL;
	size_t gone = 0;

	img_tree_set_removed(t, removed, &gone);
	for (int l = 0; l < 2; l++) {
		if (lseek(fd, 0, SEEK_SET) < 0)
			break;
		img_tree_layer_begin(t, l);
		int r = img_tree_read_scan_layer(fd, apply_rec, t);
		img_tree_layer_end(t);
		if (r < 0) {
			if (l == 0 && strstr(img_errmsg(), "times its size"))
				ret = -1;
			break;
		}
	}
	size_t n = img_tree_sorted(t, &all);
	if (n != img_tree_count(t))
		abort();
	for (size_t i = 0; i < n; i++)
		if (img_tree_get(t, all[i]->path) != all[i])
			abort();
	free(all);
	img_tree_free(t);
	return ret;
}

static void read_ahead(const uint8_t *data, size_t size)
{
	struct img_tree_job jobs[2] = { { .fd = -1 }, { .fd = -1 } };
	struct img_pathset *want = img_tree_read_pathset_new(), *more = img_tree_read_pathset_new();
	struct img_tree *t = img_tree_new(), *c = NULL;

	for (int i = 0; i < 2; i++) {
		jobs[i].fd = fuzz_memfd(data, size);
		if (jobs[i].fd < 0)
			goto out;
	}
	jobs[1].hash = want;   /* the second layer hashes nothing: img-diff's narrowed pass */
	if (img_tree_read_layers(jobs, 2, 2) < 0)
		goto out;
	img_tree_read_layer_paths(jobs[0].out, want);
	for (int i = 0; i < 2; i++)
		if (img_tree_read_apply_layer(t, i, jobs[i].out) < 0)
			goto out;
	c = img_tree_clone(t);
	if (img_tree_count(c) != img_tree_count(t))
		abort();
	(void)img_tree_read_unhashed(c, want, more);
out:
	for (int i = 0; i < 2; i++) {
		if (jobs[i].fd >= 0)
			close(jobs[i].fd);
		img_tree_read_layer_free(jobs[i].out);
		free(jobs[i].err);
	}
	img_tree_free(c);
	img_tree_free(t);
	img_tree_read_pathset_free(want);
	img_tree_read_pathset_free(more);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *tar = fuzz_tar_fixup(data, size);
	int fd, r = 0;

	fd = fuzz_memfd(tar, size);
	if (fd >= 0) {
		r = scan_twice(fd);
		close(fd);
	}
	if (r == 0) {
		sums(tar, size);
		read_ahead(tar, size);
	}
	free(tar);
	return 0;
}
