/* delta: have lists and the left-out annotation of a delta archive. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "json.h"
#include "delta.h"

static void digest_of(const char *s, struct img_digest *d)
{
	img_digest_buf(s, strlen(s), d);
}

TEST(delta_have_lines)
{
	struct img_dset have = { 0 };
	struct img_digest a, b;
	char *la, *lb, *text;
	int p[2];

	digest_of("a", &a);
	digest_of("b", &b);
	la = xasprintf("  %s\t\r", a.str);
	IMG_ASSERT_EQ_INT(img_delta_have_line(&have, la, strlen(la), 1), 0);
	IMG_ASSERT_EQ_INT(img_delta_have_line(&have, "", 0, 2), 0);
	IMG_ASSERT_EQ_INT(img_delta_have_line(&have, "  # a comment", 13, 3), 0);
	IMG_ASSERT_EQ_INT(have.n, 1);
	IMG_ASSERT(img_dset_find(&have, &a) != NULL);
	IMG_ASSERT_EQ_INT(img_delta_have_line(&have, "sha256:abc", 10, 7), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "line 7: invalid digest 'sha256:abc'");
	IMG_ASSERT_EQ_INT(img_delta_have_line(&have, "sha256:\0bc", 10, 8), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "line 8: not a digest");
	img_dset_clear(&have);

	/* from an fd: the last line without its newline counts; a bad line is named */
	lb = xasprintf("%s", b.str);
	text = xasprintf("# have\n%s\n\n%s", a.str, lb);
	IMG_ASSERT_EQ_INT(pipe(p), 0);
	IMG_ASSERT_EQ_INT(write(p[1], text, strlen(text)), (long long)strlen(text));
	close(p[1]);
	IMG_ASSERT_EQ_INT(img_delta_have_read(p[0], &have), 0);
	close(p[0]);
	IMG_ASSERT_EQ_INT(have.n, 2);
	IMG_ASSERT(img_dset_find(&have, &b) != NULL);
	img_dset_clear(&have);
	free(text);
	text = xasprintf("%s\n%s\nnot a digest\n", a.str, b.str);
	IMG_ASSERT_EQ_INT(pipe(p), 0);
	IMG_ASSERT_EQ_INT(write(p[1], text, strlen(text)), (long long)strlen(text));
	close(p[1]);
	IMG_ASSERT_EQ_INT(img_delta_have_read(p[0], &have), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "line 3: invalid digest 'not a digest'");
	close(p[0]);
	img_dset_clear(&have);
	free(text);
	free(la);
	free(lb);
}

TEST(delta_annotation_round_trip)
{
	struct img_delta m = { 0 }, back = { 0 };
	struct img_digest a, b;
	json_t *idx = json_object();
	char *s, *want;
	int64_t size = -1;

	digest_of("a", &a);   /* sha256:ca97... */
	digest_of("b", &b);   /* sha256:3e23... */
	IMG_ASSERT_EQ_INT(img_delta_from_index(idx, &back), 0);
	img_delta_annotate(idx, &m);             /* nothing left out: no annotation */
	IMG_ASSERT(json_object_get(idx, "annotations") == NULL);
	img_delta_add(&m, &a, 20971520);
	img_delta_add(&m, &b, 0);
	img_delta_add(&m, &a, 5);                /* the first size stays */
	s = img_delta_format(&m);
	want = xasprintf("%s=0,%s=20971520", b.str, a.str);
	IMG_ASSERT_EQ_STR(s, want);
	img_delta_annotate(idx, &m);
	IMG_ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(idx, "annotations"),
	                                                    IMG_ANN_DELTA_MISSING)), want);
	IMG_ASSERT_EQ_INT(img_delta_from_index(idx, &back), 1);
	IMG_ASSERT_EQ_INT(back.set.n, 2);
	IMG_ASSERT(img_delta_find(&back, &a, &size) != NULL);
	IMG_ASSERT_EQ_INT(size, 20971520);
	img_delta_find(&back, &a, NULL)->flags = 1;
	free(s);
	s = img_delta_list(&back, 0);
	free(want);
	want = xasprintf("%s, %s", b.str, a.str);
	IMG_ASSERT_EQ_STR(s, want);
	free(s);
	s = img_delta_list(&back, 1);
	IMG_ASSERT_EQ_STR(s, a.str);
	free(s);
	free(want);
	img_delta_clear(&m);
	img_delta_clear(&back);
	json_decref(idx);
}

TEST(delta_annotation_strict)
{
	struct img_delta m = { 0 };
	struct img_digest a, b;
	const char *bad[] = { "x", "=1", "%s", "%s=", "%s=01", "%s=-1", "%s=1,", "%s=1 ",
	                      "%s=9007199254740993", "%s=1,%s=2", NULL };
	json_t *idx;

	digest_of("a", &a);
	digest_of("b", &b);
	for (int i = 0; bad[i]; i++) {
		/* a twice, or a before b: unsorted */
		char *v = xasprintf(bad[i], a.str, b.str);
		IMG_ASSERT_EQ_INT(img_delta_parse(v, &m), -1);
		IMG_ASSERT_EQ_INT(m.set.n, 0);
		free(v);
	}
	IMG_ASSERT_EQ_INT(img_delta_parse("", &m), 0);
	IMG_ASSERT_EQ_INT(m.set.n, 0);
	idx = json_pack("{s:[s]}", "annotations", "x");
	IMG_ASSERT_EQ_INT(img_delta_from_index(idx, &m), 0);   /* not ours to judge */
	json_decref(idx);
	idx = json_pack("{s:{s:i}}", "annotations", IMG_ANN_DELTA_MISSING, 1);
	IMG_ASSERT_EQ_INT(img_delta_from_index(idx, &m), -1);
	json_decref(idx);
	idx = json_pack("{s:{s:s}}", "annotations", IMG_ANN_DELTA_MISSING, "sha256:zz=1");
	IMG_ASSERT_EQ_INT(img_delta_from_index(idx, &m), -1);
	IMG_ASSERT(strstr(img_errmsg(), "annotation org.img.delta.missing: item 1: invalid digest") != NULL);
	json_decref(idx);
	img_delta_clear(&m);
}
