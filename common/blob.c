/* blobs: the store's blobs (store.h "blobs"): read, verify, the one blob writer, list,
 * remove, and the sweep of .img/tmp. Every file below blobs/ and .img/tmp is made,
 * renamed or removed here. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util.h"
#include "digest.h"
#include "io.h"
#include "json.h"
#include "pool.h"
#include "ring.h"
#include "store-priv.h"

#define WBUF_SIZE  (1u << 20)
#define DIO_ALIGN  4096                  /* O_DIRECT buffer, length and offset alignment */
#define SYNC_EVERY ((uint64_t)8 << 20)   /* start writeback this often */
#define COPY_CHUNK ((size_t)1 << 20)     /* read size of one chunk of a blob copied out */
#define COPY_NBUF  3                     /* chunks in flight between reading and hashing */

struct img_blob_writer {
	struct img_store *s;
	int fd;
	int flags;
	int direct;                /* O_DIRECT is on */
	char name[160];            /* relative to the store: .img/tmp/blob-<hex> or part-<hex> */
	char *path;                /* full path, for img_io_tmp_register and messages */
	struct img_hash *h;        /* NULL with IMG_BLOB_TRUSTED */
	unsigned char *buf;
	size_t blen;
	uint64_t written;
	uint64_t ondisk;           /* bytes handed to the file */
	uint64_t synced;           /* writeback started up to here */
	int resumable;             /* a kept partial file (part-<hex>), flock'ed while owned */
	char *err;                 /* the first failure, or NULL */
};

int img_blob_has(struct img_store *s, const struct img_digest *d, int64_t *size)
{
	char *p = img_digest_blobpath(d);
	struct stat st;
	int r;

	r = fstatat(s->dfd, p, &st, AT_SYMLINK_NOFOLLOW);
	if (r < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			free(p);
			return 0;
		}
		img_seterr_errno("cannot stat '%s/%s'", s->path, p);
		free(p);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		img_seterr("'%s/%s' is not a regular file", s->path, p);
		free(p);
		return -1;
	}
	free(p);
	if (size)
		*size = (int64_t)st.st_size;
	return 1;
}

int img_blob_open(struct img_store *s, const struct img_digest *d)
{
	char *p = img_digest_blobpath(d);
	struct stat st;
	int fd, e;

	fd = openat(s->dfd, p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			img_seterr("blob %s: missing", d->str);
		else if (e == ELOOP)
			img_seterr("blob %s: is a symbolic link", d->str);
		else
			img_seterr_errno("cannot open '%s/%s'", s->path, p);
		free(p);
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		img_seterr("blob %s: not a regular file", d->str);
		close(fd);
		free(p);
		errno = EINVAL;
		return -1;
	}
	/* Regular files ignore O_NONBLOCK, but clear it for tidiness. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	free(p);
	return fd;
}

int img_blob_read(struct img_store *s, const struct img_digest *d, size_t cap,
                  char **buf, size_t *len)
{
	struct stat st;
	struct img_digest got;
	struct img_hash *h;
	int fd = img_blob_open(s, d);

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > cap) {
		img_seterr("blob %s: larger than %zu bytes", d->str, cap);
		close(fd);
		errno = EFBIG;
		return -1;
	}
	if (img_json_read_capped(fd, cap, buf, len) < 0) {
		img_seterr_prefix("blob %s", d->str);
		close(fd);
		return -1;
	}
	close(fd);
	h = img_digest_hash_new(d->alg);
	if (!h) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	img_digest_hash_update(h, *buf, *len);
	img_digest_hash_final(h, &got);
	img_digest_hash_free(h);
	if (!img_digest_eq(&got, d)) {
		img_seterr("blob %s: digest mismatch (got %s)", d->str, got.str);
		free(*buf);
		*buf = NULL;
		*len = 0;
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Hash fd to its end with h (reset first) through buf; *nread gets the bytes added as
 * they are read. 0, or -1 on a read error. */
static int hash_fd(int fd, struct img_hash *h, void *buf, size_t bufsz, uint64_t *nread)
{
	ssize_t n;

	img_digest_hash_reset(h);
	for (;;) {
		n = read(fd, buf, bufsz);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			img_seterr_errno("read error");
			return -1;
		}
		if (n == 0)
			return 0;
		img_digest_hash_update(h, buf, (size_t)n);
		if (nread)
			*nread += (uint64_t)n;
	}
}

int img_blob_verify_with(struct img_store *s, const struct img_digest *d, int64_t expect_size,
                         struct img_hash *h, void *buf, size_t bufsz, uint64_t *nread)
{
	struct img_hash *own = NULL;
	void *ownbuf = NULL;
	struct stat st;
	struct img_digest got;
	int fd, e, rc = -1;
	char *p;

	p = img_digest_blobpath(d);
	fd = openat(s->dfd, p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	free(p);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			img_seterr("missing");
		else
			img_seterr_errno("cannot open");
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		img_seterr("not a regular file");
		errno = EINVAL;
		goto out;
	}
	if (expect_size >= 0 && st.st_size != expect_size) {
		img_seterr("size %lld, expected %lld", (long long)st.st_size, (long long)expect_size);
		errno = EINVAL;
		goto out;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (!h && !(h = own = img_digest_hash_new(d->alg)))
		goto out;
	if (!buf)
		buf = ownbuf = xmalloc(bufsz = WBUF_SIZE);
	if (hash_fd(fd, h, buf, bufsz, NULL) < 0)
		goto out;
	if (nread)
		*nread += img_digest_hash_bytes(h);
	img_digest_hash_final(h, &got);
	if (expect_size >= 0 && img_digest_hash_bytes(h) != (uint64_t)expect_size) {
		img_seterr("size %llu, expected %lld", (unsigned long long)img_digest_hash_bytes(h),
		           (long long)expect_size);
		errno = EINVAL;
		goto out;
	}
	if (!img_digest_eq(&got, d)) {
		img_seterr("digest mismatch (got %s)", got.str);
		errno = EINVAL;
		goto out;
	}
	rc = 0;
out:
	e = errno;
	close(fd);
	free(ownbuf);
	img_digest_hash_free(own);
	errno = e;
	return rc;
}

int img_blob_verify(struct img_store *s, const struct img_digest *d, int64_t expect_size)
{
	return img_blob_verify_with(s, d, expect_size, NULL, NULL, 0, NULL);
}

/* ---- the writer ---- */

int img_blob_begin(struct img_store *s, struct img_blob_writer **out)
{
	return img_blob_begin_flags(s, 0, out);
}

int img_blob_begin_flags(struct img_store *s, int flags, struct img_blob_writer **out)
{
	struct img_blob_writer *w;

	*out = NULL;
	if (s->lockmode == 0 && img_store_lock(s, IMG_LOCK_SHARED, s->waiting, s->warg) < 0)
		return -1;
	if (img_store_ensure_dirs(s) < 0)
		return -1;
	if (flags & IMG_BLOB_DIRECT)
		flags |= IMG_BLOB_STREAM;
	w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->flags = flags;
	if (!(flags & IMG_BLOB_TRUSTED) && !(w->h = img_digest_hash_new(IMG_SHA256))) {
		free(w);
		return -1;
	}
	w->fd = -1;
	if (flags & IMG_BLOB_DIRECT) {
		w->fd = img_store_tmp_create(s, "blob-", O_DIRECT, w->name, sizeof(w->name));
		w->direct = w->fd >= 0;
		if (w->fd < 0 && errno == EINVAL)     /* no O_DIRECT here: the name may exist */
			unlinkat(s->dfd, w->name, 0);
	}
	if (w->fd < 0)
		w->fd = img_store_tmp_create(s, "blob-", 0, w->name, sizeof(w->name));
	if (w->fd < 0) {
		img_digest_hash_free(w->h);
		free(w);
		return -1;
	}
	w->path = xasprintf("%s/%s", s->path, w->name);
	img_io_tmp_register(w->path);
	*out = w;
	return 0;
}

static int wfail(struct img_blob_writer *w)
{
	img_seterr_errno("cannot write '%s'", w->path);
	if (!w->err)
		w->err = xstrdup(img_errmsg());
	return -1;
}

/* n bytes went to the file: start their writeback every SYNC_EVERY bytes, so that the
 * fsync before the rename has little left to do. */
static void wrote(struct img_blob_writer *w, size_t n)
{
	w->ondisk += n;
	if (w->ondisk - w->synced >= SYNC_EVERY) {
		sync_file_range(w->fd, (off64_t)w->synced, (off64_t)(w->ondisk - w->synced),
		                SYNC_FILE_RANGE_WRITE);
		w->synced = w->ondisk;
	}
}

static int wflush(struct img_blob_writer *w)
{
	if (w->blen == 0)
		return 0;
	if (img_io_write_all(w->fd, w->buf, w->blen) < 0)
		return wfail(w);
	wrote(w, w->blen);
	w->blen = 0;
	return 0;
}

/* IMG_BLOB_STREAM: straight to the file. With O_DIRECT, whole aligned blocks from an
 * aligned buffer go to the disk without a copy into the page cache; the rest (and all
 * of a file system that refuses) is written buffered, with writeback started every
 * SYNC_EVERY bytes, so that the fsync before the rename has little left to do. */
static int wstream(struct img_blob_writer *w, const unsigned char *p, size_t n)
{
	if (w->direct && w->written % DIO_ALIGN == 0 && (uintptr_t)p % DIO_ALIGN == 0) {
		size_t k = n & ~(size_t)(DIO_ALIGN - 1);
		while (k) {
			ssize_t r = write(w->fd, p, k);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EINVAL)
				break;       /* refused after all: go on buffered */
			if (r <= 0) {
				if (r == 0)
					errno = EIO;
				return wfail(w);
			}
			p += r;
			k -= (size_t)r;
			n -= (size_t)r;
			w->written += (uint64_t)r;
			w->synced = w->ondisk = w->written;
			if (w->written % DIO_ALIGN)
				break;
		}
	}
	if (n == 0)
		return 0;
	if (w->direct) {
		int fl = fcntl(w->fd, F_GETFL);
		if (fl >= 0)
			fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
		w->direct = 0;
	}
	if (img_io_write_all(w->fd, p, n) < 0)
		return wfail(w);
	w->written += n;
	wrote(w, n);
	return 0;
}

int img_blob_write(struct img_blob_writer *w, const void *buf, size_t n)
{
	if (w->err) {
		img_seterr("cannot write '%s': earlier write failed", w->path);
		return -1;
	}
	if (w->h)
		img_digest_hash_update(w->h, buf, n);
	if (w->flags & IMG_BLOB_STREAM)
		return wstream(w, buf, n);
	w->written += n;
	if (n >= WBUF_SIZE) {
		if (wflush(w) < 0)
			return -1;
		if (img_io_write_all(w->fd, buf, n) < 0)
			return wfail(w);
		wrote(w, n);
		return 0;
	}
	if (!w->buf)
		w->buf = xmalloc(WBUF_SIZE);
	if (w->blen + n > WBUF_SIZE && wflush(w) < 0)
		return -1;
	memcpy(w->buf + w->blen, buf, n);
	w->blen += n;
	return 0;
}

uint64_t img_blob_written(const struct img_blob_writer *w)
{
	return w->written;
}

const char *img_blob_error(const struct img_blob_writer *w)
{
	return w->err;
}

static void writer_free(struct img_blob_writer *w, int unlink_tmp)
{
	if (w->fd >= 0)
		close(w->fd);
	if (unlink_tmp)
		unlinkat(w->s->dfd, w->name, 0);
	img_io_tmp_unregister(w->path);
	free(w->path);
	free(w->buf);
	free(w->err);
	img_digest_hash_free(w->h);
	free(w);
}

void img_blob_abort(struct img_blob_writer *w)
{
	if (w)
		writer_free(w, 1);
}

int img_blob_begin_resume(struct img_store *s, const struct img_digest *d, int64_t size,
                          struct img_blob_writer **out)
{
	struct img_blob_writer *w;
	struct stat st, cur;
	char name[160];
	int fd;

	*out = NULL;
	if (d->alg != IMG_SHA256)
		return img_blob_begin(s, out);
	if (s->lockmode == 0 && img_store_lock(s, IMG_LOCK_SHARED, s->waiting, s->warg) < 0)
		return -1;
	if (img_store_ensure_dirs(s) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s/part-%s", IMG_STORE_TMP_DIR, img_digest_hex(d));
	fd = openat(s->dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		img_seterr_errno("cannot create '%s/%s'", s->path, name);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fstatat(s->dfd, name, &cur, AT_SYMLINK_NOFOLLOW) < 0 || cur.st_ino != st.st_ino ||
	    cur.st_dev != st.st_dev) {
		/* Another process fetches this blob now (or just committed it under this
		 * name): write a private temp file. */
		close(fd);
		return img_blob_begin(s, out);
	}
	w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->fd = fd;
	w->resumable = 1;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->path = xasprintf("%s/%s", s->path, w->name);
	w->h = img_digest_hash_new(IMG_SHA256);
	if (!w->h)
		goto fail;
	if (size >= 0 && st.st_size >= size) {
		/* Complete or longer than the blob: bytes we cannot trust to resume from. */
		if (ftruncate(fd, 0) < 0)
			goto fail_errno;
	} else if (st.st_size > 0) {
		/* Hash what an earlier run kept; the writer goes on after it. */
		unsigned char *buf = xmalloc(WBUF_SIZE);
		uint64_t n = 0;
		int r = hash_fd(fd, w->h, buf, WBUF_SIZE, &n);
		free(buf);
		if (r < 0)
			goto fail;
		w->written = n;
	}
	if (lseek(fd, (off_t)w->written, SEEK_SET) < 0)
		goto fail_errno;
	w->ondisk = w->synced = w->written;
	*out = w;
	return 0;
fail_errno:
	img_seterr_errno("cannot read '%s'", w->path);
fail:
	writer_free(w, 0);
	return -1;
}

int img_blob_restart(struct img_blob_writer *w)
{
	w->blen = 0;
	if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0) {
		wfail(w);
		return -1;
	}
	img_digest_hash_reset(w->h);
	w->written = w->ondisk = w->synced = 0;
	free(w->err);
	w->err = NULL;
	return 0;
}

void img_blob_keep(struct img_blob_writer *w)
{
	if (!w)
		return;
	if (!w->resumable || w->err || wflush(w) < 0) {
		writer_free(w, 1);
		return;
	}
	writer_free(w, 0);
}

int img_blob_commit(struct img_blob_writer *w, const struct img_digest *expect,
                    int64_t expect_size, struct img_digest *out)
{
	struct img_store *s = w->s;
	struct img_digest got;
	struct stat st;
	char *dst = NULL, *dir;
	int fd;

	if (w->err) {
		img_seterr("%s", w->err);
		goto fail;
	}
	if (wflush(w) < 0)
		goto fail;
	if (w->h) {
		img_digest_hash_final(w->h, &got);
	} else if (expect) {
		got = *expect;            /* IMG_BLOB_TRUSTED: the caller hashed the bytes */
	} else {
		img_seterr("cannot commit '%s': no digest", w->path);
		errno = EINVAL;
		goto fail;
	}
	if (expect_size >= 0 && w->written != (uint64_t)expect_size) {
		img_seterr("size %llu, expected %lld", (unsigned long long)w->written,
		           (long long)expect_size);
		errno = EINVAL;
		goto fail;
	}
	if (w->h && expect && expect->alg != IMG_SHA256) {
		/* Rare: hash the temp file again with the expected algorithm. */
		struct img_hash *h = img_digest_hash_new(expect->alg);
		unsigned char *buf;
		int r = -1;

		fd = openat(s->dfd, w->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			img_seterr_errno("cannot reopen '%s'", w->path);
			img_digest_hash_free(h);
			goto fail;
		}
		buf = xmalloc(WBUF_SIZE);
		if (h && (r = hash_fd(fd, h, buf, WBUF_SIZE, NULL)) == 0)
			img_digest_hash_final(h, &got);
		free(buf);
		img_digest_hash_free(h);
		close(fd);
		if (r < 0)
			goto fail;
	}
	if (expect && !img_digest_eq(&got, expect)) {
		img_seterr("digest mismatch: expected %s, got %s", expect->str, got.str);
		errno = EINVAL;
		goto fail;
	}
	if (fsync(w->fd) < 0) {
		img_seterr_errno("cannot sync '%s'", w->path);
		goto fail;
	}
	/* A resumable file stays open (and flock'ed) until renamed: no second writer may
	 * take it over in between. */
	if (!w->resumable) {
		if (close(w->fd) < 0) {
			w->fd = -1;
			img_seterr_errno("cannot write '%s'", w->path);
			goto fail;
		}
		w->fd = -1;
	}
	dst = img_digest_blobpath(&got);
	if (fstatat(s->dfd, dst, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == (off_t)w->written) {
		/* Present already: blobs are immutable, keep the existing file (its rename
		 * may not be durable yet if another process just made it). */
		s->blobs_dirty = 1;
		writer_free(w, 1);
		free(dst);
		if (out)
			*out = got;
		return 0;
	}
	dir = xstrdup(dst);
	*strrchr(dir, '/') = '\0';
	if (img_store_mkdirat(s->dfd, dir) < 0) {
		img_seterr_errno("cannot create '%s/%s'", s->path, dir);
		free(dir);
		goto fail;
	}
	if (renameat(s->dfd, w->name, s->dfd, dst) < 0) {
		img_seterr_errno("cannot rename into '%s/%s'", s->path, dst);
		free(dir);
		goto fail;
	}
	/* The directory is synced once, before index.json next changes (sync_blobs). */
	s->blobs_dirty = 1;
	free(dir);
	free(dst);
	writer_free(w, 0);
	if (out)
		*out = got;
	return 0;
fail:
	free(dst);
	writer_free(w, 1);
	return -1;
}

int img_blob_put(struct img_store *s, const void *buf, size_t len, struct img_digest *out)
{
	struct img_blob_writer *w;

	if (img_blob_begin(s, &w) < 0)
		return -1;
	if (img_blob_write(w, buf, len) < 0) {
		img_blob_abort(w);
		return -1;
	}
	return img_blob_commit(w, NULL, (int64_t)len, out);
}

/* ---- listing, removing, sweeping ---- */

static int list_alg(struct img_store *s, enum img_alg alg, img_blob_list_fn fn, void *arg)
{
	const char *an = alg == IMG_SHA512 ? "sha512" : "sha256";
	size_t hl = alg == IMG_SHA512 ? 128 : 64;
	char path[16], name[8 + 130];
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, rc = 0, e;

	snprintf(path, sizeof(path), "blobs/%s", an);
	fd = openat(s->dfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || !(dir = fdopendir(fd))) {
		e = errno;
		img_seterr_errno("cannot read '%s/%s'", s->path, path);
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	while (rc == 0 && (de = readdir(dir))) {
		struct img_digest d;

		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (strlen(de->d_name) != hl || !img_digest_is_hex(de->d_name, hl))
			continue;
		snprintf(name, sizeof(name), "%s:%s", an, de->d_name);
		if (img_digest_parse(name, &d) < 0)
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			img_seterr_errno("cannot stat '%s/%s/%s'", s->path, path, de->d_name);
			rc = -1;
			break;
		}
		if (S_ISREG(st.st_mode))
			rc = fn(&d, (int64_t)st.st_size, arg);
	}
	e = errno;
	closedir(dir);
	errno = e;
	return rc < 0 ? -1 : 0;
}

int img_blob_list(struct img_store *s, img_blob_list_fn fn, void *arg)
{
	if (list_alg(s, IMG_SHA256, fn, arg) < 0)
		return -1;
	return list_alg(s, IMG_SHA512, fn, arg);
}

static int need_exclusive(struct img_store *s, const char *what)
{
	if (s->lockmode == IMG_LOCK_EXCLUSIVE)
		return 0;
	img_seterr("%s: the store lock is not held exclusively", what);
	errno = EPERM;
	return -1;
}

int img_blob_remove(struct img_store *s, const struct img_digest *d)
{
	char *p;

	if (need_exclusive(s, d->str) < 0)
		return -1;
	p = img_digest_blobpath(d);
	if (unlinkat(s->dfd, p, 0) < 0) {
		if (errno == ENOENT) {
			free(p);
			return 0;
		}
		img_seterr_errno("cannot delete '%s'", p);
		free(p);
		return -1;
	}
	free(p);
	return 1;
}

/* Remove (or with dry_run only measure) everything below dfd/name, not following
 * symlinks. Adds the bytes of regular files to *bytes. 0 or -1. */
static int remove_tree(int dfd, const char *name, int dry_run, uint64_t *bytes)
{
	struct stat st;
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode)) {
		if (S_ISREG(st.st_mode))
			*bytes += (uint64_t)st.st_size;
		if (!dry_run && unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			return -1;
		return 0;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    remove_tree(dirfd(dir), de->d_name, dry_run, bytes) < 0)
			rc = -1;
	closedir(dir);
	if (!dry_run && rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int img_blob_sweep_tmp(struct img_store *s, int dry_run, uint64_t *bytes,
                       void (*failed)(const char *path, void *arg), void *arg)
{
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	if (!dry_run && need_exclusive(s, s->tmpdir) < 0)
		return -1;
	if (!(dir = opendir(s->tmpdir))) {
		if (errno == ENOENT)
			return 0;
		img_seterr_errno("cannot read '%s'", s->tmpdir);
		return -1;
	}
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    remove_tree(dirfd(dir), de->d_name, dry_run, bytes) < 0) {
			char *p = xasprintf("%s/%s", s->tmpdir, de->d_name);
			int e = errno;

			img_seterr_errno("cannot remove '%s'", p);
			if (failed) {
				errno = e;
				failed(p, arg);
			}
			free(p);
			rc = -1;
		}
	closedir(dir);
	return rc;
}

/* ---- copying blobs out ---- */

/* The caller reads each chunk into a ring slot and hands it to its sink while the hasher
 * (an img_pool of one) hashes the same slots in order; a slot is reused only once hashed. */
struct img_blob_copier {
	struct img_ring *ring;
	struct img_pool *pool;
	struct img_hash *hash;
};

static int hasher_main(void *arg, size_t item, unsigned worker)
{
	struct img_blob_copier *cp = arg;

	(void)item;
	(void)worker;
	return img_ring_consume(cp->ring, 0, img_digest_hash_sink, cp->hash);
}

struct img_blob_copier *img_blob_copier_new(void)
{
	struct img_blob_copier *cp = xcalloc(1, sizeof *cp);

	cp->hash = img_digest_hash_new(IMG_SHA256);
	if (!cp->hash) {
		free(cp);
		return NULL;
	}
	cp->pool = img_pool_new(1, "img-save-hash");
	if (img_pool_threads(cp->pool) != 1) {
		img_seterr("cannot start a thread");
		img_blob_copier_free(cp);
		return NULL;
	}
	cp->ring = img_ring_new(COPY_NBUF, COPY_CHUNK, 1);
	img_ring_open(cp->ring, 1);
	img_pool_add(cp->pool, hasher_main, cp, 0);
	return cp;
}

void img_blob_copier_free(struct img_blob_copier *cp)
{
	if (!cp)
		return;
	if (cp->ring)
		img_ring_end(cp->ring);
	img_pool_free(cp->pool);
	img_ring_free(cp->ring);
	img_digest_hash_free(cp->hash);
	free(cp);
}

int img_blob_copy(struct img_blob_copier *cp, struct img_store *s, const struct img_digest *d,
                  int64_t size, int (*begin)(void *arg),
                  int (*sink)(void *arg, const void *buf, size_t n), void *arg)
{
	struct img_digest got;
	struct stat st;
	int64_t left = size;
	int rc = -1, fd;
	char extra;
	ssize_t n;

	fd = img_blob_open(s, d);
	if (fd < 0) {
		img_seterr_errno("blob %s", d->str);
		return -1;
	}
	if (fstat(fd, &st) < 0 || st.st_size != size) {
		img_seterr("blob %s: size %lld, expected %lld", d->str,
		           (long long)st.st_size, (long long)size);
		goto out;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (begin && begin(arg) < 0) {
		rc = -2;
		goto out;
	}
	img_ring_drain(cp->ring);
	img_digest_hash_reset(cp->hash);
	while (left > 0) {
		size_t want = left < (int64_t)COPY_CHUNK ? (size_t)left : COPY_CHUNK;
		void *slot;

		img_ring_slot(cp->ring, &slot);
		n = img_io_read_full(fd, slot, want);
		if (n < 0) {
			img_seterr_errno("blob %s: read error", d->str);
			goto out;
		}
		if ((size_t)n < want) {
			img_seterr("blob %s: truncated (%lld of %lld bytes)", d->str,
			           (long long)(size - left + n), (long long)size);
			goto out;
		}
		img_ring_put(cp->ring, want);
		if (sink(arg, slot, want) < 0) {   /* still ours to read */
			rc = -2;
			goto out;
		}
		left -= (int64_t)want;
	}
	n = read(fd, &extra, 1);
	if (n != 0) {
		if (n < 0)
			img_seterr_errno("blob %s: read error", d->str);
		else
			img_seterr("blob %s: larger than %lld bytes", d->str, (long long)size);
		goto out;
	}
	img_ring_drain(cp->ring);
	img_digest_hash_final(cp->hash, &got);
	if (!img_digest_eq(&got, d)) {
		img_seterr("blob %s: digest mismatch (got %s)", d->str, got.str);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}
