/* store: the OCI image layout that holds images (design.md §3, formats.md §1). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util.h"
#include "digest.h"
#include "json.h"
#include "ref.h"
#include "io.h"
#include "image.h"
#include "store.h"

#define PRIV_DIR   ".img"
#define TMP_DIR    ".img/tmp"
#define LOCK_FILE  ".img/lock"
#define ILOCK_FILE ".img/index.lock"
#define WBUF_SIZE  (1u << 20)
#define SYNC_EVERY ((uint64_t)8 << 20) /* start writeback this often: a cheap fsync at commit */

static const char layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
static const char empty_index_json[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	"\"manifests\":[]}";

struct img_store {
	char *path;
	char *tmpdir;
	int dfd;
	int lockfd;
	int lockmode;              /* 0, IMG_LOCK_SHARED, IMG_LOCK_EXCLUSIVE */
	void (*waiting)(void *);
	void *warg;
	/* manifest (or index) digest -> config digest, for resolving IDs: open addressing */
	int blobs_dirty;           /* blobs/<alg>/ need an fsync before index.json names them */
	struct cfg_slot { struct img_digest key, cfg; int used; } *cfgcache;
	size_t cfgcap, cfgn;
};

struct img_blob_writer {
	struct img_store *s;
	int fd;
	char name[160];            /* relative to the store: .img/tmp/blob-<hex> or part-<hex> */
	char *path;                /* full path, for img_tmp_register */
	struct img_hash *h;
	unsigned char *buf;
	size_t blen;
	uint64_t written;
	int failed;
	int resumable;             /* a kept partial file (part-<hex>), flock'ed while owned */
	uint64_t ondisk, synced;   /* bytes handed to the file; writeback started up to synced */
};

/* ---- paths and creation ---- */

char *img_store_default_path(const char *opt)
{
	const char *e;
	struct passwd *pw;

	if (opt && *opt)
		return xstrdup(opt);
	e = getenv("IMG_STORE");
	if (e && *e)
		return xstrdup(e);
	e = getenv("XDG_DATA_HOME");
	if (e && *e == '/')
		return xasprintf("%s/img", e);
	e = getenv("HOME");
	if (!e || !*e) {
		pw = getpwuid(getuid());
		e = pw && pw->pw_dir ? pw->pw_dir : "/";
	}
	return xasprintf("%s/.local/share/img", e);
}

/* mkdir -p path (mode 0755 for each missing component). */
static int mkdir_p(const char *path)
{
	char *p = xstrdup(path), *c;
	int rc = 0;

	for (c = p + 1; ; c++) {
		if (*c == '/' || *c == '\0') {
			char save = *c;
			*c = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST) {
				img_seterr_errno("cannot create '%s'", p);
				rc = -1;
				break;
			}
			*c = save;
			if (save == '\0')
				break;
		}
	}
	free(p);
	return rc;
}

static int mkdirat_ok(int dfd, const char *name)
{
	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Private state (.img, .img/tmp) and blobs/sha256: created when first needed. */
static int ensure_private(struct img_store *s)
{
	if (mkdirat_ok(s->dfd, PRIV_DIR) < 0 || mkdirat_ok(s->dfd, TMP_DIR) < 0) {
		img_seterr_errno("cannot create '%s/%s'", s->path, TMP_DIR);
		return -1;
	}
	if (mkdirat_ok(s->dfd, "blobs") < 0 || mkdirat_ok(s->dfd, "blobs/sha256") < 0) {
		img_seterr_errno("cannot create '%s/blobs/sha256'", s->path);
		return -1;
	}
	return 0;
}

static void rand_hex(char *out, size_t nbytes)
{
	unsigned char r[16];
	size_t i;
	static const char hx[] = "0123456789abcdef";
	static unsigned long counter;

	if (nbytes > sizeof(r))
		nbytes = sizeof(r);
	if (getrandom(r, nbytes, 0) != (ssize_t)nbytes) {
		unsigned long x = (unsigned long)getpid() * 2654435761u ^ (unsigned long)time(NULL) ^ ++counter;
		for (i = 0; i < nbytes; i++) {
			r[i] = (unsigned char)x;
			x = x * 6364136223846793005ul + 1442695040888963407ul;
		}
	}
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = hx[r[i] >> 4];
		out[2 * i + 1] = hx[r[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

/* Create a temp file .img/tmp/<prefix><random>; name gets the store-relative path. */
static int tmp_create(struct img_store *s, const char *prefix, char *name, size_t len)
{
	char hex[33];
	int fd, tries;

	for (tries = 0; tries < 100; tries++) {
		rand_hex(hex, 12);
		snprintf(name, len, "%s/%s%s", TMP_DIR, prefix, hex);
		fd = openat(s->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST) {
			img_seterr_errno("cannot create a temp file in '%s'", s->tmpdir);
			return -1;
		}
	}
	img_seterr("cannot create a temp file in '%s'", s->tmpdir);
	return -1;
}

/* Write a small file through a temp and link it into place unless it exists already
 * (linkat never replaces: two creators race safely). */
static int create_file(struct img_store *s, const char *dst, const char *content)
{
	char name[128], *full;
	int fd, rc = -1;
	struct stat st;

	if (fstatat(s->dfd, dst, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	fd = tmp_create(s, "new-", name, sizeof(name));
	if (fd < 0)
		return -1;
	full = xasprintf("%s/%s", s->path, name);
	img_tmp_register(full);
	if (img_write_all(fd, content, strlen(content)) < 0 || fsync(fd) < 0) {
		img_seterr_errno("cannot write '%s/%s'", s->path, dst);
		close(fd);
		goto out;
	}
	if (close(fd) < 0) {
		img_seterr_errno("cannot write '%s/%s'", s->path, dst);
		goto out;
	}
	if (linkat(s->dfd, name, s->dfd, dst, 0) < 0 && errno != EEXIST) {
		img_seterr_errno("cannot create '%s/%s'", s->path, dst);
		goto out;
	}
	rc = 0;
out:
	unlinkat(s->dfd, name, 0);
	img_tmp_unregister(full);
	free(full);
	return rc;
}

static int check_layout(struct img_store *s)
{
	int fd = openat(s->dfd, "oci-layout", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	json_t *j;
	const char *v;

	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			img_seterr("no image store at %s", s->path);
		else
			img_seterr_errno("cannot open '%s/oci-layout'", s->path);
		errno = e;
		return -1;
	}
	j = img_json_parse_fd(fd, 64 << 10);
	close(fd);
	if (!j) {
		char *m = xstrdup(img_errmsg());
		img_seterr("%s/oci-layout: %s", s->path, m);
		free(m);
		errno = EINVAL;
		return -1;
	}
	if (!json_is_object(j) || img_json_str(j, "imageLayoutVersion", &v) != 0 ||
	    strcmp(v, "1.0.0") != 0) {
		img_seterr("%s/oci-layout: unsupported layout version", s->path);
		json_decref(j);
		errno = EINVAL;
		return -1;
	}
	json_decref(j);
	return 0;
}

static int lock_wait(int fd, int op, void (*waiting)(void *), void *arg)
{
	if (flock(fd, op | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK && errno != EINTR)
		return -1;
	if (waiting)
		waiting(arg);
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static int open_lockfd(struct img_store *s)
{
	if (s->lockfd >= 0)
		return 0;
	if (ensure_private(s) < 0)
		return -1;
	s->lockfd = openat(s->dfd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (s->lockfd < 0) {
		img_seterr_errno("cannot open '%s/%s'", s->path, LOCK_FILE);
		return -1;
	}
	return 0;
}

int img_store_open(const char *dir, int flags, struct img_store **out)
{
	struct img_store *s;
	struct stat st;
	int e;

	*out = NULL;
	if (!dir || !*dir) {
		img_seterr("empty store path");
		errno = EINVAL;
		return -1;
	}
	if ((flags & IMG_STORE_CREATE) && mkdir_p(dir) < 0)
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(dir);
	s->tmpdir = xasprintf("%s/%s", dir, TMP_DIR);
	s->lockfd = -1;
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		e = errno;
		if (e == ENOENT)
			img_seterr("no image store at %s", dir);
		else
			img_seterr_errno("cannot open store '%s'", dir);
		img_store_close(s);
		errno = e;
		return -1;
	}
	if (flags & IMG_STORE_CREATE) {
		int took = 0;
		/* .img/ of an existing layout is made later, when first locked or written. */
		if (fstatat(s->dfd, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fstatat(s->dfd, "index.json", &st, AT_SYMLINK_NOFOLLOW) < 0) {
			/* Hold the store lock shared while our temp files exist. */
			if (open_lockfd(s) < 0)
				goto fail;
			if (s->lockmode == 0) {
				if (lock_wait(s->lockfd, LOCK_SH, NULL, NULL) < 0) {
					img_seterr_errno("cannot lock '%s'", dir);
					goto fail;
				}
				s->lockmode = IMG_LOCK_SHARED;
				took = 1;
			}
			/* index.json before oci-layout: a layout marker means a complete store. */
			if (create_file(s, "index.json", empty_index_json) < 0 ||
			    create_file(s, "oci-layout", layout_json) < 0)
				goto fail;
			if (fsync(s->dfd) < 0) {
				img_seterr_errno("cannot sync '%s'", dir);
				goto fail;
			}
			if (took)
				img_store_unlock(s);
		}
	}
	if (check_layout(s) < 0) {
		e = errno;
		img_store_close(s);
		errno = e;
		return -1;
	}
	*out = s;
	return 0;
fail:
	e = errno;
	img_store_close(s);
	errno = e;
	return -1;
}

void img_store_close(struct img_store *s)
{
	if (!s)
		return;
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dfd >= 0)
		close(s->dfd);
	free(s->cfgcache);
	free(s->path);
	free(s->tmpdir);
	free(s);
}

const char *img_store_path(const struct img_store *s)
{
	return s->path;
}

int img_store_dirfd(const struct img_store *s)
{
	return s->dfd;
}

const char *img_store_tmpdir(const struct img_store *s)
{
	return s->tmpdir;
}

/* ---- locks ---- */

int img_store_lock(struct img_store *s, int mode, void (*waiting)(void *), void *arg)
{
	int op;

	if (mode != IMG_LOCK_SHARED && mode != IMG_LOCK_EXCLUSIVE) {
		img_seterr("invalid lock mode");
		errno = EINVAL;
		return -1;
	}
	if (s->lockmode == mode || s->lockmode == IMG_LOCK_EXCLUSIVE)
		return 0;
	if (open_lockfd(s) < 0)
		return -1;
	op = mode == IMG_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH;
	if (!waiting) {
		waiting = s->waiting;
		arg = s->warg;
	}
	if (lock_wait(s->lockfd, op, waiting, arg) < 0) {
		img_seterr_errno("cannot lock '%s/%s'", s->path, LOCK_FILE);
		s->lockmode = 0;
		return -1;
	}
	s->lockmode = mode;
	return 0;
}

void img_store_unlock(struct img_store *s)
{
	if (s->lockfd >= 0 && s->lockmode)
		flock(s->lockfd, LOCK_UN);
	s->lockmode = 0;
}

void img_store_set_waiting(struct img_store *s, void (*waiting)(void *), void *arg)
{
	s->waiting = waiting;
	s->warg = arg;
}

/* ---- blobs ---- */

static char *blobpath(const struct img_digest *d)
{
	return img_digest_blobpath(d);
}

int img_blob_has(struct img_store *s, const struct img_digest *d, int64_t *size)
{
	char *p = blobpath(d);
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
	char *p = blobpath(d);
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
	if (img_read_capped(fd, cap, buf, len) < 0) {
		char *m = xstrdup(img_errmsg());
		img_seterr("blob %s: %s", d->str, m);
		free(m);
		close(fd);
		return -1;
	}
	close(fd);
	h = img_hash_new(d->alg);
	if (!h) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	img_hash_update(h, *buf, *len);
	img_hash_final(h, &got);
	img_hash_free(h);
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

/* Hash all of fd with alg into out; -1 on a read error. */
static int hash_fd(int fd, enum img_alg alg, struct img_digest *out, uint64_t *nread)
{
	struct img_hash *h = img_hash_new(alg);
	unsigned char *buf;
	ssize_t n;

	if (!h)
		return -1;
	buf = xmalloc(WBUF_SIZE);
	for (;;) {
		n = read(fd, buf, WBUF_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			img_seterr_errno("read error");
			free(buf);
			img_hash_free(h);
			return -1;
		}
		if (n == 0)
			break;
		img_hash_update(h, buf, (size_t)n);
	}
	if (nread)
		*nread = img_hash_bytes(h);
	img_hash_final(h, out);
	img_hash_free(h);
	free(buf);
	return 0;
}

int img_blob_verify(struct img_store *s, const struct img_digest *d, int64_t expect_size)
{
	struct stat st;
	struct img_digest got;
	uint64_t n = 0;
	int fd, e;
	char *p;

	p = blobpath(d);
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
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (expect_size >= 0 && st.st_size != expect_size) {
		img_seterr("size %lld, expected %lld", (long long)st.st_size, (long long)expect_size);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (hash_fd(fd, d->alg, &got, &n) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	if (expect_size >= 0 && n != (uint64_t)expect_size) {
		img_seterr("size %llu, expected %lld", (unsigned long long)n, (long long)expect_size);
		errno = EINVAL;
		return -1;
	}
	if (!img_digest_eq(&got, d)) {
		img_seterr("digest mismatch (got %s)", got.str);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int img_blob_begin(struct img_store *s, struct img_blob_writer **out)
{
	struct img_blob_writer *w;

	*out = NULL;
	if (s->lockmode == 0 && img_store_lock(s, IMG_LOCK_SHARED, s->waiting, s->warg) < 0)
		return -1;
	if (ensure_private(s) < 0)
		return -1;
	w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->h = img_hash_new(IMG_SHA256);
	if (!w->h) {
		free(w);
		return -1;
	}
	w->fd = tmp_create(s, "blob-", w->name, sizeof(w->name));
	if (w->fd < 0) {
		img_hash_free(w->h);
		free(w);
		return -1;
	}
	w->path = xasprintf("%s/%s", s->path, w->name);
	img_tmp_register(w->path);
	*out = w;
	return 0;
}

/* Bytes went to the file: start their writeback every SYNC_EVERY bytes, so that the
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
	if (img_write_all(w->fd, w->buf, w->blen) < 0) {
		img_seterr_errno("cannot write '%s'", w->path);
		w->failed = 1;
		return -1;
	}
	wrote(w, w->blen);
	w->blen = 0;
	return 0;
}

int img_blob_write(struct img_blob_writer *w, const void *buf, size_t n)
{
	if (w->failed) {
		img_seterr("cannot write '%s': earlier write failed", w->path);
		return -1;
	}
	img_hash_update(w->h, buf, n);
	w->written += n;
	if (n >= WBUF_SIZE) {
		if (wflush(w) < 0)
			return -1;
		if (img_write_all(w->fd, buf, n) < 0) {
			img_seterr_errno("cannot write '%s'", w->path);
			w->failed = 1;
			return -1;
		}
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

static void writer_free(struct img_blob_writer *w, int unlink_tmp)
{
	if (w->fd >= 0)
		close(w->fd);
	if (unlink_tmp)
		unlinkat(w->s->dfd, w->name, 0);
	img_tmp_unregister(w->path);
	free(w->path);
	free(w->buf);
	img_hash_free(w->h);
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
	if (ensure_private(s) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s/part-%s", TMP_DIR, img_digest_hex(d));
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
	w->h = img_hash_new(IMG_SHA256);
	if (!w->h)
		goto fail;
	if (size >= 0 && st.st_size >= size) {
		/* Complete or longer than the blob: bytes we cannot trust to resume from. */
		if (ftruncate(fd, 0) < 0)
			goto fail_errno;
	} else if (st.st_size > 0) {
		/* Hash what an earlier run kept; the writer goes on after it. */
		unsigned char *buf = xmalloc(WBUF_SIZE);
		ssize_t n;

		while ((n = read(fd, buf, WBUF_SIZE)) > 0) {
			img_hash_update(w->h, buf, (size_t)n);
			w->written += (uint64_t)n;
		}
		free(buf);
		if (n < 0)
			goto fail_errno;
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
		img_seterr_errno("cannot truncate '%s'", w->path);
		w->failed = 1;
		return -1;
	}
	img_hash_reset(w->h);
	w->written = w->ondisk = w->synced = 0;
	w->failed = 0;
	return 0;
}

void img_blob_keep(struct img_blob_writer *w)
{
	if (!w)
		return;
	if (!w->resumable || w->failed || wflush(w) < 0) {
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

	if (w->failed || wflush(w) < 0)
		goto fail;
	img_hash_final(w->h, &got);
	if (expect_size >= 0 && w->written != (uint64_t)expect_size) {
		img_seterr("size %llu, expected %lld", (unsigned long long)w->written,
		           (long long)expect_size);
		errno = EINVAL;
		goto fail;
	}
	if (expect && expect->alg != IMG_SHA256) {
		/* Rare: hash the temp file again with the expected algorithm. */
		fd = openat(s->dfd, w->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			img_seterr_errno("cannot reopen '%s'", w->path);
			goto fail;
		}
		if (hash_fd(fd, expect->alg, &got, NULL) < 0) {
			close(fd);
			goto fail;
		}
		close(fd);
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
	dst = blobpath(&got);
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
	if (mkdirat_ok(s->dfd, dir) < 0) {
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

/* ---- index.json ---- */

json_t *img_store_index(struct img_store *s)
{
	int fd = openat(s->dfd, "index.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	json_t *j, *m;
	const char *mt;
	int64_t sv;

	if (fd < 0) {
		img_seterr_errno("cannot open '%s/index.json'", s->path);
		return NULL;
	}
	j = img_json_parse_fd(fd, IMG_JSON_MAX_ARCHIVE);
	close(fd);
	if (!j) {
		char *msg = xstrdup(img_errmsg());
		img_seterr("%s/index.json: %s", s->path, msg);
		free(msg);
		return NULL;
	}
	if (!json_is_object(j)) {
		img_seterr("%s/index.json: not a JSON object", s->path);
		goto bad;
	}
	if (img_json_int(j, "schemaVersion", &sv) != 0 || sv != 2) {
		img_seterr("%s/index.json: schemaVersion is not 2", s->path);
		goto bad;
	}
	if (img_json_str(j, "mediaType", &mt) == 0 && strcmp(mt, IMG_MT_OCI_INDEX) != 0) {
		img_seterr("%s/index.json: mediaType is not an OCI index", s->path);
		goto bad;
	}
	if (img_json_arr(j, "manifests", &m) != 0) {
		img_seterr("%s/index.json: 'manifests' is not an array", s->path);
		goto bad;
	}
	if (json_object_get(j, "config") || json_object_get(j, "layers")) {
		img_seterr("%s/index.json: has 'config' or 'layers'", s->path);
		goto bad;
	}
	return j;
bad:
	json_decref(j);
	errno = EINVAL;
	return NULL;
}

/* Make renames into blobs/ durable before an index.json that names them. */
static int sync_blobs(struct img_store *s)
{
	static const char *const dirs[] = { "blobs/sha256", "blobs/sha512" };
	size_t i;
	int fd;

	if (!s->blobs_dirty)
		return 0;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		fd = openat(s->dfd, dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fsync(fd) < 0) {
			img_seterr_errno("cannot sync '%s/%s'", s->path, dirs[i]);
			close(fd);
			return -1;
		}
		close(fd);
	}
	s->blobs_dirty = 0;
	return 0;
}

static int write_index(struct img_store *s, json_t *index)
{
	char name[128], *full, *data;
	size_t len;
	int fd, rc = -1;

	if (sync_blobs(s) < 0)
		return -1;
	data = img_json_dump(index, &len);
	if (!data) {
		img_seterr("cannot serialize index.json");
		return -1;
	}
	fd = tmp_create(s, "index-", name, sizeof(name));
	if (fd < 0) {
		free(data);
		return -1;
	}
	full = xasprintf("%s/%s", s->path, name);
	img_tmp_register(full);
	if (img_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		img_seterr_errno("cannot write '%s'", full);
		close(fd);
		goto out;
	}
	if (close(fd) < 0) {
		img_seterr_errno("cannot write '%s'", full);
		goto out;
	}
	if (renameat(s->dfd, name, s->dfd, "index.json") < 0) {
		img_seterr_errno("cannot replace '%s/index.json'", s->path);
		goto out;
	}
	name[0] = '\0';   /* renamed: nothing left to remove */
	/* The new index is in place and every reader sees it: the update has happened.
	 * Syncing the directory only makes it durable across a power loss, and a failure
	 * there cannot be rolled back, so it does not turn the update into an error. */
	(void)fsync(s->dfd);
	rc = 0;
out:
	if (name[0])
		unlinkat(s->dfd, name, 0);
	img_tmp_unregister(full);
	free(full);
	free(data);
	return rc;
}

int img_store_index_update(struct img_store *s, int (*fn)(json_t *index, void *arg), void *arg)
{
	int lfd, took = 0, rc = -1, r, e;
	json_t *index = NULL;

	/* The index temp file lives in .img/tmp: hold the store lock (shared) meanwhile. */
	if (s->lockmode == 0) {
		if (img_store_lock(s, IMG_LOCK_SHARED, s->waiting, s->warg) < 0)
			return -1;
		took = 1;
	}
	if (ensure_private(s) < 0)
		goto out_unlock;
	lfd = openat(s->dfd, ILOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (lfd < 0) {
		img_seterr_errno("cannot open '%s/%s'", s->path, ILOCK_FILE);
		goto out_unlock;
	}
	if (lock_wait(lfd, LOCK_EX, s->waiting, s->warg) < 0) {
		img_seterr_errno("cannot lock '%s/%s'", s->path, ILOCK_FILE);
		close(lfd);
		goto out_unlock;
	}
	index = img_store_index(s);
	if (index) {
		r = fn(index, arg);
		if (r > 0)
			rc = 0;
		else if (r == 0)
			rc = write_index(s, index);
	}
	e = errno;
	json_decref(index);
	close(lfd);    /* releases index.lock */
	errno = e;
out_unlock:
	if (took) {
		e = errno;
		img_store_unlock(s);
		errno = e;
	}
	return rc;
}

/* ---- names ---- */

static json_t *manifests_of(json_t *index)
{
	json_t *m = json_is_object(index) ? json_object_get(index, "manifests") : NULL;
	return json_is_array(m) ? m : NULL;
}

static const char *ann_str(json_t *entry, const char *key)
{
	json_t *a = json_is_object(entry) ? json_object_get(entry, "annotations") : NULL;
	json_t *v = json_is_object(a) ? json_object_get(a, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *entry_digest(json_t *entry)
{
	json_t *v = json_is_object(entry) ? json_object_get(entry, "digest") : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *img_index_entry_name(json_t *entry, char *buf, size_t len)
{
	const char *v;
	char *canon = NULL;

	v = ann_str(entry, IMG_ANN_CTR_NAME);
	if (v && *v && strncmp(v, "moby-dangling@", 14) != 0)
		canon = img_ref_normalize(v);
	if (!canon) {
		v = ann_str(entry, IMG_ANN_REF_NAME);
		/* A bare tag (no '/', no ':') names no repository: the entry is unnamed. */
		if (v && *v && (strchr(v, '/') || strchr(v, ':')))
			canon = img_ref_normalize(v);
	}
	if (!canon)
		return NULL;
	if (strlen(canon) >= len) {
		free(canon);
		return NULL;
	}
	strcpy(buf, canon);
	free(canon);
	return buf;
}

/* Normalizing only prefixes a domain and "library/" and adds ":latest": the last path
 * component's name (before ':' or '@') never changes. A cheap necessary condition for
 * raw to normalize to canon, so most entries need no normalization. */
static int lastname_eq(const char *raw, const char *canon)
{
	const char *a = strrchr(raw, '/'), *b = strrchr(canon, '/');
	size_t la, lb;

	a = a ? a + 1 : raw;
	b = b ? b + 1 : canon;
	la = strcspn(a, ":@");
	lb = strcspn(b, ":@");
	return la == lb && memcmp(a, b, la) == 0;
}

static int entry_has_name(json_t *entry, const char *name)
{
	char buf[512];
	const char *ctr = ann_str(entry, IMG_ANN_CTR_NAME), *ref = ann_str(entry, IMG_ANN_REF_NAME);
	const char *n;

	if (!(ctr && lastname_eq(ctr, name)) && !(ref && lastname_eq(ref, name)))
		return 0;
	n = img_index_entry_name(entry, buf, sizeof(buf));
	return n && strcmp(n, name) == 0;
}

static void strip_names(json_t *entry)
{
	json_t *a = json_object_get(entry, "annotations");

	if (!json_is_object(a))
		return;
	json_object_del(a, IMG_ANN_REF_NAME);
	json_object_del(a, IMG_ANN_CTR_NAME);
	if (json_object_size(a) == 0)
		json_object_del(entry, "annotations");
}

static void set_names(json_t *entry, const char *name)
{
	json_t *a = json_object_get(entry, "annotations");

	if (!json_is_object(a)) {
		a = json_object();
		json_object_set_new(entry, "annotations", a);
	}
	json_object_set_new(a, IMG_ANN_REF_NAME, json_string(name));
	json_object_set_new(a, IMG_ANN_CTR_NAME, json_string(name));
}

static ssize_t array_find(json_t *arr, json_t *item)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (v == item)
			return (ssize_t)i;
	return -1;
}

/* Drop each entry of list (just unnamed) that another entry's digest makes redundant. */
static void drop_redundant(json_t *arr, json_t **list, size_t n)
{
	size_t k, j;

	for (k = n; k-- > 0; ) {
		ssize_t i = array_find(arr, list[k]);
		const char *d = entry_digest(list[k]);
		int other = 0;
		json_t *v;

		if (i < 0)
			continue;
		if (d) {
			json_array_foreach(arr, j, v)
				if ((ssize_t)j != i && entry_digest(v) && strcmp(entry_digest(v), d) == 0)
					other = 1;
		}
		if (other)
			json_array_remove(arr, (size_t)i);
	}
}

static char *canon_name(const char *name)
{
	char *c = img_ref_normalize(name);

	if (!c) {
		char *m = xstrdup(img_errmsg());
		img_seterr("invalid name '%s': %s", name, m);
		free(m);
		errno = EINVAL;
	}
	return c;
}

int img_index_set_name(json_t *index, const char *name, json_t *desc)
{
	json_t *arr = manifests_of(index), *v, *target = NULL, **stripped;
	const char *d = entry_digest(desc);
	char *canon, nbuf[512];
	size_t i, ns = 0, k;
	struct img_desc pd;

	if (!arr) {
		img_seterr("index has no 'manifests' array");
		errno = EINVAL;
		return -1;
	}
	if (img_desc_parse(desc, &pd) < 0)
		return -1;
	canon = canon_name(name);
	if (!canon)
		return -1;
	stripped = xcalloc(json_array_size(arr) + 1, sizeof(*stripped));
	json_array_foreach(arr, i, v) {
		if (entry_has_name(v, canon)) {
			strip_names(v);
			stripped[ns++] = v;
		}
	}
	/* Reuse an unnamed entry with the same digest (possibly the one just stripped). */
	json_array_foreach(arr, i, v) {
		const char *vd = entry_digest(v);
		if (vd && strcmp(vd, d) == 0 && !img_index_entry_name(v, nbuf, sizeof(nbuf))) {
			target = v;
			break;
		}
	}
	if (!target) {
		target = json_deep_copy(desc);
		strip_names(target);
		json_array_append_new(arr, target);
	}
	set_names(target, canon);
	for (k = 0; k < ns; k++)
		if (stripped[k] == target)
			stripped[k] = NULL;
	for (k = i = 0; k < ns; k++)
		if (stripped[k])
			stripped[i++] = stripped[k];
	drop_redundant(arr, stripped, i);
	free(stripped);
	free(canon);
	return 0;
}

int img_index_add_unnamed(json_t *index, json_t *desc)
{
	json_t *arr = manifests_of(index), *v, *copy;
	const char *d = entry_digest(desc);
	struct img_desc pd;
	size_t i;

	if (!arr) {
		img_seterr("index has no 'manifests' array");
		errno = EINVAL;
		return -1;
	}
	if (img_desc_parse(desc, &pd) < 0)
		return -1;
	json_array_foreach(arr, i, v) {
		const char *vd = entry_digest(v);
		if (vd && strcmp(vd, d) == 0)
			return 0;
	}
	copy = json_deep_copy(desc);
	strip_names(copy);
	json_array_append_new(arr, copy);
	return 0;
}

int img_index_remove_name(json_t *index, const char *name)
{
	json_t *arr = manifests_of(index), *v, **stripped;
	char *canon;
	size_t i, ns = 0;

	if (!arr)
		return 0;
	canon = img_ref_normalize(name);
	if (!canon)
		return 0;
	stripped = xcalloc(json_array_size(arr) + 1, sizeof(*stripped));
	json_array_foreach(arr, i, v) {
		if (entry_has_name(v, canon)) {
			strip_names(v);
			stripped[ns++] = v;
		}
	}
	drop_redundant(arr, stripped, ns);
	free(stripped);
	free(canon);
	return ns > 0;
}

/* ---- resolve ---- */

static int hexprefix(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 128)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static size_t cfg_hash(const struct img_digest *d, size_t cap)
{
	const char *h = img_digest_hex(d);
	size_t v = 0;

	for (int i = 0; i < 12 && h[i]; i++)
		v = v * 16 + (size_t)(h[i] <= '9' ? h[i] - '0' : h[i] - 'a' + 10);
	return v & (cap - 1);
}

static struct cfg_slot *cfg_find(struct img_store *s, const struct img_digest *key)
{
	size_t i;

	if (!s->cfgcap)
		return NULL;
	for (i = cfg_hash(key, s->cfgcap); s->cfgcache[i].used; i = (i + 1) & (s->cfgcap - 1))
		if (img_digest_eq(&s->cfgcache[i].key, key))
			return &s->cfgcache[i];
	return NULL;
}

static void cfg_add(struct img_store *s, const struct img_digest *key, const struct img_digest *cfg)
{
	size_t i;

	if ((s->cfgn + 1) * 2 > s->cfgcap) {
		struct cfg_slot *old = s->cfgcache;
		size_t oldcap = s->cfgcap;
		s->cfgcap = oldcap ? oldcap * 2 : 64;
		s->cfgcache = xcalloc(s->cfgcap, sizeof(*s->cfgcache));
		s->cfgn = 0;
		for (i = 0; i < oldcap; i++)
			if (old[i].used)
				cfg_add(s, &old[i].key, &old[i].cfg);
		free(old);
	}
	for (i = cfg_hash(key, s->cfgcap); s->cfgcache[i].used; i = (i + 1) & (s->cfgcap - 1))
		if (img_digest_eq(&s->cfgcache[i].key, key))
			return;
	s->cfgcache[i].key = *key;
	s->cfgcache[i].cfg = *cfg;
	s->cfgcache[i].used = 1;
	s->cfgn++;
}

/* The config digest of an index entry: the manifest's, or for an index the host
 * platform's manifest's. 0 or -1 (quietly: unreadable entries just don't match).
 * Content is immutable, so answers are cached for the life of the store handle. */
static int entry_config(struct img_store *s, json_t *entry, struct img_digest *out)
{
	struct img_desc d;
	struct img_doc doc;
	struct cfg_slot *slot;
	char *buf;
	size_t len;
	int rc = -1;

	const char *ed = entry_digest(entry);

	if (ed && strlen(ed) < sizeof(d.digest.str)) {
		struct img_digest key;
		memset(&key, 0, sizeof(key));
		key.alg = strncmp(ed, "sha512:", 7) == 0 ? IMG_SHA512 : IMG_SHA256;
		strcpy(key.str, ed);
		slot = cfg_find(s, &key);
		if (slot) {
			*out = slot->cfg;
			return 0;
		}
	}
	if (img_desc_parse(entry, &d) < 0)
		return -1;
	if (img_mt_kind(d.media_type) == IMG_KIND_MANIFEST) {
		if (img_blob_read(s, &d.digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
			return -1;
		if (img_doc_parse(buf, len, d.media_type, &doc) == 0) {
			if (doc.kind == IMG_KIND_MANIFEST) {
				*out = doc.config.digest;
				rc = 0;
			}
			img_doc_release(&doc);
		}
		free(buf);
	} else if (img_mt_kind(d.media_type) == IMG_KIND_INDEX) {
		struct img_doc m;
		struct img_desc md;
		struct img_config c;
		if (img_store_image(s, &d, NULL, &m, &md, &c) == 0) {
			*out = m.config.digest;
			img_doc_release(&m);
			img_config_release(&c);
			rc = 0;
		}
	}
	if (rc == 0)
		cfg_add(s, &d.digest, out);
	return rc;
}

/* What an index entry is when matched by the ID prefix hex: its manifest digest when that
 * starts with hex, else "config:<config digest>" when its config digest does, else NULL.
 * Entries with the same key are one image as docker counts them: several manifests with
 * one config (the same layers stored with other compressions) share an ID. */
static char *id_key(struct img_store *s, json_t *v, int alg, const char *hex, size_t hl)
{
	struct img_digest cfg;
	const char *ed = entry_digest(v);
	int ealg;

	if (!ed)
		return NULL;
	if (strncmp(ed, "sha256:", 7) == 0)
		ealg = IMG_SHA256;
	else if (strncmp(ed, "sha512:", 7) == 0)
		ealg = IMG_SHA512;
	else
		return NULL;
	if ((alg < 0 || ealg == alg) && strncmp(ed + 7, hex, hl) == 0)
		return xstrdup(ed);
	if (entry_config(s, v, &cfg) == 0 && (alg < 0 || (int)cfg.alg == alg) &&
	    strncmp(img_digest_hex(&cfg), hex, hl) == 0)
		return xasprintf("config:%s", cfg.str);
	return NULL;
}

static int by_id(struct img_store *s, json_t *arr, const char *what, size_t **matches,
                 size_t *n)
{
	const char *hex = what, *colon = strchr(what, ':');
	int alg = -1;
	size_t i, hl, cnt = 0;
	json_t *v;
	char *found = NULL, *key;

	if (colon) {
		if (strncmp(what, "sha256:", 7) == 0)
			alg = IMG_SHA256;
		else if (strncmp(what, "sha512:", 7) == 0)
			alg = IMG_SHA512;
		else
			return 0;
		hex = colon + 1;
	}
	if (!hexprefix(hex))
		return 0;
	hl = strlen(hex);
	*matches = xcalloc(json_array_size(arr) + 1, sizeof(**matches));
	json_array_foreach(arr, i, v) {
		if (!(key = id_key(s, v, alg, hex, hl)))
			continue;
		if (found && strcmp(found, key) != 0) {
			free(key);
			free(found);
			free(*matches);
			*matches = NULL;
			img_seterr("ambiguous ID prefix %s", what);
			errno = EINVAL;
			return -1;
		}
		if (!found)
			found = key;
		else
			free(key);
		(*matches)[cnt++] = i;
	}
	free(found);
	if (!cnt) {
		free(*matches);
		*matches = NULL;
		return 0;
	}
	*n = cnt;
	return 1;
}

int img_store_resolve(struct img_store *s, json_t *index, const char *what,
                      size_t **matches, size_t *n)
{
	json_t *arr = manifests_of(index), *v;
	struct img_ref ref;
	size_t i;
	int r;

	*matches = NULL;
	*n = 0;
	if (!arr) {
		img_seterr("index has no 'manifests' array");
		errno = EINVAL;
		return -1;
	}
	if (!what || !*what)
		goto none;
	if (img_ref_parse(what, &ref) == 0) {
		if (ref.digest) {
			/* name@digest: the entries with that manifest digest. */
			size_t cnt = 0;
			*matches = xcalloc(json_array_size(arr) + 1, sizeof(**matches));
			json_array_foreach(arr, i, v) {
				const char *vd = entry_digest(v);
				if (vd && strcmp(vd, ref.digest) == 0)
					(*matches)[cnt++] = i;
			}
			img_ref_release(&ref);
			if (cnt) {
				*n = cnt;
				return 0;
			}
			free(*matches);
			*matches = NULL;
			goto none;
		} else {
			char *canon = img_ref_canonical(&ref);
			img_ref_release(&ref);
			json_array_foreach(arr, i, v) {
				if (entry_has_name(v, canon)) {
					free(canon);
					*matches = xcalloc(1, sizeof(**matches));
					(*matches)[0] = i;
					*n = 1;
					return 0;
				}
			}
			free(canon);
		}
	}
	if (!img_ref_is_id(what) && strncmp(what, "sha256:", 7) != 0 &&
	    strncmp(what, "sha512:", 7) != 0)
		goto none;
	r = by_id(s, arr, what, matches, n);
	if (r < 0)
		return -1;
	if (r > 0)
		return 0;
none:
	img_seterr("no such image: %s", what ? what : "");
	errno = ENOENT;
	return -1;
}

/* ---- walks ---- */

#define WALK_MAX_DEPTH 64

static int walk(struct img_store *s, const struct img_desc *d, int flags, img_walk_fn fn,
                void *arg, int depth, int ilevel)
{
	enum img_kind kind = img_mt_kind(d->media_type);
	struct img_doc doc;
	char *buf;
	size_t len, i;
	int r;

	if (depth > WALK_MAX_DEPTH) {
		img_seterr("%s: references nested deeper than %d", d->digest.str, WALK_MAX_DEPTH);
		return -1;
	}
	r = fn(s, d, depth, arg);
	if (r < 0)
		return -1;
	if (r > 0 || (kind != IMG_KIND_MANIFEST && kind != IMG_KIND_INDEX))
		return 0;
	if (kind == IMG_KIND_INDEX && ilevel + 1 > IMG_MAX_INDEX_DEPTH) {
		img_seterr("%s: indexes nested deeper than %d", d->digest.str, IMG_MAX_INDEX_DEPTH);
		return (flags & IMG_WALK_TOLERANT) ? 0 : -1;
	}
	if (img_blob_read(s, &d->digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		return (flags & IMG_WALK_TOLERANT) ? 0 : -1;
	if (d->size >= 0 && (uint64_t)d->size != len) {
		free(buf);
		img_seterr("blob %s: size %zu, expected %lld", d->digest.str, len, (long long)d->size);
		return (flags & IMG_WALK_TOLERANT) ? 0 : -1;
	}
	r = img_doc_parse(buf, len, d->media_type, &doc);
	free(buf);
	if (r < 0) {
		char *m = xstrdup(img_errmsg());
		img_seterr("%s: %s", d->digest.str, m);
		free(m);
		return (flags & IMG_WALK_TOLERANT) ? 0 : -1;
	}
	r = 0;
	if (doc.kind == IMG_KIND_INDEX) {
		for (i = 0; i < doc.n && r == 0; i++)
			r = walk(s, &doc.items[i], flags, fn, arg, depth + 1, ilevel + 1);
	} else {
		if (doc.has_subject)
			r = walk(s, &doc.subject, flags, fn, arg, depth + 1, ilevel);
		if (r == 0)
			r = walk(s, &doc.config, flags, fn, arg, depth + 1, ilevel);
		for (i = 0; i < doc.n && r == 0; i++)
			r = walk(s, &doc.items[i], flags, fn, arg, depth + 1, ilevel);
	}
	img_doc_release(&doc);
	return r;
}

int img_store_walk(struct img_store *s, const struct img_desc *root, int flags,
                   img_walk_fn fn, void *arg)
{
	return walk(s, root, flags, fn, arg, 0, 0);
}

/* ---- picking an image ---- */

static const char *static_mt(const char *mt)
{
	static const char *const known[] = {
		IMG_MT_OCI_MANIFEST, IMG_MT_DOCKER_MANIFEST, IMG_MT_OCI_INDEX, IMG_MT_DOCKER_LIST,
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(mt, known[i]) == 0)
			return known[i];
	return IMG_MT_OCI_MANIFEST;
}

static int read_doc(struct img_store *s, const struct img_desc *d, struct img_doc *doc)
{
	char *buf;
	size_t len;
	int r;

	if (img_blob_read(s, &d->digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		return -1;
	if (d->size >= 0 && (uint64_t)d->size != len) {
		free(buf);
		img_seterr("blob %s: size %zu, expected %lld", d->digest.str, len, (long long)d->size);
		return -1;
	}
	r = img_doc_parse(buf, len, d->media_type, doc);
	free(buf);
	if (r < 0) {
		char *m = xstrdup(img_errmsg());
		img_seterr("%s: %s", d->digest.str, m);
		free(m);
	}
	return r;
}

static int pick(struct img_store *s, const struct img_desc *top,
                const struct img_platform *want, int level, struct img_doc *manifest,
                struct img_desc *mdesc)
{
	struct img_doc doc;
	enum img_kind kind = img_mt_kind(top->media_type);
	long pi;
	int r;
	char pbuf[128];

	if (kind == IMG_KIND_MANIFEST) {
		if (read_doc(s, top, manifest) < 0)
			return -1;
		*mdesc = *top;
		return 0;
	}
	if (kind != IMG_KIND_INDEX) {
		img_seterr("%s: not an image (media type %s)", top->digest.str, top->media_type);
		errno = EINVAL;
		return -1;
	}
	if (level >= IMG_MAX_INDEX_DEPTH) {
		img_seterr("%s: indexes nested deeper than %d", top->digest.str, IMG_MAX_INDEX_DEPTH);
		errno = EINVAL;
		return -1;
	}
	if (read_doc(s, top, &doc) < 0)
		return -1;
	pi = img_index_pick(&doc, want, NULL, NULL);
	if (pi < 0) {
		img_seterr("%s: no manifest for platform %s", top->digest.str,
		           img_platform_format(want, pbuf, sizeof(pbuf)));
		img_doc_release(&doc);
		errno = ENOENT;
		return -1;
	}
	{
		struct img_desc chosen = doc.items[pi];
		r = pick(s, &chosen, want, level + 1, manifest, mdesc);
		if (r == 0 && mdesc->json == chosen.json) {
			/* The index JSON is freed below: keep only stable fields. */
			mdesc->media_type = static_mt(chosen.media_type);
			mdesc->json = NULL;
		}
	}
	img_doc_release(&doc);
	return r;
}

int img_store_image(struct img_store *s, const struct img_desc *top,
                    const struct img_platform *platform,
                    struct img_doc *manifest, struct img_desc *manifest_desc,
                    struct img_config *config)
{
	struct img_platform host;
	char *buf;
	size_t len;
	int r;

	memset(manifest, 0, sizeof(*manifest));
	memset(manifest_desc, 0, sizeof(*manifest_desc));
	memset(config, 0, sizeof(*config));
	if (!platform) {
		img_platform_host(&host);
		platform = &host;
	}
	if (pick(s, top, platform, 0, manifest, manifest_desc) < 0)
		return -1;
	if (manifest->kind != IMG_KIND_MANIFEST) {
		img_seterr("%s: not an image manifest", manifest_desc->digest.str);
		img_doc_release(manifest);
		errno = EINVAL;
		return -1;
	}
	if (img_mt_kind(manifest->config.media_type) != IMG_KIND_CONFIG) {
		img_seterr("%s: not an image (config type %s)", manifest_desc->digest.str,
		           manifest->config.media_type);
		img_doc_release(manifest);
		errno = EINVAL;
		return -1;
	}
	if (img_blob_read(s, &manifest->config.digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		goto fail;
	if ((uint64_t)manifest->config.size != len) {
		img_seterr("config %s: size %zu, expected %lld", manifest->config.digest.str, len,
		           (long long)manifest->config.size);
		free(buf);
		goto fail;
	}
	r = img_config_parse(buf, len, config);
	free(buf);
	if (r < 0) {
		char *m = xstrdup(img_errmsg());
		img_seterr("config %s: %s", manifest->config.digest.str, m);
		free(m);
		goto fail;
	}
	return 0;
fail:
	img_doc_release(manifest);
	memset(manifest_desc, 0, sizeof(*manifest_desc));
	return -1;
}
