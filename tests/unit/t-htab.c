/* htab: the hash index. */
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util.h"
#include "htab.h"

struct words { char **v; size_t n, cap; struct img_htab t; };

static int word_eq(size_t idx, const void *key, const void *arg)
{
	return strcmp(((const struct words *)arg)->v[idx], key) == 0;
}

static size_t word_find(const struct words *w, const char *s)
{
	return img_htab_find(&w->t, img_htab_fnv(s, strlen(s)), word_eq, s, w);
}

TEST(htab_fnv)
{
	/* FNV-1a 64 test vectors */
	IMG_ASSERT(img_htab_fnv("", 0) == 0xcbf29ce484222325ULL);
	IMG_ASSERT(img_htab_fnv("a", 1) == 0xaf63dc4c8601ec8cULL);
	IMG_ASSERT(img_htab_fnv("foobar", 6) == 0x85944171f73967e8ULL);
}

TEST(htab_find_add_grow)
{
	struct words w = { 0 };
	char buf[32];

	IMG_ASSERT(word_find(&w, "x") == IMG_HTAB_NONE);                  /* empty: no slots */
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof buf, "w%d", i);
		IMG_ASSERT(word_find(&w, buf) == IMG_HTAB_NONE);
		IMG_GROW(w.v, w.n + 1, w.cap);
		w.v[w.n] = xstrdup(buf);
		img_htab_add(&w.t, img_htab_fnv(buf, strlen(buf)), w.n++);
	}
	IMG_ASSERT(w.t.cap >= 2 * w.t.n);
	IMG_ASSERT_EQ_INT(w.t.n, 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof buf, "w%d", i);
		IMG_ASSERT_EQ_INT(word_find(&w, buf), i);
	}
	IMG_ASSERT(word_find(&w, "w5000") == IMG_HTAB_NONE);
	for (size_t i = 0; i < w.n; i++)
		free(w.v[i]);
	free(w.v);
	img_htab_clear(&w.t);
	IMG_ASSERT(word_find(&w, "w1") == IMG_HTAB_NONE);
}

TEST(htab_hash_only_and_collisions)
{
	struct img_htab t = { 0 };

	/* eq NULL: equal hashes match (a set of hashes) */
	img_htab_add(&t, 42, 0);
	IMG_ASSERT_EQ_INT(img_htab_find(&t, 42, NULL, NULL, NULL), 0);
	IMG_ASSERT(img_htab_find(&t, 43, NULL, NULL, NULL) == IMG_HTAB_NONE);
	/* many entries under one slot: probing finds each by its own hash */
	for (size_t i = 1; i < 100; i++)
		img_htab_add(&t, 42 + i * 1024, i);
	for (size_t i = 1; i < 100; i++)
		IMG_ASSERT_EQ_INT(img_htab_find(&t, 42 + i * 1024, NULL, NULL, NULL), i);
	img_htab_clear(&t);
}
