/* blobs: the store's blob functions (list, remove, sweep, verify_with, writer options, copy out). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "json.h"
#include "io.h"
#include "store.h"

static char *at(struct img_store *s, const char *rel)
{
	return xasprintf("%s/%s", img_store_path(s), rel);
}

static int put_file(struct img_store *s, const char *rel, const char *content)
{
	char *p = at(s, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc;

	free(p);
	if (fd < 0)
		return -1;
	rc = img_io_write_all(fd, content, strlen(content));
	close(fd);
	return rc;
}

struct seen { struct img_digest d[8]; int64_t size[8]; int n; };

static int collect(const struct img_digest *d, int64_t size, void *arg)
{
	struct seen *sn = arg;

	if (sn->n == 8)
		return -1;
	sn->d[sn->n] = *d;
	sn->size[sn->n++] = size;
	return 0;
}

TEST(blobs_list_remove)
{
	struct img_store *s = img_test_store();
	struct img_digest a, b;
	struct seen sn = { .n = 0 };
	char *p;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(img_blob_list(s, collect, &sn), 0);          /* empty store */
	IMG_ASSERT_EQ_INT(sn.n, 0);
	IMG_ASSERT_EQ_INT(img_blob_put(s, "alpha", 5, &a), 0);
	IMG_ASSERT_EQ_INT(img_blob_put(s, "beta!!", 6, &b), 0);
	/* not blobs: a name that is no digest, a directory, a symbolic link */
	IMG_ASSERT_EQ_INT(put_file(s, "blobs/sha256/oci-put-blob-1", "x"), 0);
	p = at(s, "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000");
	IMG_ASSERT_EQ_INT(mkdir(p, 0755), 0);
	free(p);
	p = at(s, "blobs/sha256/1111111111111111111111111111111111111111111111111111111111111111");
	IMG_ASSERT_EQ_INT(symlink("/etc/passwd", p), 0);
	free(p);
	IMG_ASSERT_EQ_INT(img_blob_list(s, collect, &sn), 0);
	IMG_ASSERT_EQ_INT(sn.n, 2);
	IMG_ASSERT(img_digest_eq(&sn.d[0], &a) || img_digest_eq(&sn.d[1], &a));
	IMG_ASSERT(img_digest_eq(&sn.d[0], &b) || img_digest_eq(&sn.d[1], &b));
	IMG_ASSERT_EQ_INT(sn.size[img_digest_eq(&sn.d[0], &a) ? 0 : 1], 5);
	/* removing needs the exclusive lock */
	IMG_ASSERT_EQ_INT(img_blob_remove(s, &a), -1);
	IMG_ASSERT_EQ_INT(errno, EPERM);
	IMG_ASSERT_EQ_INT(img_blob_has(s, &a, NULL), 1);
	IMG_ASSERT_EQ_INT(img_store_lock(s, IMG_LOCK_EXCLUSIVE, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(img_blob_remove(s, &a), 1);
	IMG_ASSERT_EQ_INT(img_blob_remove(s, &a), 0);                  /* absent already */
	IMG_ASSERT_EQ_INT(img_blob_has(s, &a, NULL), 0);
	img_store_unlock(s);
	sn.n = 0;
	IMG_ASSERT_EQ_INT(img_blob_list(s, collect, &sn), 0);
	IMG_ASSERT_EQ_INT(sn.n, 1);
	IMG_ASSERT(img_digest_eq(&sn.d[0], &b));
	p = at(s, "blobs/sha256/oci-put-blob-1");
	IMG_ASSERT_EQ_INT(access(p, F_OK), 0);                        /* left alone */
	free(p);
	img_store_close(s);
}

TEST(blobs_sweep_tmp)
{
	struct img_store *s = img_test_store();
	uint64_t bytes = 0;
	char *p;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(img_blob_sweep_tmp(s, 1, &bytes, NULL, NULL), 0);   /* no .img/tmp yet */
	IMG_ASSERT_EQ_INT(bytes, 0);
	{
		static const char *const dirs[] = { ".img", ".img/tmp", ".img/tmp/dir.x", ".img/tmp/dir.x/sub" };
		for (size_t i = 0; i < 4; i++) {
			p = at(s, dirs[i]);
			IMG_ASSERT(mkdir(p, 0755) == 0 || errno == EEXIST);
			free(p);
		}
	}
	IMG_ASSERT_EQ_INT(put_file(s, ".img/tmp/blob-1", "0123456789"), 0);
	IMG_ASSERT_EQ_INT(put_file(s, ".img/tmp/dir.x/sub/f", "abc"), 0);
	p = at(s, ".img/tmp/link");
	IMG_ASSERT_EQ_INT(symlink("/etc/passwd", p), 0);
	free(p);
	IMG_ASSERT_EQ_INT(img_blob_sweep_tmp(s, 1, &bytes, NULL, NULL), 0);   /* dry run: measure */
	IMG_ASSERT_EQ_INT(bytes, 13);
	p = at(s, ".img/tmp/blob-1");
	IMG_ASSERT_EQ_INT(access(p, F_OK), 0);
	IMG_ASSERT_EQ_INT(img_blob_sweep_tmp(s, 0, &bytes, NULL, NULL), -1);  /* not locked */
	IMG_ASSERT_EQ_INT(errno, EPERM);
	IMG_ASSERT_EQ_INT(img_store_lock(s, IMG_LOCK_EXCLUSIVE, NULL, NULL), 0);
	bytes = 0;
	IMG_ASSERT_EQ_INT(img_blob_sweep_tmp(s, 0, &bytes, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(bytes, 13);
	IMG_ASSERT(access(p, F_OK) < 0);
	free(p);
	p = at(s, ".img/tmp");
	IMG_ASSERT_EQ_INT(rmdir(p), 0);                                /* empty now */
	free(p);
	IMG_ASSERT_EQ_INT(access("/etc/passwd", F_OK), 0);             /* links not followed */
	img_store_close(s);
}

TEST(blobs_verify_with)
{
	struct img_store *s = img_test_store();
	struct img_hash *h = img_digest_hash_new(IMG_SHA256);
	struct img_digest d, missing;
	char buf[7];
	uint64_t n = 0;
	char *p;

	IMG_ASSERT(s != NULL && h != NULL);
	IMG_ASSERT_EQ_INT(img_blob_put(s, "0123456789abcdef", 16, &d), 0);
	/* a small scratch buffer: many reads, one answer */
	IMG_ASSERT_EQ_INT(img_blob_verify_with(s, &d, 16, h, buf, sizeof buf, &n), 0);
	IMG_ASSERT_EQ_INT(n, 16);
	IMG_ASSERT_EQ_INT(img_blob_verify_with(s, &d, -1, h, buf, sizeof buf, &n), 0);   /* h reused */
	IMG_ASSERT_EQ_INT(n, 32);
	IMG_ASSERT_EQ_INT(img_blob_verify_with(s, &d, 15, h, buf, sizeof buf, NULL), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "size 16, expected 15");
	IMG_ASSERT_EQ_INT(img_digest_parse("sha256:0000000000000000000000000000000000000000000000000000000000000000", &missing), 0);
	IMG_ASSERT_EQ_INT(img_blob_verify_with(s, &missing, -1, NULL, NULL, 0, NULL), -1);
	IMG_ASSERT_EQ_INT(errno, ENOENT);
	IMG_ASSERT_EQ_STR(img_errmsg(), "missing");
	p = xasprintf("%s/%s", img_store_path(s), "blobs/sha256/");
	{
		char *f = xasprintf("%s%s", p, img_digest_hex(&d));
		int fd = open(f, O_WRONLY);
		IMG_ASSERT(fd >= 0);
		IMG_ASSERT_EQ_INT(pwrite(fd, "X", 1, 3), 1);             /* same size, other bytes */
		close(fd);
		free(f);
	}
	free(p);
	IMG_ASSERT_EQ_INT(img_blob_verify_with(s, &d, 16, h, buf, sizeof buf, NULL), -1);
	IMG_ASSERT(strncmp(img_errmsg(), "digest mismatch (got sha256:", 28) == 0);
	img_digest_hash_free(h);
	img_store_close(s);
}

/* Write n bytes of a pattern through a writer with flags, in chunks of chunk bytes
 * from a 4 KiB-aligned buffer; commit (trusted: with the digest computed here). */
static int write_pattern(struct img_store *s, int flags, size_t n, size_t chunk,
                         struct img_digest *out)
{
	struct img_blob_writer *w;
	unsigned char *buf;
	struct img_hash *h = img_digest_hash_new(IMG_SHA256);
	struct img_digest d;
	size_t off = 0;
	int rc = -1;

	if (posix_memalign((void **)&buf, 4096, chunk) != 0)
		return -1;
	if (img_blob_begin_flags(s, flags, &w) < 0)
		goto out;
	while (off < n) {
		size_t k = n - off < chunk ? n - off : chunk;
		for (size_t i = 0; i < k; i++)
			buf[i] = (unsigned char)((off + i) * 7 + 3);
		img_digest_hash_update(h, buf, k);
		if (img_blob_write(w, buf, k) < 0) {
			img_blob_abort(w);
			goto out;
		}
		off += k;
	}
	img_digest_hash_final(h, &d);
	if (img_blob_written(w) != n) {
		img_blob_abort(w);
		goto out;
	}
	rc = img_blob_commit(w, &d, (int64_t)n, out);
out:
	img_digest_hash_free(h);
	free(buf);
	return rc;
}

TEST(blobs_writer_options)
{
	struct img_store *s = img_test_store();
	static const int flags[] = { 0, IMG_BLOB_STREAM, IMG_BLOB_DIRECT,
	                             IMG_BLOB_DIRECT | IMG_BLOB_TRUSTED, IMG_BLOB_STREAM | IMG_BLOB_TRUSTED };
	struct img_digest d;
	char *p;

	IMG_ASSERT(s != NULL);
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		/* whole blocks, then a tail that is not one; and odd chunks from the start */
		IMG_ASSERT_EQ_INT(write_pattern(s, flags[i], 3 * 65536 + 100, 65536, &d), 0);
		IMG_ASSERT_EQ_INT(img_blob_verify(s, &d, 3 * 65536 + 100), 0);
		IMG_ASSERT_EQ_INT(write_pattern(s, flags[i], 10 * 4096 + 1, 4097, &d), 0);
		IMG_ASSERT_EQ_INT(img_blob_verify(s, &d, 10 * 4096 + 1), 0);
	}
	/* 9 MiB streamed: writeback is started on the way, the bytes are the same */
	IMG_ASSERT_EQ_INT(write_pattern(s, IMG_BLOB_DIRECT | IMG_BLOB_TRUSTED, 9 << 20, 1 << 20, &d), 0);
	IMG_ASSERT_EQ_INT(img_blob_verify(s, &d, 9 << 20), 0);
	p = at(s, ".img/tmp");
	IMG_ASSERT_EQ_INT(rmdir(p), 0);                                /* no temp file left */
	free(p);
	img_store_close(s);
}

TEST(blobs_writer_trusted_needs_digest)
{
	struct img_store *s = img_test_store();
	struct img_blob_writer *w;
	struct img_digest d;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(img_blob_begin_flags(s, IMG_BLOB_TRUSTED, &w), 0);
	IMG_ASSERT_EQ_INT(img_blob_write(w, "abc", 3), 0);
	IMG_ASSERT(img_blob_error(w) == NULL);
	IMG_ASSERT_EQ_INT(img_blob_commit(w, NULL, -1, &d), -1);
	IMG_ASSERT(strstr(img_errmsg(), "no digest") != NULL);
	/* an untrusted writer still checks what it is told */
	img_digest_buf("abd", 3, &d);
	IMG_ASSERT_EQ_INT(img_blob_begin_flags(s, IMG_BLOB_STREAM, &w), 0);
	IMG_ASSERT_EQ_INT(img_blob_write(w, "abc", 3), 0);
	IMG_ASSERT_EQ_INT(img_blob_commit(w, &d, 3, NULL), -1);
	IMG_ASSERT(strncmp(img_errmsg(), "digest mismatch", 15) == 0);
	IMG_ASSERT_EQ_INT(img_blob_has(s, &d, NULL), 0);
	img_store_close(s);
}

/* img_blob_copy: the bytes to the sink in order, the begin call first, a blob of another
 * size or content refused, a sink failure told apart (-2). */
struct copied { char buf[3 << 20]; size_t len; int begun, fail_after; };

static int copied_begin(void *arg)
{
	struct copied *c = arg;

	c->begun = 1;
	return 0;
}

static int copied_sink(void *arg, const void *buf, size_t n)
{
	struct copied *c = arg;

	if (!c->begun || c->len + n > sizeof c->buf)
		return -1;
	if (c->fail_after && c->len >= (size_t)c->fail_after) {
		img_seterr("sink full");
		return -1;
	}
	memcpy(c->buf + c->len, buf, n);
	c->len += n;
	return 0;
}

TEST(blobs_copy)
{
	struct img_store *s = img_test_store();
	struct img_blob_copier *cp = img_blob_copier_new();
	static struct copied c;
	struct img_digest d, e;
	size_t n = (5u << 20) / 2, i;             /* 2.5 MiB: three chunks, the last short */
	char *data = xmalloc(n), *p;
	int fd;

	IMG_ASSERT(s != NULL && cp != NULL);
	for (i = 0; i < n; i++)
		data[i] = (char)(i * 31 + 7);
	IMG_ASSERT_EQ_INT(img_blob_put(s, data, n, &d), 0);
	IMG_ASSERT_EQ_INT(img_blob_put(s, "", 0, &e), 0);
	memset(&c, 0, sizeof c);
	IMG_ASSERT_EQ_INT(img_blob_copy(cp, s, &d, (int64_t)n, copied_begin, copied_sink, &c), 0);
	IMG_ASSERT(c.begun && c.len == n && memcmp(c.buf, data, n) == 0);
	memset(&c, 0, sizeof c);                      /* the copier again, an empty blob */
	IMG_ASSERT_EQ_INT(img_blob_copy(cp, s, &e, 0, copied_begin, copied_sink, &c), 0);
	IMG_ASSERT(c.begun && c.len == 0);
	memset(&c, 0, sizeof c);
	IMG_ASSERT_EQ_INT(img_blob_copy(cp, s, &d, (int64_t)n - 1, copied_begin, copied_sink, &c), -1);
	IMG_ASSERT(!c.begun && strstr(img_errmsg(), "expected") != NULL);
	memset(&c, 0, sizeof c);
	c.fail_after = 1;
	IMG_ASSERT_EQ_INT(img_blob_copy(cp, s, &d, (int64_t)n, copied_begin, copied_sink, &c), -2);
	IMG_ASSERT_EQ_STR(img_errmsg(), "sink full");
	p = xasprintf("%s/blobs/sha256/%s", img_store_path(s), img_digest_hex(&d));
	fd = open(p, O_WRONLY);
	free(p);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(pwrite(fd, "X", 1, n - 1), 1);   /* same size, other bytes */
	close(fd);
	memset(&c, 0, sizeof c);
	IMG_ASSERT_EQ_INT(img_blob_copy(cp, s, &d, (int64_t)n, copied_begin, copied_sink, &c), -1);
	IMG_ASSERT(strstr(img_errmsg(), "digest mismatch (got sha256:") != NULL);
	img_blob_copier_free(cp);
	free(data);
	img_store_close(s);
}
