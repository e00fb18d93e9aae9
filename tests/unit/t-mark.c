/* mark: reachability from index entries, tolerant of missing blobs, unsafe on damage. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "json.h"
#include "image.h"
#include "store.h"
#include "mark.h"

struct mimg {
	struct img_digest layer, config, manifest;
	json_t *desc;          /* manifest descriptor */
};

static struct img_store *mkstore(void)
{
	struct img_store *s = NULL;
	char *dir = xasprintf("%s/store", img_test_tmpdir);

	if (img_store_open(dir, IMG_STORE_CREATE, &s) < 0)
		printf("# open: %s\n", img_errmsg());
	free(dir);
	return s;
}

/* An image with one layer of `content` and a config labelled `tag`. */
static int mkimage(struct img_store *s, const char *content, const char *tag, struct mimg *im)
{
	char *cfg, *man;
	int r;

	memset(im, 0, sizeof(*im));
	if (img_blob_put(s, content, strlen(content), &im->layer) < 0)
		return -1;
	cfg = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":"
	                "{\"t\":\"%s\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", tag);
	r = img_blob_put(s, cfg, strlen(cfg), &im->config);
	man = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
	                "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\","
	                "\"digest\":\"%s\",\"size\":%zu}]}", IMG_MT_OCI_MANIFEST, IMG_MT_OCI_CONFIG,
	                im->config.str, strlen(cfg), IMG_MT_OCI_LAYER, im->layer.str,
	                strlen(content));
	if (r == 0)
		r = img_blob_put(s, man, strlen(man), &im->manifest);
	if (r == 0)
		im->desc = img_image_desc_new(IMG_MT_OCI_MANIFEST, &im->manifest, (int64_t)strlen(man));
	free(cfg);
	free(man);
	return r;
}

static json_t *index_of(json_t *d1, json_t *d2)
{
	json_t *ix = json_pack("{s:i, s:[]}", "schemaVersion", 2, "manifests");
	json_t *m = json_object_get(ix, "manifests");

	if (d1)
		json_array_append(m, d1);
	if (d2)
		json_array_append(m, d2);
	return ix;
}

/* Replace a blob's bytes behind the store's back. */
static int damage(struct img_store *s, const struct img_digest *d, const char *bytes)
{
	char *rel = img_digest_blobpath(d), *p = xasprintf("%s/%s", img_store_path(s), rel);
	int fd, rc = -1;

	chmod(p, 0644);
	fd = open(p, O_WRONLY | O_TRUNC);
	if (fd >= 0 && write(fd, bytes, strlen(bytes)) == (ssize_t)strlen(bytes))
		rc = 0;
	if (fd >= 0)
		close(fd);
	free(rel);
	free(p);
	return rc;
}

TEST(mark_index_reaches_all)
{
	struct img_store *s = mkstore();
	struct mimg a, b;
	struct img_digest loose;
	struct img_mark m = { 0 };
	json_t *ix;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(mkimage(s, "layer a", "a", &a), 0);
	IMG_ASSERT_EQ_INT(mkimage(s, "layer b", "b", &b), 0);
	IMG_ASSERT_EQ_INT(img_blob_put(s, "loose", 5, &loose), 0);
	ix = index_of(a.desc, b.desc);
	IMG_ASSERT_EQ_INT(img_mark_index(&m, s, ix, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(m.unsafe, 0);
	IMG_ASSERT_EQ_INT(m.set.n, 6);
	/* walk order: parents before children */
	IMG_ASSERT_EQ_STR(m.set.e[0].d.str, a.manifest.str);
	IMG_ASSERT_EQ_INT(m.set.e[0].flags, IMG_MARK_EXPANDED);
	IMG_ASSERT(img_dset_find(&m.set, &a.config) != NULL);
	IMG_ASSERT(img_dset_find(&m.set, &a.layer) != NULL);
	IMG_ASSERT(img_dset_find(&m.set, &b.layer) != NULL);
	IMG_ASSERT_EQ_INT(img_dset_find(&m.set, &b.layer)->flags, 0);
	IMG_ASSERT(img_dset_find(&m.set, &loose) == NULL);
	img_mark_clear(&m);
	IMG_ASSERT_EQ_INT(m.set.n, 0);
	json_decref(ix);
	json_decref(a.desc);
	json_decref(b.desc);
	img_store_close(s);
}

static int pick_first(json_t *e, void *arg)
{
	return e == arg;
}

struct counts { size_t visits, fresh; };

static int count_visit(struct img_mark *m, struct img_store *s, const struct img_desc *d,
                       size_t idx, int isnew)
{
	struct counts *c = m->arg;

	(void)s;
	if (strcmp(m->set.e[idx].d.str, d->digest.str) != 0)
		return -1;
	c->visits++;
	c->fresh += isnew != 0;
	return 0;
}

/* pick limits the roots; the visit hook sees each descriptor, a digest met twice once new. */
TEST(mark_pick_and_visit)
{
	struct img_store *s = mkstore();
	struct mimg a, b;
	struct counts c = { 0 };
	struct img_mark m = { .visit = count_visit, .arg = &c };
	json_t *ix;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(mkimage(s, "layer a", "a", &a), 0);
	IMG_ASSERT_EQ_INT(mkimage(s, "layer b", "b", &b), 0);
	ix = index_of(a.desc, b.desc);
	IMG_ASSERT_EQ_INT(img_mark_index(&m, s, ix, pick_first,
	                                 json_array_get(json_object_get(ix, "manifests"), 0)), 0);
	IMG_ASSERT_EQ_INT(m.set.n, 3);
	IMG_ASSERT(img_dset_find(&m.set, &b.manifest) == NULL);
	IMG_ASSERT_EQ_INT(c.visits, 3);
	/* the same image again from its descriptor: met again, nothing new, not descended */
	{
		struct img_desc d;
		IMG_ASSERT_EQ_INT(img_image_desc_parse(a.desc, &d), 0);
		IMG_ASSERT_EQ_INT(img_mark_desc(&m, s, &d), 0);
	}
	IMG_ASSERT_EQ_INT(c.visits, 4);
	IMG_ASSERT_EQ_INT(c.fresh, 3);
	IMG_ASSERT_EQ_INT(m.set.n, 3);
	img_mark_clear(&m);
	IMG_ASSERT(m.visit == count_visit);             /* settings survive a clear */
	json_decref(ix);
	json_decref(a.desc);
	json_decref(b.desc);
	img_store_close(s);
}

/* A missing manifest is marked and is no reason to stop; a damaged one makes it unsafe. */
TEST(mark_missing_vs_damaged)
{
	struct img_store *s = mkstore();
	struct mimg a;
	struct img_digest absent;
	struct img_mark m = { 0 };
	json_t *ix, *gone;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(mkimage(s, "layer a", "a", &a), 0);
	img_digest_buf("not stored", 10, &absent);
	gone = img_image_desc_new(IMG_MT_OCI_MANIFEST, &absent, 10);
	ix = index_of(gone, a.desc);
	IMG_ASSERT_EQ_INT(img_mark_index(&m, s, ix, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(m.unsafe, 0);
	IMG_ASSERT(img_dset_find(&m.set, &absent) != NULL);
	IMG_ASSERT_EQ_INT(m.set.n, 4);
	img_mark_clear(&m);

	IMG_ASSERT_EQ_INT(damage(s, &a.manifest, "{\"schemaVersion\": 2,"), 0);
	IMG_ASSERT_EQ_INT(img_mark_index(&m, s, ix, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(m.unsafe, 1);
	IMG_ASSERT(m.why != NULL);
	IMG_ASSERT(strstr(m.why, img_digest_hex(&a.manifest)) != NULL);
	img_mark_clear(&m);
	IMG_ASSERT_EQ_INT(m.unsafe, 0);
	IMG_ASSERT(m.why == NULL);

	/* no_probe: the damage goes unnoticed (the caller checks by other means) */
	m.no_probe = 1;
	IMG_ASSERT_EQ_INT(img_mark_index(&m, s, ix, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(m.unsafe, 0);
	img_mark_clear(&m);
	json_decref(ix);
	json_decref(gone);
	json_decref(a.desc);
	img_store_close(s);
}

TEST(mark_bad_index_unsafe)
{
	struct img_store *s = mkstore();
	struct img_mark m = { 0 };
	json_t *ix;

	IMG_ASSERT(s != NULL);
	ix = json_pack("{s:i}", "schemaVersion", 2);
	IMG_ASSERT_EQ_INT(img_mark_index(&m, s, ix, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(m.unsafe, 1);
	IMG_ASSERT_EQ_STR(m.why, "index.json: no manifests array");
	img_mark_clear(&m);
	json_decref(ix);
	ix = json_pack("{s:i, s:[{s:s}, {s:s}]}", "schemaVersion", 2, "manifests",
	               "digest", "sha256:nothex", "digest", "also bad");
	IMG_ASSERT_EQ_INT(img_mark_index(&m, s, ix, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(m.unsafe, 1);
	/* the first reason is kept */
	IMG_ASSERT(strncmp(m.why, "index.json: entry 0: ", 21) == 0);
	img_mark_clear(&m);
	json_decref(ix);
	img_store_close(s);
}
