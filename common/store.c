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
#include "store-priv.h"

#define PRIV_DIR   ".img"
#define TMP_DIR    IMG_STORE_TMP_DIR
#define LOCK_FILE  ".img/lock"
#define ILOCK_FILE ".img/index.lock"

static const char layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
static const char empty_index_json[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	"\"manifests\":[]}";

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

int img_store_mkdirat(int dfd, const char *name)
{
	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Private state (.img, .img/tmp) and blobs/sha256: created when first needed. */
int img_store_ensure_dirs(struct img_store *s)
{
	if (img_store_mkdirat(s->dfd, PRIV_DIR) < 0 || img_store_mkdirat(s->dfd, TMP_DIR) < 0) {
		img_seterr_errno("cannot create '%s/%s'", s->path, TMP_DIR);
		return -1;
	}
	if (img_store_mkdirat(s->dfd, "blobs") < 0 || img_store_mkdirat(s->dfd, "blobs/sha256") < 0) {
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

int img_store_tmp_create(struct img_store *s, const char *prefix, int oflags, char *name,
                         size_t len)
{
	char hex[33];
	int fd, tries;

	for (tries = 0; tries < 100; tries++) {
		rand_hex(hex, 12);
		snprintf(name, len, "%s/%s%s", TMP_DIR, prefix, hex);
		fd = openat(s->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | oflags,
		            0644);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST) {
			img_seterr_errno("cannot create a temp file in '%s'", s->tmpdir);
			return -1;
		}
	}
	img_seterr("cannot create a temp file in '%s'", s->tmpdir);
	errno = EEXIST;
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
	fd = img_store_tmp_create(s, "new-", 0, name, sizeof(name));
	if (fd < 0)
		return -1;
	full = xasprintf("%s/%s", s->path, name);
	img_io_tmp_register(full);
	if (img_io_write_all(fd, content, strlen(content)) < 0 || fsync(fd) < 0) {
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
	img_io_tmp_unregister(full);
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
		img_seterr_prefix("%s/oci-layout", s->path);
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
	if (img_store_ensure_dirs(s) < 0)
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
	img_dset_clear(&s->cfgkeys);
	free(s->cfgs);
	free(s->path);
	free(s->tmpdir);
	free(s);
}

const char *img_store_path(const struct img_store *s)
{
	return s->path;
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

/* ---- index.json ---- */

json_t *img_store_index(struct img_store *s)
{
	int fd = openat(s->dfd, "index.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	json_t *j;

	if (fd < 0) {
		img_seterr_errno("cannot open '%s/index.json'", s->path);
		return NULL;
	}
	j = img_json_parse_fd(fd, IMG_JSON_MAX_ARCHIVE);
	close(fd);
	if (!j) {
		img_seterr_prefix("%s/index.json", s->path);
		return NULL;
	}
	if (img_image_layout_index(j) < 0) {
		img_seterr_prefix("%s/index.json", s->path);
		json_decref(j);
		errno = EINVAL;
		return NULL;
	}
	return j;
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
	fd = img_store_tmp_create(s, "index-", 0, name, sizeof(name));
	if (fd < 0) {
		free(data);
		return -1;
	}
	full = xasprintf("%s/%s", s->path, name);
	img_io_tmp_register(full);
	if (img_io_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
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
	img_io_tmp_unregister(full);
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
	if (img_store_ensure_dirs(s) < 0)
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

static void cfg_add(struct img_store *s, const struct img_digest *key, const struct img_digest *cfg)
{
	int isnew;
	size_t i = (size_t)(img_dset_add(&s->cfgkeys, key, &isnew) - s->cfgkeys.e);

	IMG_GROW(s->cfgs, i + 1, s->cfgcap);
	if (isnew)
		s->cfgs[i] = *cfg;
}

/* The config digest of an index entry: the manifest's, or for an index the host
 * platform's manifest's. 0 or -1 (quietly: unreadable entries just don't match).
 * Content is immutable, so answers are cached for the life of the store handle. */
static int entry_config(struct img_store *s, json_t *entry, struct img_digest *out)
{
	struct img_desc d;
	struct img_doc doc;
	struct img_dset_entry *slot;
	char *buf;
	size_t len;
	int rc = -1;

	const char *ed = img_index_entry_digest(entry);

	if (ed && strlen(ed) < sizeof(d.digest.str)) {
		struct img_digest key;
		memset(&key, 0, sizeof(key));
		key.alg = strncmp(ed, "sha512:", 7) == 0 ? IMG_SHA512 : IMG_SHA256;
		strcpy(key.str, ed);
		slot = img_dset_find(&s->cfgkeys, &key);
		if (slot) {
			*out = s->cfgs[slot - s->cfgkeys.e];
			return 0;
		}
	}
	if (img_image_desc_parse(entry, &d) < 0)
		return -1;
	if (img_image_mt_kind(d.media_type) == IMG_KIND_MANIFEST) {
		if (img_blob_read(s, &d.digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
			return -1;
		if (img_image_doc_parse(buf, len, d.media_type, &doc) == 0) {
			if (doc.kind == IMG_KIND_MANIFEST) {
				*out = doc.config.digest;
				rc = 0;
			}
			img_image_doc_release(&doc);
		}
		free(buf);
	} else if (img_image_mt_kind(d.media_type) == IMG_KIND_INDEX) {
		struct img_doc m;
		struct img_desc md;
		struct img_config c;
		if (img_store_image(s, &d, NULL, &m, &md, &c) == 0) {
			*out = m.config.digest;
			img_image_doc_release(&m);
			img_image_config_release(&c);
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
	const char *ed = img_index_entry_digest(v);
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
	json_t *arr = json_object_get(index, "manifests"), *v;
	struct img_ref ref;
	size_t i;
	int r;

	*matches = NULL;
	*n = 0;
	if (!json_is_array(arr)) {
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
				const char *vd = img_index_entry_digest(v);
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
			long at = img_index_find_name(index, canon);
			img_ref_release(&ref);
			free(canon);
			if (at >= 0) {
				*matches = xcalloc(1, sizeof(**matches));
				(*matches)[0] = (size_t)at;
				*n = 1;
				return 0;
			}
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
	enum img_kind kind = img_image_mt_kind(d->media_type);
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
	r = img_image_doc_parse(buf, len, d->media_type, &doc);
	free(buf);
	if (r < 0) {
		img_seterr_prefix("%s", d->digest.str);
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
	img_image_doc_release(&doc);
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
	r = img_image_doc_parse(buf, len, d->media_type, doc);
	free(buf);
	if (r < 0) {
		img_seterr_prefix("%s", d->digest.str);
	}
	return r;
}

static int pick(struct img_store *s, const struct img_desc *top,
                const struct img_platform *want, int level, struct img_doc *manifest,
                struct img_desc *mdesc)
{
	struct img_doc doc;
	enum img_kind kind = img_image_mt_kind(top->media_type);
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
	pi = img_image_index_pick(&doc, want, NULL, NULL);
	if (pi < 0) {
		img_seterr("%s: no manifest for platform %s", top->digest.str,
		           img_image_platform_format(want, pbuf, sizeof(pbuf)));
		img_image_doc_release(&doc);
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
	img_image_doc_release(&doc);
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
		img_image_platform_host(&host);
		platform = &host;
	}
	if (pick(s, top, platform, 0, manifest, manifest_desc) < 0)
		return -1;
	if (manifest->kind != IMG_KIND_MANIFEST) {
		img_seterr("%s: not an image manifest", manifest_desc->digest.str);
		img_image_doc_release(manifest);
		errno = EINVAL;
		return -1;
	}
	if (img_image_mt_kind(manifest->config.media_type) != IMG_KIND_CONFIG) {
		img_seterr("%s: not an image (config type %s)", manifest_desc->digest.str,
		           manifest->config.media_type);
		img_image_doc_release(manifest);
		errno = ENOTSUP;
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
	r = img_image_config_parse(buf, len, config);
	free(buf);
	if (r < 0) {
		img_seterr_prefix("config %s", manifest->config.digest.str);
		goto fail;
	}
	return 0;
fail:
	img_image_doc_release(manifest);
	memset(manifest_desc, 0, sizeof(*manifest_desc));
	return -1;
}
