/* util: the last error text; json: strings of file names. */
#include <errno.h>
#include "test.h"
#include "util.h"

/* A message that wraps the last one (img_seterr("x: %s", img_errmsg())) keeps it whole. */
TEST(seterr_wraps_itself)
{
	img_seterr("JSON nested deeper than %d levels", 64);
	img_seterr("manifest.json: %s", img_errmsg());
	IMG_ASSERT_EQ_STR(img_errmsg(), "manifest.json: JSON nested deeper than 64 levels");
	img_seterr("'%s': %s", "a", img_errmsg());
	IMG_ASSERT_EQ_STR(img_errmsg(), "'a': manifest.json: JSON nested deeper than 64 levels");
	errno = ENOENT;
	img_seterr_errno("x %s", img_errmsg());
	IMG_ASSERT_EQ_STR(img_errmsg(),
	                  "x 'a': manifest.json: JSON nested deeper than 64 levels: No such file or directory");
}

#include <stdlib.h>
#include "json.h"

/* File names that are not UTF-8 still get a JSON string: bad bytes as U+FFFD. */
TEST(json_string_lossy)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain/ascii", "plain/ascii" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "bad-\xff\xfe", "bad-\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },                /* overlong "/" */
		{ "\xed\xa0\x80x", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx" }, /* a surrogate */
		{ "cut\xe2\x82", "cut\xef\xbf\xbd\xef\xbf\xbd" },           /* truncated */
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = img_json_string_lossy(cases[i].in);
		IMG_ASSERT(j != NULL);
		IMG_ASSERT_EQ_STR(json_string_value(j), cases[i].out);
		json_decref(j);
	}
}

/* Error lines cut what they name to IMG_SHOWN_MAX bytes, never inside a UTF-8 sequence. */
TEST(escape_cut)
{
	char in[400], *e;

	memset(in, 'a', sizeof in - 1);
	in[sizeof in - 1] = '\0';
	e = img_util_escape_cut(in);
	IMG_ASSERT_EQ_INT(strlen(e), IMG_SHOWN_MAX);
	IMG_ASSERT(strcmp(e + strlen(e) - 3, "\xe2\x80\xa6") == 0);
	free(e);
	for (size_t i = 0; i + 2 < sizeof in - 1; i += 2)
		memcpy(in + i, "\xc3\xa9", 2);   /* é */
	e = img_util_escape_cut(in);
	IMG_ASSERT(strlen(e) <= IMG_SHOWN_MAX);
	IMG_ASSERT(strcmp(e + strlen(e) - 5, "\xc3\xa9\xe2\x80\xa6") == 0);
	free(e);
	e = img_util_escape_cut("short\n");
	IMG_ASSERT_EQ_STR(e, "short\\012");
	free(e);
}

TEST(util_grow)
{
	int *v = NULL;
	size_t cap = 0;

	IMG_GROW(v, 1, cap);
	IMG_ASSERT_EQ_INT(cap, 16);
	v[0] = 7;
	IMG_GROW(v, 16, cap);
	IMG_ASSERT_EQ_INT(cap, 16);                                      /* room already */
	IMG_GROW(v, 100, cap);
	IMG_ASSERT_EQ_INT(cap, 128);
	IMG_ASSERT_EQ_INT(v[0], 7);
	v[99] = 1;
	free(v);
}

TEST(util_seterr_prefix)
{
	char big[2000];

	img_seterr("why");
	img_seterr_prefix("blob %s", "x");
	IMG_ASSERT_EQ_STR(img_errmsg(), "blob x: why");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	img_seterr("%s", big);                                          /* cut, still a string */
	img_seterr_prefix("p");
	IMG_ASSERT(strncmp(img_errmsg(), "p: aaa", 6) == 0);
	IMG_ASSERT(strlen(img_errmsg()) < 1024);
}

TEST(util_shown)
{
	char big[600];
	const char *a, *b;

	a = img_util_shown("a\tb");
	b = img_util_shown(NULL);
	IMG_ASSERT_EQ_STR(a, "a\\011b");                              /* both still valid */
	IMG_ASSERT_EQ_STR(b, "");
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	a = img_util_shown(big);
	IMG_ASSERT_EQ_INT(strlen(a), IMG_SHOWN_MAX);                    /* cut, with U+2026 */
	IMG_ASSERT(strcmp(a + IMG_SHOWN_MAX - 3, "\xe2\x80\xa6") == 0);
	img_seterr("cannot open '%s' or '%s'", img_util_shown("p1"), img_util_shown("p\n2"));
	IMG_ASSERT_EQ_STR(img_errmsg(), "cannot open 'p1' or 'p\\0122'");
}

TEST(util_path_fold)
{
	static const struct { const char *in, *lax, *strict; } c[] = {
		{ "a/b/c", "a/b/c", "a/b/c" },
		{ "/a//b/./c/", "a/b/c", "a/b/c" },
		{ "a/b/../c", "a/c", "a/c" },
		{ "a/../../b", "b", NULL },
		{ "../a", "a", NULL },
		{ "a/..", "", "" },
		{ ".", "", "" },
		{ "", "", "" },
		{ "a/b/../../..", "", NULL },
		{ "..a/b..", "..a/b..", "..a/b.." },
	};

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char *l = img_util_path_fold(c[i].in, 0), *s = img_util_path_fold(c[i].in, 1);
		IMG_ASSERT_EQ_STR(l, c[i].lax);
		if (c[i].strict)
			IMG_ASSERT_EQ_STR(s, c[i].strict);
		else
			IMG_ASSERT(s == NULL);
		free(l);
		free(s);
	}
}
