#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "ref.h"
#include "util.h"

#define H64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H64U "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
#define H128 H64 H64

/* input, canonical, familiar */
static const struct { const char *in, *canon, *fam; } good[] = {
	/* formats.md §6.3 table */
	{ "nginx", "docker.io/library/nginx:latest", "nginx:latest" },
	{ "nginx:v3", "docker.io/library/nginx:v3", "nginx:v3" },
	{ "foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest" },
	{ "index.docker.io/foo", "docker.io/library/foo:latest", "foo:latest" },
	{ "localhost/foo", "localhost/foo:latest", "localhost/foo:latest" },
	{ "localhost:5000/foo:1", "localhost:5000/foo:1", "localhost:5000/foo:1" },
	{ "Registry.Example.com/x", "Registry.Example.com/x:latest", "Registry.Example.com/x:latest" },
	{ "example.com", "docker.io/library/example.com:latest", "example.com:latest" },
	{ "nginx:1@sha256:" H64, "docker.io/library/nginx@sha256:" H64, "nginx@sha256:" H64 },
	/* §6.3 text */
	{ "docker.io/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest" },
	{ "docker.io/library/nginx:latest", "docker.io/library/nginx:latest", "nginx:latest" },
	{ "docker.io/foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest" },
	{ "index.docker.io/library/nginx:v3", "docker.io/library/nginx:v3", "nginx:v3" },
	{ "index.docker.io/foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest" },
	/* library/ dropped only when it is the sole namespace */
	{ "library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest" },
	{ "library/nginx", "docker.io/library/nginx:latest", "nginx:latest" },
	/* digest only, sha512, tag shapes */
	{ "nginx@sha256:" H64, "docker.io/library/nginx@sha256:" H64, "nginx@sha256:" H64 },
	{ "quay.io/a/b@sha512:" H128, "quay.io/a/b@sha512:" H128, "quay.io/a/b@sha512:" H128 },
	{ "nginx:V3_x.1-rc", "docker.io/library/nginx:V3_x.1-rc", "nginx:V3_x.1-rc" },
	{ "nginx:_x", "docker.io/library/nginx:_x", "nginx:_x" },
	/* separators, domains */
	{ "foo/a.b_c__d-e---f", "docker.io/foo/a.b_c__d-e---f:latest", "foo/a.b_c__d-e---f:latest" },
	{ "[::1]:5000/foo:v1", "[::1]:5000/foo:v1", "[::1]:5000/foo:v1" },
	{ "192.168.1.1:5000/a/b/c", "192.168.1.1:5000/a/b/c:latest", "192.168.1.1:5000/a/b/c:latest" },
	{ "my-registry.local:443/team/app:2024.01", "my-registry.local:443/team/app:2024.01",
	  "my-registry.local:443/team/app:2024.01" },
	{ "Foo/bar", "Foo/bar:latest", "Foo/bar:latest" },   /* an uppercase first element is a domain */
	{ "localhost:5000", "docker.io/library/localhost:5000", "localhost:5000" }, /* name:tag */
	{ "3f2a1b", "docker.io/library/3f2a1b:latest", "3f2a1b:latest" }, /* short hex is a name */
};

TEST(ref_parse_examples)
{
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct img_ref r;
		char *c, *f, *n;
		if (img_ref_parse(good[i].in, &r) != 0) {
			printf("# %s: %s\n", good[i].in, img_errmsg());
			IMG_ASSERT(0);
		}
		c = img_ref_canonical(&r);
		f = img_ref_familiar(&r);
		n = img_ref_normalize(good[i].in);
		img_ref_release(&r);
		if (strcmp(c, good[i].canon) != 0 || strcmp(f, good[i].fam) != 0 || strcmp(n, c) != 0) {
			printf("# %s: got %s / %s / %s\n", good[i].in, c, f, n);
			img_test_failed = 1;
		}
		free(c);
		free(f);
		free(n);
		IMG_ASSERT(!img_test_failed);
	}
}

TEST(ref_fields)
{
	struct img_ref r;
	char *s;

	IMG_ASSERT_EQ_INT(img_ref_parse("nginx:v3", &r), 0);
	IMG_ASSERT_EQ_STR(r.domain, "docker.io");
	IMG_ASSERT_EQ_STR(r.path, "library/nginx");
	IMG_ASSERT_EQ_STR(r.tag, "v3");
	IMG_ASSERT(r.digest == NULL);
	s = img_ref_repo(&r);
	IMG_ASSERT_EQ_STR(s, "docker.io/library/nginx");
	free(s);
	s = img_ref_familiar_repo(&r);
	IMG_ASSERT_EQ_STR(s, "nginx");
	free(s);
	img_ref_release(&r);

	IMG_ASSERT_EQ_INT(img_ref_parse("localhost:5000/x/y:1@sha256:" H64, &r), 0);
	IMG_ASSERT_EQ_STR(r.domain, "localhost:5000");
	IMG_ASSERT_EQ_STR(r.path, "x/y");
	IMG_ASSERT(r.tag == NULL);           /* dropped with a digest */
	IMG_ASSERT_EQ_STR(r.digest, "sha256:" H64);
	s = img_ref_familiar_repo(&r);
	IMG_ASSERT_EQ_STR(s, "localhost:5000/x/y");
	free(s);
	img_ref_release(&r);
	img_ref_release(&r);                 /* twice is harmless */
}

TEST(ref_path_length)
{
	char buf[300], *s;
	struct img_ref r;

	/* 255 is the limit for the path without the domain */
	memcpy(buf, "foo/", 4);
	memset(buf + 4, 'a', 251);
	buf[255] = 0;
	IMG_ASSERT_EQ_INT(img_ref_parse(buf, &r), 0);
	IMG_ASSERT_EQ_INT(strlen(r.path), 255);
	img_ref_release(&r);
	/* the domain does not count */
	s = xasprintf("registry.example.com:5000/%s", buf);
	IMG_ASSERT_EQ_INT(img_ref_parse(s, &r), 0);
	img_ref_release(&r);
	free(s);
	buf[255] = 'a';
	buf[256] = 0;
	IMG_ASSERT_EQ_INT(img_ref_parse(buf, &r), -1);
	IMG_ASSERT(strstr(img_errmsg(), "255") != NULL);
	/* a bare name counts its "library/" prefix */
	memset(buf, 'b', 247);
	buf[247] = 0;
	IMG_ASSERT_EQ_INT(img_ref_parse(buf, &r), 0);
	img_ref_release(&r);
	buf[247] = 'b';
	buf[248] = 0;
	IMG_ASSERT_EQ_INT(img_ref_parse(buf, &r), -1);
}

TEST(ref_invalid)
{
	char tag129[200], longpath[300];
	static const char lower[] = "repository name must be lowercase";
	static const char invalid[] = "invalid reference format";
	struct { const char *in, *msg; } bad[] = {
		{ "", "at least one component" },
		{ "Nginx", lower },
		{ "NGINX:v3", lower },
		{ "foo/Bar", lower },
		{ "localhost:5000/Foo", lower },
		{ "docker.io/Library/nginx", lower },
		{ "a//b", invalid },
		{ "a/", invalid },
		{ "/a", invalid },
		{ "a/b/", invalid },
		{ "nginx:", invalid },
		{ "nginx:-x", invalid },
		{ "nginx:.x", invalid },
		{ "nginx:a b", invalid },
		{ "nginx@", invalid },
		{ "nginx@sha256:abc", invalid },
		{ "nginx@sha256", invalid },
		{ "nginx@md5:d41d8cd98f00b204e9800998ecf8427e", "digest" },
		{ "nginx@sha256:" H64U, "digest" },
		{ "nginx@sha256:" H64 "00", "digest" },
		{ "nginx@sha512:" H64, "digest" },
		{ H64, "64-byte" },
		{ "a..b", invalid },
		{ "-a", invalid },
		{ "a-", invalid },
		{ "a___b", invalid },
		{ "a_.b", invalid },
		{ ".a", invalid },
		{ "a b", invalid },
		{ "nginx:v1:v2", invalid },
		{ "localhost:abc/foo", invalid },
		{ "localhost:/foo", invalid },
		{ "-bad.com/foo", invalid },
		{ "bad-.com/foo", invalid },
		{ "a..com/foo", invalid },
		{ "[::1/foo", invalid },
		{ "[]/foo", invalid },
		{ "a_b.c/foo", invalid },
		{ "foo/bar@sha256:" H64 "@x", invalid },
		{ "foo\n", invalid },
		{ "ngi\xc3\xa9nx", invalid },
		{ tag129, invalid },
		{ longpath, "255" },
	};
	struct img_ref r;

	memcpy(tag129, "nginx:", 6);
	memset(tag129 + 6, 't', 129);
	tag129[6 + 129] = 0;
	memcpy(longpath, "foo/", 4);
	memset(longpath + 4, 'a', 252);
	longpath[256] = 0;
	/* a 128-char tag is fine */
	tag129[6 + 128] = 0;
	IMG_ASSERT_EQ_INT(img_ref_parse(tag129, &r), 0);
	IMG_ASSERT_EQ_INT(strlen(r.tag), 128);
	img_ref_release(&r);
	tag129[6 + 128] = 't';

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&r, 0x5a, sizeof r);
		if (img_ref_parse(bad[i].in, &r) != -1) {
			printf("# accepted: '%s'\n", bad[i].in);
			img_ref_release(&r);
			IMG_ASSERT(0);
		}
		IMG_ASSERT(r.domain == NULL && r.path == NULL && r.tag == NULL && r.digest == NULL);
		if (!strstr(img_errmsg(), bad[i].msg)) {
			printf("# '%s': message '%s', expected '%s'\n", bad[i].in, img_errmsg(), bad[i].msg);
			IMG_ASSERT(0);
		}
		IMG_ASSERT(img_ref_normalize(bad[i].in) == NULL);
	}
	IMG_ASSERT_EQ_INT(img_ref_parse(NULL, &r), -1);
}

TEST(ref_is_id)
{
	IMG_ASSERT_EQ_INT(img_ref_is_id(H64), 1);
	IMG_ASSERT_EQ_INT(img_ref_is_id("sha256:" H64), 1);
	IMG_ASSERT_EQ_INT(img_ref_is_id("sha256:3f2a"), 1);
	IMG_ASSERT_EQ_INT(img_ref_is_id("sha256:3"), 1);
	IMG_ASSERT_EQ_INT(img_ref_is_id("3f2a1b"), 1);
	IMG_ASSERT_EQ_INT(img_ref_is_id("3f2a"), 1);
	IMG_ASSERT_EQ_INT(img_ref_is_id("3f2"), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id("sha256:"), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id("sha256:" H64 "0"), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id(H64 "0"), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id(H64U), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id("sha256:3F2A"), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id("nginx"), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id("beef:v1"), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id("sha512:" H64), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id(""), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_id(NULL), 0);
}

TEST(ref_match)
{
	static const struct { const char *name, *pattern; int want; } cases[] = {
		{ "docker.io/library/nginx:latest", "nginx", 1 },
		{ "docker.io/library/nginx:v3", "nginx", 1 },
		{ "docker.io/library/nginx:v3", "nginx:v3", 1 },
		{ "docker.io/library/nginx:v4", "nginx:v3", 0 },
		{ "docker.io/library/nginx:latest", "nginx:latest", 1 },
		{ "docker.io/library/nginx:v3", "docker.io/library/nginx", 1 },
		{ "docker.io/library/nginx:v3", "library/nginx:v3", 1 },
		{ "docker.io/library/nginx:v3", "index.docker.io/nginx", 1 },
		{ "docker.io/library/nginx:v3", "docker.io/library/nginx:v3", 1 },
		{ "docker.io/library/nginxx:v3", "nginx", 0 },
		{ "docker.io/library/ngin:v3", "nginx", 0 },
		{ "docker.io/foo/nginx:v3", "nginx", 0 },
		{ "docker.io/foo/bar:1", "foo/bar", 1 },
		{ "docker.io/foo/bar:1", "bar", 0 },
		{ "docker.io/library/myapp:1", "my*", 1 },
		{ "docker.io/library/yourapp:1", "my*", 0 },
		{ "docker.io/foo/myapp:1", "my*", 0 },           /* '*' does not cross '/' */
		{ "docker.io/foo/myapp:1", "*/my*", 1 },
		{ "docker.io/library/nginx:v3", "nginx:v*", 1 },
		{ "docker.io/library/nginx:latest", "nginx:v*", 0 },
		{ "docker.io/library/nginx:v3", "ngin?", 1 },
		{ "docker.io/library/nginx:v3", "docker.io/library/ng*", 1 },
		{ "localhost:5000/app:1", "localhost:5000/app", 1 },
		{ "localhost:5000/app:1", "app", 0 },
		{ "localhost/app:1", "localhost/*", 1 },
		{ "[::1]:5000/app:1", "[::1]:5000/app:1", 1 },
		{ "[::1]:5000/app:1", "[::1]:5000/app", 1 },
		{ "[::1]:5000/app:1", "[::2]:5000/app", 0 },
		{ "docker.io/library/nginx@sha256:" H64, "nginx", 1 },
		{ "docker.io/library/nginx@sha256:" H64, "nginx@sha256:" H64, 1 },
		{ "docker.io/library/nginx:v3", "nginx@sha256:" H64, 0 },
		{ "docker.io/library/nginx:v3", "Nginx", 0 },
		{ "docker.io/library/nginx:v3", "", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = img_ref_match(cases[i].name, cases[i].pattern);
		if (got != cases[i].want) {
			printf("# match(%s, %s) = %d\n", cases[i].name, cases[i].pattern, got);
			IMG_ASSERT(0);
		}
	}
}

/* The one rule for an archive's names (img(7)). */
TEST(ref_archive_name)
{
	char *c;
	const char *bare;

	IMG_ASSERT_EQ_INT(img_ref_archive_name("docker.io/library/a:1", "1", NULL, &c, &bare), 0);
	IMG_ASSERT_EQ_STR(c, "docker.io/library/a:1");
	IMG_ASSERT_EQ_STR(bare, "1");
	free(c);
	IMG_ASSERT_EQ_INT(img_ref_archive_name(NULL, "v1", NULL, &c, &bare), 0);
	IMG_ASSERT(c == NULL);
	IMG_ASSERT_EQ_STR(bare, "v1");
	IMG_ASSERT_EQ_INT(img_ref_archive_name(NULL, "v1", "docker.io/example/app", &c, &bare), 0);
	IMG_ASSERT_EQ_STR(c, "docker.io/example/app:v1");
	free(c);
	IMG_ASSERT_EQ_INT(img_ref_archive_name(NULL, "example/app", NULL, &c, &bare), 0);
	IMG_ASSERT_EQ_STR(c, "docker.io/example/app:latest");
	IMG_ASSERT(bare == NULL);
	free(c);
	IMG_ASSERT_EQ_INT(img_ref_archive_name(NULL, "a@sha256:" H64, NULL, &c, &bare), 0);
	IMG_ASSERT(c == NULL);
	IMG_ASSERT_EQ_INT(img_ref_archive_name(NULL, NULL, NULL, &c, &bare), 0);
	IMG_ASSERT(c == NULL && bare == NULL);
	IMG_ASSERT_EQ_INT(img_ref_archive_name(NULL, "Bad/Name:1", NULL, &c, &bare), -1);
	IMG_ASSERT_EQ_INT(img_ref_is_bare_tag("latest"), 1);
	IMG_ASSERT_EQ_INT(img_ref_is_bare_tag("a/b"), 0);
	IMG_ASSERT_EQ_INT(img_ref_is_bare_tag(""), 0);
}
