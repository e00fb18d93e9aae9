/* dset: a hash set of digests in insertion order. */
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "dset.h"

static void digest_of(unsigned i, struct img_digest *d)
{
	char buf[32];

	snprintf(buf, sizeof buf, "blob %u", i);
	img_digest_buf(buf, strlen(buf), d);
}

TEST(dset_add_find)
{
	struct img_dset s = { 0 };
	struct img_digest a, b, c;
	struct img_dset_entry *e;
	int isnew = -1;

	digest_of(1, &a);
	digest_of(2, &b);
	digest_of(3, &c);
	IMG_ASSERT(img_dset_find(&s, &a) == NULL);      /* an empty set has no table yet */
	e = img_dset_add(&s, &a, &isnew);
	IMG_ASSERT_EQ_INT(isnew, 1);
	IMG_ASSERT_EQ_INT(e->flags, 0);
	IMG_ASSERT_EQ_STR(e->d.str, a.str);
	e->flags = 5;
	img_dset_add(&s, &b, NULL);
	e = img_dset_add(&s, &a, &isnew);
	IMG_ASSERT_EQ_INT(isnew, 0);
	IMG_ASSERT_EQ_INT(e->flags, 5);                 /* the same entry, flags kept */
	IMG_ASSERT_EQ_INT(s.n, 2);
	IMG_ASSERT(img_dset_find(&s, &b) == &s.e[1]);
	IMG_ASSERT(img_dset_find(&s, &c) == NULL);
	img_dset_clear(&s);
	IMG_ASSERT_EQ_INT(s.n, 0);
	IMG_ASSERT(img_dset_find(&s, &a) == NULL);
	img_dset_add(&s, &c, &isnew);                   /* usable again after clear */
	IMG_ASSERT_EQ_INT(isnew, 1);
	img_dset_clear(&s);
}

/* Many entries: the table grows, the order of insertion and every index stay. */
TEST(dset_grow_keeps_order)
{
	struct img_dset s = { 0 };
	struct img_digest d;
	unsigned i, n = 5000;

	for (i = 0; i < n; i++) {
		digest_of(i, &d);
		img_dset_add(&s, &d, NULL)->flags = i;
	}
	for (i = 0; i < n; i += 7) {
		digest_of(i, &d);
		img_dset_add(&s, &d, NULL);             /* again: no new entry */
	}
	IMG_ASSERT_EQ_INT(s.n, n);
	IMG_ASSERT(s.tabcap >= 2 * s.n);
	for (i = 0; i < n; i++) {
		struct img_dset_entry *e;
		digest_of(i, &d);
		IMG_ASSERT_EQ_STR(s.e[i].d.str, d.str);
		e = img_dset_find(&s, &d);
		IMG_ASSERT(e == &s.e[i]);
		IMG_ASSERT_EQ_INT(e->flags, i);
	}
	digest_of(n, &d);
	IMG_ASSERT(img_dset_find(&s, &d) == NULL);
	img_dset_clear(&s);
}

/* The same hex under two algorithms are two digests. */
TEST(dset_alg_distinct)
{
	struct img_dset s = { 0 };
	struct img_digest a, b;

	IMG_ASSERT_EQ_INT(img_digest_parse("sha512:" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &a), 0);
	IMG_ASSERT_EQ_INT(img_digest_parse("sha256:" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &b), 0);
	img_dset_add(&s, &a, NULL);
	IMG_ASSERT(img_dset_find(&s, &b) == NULL);
	img_dset_add(&s, &b, NULL);
	IMG_ASSERT_EQ_INT(s.n, 2);
	IMG_ASSERT(img_dset_find(&s, &a) == &s.e[0]);
	IMG_ASSERT(img_dset_find(&s, &b) == &s.e[1]);
	img_dset_clear(&s);
}
