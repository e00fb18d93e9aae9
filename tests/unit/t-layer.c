/* layer: sniffing, gzip/zstd/xz/bzip2 streams, layer digests, bombs, whiteouts. */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "layer.h"

/* ---- helpers ---- */

struct mbuf {
	unsigned char *p;
	size_t n, cap;
	size_t fail_after;   /* sink fails once n would pass this (0 = never) */
};

static int mbuf_sink(void *arg, const void *buf, size_t n)
{
	struct mbuf *m = arg;
	if (m->fail_after && m->n + n > m->fail_after) {
		img_seterr("sink full");
		return -1;
	}
	if (m->n + n > m->cap) {
		m->cap = (m->n + n) * 2 + 4096;
		m->p = xrealloc(m->p, m->cap);
	}
	memcpy(m->p + m->n, buf, n);
	m->n += n;
	return 0;
}

static void mbuf_free(struct mbuf *m)
{
	free(m->p);
	memset(m, 0, sizeof *m);
}

/* Compressible but not trivial test data. */
static unsigned char *gen_data(size_t n)
{
	unsigned char *p = xmalloc(n);
	uint32_t x = 12345;
	static const char *words[] = { "layer ", "image ", "tar ", "digest ", "sha256 ",
	                               "\n", "usr/lib/", "0000", "blob " };
	size_t i = 0;
	while (i < n) {
		x = x * 1103515245u + 12345u;
		if ((x >> 16) % 5 == 0) {
			p[i++] = (unsigned char)(x >> 8);
			continue;
		}
		const char *w = words[(x >> 20) % 9];
		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (unsigned char)w[k];
	}
	return p;
}

static int compress_buf(enum img_comp c, int level, const void *in, size_t n, size_t chunk,
                        struct mbuf *out)
{
	struct img_compw *w = img_comp_enc_new(c, level, mbuf_sink, out);
	const unsigned char *p = in;
	if (!w)
		return -1;
	while (n > 0) {
		size_t k = n < chunk ? n : chunk;
		if (img_comp_enc_write(w, p, k) < 0) {
			img_comp_enc_free(w);
			return -1;
		}
		p += k;
		n -= k;
	}
	int r = img_comp_enc_finish(w);
	img_comp_enc_free(w);
	return r;
}

static int decompress_buf(enum img_comp c, uint64_t max_out, const void *in, size_t n,
                          size_t chunk, struct mbuf *out)
{
	struct img_decomp *d = img_comp_dec_new(c, max_out, mbuf_sink, out);
	const unsigned char *p = in;
	if (!d)
		return -1;
	while (n > 0) {
		size_t k = n < chunk ? n : chunk;
		if (img_comp_dec_write(d, p, k) < 0) {
			img_comp_dec_free(d);
			return -1;
		}
		p += k;
		n -= k;
	}
	int r = img_comp_dec_finish(d);
	img_comp_dec_free(d);
	return r;
}

static int write_file(const char *path, const void *buf, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(buf, 1, n, f);
	return fclose(f) == 0 && w == n ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	struct mbuf m = { 0 };
	unsigned char buf[65536];
	size_t k;
	if (!f)
		return NULL;
	while ((k = fread(buf, 1, sizeof buf, f)) > 0)
		mbuf_sink(&m, buf, k);
	fclose(f);
	*n = m.n;
	if (!m.p)
		m.p = xmalloc(1);
	return m.p;
}

/* ---- tests ---- */

TEST(layer_sniff)
{
	static const struct { const char *b; size_t n; enum img_comp c; } t[] = {
		{ "\x1f\x8b\x08\x00\x00\x00", 6, IMG_COMP_GZIP },
		{ "\x1f\x8b\x07\x00\x00\x00", 6, IMG_COMP_NONE },   /* not deflate */
		{ "BZh91AY", 7, IMG_COMP_BZIP2 },
		{ "\xfd" "7zXZ\0", 6, IMG_COMP_XZ },
		{ "\xfd" "7zXZ", 5, IMG_COMP_NONE },                  /* too short to tell */
		{ "\x28\xb5\x2f\xfd\x04\x00", 6, IMG_COMP_ZSTD },
		{ "\x50\x2a\x4d\x18\x00\x00", 6, IMG_COMP_ZSTD },     /* skippable 0x184D2A50 */
		{ "\x5f\x2a\x4d\x18\x00\x00", 6, IMG_COMP_ZSTD },     /* skippable 0x184D2A5F */
		{ "\x60\x2a\x4d\x18\x00\x00", 6, IMG_COMP_NONE },
		{ "\x4f\x2a\x4d\x18\x00\x00", 6, IMG_COMP_NONE },
		{ "etc/passwd\0\0", 12, IMG_COMP_NONE },
		{ "", 0, IMG_COMP_NONE },
		{ "\x1f", 1, IMG_COMP_NONE },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (img_comp_sniff(t[i].b, t[i].n) != t[i].c)
			printf("# case %zu\n", i);
		IMG_ASSERT_EQ_INT(img_comp_sniff(t[i].b, t[i].n), t[i].c);
	}
}

TEST(layer_comp_names)
{
	enum img_comp c;
	IMG_ASSERT_EQ_STR(img_comp_name(IMG_COMP_NONE), "none");
	IMG_ASSERT_EQ_STR(img_comp_name(IMG_COMP_GZIP), "gzip");
	IMG_ASSERT_EQ_STR(img_comp_name(IMG_COMP_ZSTD), "zstd");
	IMG_ASSERT_EQ_STR(img_comp_name(IMG_COMP_XZ), "xz");
	IMG_ASSERT_EQ_STR(img_comp_name(IMG_COMP_BZIP2), "bzip2");
	IMG_ASSERT_EQ_INT(img_comp_parse("gzip", &c), 0);
	IMG_ASSERT_EQ_INT(c, IMG_COMP_GZIP);
	IMG_ASSERT_EQ_INT(img_comp_parse("zstd", &c), 0);
	IMG_ASSERT_EQ_INT(c, IMG_COMP_ZSTD);
	IMG_ASSERT_EQ_INT(img_comp_parse("none", &c), 0);
	IMG_ASSERT_EQ_INT(c, IMG_COMP_NONE);
	IMG_ASSERT_EQ_INT(img_comp_parse("xz", &c), -1);
	IMG_ASSERT_EQ_INT(img_comp_parse("bzip2", &c), -1);
	IMG_ASSERT_EQ_INT(img_comp_parse("GZIP", &c), -1);
	IMG_ASSERT_EQ_INT(img_comp_parse("", &c), -1);
	IMG_ASSERT(strstr(img_errmsg(), "compression") != NULL);
	IMG_ASSERT_EQ_STR(img_comp_media_type(IMG_COMP_GZIP), "application/vnd.oci.image.layer.v1.tar+gzip");
	IMG_ASSERT_EQ_STR(img_comp_media_type(IMG_COMP_ZSTD), "application/vnd.oci.image.layer.v1.tar+zstd");
	IMG_ASSERT_EQ_STR(img_comp_media_type(IMG_COMP_NONE), "application/vnd.oci.image.layer.v1.tar");
	IMG_ASSERT(img_comp_media_type(IMG_COMP_XZ) == NULL);
}

TEST(layer_gzip_roundtrip)
{
	size_t n = 1024 * 1024 + 17;
	unsigned char *data = gen_data(n);
	static const int levels[] = { -1, 0, 1, 2, 3, 4, 6, 9 };
	static const size_t chunks[] = { 1000003, 4096, 61 };
	int ok = 1;

	for (size_t i = 0; i < sizeof levels / sizeof levels[0] && ok; i++) {
		struct mbuf z = { 0 }, z2 = { 0 }, out = { 0 };
		if (compress_buf(IMG_COMP_GZIP, levels[i], data, n, 65536, &z) < 0 ||
		    compress_buf(IMG_COMP_GZIP, levels[i], data, n, 1000, &z2) < 0) {
			printf("# level %d: %s\n", levels[i], img_errmsg());
			ok = 0;
		}
		/* gzip header: magic, deflate, no flags, mtime 0 (deterministic) */
		if (ok && (z.n < 18 || memcmp(z.p, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8) != 0)) {
			printf("# level %d: unexpected gzip header\n", levels[i]);
			ok = 0;
		}
		/* same bytes whatever the write sizes */
		if (ok && (z.n != z2.n || memcmp(z.p, z2.p, z.n) != 0)) {
			printf("# level %d: output depends on the write sizes\n", levels[i]);
			ok = 0;
		}
		/* decode with big and small chunks (the smallest for the default level only;
		 * layer_gzip_multimember goes down to single bytes) */
		for (size_t c = 0; c < sizeof chunks / sizeof chunks[0] && ok; c++) {
			if (chunks[c] < 1000 && i > 0)
				continue;
			out.n = 0;
			if (decompress_buf(IMG_COMP_GZIP, 0, z.p, z.n, chunks[c], &out) < 0 ||
			    out.n != n || memcmp(out.p, data, n) != 0) {
				printf("# level %d chunk %zu: %s\n", levels[i], chunks[c], img_errmsg());
				ok = 0;
			}
		}
		if (ok && levels[i] == -1) {
			/* gzip(1) decodes our output */
			char *gz = xasprintf("%s/a.gz", img_test_tmpdir);
			char *raw = xasprintf("%s/a", img_test_tmpdir);
			char *cmd = xasprintf("gzip -dc '%s' | cmp -s - '%s'", gz, raw);
			if (write_file(gz, z.p, z.n) < 0 || write_file(raw, data, n) < 0 ||
			    system(cmd) != 0) {
				printf("# gzip -dc does not decode our output\n");
				ok = 0;
			}
			free(cmd);
			cmd = xasprintf("gzip -t '%s'", gz);
			if (ok && system(cmd) != 0)
				ok = 0;
			free(cmd);
			free(gz);
			free(raw);
		}
		mbuf_free(&z);
		mbuf_free(&z2);
		mbuf_free(&out);
	}
	free(data);
	IMG_ASSERT(ok);
}

TEST(layer_gzip_multimember)
{
	unsigned char *a = gen_data(300000), *b = gen_data(100001);
	struct mbuf z = { 0 }, out = { 0 };
	IMG_ASSERT_EQ_INT(compress_buf(IMG_COMP_GZIP, -1, a, 300000, 65536, &z), 0);
	size_t first = z.n;
	IMG_ASSERT_EQ_INT(compress_buf(IMG_COMP_GZIP, 6, b, 100001, 65536, &z), 0);   /* zlib member */
	size_t second = z.n;
	IMG_ASSERT_EQ_INT(compress_buf(IMG_COMP_GZIP, 1, "", 0, 1, &z), 0);           /* empty member */
	for (size_t chunk = 1; chunk <= 1u << 20; chunk *= 32) {
		out.n = 0;
		if (decompress_buf(IMG_COMP_GZIP, 0, z.p, z.n, chunk, &out) < 0)
			printf("# chunk %zu: %s\n", chunk, img_errmsg());
		IMG_ASSERT_EQ_INT(out.n, 400001);
		IMG_ASSERT(memcmp(out.p, a, 300000) == 0);
		IMG_ASSERT(memcmp(out.p + 300000, b, 100001) == 0);
	}
	/* garbage after a member is an error, also zero padding */
	unsigned char *bad = xmalloc(second + 16);
	memcpy(bad, z.p, second);
	memset(bad + second, 0, 16);
	out.n = 0;
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, 0, bad, second + 16, 65536, &out), -1);
	IMG_ASSERT(strstr(img_errmsg(), "gzip") != NULL);
	memcpy(bad + second, "garbage", 7);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, 0, bad, second + 7, 3, &out), -1);
	/* truncated: in the first member, in its trailer, and a lone magic byte after */
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, 0, z.p, first / 2, 4096, &out), -1);
	IMG_ASSERT(strstr(img_errmsg(), "truncated gzip") != NULL);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, 0, z.p, first - 3, 4096, &out), -1);
	IMG_ASSERT(strstr(img_errmsg(), "truncated gzip") != NULL);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, 0, z.p, first + 1, 4096, &out), -1);
	IMG_ASSERT(strstr(img_errmsg(), "truncated gzip") != NULL);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, 0, "", 0, 1, &out), -1);
	/* a corrupted CRC */
	memcpy(bad, z.p, first);
	bad[first - 6] ^= 1;
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, 0, bad, first, 65536, &out), -1);
	free(bad);
	free(a);
	free(b);
	mbuf_free(&z);
	mbuf_free(&out);
}

TEST(layer_gzip_max_out)
{
	unsigned char *a = xcalloc(1, 1 << 20);
	struct mbuf z = { 0 }, out = { 0 };
	IMG_ASSERT_EQ_INT(compress_buf(IMG_COMP_GZIP, -1, a, 1 << 20, 1 << 20, &z), 0);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, 1 << 20, z.p, z.n, 4096, &out), 0);
	out.n = 0;
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, (1 << 20) - 1, z.p, z.n, 4096, &out), -1);
	IMG_ASSERT(strstr(img_errmsg(), "exceeds limit") != NULL);
	IMG_ASSERT(out.n <= (1 << 20) - 1);
	/* a failing sink stops the stream with the sink's message */
	out.n = 0;
	out.fail_after = 1000;
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_GZIP, 0, z.p, z.n, 4096, &out), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "sink full");
	free(a);
	mbuf_free(&z);
	mbuf_free(&out);
}

TEST(layer_zstd_roundtrip)
{
	size_t n = 2 * 1024 * 1024 + 5;
	unsigned char *data = gen_data(n);
	struct mbuf z = { 0 }, z2 = { 0 }, out = { 0 };
	static const unsigned char skip[] = { 0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'a', 'b', 'c' };

	IMG_ASSERT_EQ_INT(compress_buf(IMG_COMP_ZSTD, -1, data, n, 65536, &z), 0);
	IMG_ASSERT_EQ_INT(compress_buf(IMG_COMP_ZSTD, -1, data, n, 999, &z2), 0);
	IMG_ASSERT_EQ_INT(z.n, z2.n);
	IMG_ASSERT(memcmp(z.p, z2.p, z.n) == 0);
	IMG_ASSERT_EQ_INT(img_comp_sniff(z.p, z.n), IMG_COMP_ZSTD);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_ZSTD, 0, z.p, z.n, 4096, &out), 0);
	IMG_ASSERT_EQ_INT(out.n, n);
	IMG_ASSERT(memcmp(out.p, data, n) == 0);

	/* zstd(1) decodes it */
	char *zf = xasprintf("%s/a.zst", img_test_tmpdir);
	char *raw = xasprintf("%s/a", img_test_tmpdir);
	char *cmd = xasprintf("zstd -q -dc '%s' | cmp -s - '%s'", zf, raw);
	IMG_ASSERT_EQ_INT(write_file(zf, z.p, z.n), 0);
	IMG_ASSERT_EQ_INT(write_file(raw, data, n), 0);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	free(cmd);
	free(zf);
	free(raw);

	/* skippable frame + frame + skippable + frame(level 19) */
	z2.n = 0;
	mbuf_sink(&z2, skip, sizeof skip);
	size_t f1 = z2.n;
	IMG_ASSERT_EQ_INT(compress_buf(IMG_COMP_ZSTD, 1, data, 100000, 65536, &z2), 0);
	size_t f1end = z2.n;
	mbuf_sink(&z2, skip, sizeof skip);
	IMG_ASSERT_EQ_INT(compress_buf(IMG_COMP_ZSTD, 19, data + 100000, 50000, 65536, &z2), 0);
	IMG_ASSERT_EQ_INT(img_comp_sniff(z2.p, z2.n), IMG_COMP_ZSTD);
	for (size_t chunk = 1; chunk <= 65536; chunk *= 16) {
		out.n = 0;
		IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_ZSTD, 0, z2.p, z2.n, chunk, &out), 0);
		IMG_ASSERT_EQ_INT(out.n, 150000);
		IMG_ASSERT(memcmp(out.p, data, 150000) == 0);
	}
	/* truncated in a frame, in the skippable frame, and empty */
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_ZSTD, 0, z2.p, f1end - 1, 4096, &out), -1);
	IMG_ASSERT(strstr(img_errmsg(), "truncated zstd") != NULL);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_ZSTD, 0, z2.p, f1 - 2, 4096, &out), -1);
	IMG_ASSERT(strstr(img_errmsg(), "truncated zstd") != NULL);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_ZSTD, 0, "", 0, 1, &out), -1);
	/* garbage after a frame */
	mbuf_sink(&z2, "garbage!", 8);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_ZSTD, 0, z2.p, z2.n, 4096, &out), -1);
	IMG_ASSERT(strstr(img_errmsg(), "zstd") != NULL);
	/* levels out of range */
	IMG_ASSERT(img_comp_enc_new(IMG_COMP_ZSTD, 23, mbuf_sink, &out) == NULL);
	IMG_ASSERT(img_comp_enc_new(IMG_COMP_GZIP, 10, mbuf_sink, &out) == NULL);
	IMG_ASSERT(img_comp_enc_new(IMG_COMP_XZ, -1, mbuf_sink, &out) == NULL);
	free(data);
	mbuf_free(&z);
	mbuf_free(&z2);
	mbuf_free(&out);
}

/* Compress a file with an external tool and decompress it with img_decomp. */
static int external_roundtrip(const char *tool, enum img_comp c, const unsigned char *data,
                              size_t n, int twice)
{
	char *raw = xasprintf("%s/x", img_test_tmpdir);
	char *cmd = twice ? xasprintf("%s -c '%s' > '%s.c' && %s -c '%s' >> '%s.c'", tool, raw, raw,
	                              tool, raw, raw)
	                  : xasprintf("%s -c '%s' > '%s.c'", tool, raw, raw);
	char *cf = xasprintf("%s.c", raw);
	struct mbuf out = { 0 };
	unsigned char *z = NULL;
	size_t zn = 0;
	int rc = -1;

	if (write_file(raw, data, n) < 0 || system(cmd) != 0 || !(z = read_file(cf, &zn)))
		goto done;
	if (img_comp_sniff(z, zn) != c)
		goto done;
	if (decompress_buf(c, 0, z, zn, 10000, &out) < 0) {
		printf("# %s: %s\n", tool, img_errmsg());
		goto done;
	}
	if (out.n != n * (twice ? 2 : 1) || memcmp(out.p, data, n) != 0 ||
	    (twice && memcmp(out.p + n, data, n) != 0))
		goto done;
	/* truncated */
	out.n = 0;
	if (decompress_buf(c, 0, z, zn - 5, 10000, &out) == 0)
		goto done;
	if (!strstr(img_errmsg(), "truncated")) {
		printf("# %s truncated: %s\n", tool, img_errmsg());
		goto done;
	}
	rc = 0;
done:
	free(z);
	free(raw);
	free(cmd);
	free(cf);
	mbuf_free(&out);
	return rc;
}

TEST(layer_xz_bzip2_read)
{
	size_t n = 200000;
	unsigned char *data = gen_data(n);
	IMG_ASSERT_EQ_INT(external_roundtrip("xz", IMG_COMP_XZ, data, n, 0), 0);
	IMG_ASSERT_EQ_INT(external_roundtrip("xz", IMG_COMP_XZ, data, n, 1), 0);
	IMG_ASSERT_EQ_INT(external_roundtrip("bzip2", IMG_COMP_BZIP2, data, n, 0), 0);
	IMG_ASSERT_EQ_INT(external_roundtrip("bzip2", IMG_COMP_BZIP2, data, n, 1), 0);
	/* not bzip2 at all */
	struct mbuf out = { 0 };
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_BZIP2, 0, "hello world, not bz", 19, 4, &out), -1);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_XZ, 0, "hello world, not xz", 19, 4, &out), -1);
	/* freed in the middle of a stream */
	struct img_decomp *d = img_comp_dec_new(IMG_COMP_BZIP2, 0, mbuf_sink, &out);
	IMG_ASSERT(d != NULL);
	IMG_ASSERT_EQ_INT(img_comp_dec_write(d, "BZh9", 4), 0);
	img_comp_dec_free(d);
	mbuf_free(&out);
	free(data);
}

/* bzip2 runs on a helper thread: a sink that fails stops it, trailing bytes are refused,
 * and the output is the same whatever the input chunks. */
TEST(layer_bzip2_thread_stops)
{
	size_t n = 300000, zn = 0;
	unsigned char *data = gen_data(n), *z = NULL, *zt;
	char *raw = xasprintf("%s/raw", img_test_tmpdir);
	char *cmd = xasprintf("bzip2 -c '%s' > '%s.c'", raw, raw), *cf = xasprintf("%s.c", raw);
	struct mbuf out = { 0 };

	IMG_ASSERT_EQ_INT(write_file(raw, data, n), 0);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	IMG_ASSERT((z = read_file(cf, &zn)) != NULL);
	for (size_t chunk = 1; chunk <= 1u << 20; chunk *= 97) {
		out.n = 0;
		IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_BZIP2, 0, z, zn, chunk, &out), 0);
		IMG_ASSERT(out.n == n && memcmp(out.p, data, n) == 0);
	}
	out.n = 0;
	out.fail_after = 1000;
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_BZIP2, 0, z, zn, 4096, &out), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "sink full");
	out.fail_after = 0;
	out.n = 0;
	zt = xmalloc(zn + 100);
	memcpy(zt, z, zn);
	memset(zt + zn, 'x', 100);
	IMG_ASSERT_EQ_INT(decompress_buf(IMG_COMP_BZIP2, 0, zt, zn + 100, 65536, &out), -1);
	IMG_ASSERT(strstr(img_errmsg(), "bzip2") != NULL);
	free(zt);
	free(z);
	free(data);
	free(raw);
	free(cmd);
	free(cf);
	mbuf_free(&out);
}

TEST(layer_sum_peer_fixture)
{
	static const char *diff = "sha256:eeccac13f4af67267c79419df48707b8de063ac0185b22b2b42895e1aeedc9f6";
	static const char *blobd = "sha256:2d0d77dbd6ed0a292c7048a6e0b228f6ead8f17ba05cd9df4cbcad302908cb9a";
	char *tarp = img_test_fixture("peers/src/tiny-rootfs.tar");
	char *blobp = img_test_fixture("peers/tiny-oci-layout/blobs/sha256/2d0d77dbd6ed0a292c7048a6e0b228f6ead8f17ba05cd9df4cbcad302908cb9a");
	size_t tn = 0, bn = 0;
	unsigned char *t = read_file(tarp, &tn), *b = read_file(blobp, &bn);
	struct img_digest bd, dd;
	enum img_comp c;
	uint64_t bs, ds;

	if (!t || !b)
		printf("# cannot read the peer fixtures (%s)\n", tarp);
	free(tarp);
	free(blobp);
	IMG_ASSERT(t && b);

	/* uncompressed: blob digest == diff_id */
	struct img_layer_sum *ls = img_layer_sum_new(0);
	IMG_ASSERT(ls != NULL);
	for (size_t i = 0; i < tn; i += 3333)
		IMG_ASSERT_EQ_INT(img_layer_sum_write(ls, t + i, tn - i < 3333 ? tn - i : 3333), 0);
	IMG_ASSERT_EQ_INT(img_layer_sum_finish(ls, &bd, &dd, &c, &bs, &ds), 0);
	img_layer_sum_free(ls);
	IMG_ASSERT_EQ_STR(bd.str, diff);
	IMG_ASSERT_EQ_STR(dd.str, diff);
	IMG_ASSERT_EQ_INT(c, IMG_COMP_NONE);
	IMG_ASSERT_EQ_INT(bs, tn);
	IMG_ASSERT_EQ_INT(ds, tn);

	/* the skopeo gzip blob, fed in odd pieces (first write shorter than the magic) */
	static const size_t pieces[] = { 1, 2, 5, 100000, 1 << 20 };
	for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
		ls = img_layer_sum_new(0);
		size_t i = 0, step = pieces[k];
		while (i < bn) {
			size_t m = bn - i < step ? bn - i : step;
			IMG_ASSERT_EQ_INT(img_layer_sum_write(ls, b + i, m), 0);
			i += m;
			if (step < 100) step = step * 3 + 1;
		}
		IMG_ASSERT_EQ_INT(img_layer_sum_finish(ls, &bd, &dd, &c, &bs, &ds), 0);
		img_layer_sum_free(ls);
		IMG_ASSERT_EQ_STR(bd.str, blobd);
		IMG_ASSERT_EQ_STR(dd.str, diff);
		IMG_ASSERT_EQ_INT(c, IMG_COMP_GZIP);
		IMG_ASSERT_EQ_INT(bs, bn);
		IMG_ASSERT_EQ_INT(ds, tn);
	}

	/* truncated gzip layer fails */
	ls = img_layer_sum_new(0);
	IMG_ASSERT_EQ_INT(img_layer_sum_write(ls, b, bn - 100), 0);
	IMG_ASSERT_EQ_INT(img_layer_sum_finish(ls, &bd, &dd, &c, &bs, &ds), -1);
	IMG_ASSERT(strstr(img_errmsg(), "truncated") != NULL);
	img_layer_sum_free(ls);

	/* our own zstd of the tar gives the same diff_id */
	struct mbuf z = { 0 };
	IMG_ASSERT_EQ_INT(compress_buf(IMG_COMP_ZSTD, -1, t, tn, 65536, &z), 0);
	ls = img_layer_sum_new(0);
	IMG_ASSERT_EQ_INT(img_layer_sum_write(ls, z.p, z.n), 0);
	IMG_ASSERT_EQ_INT(img_layer_sum_finish(ls, &bd, &dd, &c, NULL, NULL), 0);
	img_layer_sum_free(ls);
	IMG_ASSERT_EQ_STR(dd.str, diff);
	IMG_ASSERT_EQ_INT(c, IMG_COMP_ZSTD);
	struct img_digest zd;
	img_digest_buf(z.p, z.n, &zd);
	IMG_ASSERT_EQ_STR(bd.str, zd.str);
	mbuf_free(&z);

	/* tiny inputs: empty and a few bytes */
	ls = img_layer_sum_new(0);
	IMG_ASSERT_EQ_INT(img_layer_sum_finish(ls, &bd, &dd, &c, &bs, &ds), 0);
	img_layer_sum_free(ls);
	IMG_ASSERT_EQ_STR(dd.str, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	IMG_ASSERT_EQ_INT(bs, 0);
	ls = img_layer_sum_new(0);
	IMG_ASSERT_EQ_INT(img_layer_sum_write(ls, "ab", 2), 0);
	IMG_ASSERT_EQ_INT(img_layer_sum_finish(ls, &bd, &dd, &c, &bs, &ds), 0);
	img_layer_sum_free(ls);
	IMG_ASSERT_EQ_INT(c, IMG_COMP_NONE);
	IMG_ASSERT_EQ_INT(ds, 2);
	free(t);
	free(b);
}

/* A zstd stream of 1.25 GiB of zeros (a few tens of KiB) is refused by the ratio guard. */
TEST(layer_sum_bomb)
{
	struct mbuf z = { 0 };
	struct img_compw *w = img_comp_enc_new(IMG_COMP_ZSTD, 1, mbuf_sink, &z);
	unsigned char *zero = xcalloc(1, 1 << 20);
	IMG_ASSERT(w != NULL);
	for (int i = 0; i < 1280; i++)
		IMG_ASSERT_EQ_INT(img_comp_enc_write(w, zero, 1 << 20), 0);
	IMG_ASSERT_EQ_INT(img_comp_enc_finish(w), 0);
	img_comp_enc_free(w);
	free(zero);
	IMG_ASSERT(z.n < (1 << 20));

	struct img_layer_sum *ls = img_layer_sum_new(0);
	int r = img_layer_sum_write(ls, z.p, z.n);
	if (r == 0)
		r = img_layer_sum_finish(ls, NULL, NULL, NULL, NULL, NULL);
	IMG_ASSERT_EQ_INT(r, -1);
	IMG_ASSERT(strstr(img_errmsg(), "times its compressed size") != NULL);
	img_layer_sum_free(ls);
	mbuf_free(&z);
}

TEST(layer_whiteout)
{
	static const struct { const char *in; int r; const char *target; } t[] = {
		{ "etc/passwd", 0, NULL },
		{ "", 0, NULL },
		{ "a.wh.b", 0, NULL },
		{ "wh.x", 0, NULL },
		{ ".wh.foo", 1, "foo" },
		{ "usr/share/tiny/.wh.b.txt", 1, "usr/share/tiny/b.txt" },
		{ "a/.wh..hidden", 1, "a/.hidden" },
		{ "opt/old/.wh..wh..opq", 2, "opt/old" },
		{ ".wh..wh..opq", 2, "" },
		{ ".wh..wh.plnk", 3, NULL },
		{ "x/.wh..wh.aufs", 3, NULL },
		{ ".wh..wh.orph", 3, NULL },
		{ ".wh.", -1, NULL },
		{ "a/.wh.", -1, NULL },
		{ ".wh..", -1, NULL },
		{ "a/.wh...", -1, NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char *target = (char *)"unset";
		int r = img_layer_whiteout(t[i].in, &target);
		if (r != t[i].r)
			printf("# case '%s'\n", t[i].in);
		IMG_ASSERT_EQ_INT(r, t[i].r);
		if (t[i].target)
			IMG_ASSERT_EQ_STR(target, t[i].target);
		else
			IMG_ASSERT(target == NULL);
		free(target);
	}
}
