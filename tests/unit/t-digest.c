#include <string.h>
#include "test.h"
#include "digest.h"
#include "json.h"
#include "util.h"

TEST(digest_parse_valid)
{
	struct img_digest d;
	IMG_ASSERT_EQ_INT(img_digest_parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &d), 0);
	IMG_ASSERT_EQ_INT(d.alg, IMG_SHA256);
	IMG_ASSERT_EQ_STR(img_digest_hex(&d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	char s512[7 + 128 + 1] = "sha512:";
	memset(s512 + 7, 'a', 128);
	s512[135] = 0;
	IMG_ASSERT_EQ_INT(img_digest_parse(s512, &d), 0);
	IMG_ASSERT_EQ_INT(d.alg, IMG_SHA512);
}

TEST(digest_parse_invalid)
{
	static const char *bad[] = {
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", /* upper */
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",  /* short */
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", /* long */
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
		"blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
		"sha256:../../../../../../../../../../../../../../../../../../../../x",
		"sha256:", "sha256", "", ":abc",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
	};
	struct img_digest d;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		IMG_ASSERT_EQ_INT(img_digest_parse(bad[i], &d), -1);
	IMG_ASSERT_EQ_INT(img_digest_parse(NULL, &d), -1);
	IMG_ASSERT(strstr(img_errmsg(), "digest") != NULL);
}

TEST(digest_hash_stream)
{
	struct img_hash *h = img_digest_hash_new(IMG_SHA256);
	struct img_digest d, e;
	IMG_ASSERT(h != NULL);
	img_digest_hash_update(h, "ab", 2);
	img_digest_hash_update(h, "c", 1);
	IMG_ASSERT_EQ_INT(img_digest_hash_bytes(h), 3);
	img_digest_hash_final(h, &d);
	IMG_ASSERT_EQ_STR(d.str, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	img_digest_buf("abc", 3, &e);
	IMG_ASSERT(img_digest_eq(&d, &e));
	img_digest_hash_reset(h);
	img_digest_hash_final(h, &d);
	IMG_ASSERT_EQ_STR(d.str, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	img_digest_hash_free(h);
	char *p = img_digest_blobpath(&e);
	IMG_ASSERT_EQ_STR(p, "blobs/sha256/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	free(p);
}

TEST(json_strict)
{
	json_t *j;
	const char *s;
	int64_t n;

	j = img_json_parse("{\"a\":1,\"a\":2}", 13, 100);
	IMG_ASSERT(j == NULL);
	IMG_ASSERT(strstr(img_errmsg(), "duplicate") != NULL);
	j = img_json_parse("{\"a\":\"x\"}", 9, 5);
	IMG_ASSERT(j == NULL);
	IMG_ASSERT(strstr(img_errmsg(), "larger") != NULL);
	j = img_json_parse("{\"a\":\"\xff\"}", 8, 100);   /* invalid UTF-8 */
	IMG_ASSERT(j == NULL);
	j = img_json_parse("{} x", 4, 100);                /* trailing garbage */
	IMG_ASSERT(j == NULL);

	char deep[200];
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	IMG_ASSERT(img_json_parse(deep, 130, 1000) == NULL);
	IMG_ASSERT(strstr(img_errmsg(), "deeper") != NULL);
	j = img_json_parse(deep + 1, 128, 1000);           /* 64 levels: fine */
	IMG_ASSERT(j != NULL);
	json_decref(j);

	const char *doc = "{\"s\":null,\"n\":5,\"big\":9007199254740993,\"neg\":-1,\"t\":\"v\"}";
	j = img_json_parse(doc, strlen(doc), 1000);
	IMG_ASSERT(j != NULL);
	IMG_ASSERT_EQ_INT(img_json_str(j, "s", &s), 1);        /* null = absent */
	IMG_ASSERT_EQ_INT(img_json_str(j, "missing", &s), 1);
	IMG_ASSERT_EQ_INT(img_json_str(j, "n", &s), -1);       /* wrong type */
	IMG_ASSERT_EQ_INT(img_json_str(j, "t", &s), 0);
	IMG_ASSERT_EQ_STR(s, "v");
	IMG_ASSERT_EQ_INT(img_json_int(j, "n", &n), 0);
	IMG_ASSERT_EQ_INT(n, 5);
	IMG_ASSERT_EQ_INT(img_json_int(j, "big", &n), -1);     /* over 2^53 */
	IMG_ASSERT_EQ_INT(img_json_int(j, "neg", &n), -1);
	json_decref(j);
}

TEST(util_human_size)
{
	char b[16];
	IMG_ASSERT_EQ_STR(img_util_human_size(0, b, sizeof b), "0B");
	IMG_ASSERT_EQ_STR(img_util_human_size(999, b, sizeof b), "999B");
	IMG_ASSERT_EQ_STR(img_util_human_size(1500, b, sizeof b), "1.5kB");
	IMG_ASSERT_EQ_STR(img_util_human_size(187000000, b, sizeof b), "187MB");
	IMG_ASSERT_EQ_STR(img_util_human_size(2310000000ull, b, sizeof b), "2.31GB");
}
