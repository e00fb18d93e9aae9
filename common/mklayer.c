/* mklayer: a new layer blob from entries, a directory tree or an archive (see mklayer.h). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "htab.h"
#include "ring.h"
#include "pool.h"
#include "arcout.h"
#include "dirwalk.h"
#include "mklayer.h"

/* ---- paths already written: 64-bit path hashes with a class each ---- */

enum { PC_DIR = 1, PC_SYMLINK = 2, PC_OTHER = 3 };

struct pathset { struct img_htab tab; unsigned char *cls; size_t n, cap; };

static uint64_t
path_hash(const char *s, size_t n)
{
	uint64_t h = img_htab_fnv(s, n);

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h;
}

static int
ps_get(const struct pathset *ps, const char *s, size_t n)
{
	size_t i = img_htab_find(&ps->tab, path_hash(s, n), NULL, NULL, NULL);

	return i == IMG_HTAB_NONE ? 0 : ps->cls[i];
}

static void
ps_add(struct pathset *ps, const char *s, int cls)
{
	IMG_GROW(ps->cls, ps->n + 1, ps->cap);
	ps->cls[ps->n] = (unsigned char)cls;
	img_htab_add(&ps->tab, path_hash(s, strlen(s)), ps->n++);
}

/* ---- compression on a second thread: the tar stream goes through a ring of chunks
 * (img_ring) that the compressor (and the blob writer behind it, which hashes the
 * compressed bytes) takes while this thread writes the tar and hashes the diff_id.
 * Memory: PIPE_SLOTS chunks of PIPE_CHUNK bytes. ---- */

enum { PIPE_SLOTS = 4, PIPE_CHUNK = 1 << 20 };

struct pipe {
	struct img_ring *ring;
	struct img_pool *pool;
	struct img_compw *cw;
};

struct img_mklayer {
	struct img_blob_writer *bw;
	struct img_compw *cw;
	struct pipe pipe;
	int piped;
	struct img_hash *diff;
	struct img_arcout *ao;
	struct img_progress *pg;
	struct pathset seen;
	struct img_mklayer_opts o;
	uint64_t nentries;
	struct archive *disk;
	char *buf;
	size_t bufsz;
};

static int
compw_sink(void *arg, const void *buf, size_t n)
{
	return img_comp_enc_write(arg, buf, n);
}

static int
pipe_worker(void *arg, size_t item, unsigned worker)
{
	struct pipe *p = arg;

	(void)item;
	(void)worker;
	if (img_ring_consume(p->ring, 0, compw_sink, p->cw) < 0)
		return -1;
	return img_comp_enc_finish(p->cw);
}

static int
pipe_start(struct pipe *p, struct img_compw *cw)
{
	p->cw = cw;
	p->pool = img_pool_new(1, "img-layer-z");
	if (img_pool_threads(p->pool) != 1) {
		img_seterr("cannot start the compression thread");
		return -1;
	}
	p->ring = img_ring_new(PIPE_SLOTS, PIPE_CHUNK, 1);
	img_ring_open(p->ring, 1);
	img_pool_add(p->pool, pipe_worker, p, 0);
	return 0;
}

/* Flush, let the worker finish, join; ok == 0 drops the rest. 0 or -1. Idempotent. */
static int
pipe_finish(struct pipe *p, int ok)
{
	int rc = 0;

	if (p->ring && ok)
		rc = img_ring_end(p->ring) < 0 || img_pool_wait(p->pool) < 0 ? -1 : 0;
	else if (p->ring)
		img_ring_stop(p->ring);
	img_pool_free(p->pool);
	img_ring_free(p->ring);
	memset(p, 0, sizeof *p);
	return rc;
}

static int
sink_blob(void *arg, const void *buf, size_t n)
{
	struct img_mklayer *l = arg;
	return img_blob_write(l->bw, buf, n);
}

static int
sink_tar(void *arg, const void *buf, size_t n)
{
	struct img_mklayer *l = arg;

	img_digest_hash_update(l->diff, buf, n);
	if (l->piped)
		return img_ring_write(l->pipe.ring, buf, n);
	return img_blob_write(l->bw, buf, n);
}

struct img_mklayer *
img_mklayer_begin(struct img_store *s, const struct img_mklayer_opts *o)
{
	struct img_mklayer *l = xcalloc(1, sizeof *l);

	l->o = *o;
	l->diff = img_digest_hash_new(IMG_SHA256);
	if (!l->diff || img_blob_begin(s, &l->bw) < 0)
		goto fail;
	if (o->comp != IMG_COMP_NONE) {
		l->cw = img_comp_enc_new(o->comp, o->level, sink_blob, l);
		if (!l->cw || pipe_start(&l->pipe, l->cw) < 0)
			goto fail;
		l->piped = 1;
	}
	l->ao = img_arcout_new_sink(sink_tar, l, o->clamp >= 0 ? o->clamp : 0);
	if (!l->ao)
		goto fail;
	l->pg = img_progress_new(o->progress, o->label ? o->label : "writing", o->total);
	return l;
fail:
	img_mklayer_free(l);
	return NULL;
}

uint64_t
img_mklayer_count(const struct img_mklayer *l)
{
	return l->nentries;
}

int
img_mklayer_has(struct img_mklayer *l, const char *path)
{
	return ps_get(&l->seen, path, strlen(path)) != 0;
}

static int
check_path(struct img_mklayer *l, const char *path, int cls)
{
	const char *s;

	if (ps_get(&l->seen, path, strlen(path))) {
		img_seterr("duplicate entry '%s'", img_util_shown(path));
		return -1;
	}
	for (s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
		int c = ps_get(&l->seen, path, (size_t)(s - path));
		if (c == PC_SYMLINK || c == PC_OTHER) {
			char *parent = xstrndup(path, (size_t)(s - path));
			img_seterr("entry '%s' is under %s '%s'", img_util_shown(path),
			           c == PC_SYMLINK ? "symlink" : "non-directory", img_util_shown(parent));
			free(parent);
			return -1;
		}
	}
	ps_add(&l->seen, path, cls);
	return 0;
}

/* The clean entry written: every field set here; xattrs and devices from src. */
static struct archive_entry *
clean_entry(struct img_mklayer *l, const char *path, enum img_ent_type type, mode_t perm,
            int64_t uid, int64_t gid, int64_t mtime, int64_t size, const char *link,
            struct archive_entry *src)
{
	struct archive_entry *e = archive_entry_new();
	const char *name;
	const void *val;
	size_t vlen;

	archive_entry_copy_pathname(e, path);
	switch (type) {
	case IMG_ENT_DIR:      archive_entry_set_filetype(e, AE_IFDIR); break;
	case IMG_ENT_SYMLINK:  archive_entry_set_filetype(e, AE_IFLNK); break;
	case IMG_ENT_CHR:      archive_entry_set_filetype(e, AE_IFCHR); break;
	case IMG_ENT_BLK:      archive_entry_set_filetype(e, AE_IFBLK); break;
	case IMG_ENT_FIFO:     archive_entry_set_filetype(e, AE_IFIFO); break;
	default:               archive_entry_set_filetype(e, AE_IFREG); break;
	}
	archive_entry_set_perm(e, perm & 07777);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	if (l->o.clamp >= 0 && mtime > l->o.clamp)
		mtime = l->o.clamp;
	archive_entry_set_mtime(e, mtime, 0);
	archive_entry_set_size(e, type == IMG_ENT_FILE ? size : 0);
	if (type == IMG_ENT_SYMLINK)
		archive_entry_copy_symlink(e, link);
	else if (type == IMG_ENT_HARDLINK)
		archive_entry_copy_hardlink(e, link);
	if (src && (type == IMG_ENT_CHR || type == IMG_ENT_BLK)) {
		archive_entry_set_rdevmajor(e, archive_entry_rdevmajor(src));
		archive_entry_set_rdevminor(e, archive_entry_rdevminor(src));
	}
	if (src && archive_entry_xattr_reset(src) > 0) {
		while (archive_entry_xattr_next(src, &name, &val, &vlen) == ARCHIVE_OK)
			archive_entry_xattr_add_entry(e, name, val, vlen);
	}
	return e;
}

static int
cls_of(enum img_ent_type t)
{
	return t == IMG_ENT_DIR ? PC_DIR : t == IMG_ENT_SYMLINK ? PC_SYMLINK : PC_OTHER;
}

int
img_mklayer_entry(struct img_mklayer *l, const char *path, enum img_ent_type type,
                  mode_t perm, int64_t uid, int64_t gid, int64_t mtime, int64_t size,
                  const char *link, struct archive_entry *src)
{
	struct archive_entry *e;
	int rc, c;

	if (type == IMG_ENT_HARDLINK) {
		c = ps_get(&l->seen, link, strlen(link));
		if (c != PC_OTHER && c != PC_SYMLINK) {
			img_seterr("hard link '%s' to '%s': target is not an earlier file",
			           img_util_shown(path), img_util_shown(link));
			return -1;
		}
	}
	if (check_path(l, path, cls_of(type)) < 0)
		return -1;
	if (uid < 0 || gid < 0 || uid > UINT32_MAX || gid > UINT32_MAX) {
		img_seterr("entry '%s': invalid owner %" PRId64 ":%" PRId64, img_util_shown(path), uid, gid);
		return -1;
	}
	e = clean_entry(l, path, type, perm, uid, gid, mtime, size, link, src);
	rc = img_arcout_entry(l->ao, e);
	archive_entry_free(e);
	l->nentries++;
	return rc;
}

int
img_mklayer_data(struct img_mklayer *l, const void *buf, size_t n)
{
	if (img_arcout_data(l->ao, buf, n) < 0)
		return -1;
	img_progress_add(l->pg, (uint64_t)n);
	return 0;
}

/* prefix "/" rel, or rel (new string). */
static char *
mapped(const struct img_mklayer_map *m, const char *rel)
{
	if (m && m->prefix && *m->prefix)
		return *rel ? xasprintf("%s/%s", m->prefix, rel) : xstrdup(m->prefix);
	return xstrdup(rel);
}

/* ---- a directory tree ---- */

struct walk {
	struct img_mklayer *l;
	const struct img_mklayer_map *m;
	const char *dest;       /* img_mklayer_path: the name of the root entry */
	size_t wh;              /* img_mklayer_dir: the next of m->whiteouts */
};

int
img_mklayer_walkcmp(const char *a, const char *b)
{
	/* names of one directory sorted bytewise, a directory before what it holds: '/'
	 * sorts before every byte of a name */
	for (;; a++, b++) {
		int ca = *a == '/' ? 0 : (unsigned char)*a, cb = *b == '/' ? 0 : (unsigned char)*b;
		if (!*a || !*b)
			return !*a && !*b ? 0 : !*a ? -1 : 1;
		if (ca != cb)
			return ca - cb;
	}
}

/* The whiteout of the deleted path (already mapped). */
static int
whiteout(struct img_mklayer *l, const char *path, int64_t mtime)
{
	const char *slash = strrchr(path, '/');
	char *wh = slash ? xasprintf("%.*s/.wh.%s", (int)(slash - path), path, slash + 1)
	                 : xasprintf(".wh.%s", path);
	int rc = img_mklayer_entry(l, wh, IMG_ENT_FILE, 0, 0, 0, mtime, 0, NULL, NULL);

	free(wh);
	return rc;
}

/* The listed whiteouts that come before rel in the walk (all of them: rel NULL). */
static int
whiteouts_before(struct walk *w, const char *rel)
{
	const struct img_mklayer_map *m = w->m;

	while (m && w->wh < m->nwhiteouts &&
	       (!rel || img_mklayer_walkcmp(m->whiteouts[w->wh], rel) < 0)) {
		char *path = mapped(m, m->whiteouts[w->wh]);
		int rc = whiteout(w->l, path, (int64_t)time(NULL));
		free(path);
		if (rc < 0)
			return -1;
		w->wh++;
	}
	return 0;
}

/* Keep the xattrs of de but trusted.overlay.*; opaque says if it was marked opaque. */
static void
drop_overlay_xattrs(struct archive_entry *de, int *opaque)
{
	struct archive_entry *keep = archive_entry_new();
	const char *name;
	const void *val;
	size_t vlen;

	*opaque = 0;
	if (archive_entry_xattr_reset(de) > 0) {
		while (archive_entry_xattr_next(de, &name, &val, &vlen) == ARCHIVE_OK) {
			if (strncmp(name, "trusted.overlay.", 16) == 0) {
				if (strcmp(name, "trusted.overlay.opaque") == 0 && vlen == 1 &&
				    *(const char *)val == 'y')
					*opaque = 1;
				continue;
			}
			archive_entry_xattr_add_entry(keep, name, val, vlen);
		}
	}
	archive_entry_xattr_clear(de);
	if (archive_entry_xattr_reset(keep) > 0) {
		while (archive_entry_xattr_next(keep, &name, &val, &vlen) == ARCHIVE_OK)
			archive_entry_xattr_add_entry(de, name, val, vlen);
	}
	archive_entry_free(keep);
}

static int
disk_open(struct img_mklayer *l)
{
	if (l->disk)
		return 0;
	l->disk = archive_read_disk_new();
	if (!l->disk) {
		img_seterr("out of memory");
		return -1;
	}
	archive_read_disk_set_behavior(l->disk, ARCHIVE_READDISK_NO_ACL |
	                               ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE);
	l->bufsz = 256 * 1024;
	l->buf = xmalloc(l->bufsz);
	return 0;
}

/* One entry: metadata and xattrs through libarchive, then its data. */
static int
walk_one(const struct img_dirwalk_entry *e, void *arg)
{
	struct walk *w = arg;
	struct img_mklayer *l = w->l;
	const struct img_mklayer_map *m = w->m;
	struct archive_entry *de;
	char *path = NULL, *link = NULL;
	enum img_ent_type type = e->type;
	mode_t perm = e->st.st_mode;
	int64_t uid = e->st.st_uid, gid = e->st.st_gid;
	int rc = -1, opaque = 0;

	if (!w->dest && whiteouts_before(w, e->rel) < 0)
		return -1;
	if (e->type == IMG_ENT_OTHER)
		return 0;               /* sockets: left out, as docker does */
	if (m && m->skip && m->skip(m->skip_arg, e->rel, e->type == IMG_ENT_DIR))
		return e->type == IMG_ENT_DIR ? 1 : 0;
	de = archive_entry_new();
	archive_entry_copy_pathname(de, e->full);
	archive_entry_copy_sourcepath(de, e->full);
	if (archive_read_disk_entry_from_file(l->disk, de, e->fd, &e->st) != ARCHIVE_OK) {
		img_seterr("'%s': %s", img_util_shown(e->full), archive_error_string(l->disk) ?
		           archive_error_string(l->disk) : "cannot read metadata");
		goto out;
	}
	if (e->type == IMG_ENT_HARDLINK)
		archive_entry_xattr_clear(de);   /* the target carries them */
	if (w->dest)
		path = *e->rel ? xasprintf("%s/%s", w->dest, e->rel) : xstrdup(w->dest);
	else
		path = mapped(m, e->rel);
	if (e->type == IMG_ENT_HARDLINK)
		link = w->dest ? xasprintf("%s/%s", w->dest, e->link) : mapped(m, e->link);
	if (m && m->overlay) {
		drop_overlay_xattrs(de, &opaque);
		if (S_ISCHR(e->st.st_mode) && e->st.st_rdev == makedev(0, 0)) {
			/* a deleted name: its whiteout (overlay links the whiteouts of one
			 * mount to one inode, so a later one comes as a hard link) */
			rc = whiteout(l, path, e->st.st_mtime);
			goto out;
		}
	}
	if (m && m->uid >= 0)
		uid = m->uid;
	if (m && m->gid >= 0)
		gid = m->gid;
	if (m && m->mode >= 0 && type != IMG_ENT_SYMLINK)
		perm = (mode_t)m->mode;
	if (img_mklayer_entry(l, path, type, perm, uid, gid, e->st.st_mtime, e->st.st_size,
	                      type == IMG_ENT_HARDLINK ? link : e->link, de) < 0)
		goto out;
	if (opaque) {
		char *opq = xasprintf("%s/.wh..wh..opq", path);
		int r = img_mklayer_entry(l, opq, IMG_ENT_FILE, 0, 0, 0, e->st.st_mtime, 0, NULL, NULL);
		free(opq);
		if (r < 0)
			goto out;
	}
	if (type == IMG_ENT_FILE) {
		int64_t left = e->st.st_size;
		while (left > 0) {
			ssize_t n = read(e->fd, l->buf,
			                 left < (int64_t)l->bufsz ? (size_t)left : l->bufsz);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				img_seterr_errno("cannot read '%s'", img_util_shown(e->full));
				goto out;
			}
			if (n == 0) {
				img_seterr("'%s': file shrank while being read", img_util_shown(e->full));
				goto out;
			}
			if (img_mklayer_data(l, l->buf, (size_t)n) < 0)
				goto out;
			left -= n;
		}
	}
	rc = 0;
out:
	free(path);
	free(link);
	archive_entry_free(de);
	return rc;
}

int
img_mklayer_dir(struct img_mklayer *l, const char *dir, const struct img_mklayer_map *m)
{
	struct walk w = { .l = l, .m = m };

	if (disk_open(l) < 0 || img_dirwalk_run(dir, walk_one, &w) < 0)
		return -1;
	return whiteouts_before(&w, NULL);
}

int
img_mklayer_path(struct img_mklayer *l, const char *src, const char *dest,
                 const struct img_mklayer_map *m)
{
	struct walk w = { .l = l, .m = m, .dest = dest };
	struct img_dirwalk_entry e;
	char lnk[4096];
	int rc;

	if (disk_open(l) < 0)
		return -1;
	memset(&e, 0, sizeof e);
	e.rel = "";
	e.full = src;
	e.name = src;
	e.dfd = AT_FDCWD;
	e.fd = -1;
	if (lstat(src, &e.st) < 0) {
		img_seterr_errno("'%s'", img_util_shown(src));
		return -1;
	}
	if (S_ISLNK(e.st.st_mode)) {
		ssize_t n = readlink(src, lnk, sizeof lnk - 1);
		if (n < 0) {
			img_seterr_errno("'%s'", img_util_shown(src));
			return -1;
		}
		lnk[n] = '\0';
		e.type = IMG_ENT_SYMLINK;
		e.link = lnk;
	} else if (S_ISREG(e.st.st_mode) || S_ISDIR(e.st.st_mode)) {
		e.type = S_ISDIR(e.st.st_mode) ? IMG_ENT_DIR : IMG_ENT_FILE;
		e.fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (e.type == IMG_ENT_DIR ? O_DIRECTORY : 0));
		if (e.fd < 0 || fstat(e.fd, &e.st) < 0) {
			img_seterr_errno("cannot open '%s'", img_util_shown(src));
			if (e.fd >= 0)
				close(e.fd);
			return -1;
		}
	} else {
		img_seterr("'%s': not a file, directory or symlink", img_util_shown(src));
		return -1;
	}
	/* the root entry is not filtered: the caller chose it */
	{
		struct img_mklayer_map m2 = m ? *m : (struct img_mklayer_map){ .uid = -1, .gid = -1, .mode = -1 };
		m2.skip = NULL;
		w.m = &m2;
		rc = walk_one(&e, &w);
		w.m = m;
	}
	if (e.fd >= 0)
		close(e.fd);
	if (rc < 0 || e.type != IMG_ENT_DIR)
		return rc;
	return img_dirwalk_run(src, walk_one, &w);
}

/* ---- an archive ---- */

int
img_mklayer_archive(struct img_mklayer *l, int fd, const struct img_mklayer_map *m)
{
	struct img_arcin *a = NULL;
	struct img_arcin_entry e;
	int rc = -1, r;
	int64_t last = 0;

	if (img_arcin_open_fd(fd, 0, &a) < 0)
		return -1;
	while ((r = img_arcin_next(a, &e)) == 1) {
		int64_t done = 0;
		const void *buf;
		size_t n;
		char *path, *link = NULL, *wt = NULL;
		int wr;

		if (e.path[0] == '\0')
			continue;       /* the root itself */
		if (e.type == IMG_ENT_OTHER) {
			if (l->o.skipped)
				l->o.skipped(l->o.skipped_arg, e.path);
			continue;
		}
		wr = img_layer_whiteout(e.path, &wt);
		free(wt);
		if (wr < 0) {
			img_seterr("invalid whiteout entry '%s'", img_util_shown(e.path));
			goto out;
		}
		path = mapped(m, e.path);
		if (e.type == IMG_ENT_HARDLINK)
			link = mapped(m, e.link);
		r = img_mklayer_entry(l, path, e.type,
		                      m && m->mode >= 0 && e.type != IMG_ENT_SYMLINK ? (mode_t)m->mode : e.mode,
		                      m && m->uid >= 0 ? m->uid : e.uid, m && m->gid >= 0 ? m->gid : e.gid,
		                      e.mtime, e.size, e.type == IMG_ENT_HARDLINK ? link : e.link, e.ae);
		free(path);
		free(link);
		if (r < 0)
			goto out;
		if (e.type != IMG_ENT_FILE)
			continue;
		while ((r = img_arcin_block(a, &buf, &n)) == 1) {
			int64_t off;
			if ((int64_t)n > e.size - done) {
				img_seterr("entry '%s': more data than its size", img_util_shown(e.path));
				goto out;
			}
			if (img_arcout_data(l->ao, buf, n) < 0)
				goto out;
			done += (int64_t)n;
			off = img_arcin_offset(a);
			if (off > last) {
				img_progress_add(l->pg, (uint64_t)(off - last));
				last = off;
			}
		}
		if (r < 0)
			goto out;
		if (done != e.size) {
			img_seterr("entry '%s': truncated data", img_util_shown(e.path));
			goto out;
		}
	}
	if (r < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && img_errmsg()[0] == '\0')
		img_seterr("read error");
	img_arcin_free(a);
	return rc;
}

int
img_mklayer_finish(struct img_mklayer *l, struct img_digest *blob, int64_t *blob_size,
                   struct img_digest *diff_id)
{
	int rc;

	if (img_arcout_close(l->ao) < 0)
		return -1;
	if (l->piped) {
		l->piped = 0;
		if (pipe_finish(&l->pipe, 1) < 0)
			return -1;
	}
	img_digest_hash_final(l->diff, diff_id);
	*blob_size = (int64_t)img_blob_written(l->bw);
	rc = img_blob_commit(l->bw, NULL, -1, blob);
	l->bw = NULL;
	return rc;
}

void
img_mklayer_free(struct img_mklayer *l)
{
	if (!l)
		return;
	pipe_finish(&l->pipe, 0);
	img_progress_done(l->pg);
	if (l->bw)
		img_blob_abort(l->bw);
	img_arcout_free(l->ao);
	img_comp_enc_free(l->cw);
	img_digest_hash_free(l->diff);
	img_htab_clear(&l->seen.tab);
	free(l->seen.cls);
	if (l->disk)
		archive_read_free(l->disk);
	free(l->buf);
	free(l);
}
