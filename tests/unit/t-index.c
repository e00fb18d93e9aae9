/* index: name edits of an index document (JSON only). */
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "image.h"
#include "index.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DR "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static json_t *desc(const char *digest)
{
	struct img_digest d;

	if (img_digest_parse(digest, &d) < 0)
		return NULL;
	return img_image_desc_new(IMG_MT_OCI_MANIFEST, &d, 100);
}

static json_t *index_of(const char *manifests)
{
	char *t = xasprintf("{\"schemaVersion\":2,\"manifests\":[%s]}", manifests);
	json_t *j = json_loads(t, 0, NULL);

	free(t);
	return j;
}

static json_t *entry(json_t *ix, size_t i)
{
	return json_array_get(json_object_get(ix, "manifests"), i);
}

static size_t count(json_t *ix)
{
	return json_array_size(json_object_get(ix, "manifests"));
}

struct names { char v[8][512]; size_t n; };

static void note(const char *canon, void *arg)
{
	struct names *nm = arg;

	if (nm->n < 8)
		snprintf(nm->v[nm->n++], 512, "%s", canon);
}

TEST(index_entry_fields)
{
	json_t *e = json_loads("{\"digest\":\"" DA "\",\"annotations\":{\"org.opencontainers.image.ref.name\":"
	                       "\"v3\",\"x\":1}}", 0, NULL);
	char buf[512];

	IMG_ASSERT_EQ_STR(img_index_entry_digest(e), DA);
	IMG_ASSERT_EQ_STR(img_index_entry_annotation(e, IMG_ANN_REF_NAME), "v3");
	IMG_ASSERT(img_index_entry_annotation(e, "x") == NULL);          /* not a string */
	IMG_ASSERT(img_index_entry_name(e, buf, sizeof buf) == NULL);     /* a bare tag */
	IMG_ASSERT_EQ_INT(img_index_entry_named(e), 1);                   /* ... is a name */
	img_index_entry_set_name(e, "docker.io/library/a:1");
	IMG_ASSERT_EQ_STR(img_index_entry_name(e, buf, sizeof buf), "docker.io/library/a:1");
	IMG_ASSERT_EQ_STR(img_index_entry_annotation(e, IMG_ANN_CTR_NAME), "docker.io/library/a:1");
	img_index_entry_set_name(e, NULL);
	IMG_ASSERT_EQ_INT(img_index_entry_named(e), 0);
	IMG_ASSERT(json_object_get(e, "annotations") != NULL);            /* "x" stays */
	json_object_del(json_object_get(e, "annotations"), "x");
	img_index_entry_set_name(e, "docker.io/library/a:1");
	img_index_entry_set_name(e, NULL);
	IMG_ASSERT(json_object_get(e, "annotations") == NULL);            /* empty: gone */
	json_object_set_new(e, "annotations", json_string("odd"));
	img_index_entry_set_name(e, "docker.io/library/a:1");             /* replaced */
	IMG_ASSERT_EQ_STR(img_index_entry_annotation(e, IMG_ANN_REF_NAME), "docker.io/library/a:1");
	IMG_ASSERT(img_index_entry_digest(NULL) == NULL);
	json_decref(e);
}

TEST(index_put_and_find)
{
	json_t *ix = index_of(""), *a = desc(DA), *b = desc(DB);
	const char *names[] = { "docker.io/library/a:1", "docker.io/library/a:2" };

	IMG_ASSERT_EQ_INT(img_index_put(ix, a, names, 2), 0);
	IMG_ASSERT_EQ_INT(count(ix), 2);
	IMG_ASSERT_EQ_INT(img_index_put(ix, b, NULL, 0), 0);              /* unnamed */
	IMG_ASSERT_EQ_INT(count(ix), 3);
	IMG_ASSERT_EQ_INT(img_index_put(ix, b, NULL, 0), 0);              /* once only */
	IMG_ASSERT_EQ_INT(count(ix), 3);
	IMG_ASSERT_EQ_INT(img_index_find_name(ix, "docker.io/library/a:2"), 1);
	IMG_ASSERT_EQ_INT(img_index_find_name(ix, "docker.io/library/a:3"), -1);
	/* naming b reuses its unnamed entry */
	IMG_ASSERT_EQ_INT(img_index_put(ix, b, &names[1], 1), 0);
	IMG_ASSERT_EQ_INT(count(ix), 2);
	IMG_ASSERT_EQ_INT(img_index_find_name(ix, "docker.io/library/a:2"), 1);
	IMG_ASSERT_EQ_STR(img_index_entry_digest(entry(ix, 1)), DB);
	/* an invalid name fails and says which */
	names[0] = "Bad Name";
	IMG_ASSERT_EQ_INT(img_index_put(ix, a, names, 1), -1);
	IMG_ASSERT(strstr(img_errmsg(), "invalid name 'Bad Name': ") == img_errmsg());
	json_decref(ix);
	ix = json_object();
	IMG_ASSERT_EQ_INT(img_index_put(ix, a, NULL, 0), -1);             /* no manifests */
	json_decref(a);
	json_decref(b);
	json_decref(ix);
}

TEST(index_untag)
{
	/* a has two names, b one and a referrer r; u is unnamed */
	json_t *ix = index_of(
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DA "\",\"size\":1,"
		" \"annotations\":{\"io.containerd.image.name\":\"docker.io/library/a:1\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DA "\",\"size\":1,"
		" \"annotations\":{\"io.containerd.image.name\":\"docker.io/library/a:2\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DB "\",\"size\":1,"
		" \"annotations\":{\"org.opencontainers.image.ref.name\":\"b:1\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DR "\",\"size\":1,"
		" \"annotations\":{\"io.containerd.manifest.subject\":\"" DB "\"}}");
	struct names nm = { .n = 0 };
	json_t *deleted = NULL;

	IMG_ASSERT_EQ_INT(img_index_untag(ix, "docker.io/library/x:1", note, &nm, &deleted), 0);
	IMG_ASSERT_EQ_INT(count(ix), 4);
	/* a:1 goes; a keeps a:2, so the entry left unnamed goes and the image stays */
	IMG_ASSERT_EQ_INT(img_index_untag(ix, "docker.io/library/a:1", note, &nm, &deleted), 1);
	IMG_ASSERT(deleted == NULL);
	IMG_ASSERT_EQ_INT(nm.n, 1);
	IMG_ASSERT_EQ_STR(nm.v[0], "docker.io/library/a:1");
	IMG_ASSERT_EQ_INT(count(ix), 3);
	IMG_ASSERT_EQ_INT(img_index_find_name(ix, "docker.io/library/a:2"), 0);
	/* b's last name: b goes with its referrer */
	IMG_ASSERT_EQ_INT(img_index_untag(ix, "docker.io/library/b:1", note, &nm, &deleted), 1);
	IMG_ASSERT(deleted != NULL);
	IMG_ASSERT_EQ_STR(img_index_entry_digest(deleted), DB);
	IMG_ASSERT_EQ_INT(count(ix), 1);
	IMG_ASSERT_EQ_STR(img_index_entry_digest(entry(ix, 0)), DA);
	json_decref(deleted);
	json_decref(ix);
}

TEST(index_remove_image)
{
	json_t *ix = index_of(
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DA "\",\"size\":1,"
		" \"annotations\":{\"io.containerd.image.name\":\"docker.io/library/a:1\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DB "\",\"size\":1},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DA "\",\"size\":1,"
		" \"annotations\":{\"io.containerd.image.name\":\"quay.io/x/a:1\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DR "\",\"size\":1,"
		" \"annotations\":{\"io.containerd.manifest.subject\":\"" DA "\","
		"  \"org.opencontainers.image.ref.name\":\"r:1\"}}");
	struct names nm = { .n = 0 };
	json_t *deleted = NULL;

	img_index_remove_image(ix, DA, note, &nm, &deleted);
	IMG_ASSERT_EQ_INT(nm.n, 2);
	IMG_ASSERT_EQ_STR(nm.v[0], "docker.io/library/a:1");
	IMG_ASSERT_EQ_STR(nm.v[1], "quay.io/x/a:1");
	IMG_ASSERT_EQ_STR(img_index_entry_name(deleted, nm.v[2], 512), "docker.io/library/a:1");
	/* b stays, and the referrer too: it has a name of its own */
	IMG_ASSERT_EQ_INT(count(ix), 2);
	IMG_ASSERT_EQ_STR(img_index_entry_digest(entry(ix, 0)), DB);
	IMG_ASSERT_EQ_STR(img_index_entry_digest(entry(ix, 1)), DR);
	json_decref(deleted);
	img_index_remove_image(ix, DA, NULL, NULL, &deleted);             /* nothing left */
	IMG_ASSERT(deleted == NULL);
	IMG_ASSERT_EQ_INT(count(ix), 2);
	json_decref(ix);
}
