/* img-import: a rootfs tarball or a directory becomes a new image (or a new top layer on a
 * base image) in the store, as `docker import` does (formats.md §7.1). */
#include <archive.h>
#include <archive_entry.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "img.h"
#include "htab.h"
#include "cli.h"
#include "config.h"
#include "dirwalk.h"

enum {
	OPT_COMPRESS = 256,
	OPT_JSON,
	OPT_LEVEL,
	OPT_LIST_OPTIONS,
	OPT_PLATFORM,
	OPT_PROGRESS,
	OPT_VERSION,
};

static const struct option longopts[] = {
	{ "base",         required_argument, NULL, 'b' },
	{ "change",       required_argument, NULL, 'c' },
	{ "compress",     required_argument, NULL, OPT_COMPRESS },
	{ "help",         no_argument,       NULL, 'h' },
	{ "json",         no_argument,       NULL, OPT_JSON },
	{ "level",        required_argument, NULL, OPT_LEVEL },
	{ "list-options", no_argument,       NULL, OPT_LIST_OPTIONS },
	{ "message",      required_argument, NULL, 'm' },
	{ "platform",     required_argument, NULL, OPT_PLATFORM },
	{ "progress",     required_argument, NULL, OPT_PROGRESS },
	{ "quiet",        no_argument,       NULL, 'q' },
	{ "store",        required_argument, NULL, 'S' },
	{ "version",      no_argument,       NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct import_opts {
	const char *store;
	const char *base;
	const char **changes;
	size_t nchanges, changes_cap;
	const char *message;
	const char *platform;
	enum img_comp comp;
	int level;
	int json;
	int quiet;
	enum img_progress_mode progress;
	const char *input;
	const char *name;
};

static const char *const synopsis[] = {
	"[-q] [-S DIR] [-b BASE] [-c INSTR]... [-m MSG] [--platform P] "
	"[--compress gzip|zstd|none] [--level N] [--json] [--progress M] FILE|DIR|- [NAME]",
	NULL
};

static const char help_text[] =
	"Turn a root filesystem tarball (any compression), a directory or stdin into a\n"
	"one-layer image, or a new top layer on a base image, and name it NAME.\n"
	"\n"
	"  -b, --base IMAGE        put the new layer on top of IMAGE's layers and config\n"
	"  -c, --change INSTR      apply a Dockerfile instruction to the config (CMD,\n"
	"                          ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,\n"
	"                          STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable\n"
	"      --compress ALG      layer compression: gzip (default), zstd or none\n"
	"  -h, --help              show this help and exit\n"
	"      --json              print {digest, config, name, layers, diff_ids} as JSON\n"
	"      --level N           compression level (gzip 1-9, zstd 1-19)\n"
	"  -m, --message MSG       history comment of the new layer\n"
	"      --platform P        os/arch[/variant] of a new image (default: the host)\n"
	"      --progress M        progress on stderr: auto, tty, plain or none\n"
	"  -q, --quiet             no progress, no warnings\n"
	"  -S, --store DIR         the image store (default $IMG_STORE, else\n"
	"                          $XDG_DATA_HOME/img)\n"
	"      --version           print the version and exit\n";

/* ------------------------------------------------------------------------------------ */
/* Paths already written: a set of 64-bit path hashes, each with a class, to refuse      */
/* duplicate entries, entries under a symlink or a file, and hard links to nothing       */
/* before them.                                                                          */

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

/* The class of a path, 0 if absent. */
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

/* ------------------------------------------------------------------------------------ */
/* The layer writer: clean tar -> diff_id hash and compressor -> blob.                   */

struct layer {
	struct img_store *store;
	struct img_blob_writer *bw;
	struct img_compw *cw;
	struct pipe *pipe;
	struct img_hash *diff;
	struct img_arcout *ao;
	struct img_progress *pg;
	struct pathset seen;
	int64_t clamp;          /* SOURCE_DATE_EPOCH or -1 */
	int quiet;
	const char *src;        /* for messages */
	uint64_t nentries;
};

static int
sink_blob(void *arg, const void *buf, size_t n)
{
	struct layer *l = arg;
	return img_blob_write(l->bw, buf, n);
}

/* Compression runs in a second thread (an img_pool of one): the tar stream goes through a
 * ring of chunks (img_ring) that the compressor (and the blob writer behind it, which
 * hashes the compressed bytes) takes while this thread reads the input, writes the tar
 * and hashes the diff_id. Memory: PIPE_SLOTS chunks of PIPE_CHUNK bytes. */
enum { PIPE_SLOTS = 4, PIPE_CHUNK = 1 << 20 };

struct pipe {
	struct img_ring *ring;
	struct img_pool *pool;
	struct img_compw *cw;
};

static int
compw_sink(void *arg, const void *buf, size_t n)
{
	return img_compw_write(arg, buf, n);
}

/* A failed write stops the ring: the reader's next write fails with its message. */
static int
pipe_worker(void *arg, size_t item, unsigned worker)
{
	struct pipe *p = arg;

	(void)item;
	(void)worker;
	if (img_ring_consume(p->ring, 0, compw_sink, p->cw) < 0)
		return -1;
	return img_compw_finish(p->cw);
}

static int
pipe_start(struct pipe *p, struct img_compw *cw)
{
	p->cw = cw;
	p->pool = img_pool_new(1, "img-import-z");
	if (img_pool_threads(p->pool) != 1) {
		img_seterr("cannot start the compression thread");
		return -1;
	}
	p->ring = img_ring_new(PIPE_SLOTS, PIPE_CHUNK, 1);
	img_ring_open(p->ring, 1);
	img_pool_add(p->pool, pipe_worker, p, 0);
	return 0;
}

/* Flush, let the worker finish the compressed stream, join. With ok == 0 (abort) the
 * rest is dropped (img_errmsg() kept). 0 or -1. Idempotent. */
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
sink_tar(void *arg, const void *buf, size_t n)
{
	struct layer *l = arg;

	img_hash_update(l->diff, buf, n);
	if (l->pipe)
		return img_ring_write(l->pipe->ring, buf, n);
	return img_blob_write(l->bw, buf, n);
}

/* Check a cleaned path against what came before, then remember it. 0 or -1. */
static int
check_path(struct layer *l, const char *path, int cls)
{
	const char *s;

	if (ps_get(&l->seen, path, strlen(path))) {
		img_seterr("duplicate entry '%s'", img_shown(path));
		return -1;
	}
	for (s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
		int c = ps_get(&l->seen, path, (size_t)(s - path));
		if (c == PC_SYMLINK || c == PC_OTHER) {
			char *parent = xstrndup(path, (size_t)(s - path));
			img_seterr("entry '%s' is under %s '%s'", img_shown(path),
			           c == PC_SYMLINK ? "symlink" : "non-directory", img_shown(parent));
			free(parent);
			return -1;
		}
	}
	ps_add(&l->seen, path, cls);
	return 0;
}

/* Build the clean entry we write from what was read (src may be NULL for fields set
 * by the caller). The caller has set nothing; we set everything. */
static struct archive_entry *
clean_entry(struct layer *l, const char *path, enum img_ent_type type, mode_t perm,
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
	if (l->clamp >= 0 && mtime > l->clamp)
		mtime = l->clamp;
	archive_entry_set_mtime(e, mtime, 0);
	if (type == IMG_ENT_FILE)
		archive_entry_set_size(e, size);
	else
		archive_entry_set_size(e, 0);
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

/* Write one entry (not its data). 0 or -1 with img_errmsg. */
static int
put_entry(struct layer *l, const char *path, enum img_ent_type type, mode_t perm,
          int64_t uid, int64_t gid, int64_t mtime, int64_t size, const char *link,
          struct archive_entry *src)
{
	struct archive_entry *e;
	int rc, c;

	if (type == IMG_ENT_HARDLINK) {
		c = ps_get(&l->seen, link, strlen(link));
		if (c != PC_OTHER && c != PC_SYMLINK) {
			img_seterr("hard link '%s' to '%s': target is not an earlier file",
			           img_shown(path), img_shown(link));
			return -1;
		}
	}
	if (check_path(l, path, cls_of(type)) < 0)
		return -1;
	if (uid < 0 || gid < 0 || uid > UINT32_MAX || gid > UINT32_MAX) {
		img_seterr("entry '%s': invalid owner %" PRId64 ":%" PRId64, img_shown(path), uid, gid);
		return -1;
	}
	e = clean_entry(l, path, type, perm, uid, gid, mtime, size, link, src);
	rc = img_arcout_entry(l->ao, e);
	archive_entry_free(e);
	l->nentries++;
	return rc;
}

/* ---- input: an archive (file or stdin) ---- */

static int
import_archive(struct layer *l, int fd, uint64_t total)
{
	struct img_arcin *a = NULL;
	struct img_arcin_entry e;
	int rc = -1, r;
	int64_t last = 0;

	img_progress_set_total(l->pg, total);
	if (img_arcin_open_fd(fd, 0, &a) < 0)
		return -1;
	while ((r = img_arcin_next(a, &e)) == 1) {
		int64_t done = 0;
		const void *buf;
		size_t n;

		if (e.path[0] == '\0')
			continue;       /* the root itself */
		if (e.type == IMG_ENT_OTHER) {
			if (!l->quiet) {
				warnx("%s: skipping '%s': unsupported entry type", img_shown(l->src),
				      img_shown(e.path));
			}
			continue;
		}
		{
			char *wt = NULL;
			int wr = img_whiteout(e.path, &wt);
			free(wt);
			if (wr < 0) {
				img_seterr("invalid whiteout entry '%s'", img_shown(e.path));
				goto out;
			}
		}
		if (put_entry(l, e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size,
		              e.link, e.ae) < 0)
			goto out;
		if (e.type != IMG_ENT_FILE)
			continue;
		while ((r = img_arcin_block(a, &buf, &n)) == 1) {
			if ((int64_t)n > e.size - done) {
				img_seterr("entry '%s': more data than its size", img_shown(e.path));
				goto out;
			}
			if (img_arcout_data(l->ao, buf, n) < 0)
				goto out;
			done += (int64_t)n;
			int64_t off = img_arcin_offset(a);
			if (off > last) {
				img_progress_add(l->pg, (uint64_t)(off - last));
				last = off;
			}
		}
		if (r < 0)
			goto out;
		if (done != e.size) {
			img_seterr("entry '%s': truncated data", img_shown(e.path));
			goto out;
		}
	}
	if (r < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && strncmp(img_errmsg(), "", 1) == 0)
		img_seterr("read error");
	img_arcin_free(a);
	return rc;
}

/* ---- input: a directory ---- */

struct dirimport {
	struct layer *l;
	struct archive *disk;
	char *buf;
	size_t bufsz;
};

/* One entry of the directory: its metadata and xattrs through libarchive, then its data. */
static int
import_one(const struct img_dirwalk_entry *e, void *arg)
{
	struct dirimport *di = arg;
	struct layer *l = di->l;
	struct archive_entry *de;
	int rc = -1;

	if (e->type == IMG_ENT_OTHER)
		return 0;               /* sockets: skipped, as docker does */
	de = archive_entry_new();
	archive_entry_copy_pathname(de, e->full);
	archive_entry_copy_sourcepath(de, e->full);
	if (archive_read_disk_entry_from_file(di->disk, de, e->fd, &e->st) != ARCHIVE_OK) {
		img_seterr("'%s': %s", img_shown(e->full), archive_error_string(di->disk) ?
		           archive_error_string(di->disk) : "cannot read metadata");
		goto out;
	}
	if (e->type == IMG_ENT_HARDLINK)
		archive_entry_xattr_clear(de);   /* the target carries them */
	if (put_entry(l, e->rel, e->type, e->st.st_mode, e->st.st_uid, e->st.st_gid,
	              e->st.st_mtime, e->st.st_size, e->link, de) < 0)
		goto out;
	if (e->type == IMG_ENT_FILE) {
		int64_t left = e->st.st_size;
		while (left > 0) {
			ssize_t n = read(e->fd, di->buf,
			                 left < (int64_t)di->bufsz ? (size_t)left : di->bufsz);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				img_seterr_errno("cannot read '%s'", img_shown(e->full));
				goto out;
			}
			if (n == 0) {
				img_seterr("'%s': file shrank while being read", img_shown(e->full));
				goto out;
			}
			if (img_arcout_data(l->ao, di->buf, (size_t)n) < 0)
				goto out;
			img_progress_add(l->pg, (uint64_t)n);
			left -= n;
		}
	}
	rc = 0;
out:
	archive_entry_free(de);
	return rc;
}

static int
import_dir(struct layer *l, const char *dir)
{
	struct dirimport di = { .l = l, .bufsz = 256 * 1024 };
	int rc;

	di.disk = archive_read_disk_new();
	if (!di.disk) {
		img_seterr("out of memory");
		return -1;
	}
	archive_read_disk_set_behavior(di.disk, ARCHIVE_READDISK_NO_ACL |
	                               ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE);
	di.buf = xmalloc(di.bufsz);
	rc = img_dirwalk(dir, import_one, &di);
	free(di.buf);
	archive_read_free(di.disk);
	return rc;
}

/* ------------------------------------------------------------------------------------ */

struct result {
	struct img_digest blob, diff_id;
	int64_t blob_size;
};

/* Write the layer blob from the input. 0 or -1 (img_errmsg). */
static int
write_layer(const struct import_opts *o, struct img_store *s, struct result *res)
{
	struct layer l = { .store = s, .clamp = img_source_date_epoch(), .quiet = o->quiet,
	                   .src = o->input };
	struct stat st;
	struct pipe pipe = { 0 };
	int is_dir = 0, fd = -1, rc = -1;
	int64_t mt = l.clamp >= 0 ? l.clamp : 0;

	if (strcmp(o->input, "-") != 0) {
		if (stat(o->input, &st) < 0) {
			img_seterr_errno("cannot open '%s'", o->input);
			return -1;
		}
		is_dir = S_ISDIR(st.st_mode);
	}
	if (!is_dir) {
		fd = img_io_open_in(o->input);
		if (fd < 0)
			return -1;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			st.st_size = 0;
	}
	l.diff = img_hash_new(IMG_SHA256);
	if (!l.diff)
		goto out;
	if (img_blob_begin(s, &l.bw) < 0)
		goto out;
	if (o->comp != IMG_COMP_NONE) {
		l.cw = img_compw_new(o->comp, o->level, sink_blob, &l);
		if (!l.cw)
			goto out;
		if (pipe_start(&pipe, l.cw) < 0)
			goto out;
		l.pipe = &pipe;
	}
	l.ao = img_arcout_new_sink(sink_tar, &l, mt);
	if (!l.ao)
		goto out;
	l.pg = img_progress_new(o->quiet ? IMG_PROGRESS_NONE : o->progress, "importing",
	                        is_dir ? 0 : (uint64_t)st.st_size);
	if (is_dir) {
		if (import_dir(&l, o->input) < 0)
			goto out;
	} else if (import_archive(&l, fd, (uint64_t)st.st_size) < 0) {
		goto out;
	}
	if (img_arcout_close(l.ao) < 0)
		goto out;
	if (l.pipe) {
		int r = pipe_finish(l.pipe, 1);
		l.pipe = NULL;
		if (r < 0)
			goto out;
	}
	img_hash_final(l.diff, &res->diff_id);
	res->blob_size = (int64_t)img_blob_written(l.bw);
	rc = img_blob_commit(l.bw, NULL, -1, &res->blob);
	l.bw = NULL;
out:
	pipe_finish(&pipe, 0);
	img_progress_done(l.pg);
	if (l.bw)
		img_blob_abort(l.bw);
	img_arcout_free(l.ao);
	img_compw_free(l.cw);
	img_hash_free(l.diff);
	img_htab_clear(&l.seen.tab);
	free(l.seen.cls);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ------------------------------------------------------------------------------------ */

struct base {
	int have;
	struct img_doc manifest;
	struct img_desc mdesc;
	struct img_config config;
};

static int
load_base(struct img_store *s, const char *what, const struct img_platform *plat, struct base *b)
{
	json_t *index = img_store_index(s), *entries;
	size_t *m = NULL, n = 0;
	struct img_desc top;
	int rc = -1;

	if (!index)
		return -1;
	if (img_store_resolve(s, index, what, &m, &n) < 0)
		goto out;
	entries = json_object_get(index, "manifests");
	if (img_desc_parse(json_array_get(entries, m[0]), &top) < 0)
		goto out;
	if (img_store_image(s, &top, plat, &b->manifest, &b->mdesc, &b->config) < 0)
		goto out;
	b->have = 1;
	rc = 0;
out:
	free(m);
	json_decref(index);
	return rc;
}

/* The new config document: the base's (copied) or a fresh one; changes applied. */
static json_t *
new_config(const struct import_opts *o, const struct base *b, const struct img_platform *plat)
{
	json_t *c, *cfg;

	if (b->have) {
		c = json_deep_copy(b->config.root);
	} else {
		c = json_object();
		json_object_set_new(c, "architecture", json_string(plat->arch));
		json_object_set_new(c, "os", json_string(plat->os));
		if (plat->variant[0])
			json_object_set_new(c, "variant", json_string(plat->variant));
		if (plat->osversion[0])
			json_object_set_new(c, "os.version", json_string(plat->osversion));
		json_object_set_new(c, "created", json_null());
		json_object_set_new(c, "config", json_object());
	}
	cfg = json_object_get(c, "config");
	if (!json_is_object(cfg)) {
		cfg = json_object();
		json_object_set_new(c, "config", cfg);
	}
	if (img_config_changes(cfg, o->changes, o->nchanges) < 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

/* Add the new layer's diff_id, the history entry and created. */
static void
finish_config(const struct import_opts *o, json_t *c, const struct result *r, const char *created)
{
	json_t *rootfs = json_object_get(c, "rootfs"), *ids, *hist, *h;

	json_object_set_new(c, "created", json_string(created));
	if (!json_is_object(rootfs)) {
		rootfs = json_object();
		json_object_set_new(c, "rootfs", rootfs);
		json_object_set_new(rootfs, "type", json_string("layers"));
	}
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids)) {
		ids = json_array();
		json_object_set_new(rootfs, "diff_ids", ids);
	}
	json_array_append_new(ids, json_string(r->diff_id.str));
	hist = json_object_get(c, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(c, "history", hist);
	}
	h = json_object();
	json_object_set_new(h, "created", json_string(created));
	json_object_set_new(h, "created_by", json_string("img-import"));
	/* No default comment: the same bytes give the same image whether they came from
	 * FILE, from stdin or from another path. */
	if (o->message)
		json_object_set_new(h, "comment", json_string(o->message));
	json_array_append_new(hist, h);
}

struct name_arg { const char *name; json_t *desc; };

static int
set_name(json_t *index, void *arg)
{
	struct name_arg *na = arg;

	return img_index_put(index, na->desc, &na->name, na->name ? 1 : 0) < 0 ? -1 : 0;
}

static int
run(const struct import_opts *o, const char *canon, const struct img_platform *plat)
{
	struct img_store *s = NULL;
	struct base b = { 0 };
	struct result r;
	json_t *cfg = NULL, *man = NULL, *layers, *desc = NULL;
	struct img_digest cdig, mdig;
	char *cbuf = NULL, *mbuf = NULL, created[40];
	size_t clen, mlen;
	int64_t sde = img_source_date_epoch();
	int rc = 1;
	struct name_arg na;

	if (!(s = img_cli_open_store(o->store, IMG_STORE_CREATE)))
		return 1;
	/* Shared for the whole run: new blobs stay safe from img-gc until named. */
	if (img_store_lock(s, IMG_LOCK_SHARED, img_cli_waiting, NULL) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (o->base && load_base(s, o->base, o->platform ? plat : NULL, &b) < 0) {
		warnx("base %s: %s", o->base, img_errmsg());
		goto out;
	}
	cfg = new_config(o, &b, plat);
	if (!cfg) {
		warnx("%s", img_errmsg());
		rc = 2;
		goto out;
	}
	if (write_layer(o, s, &r) < 0) {
		warnx("%s: %s", o->input, img_errmsg());
		goto out;
	}
	img_rfc3339(sde >= 0 ? sde : (int64_t)time(NULL), created, sizeof created);
	finish_config(o, cfg, &r, created);
	cbuf = img_json_dump(cfg, &clen);
	if (img_blob_put(s, cbuf, clen, &cdig) < 0) {
		warnx("config: %s", img_errmsg());
		goto out;
	}
	man = json_object();
	json_object_set_new(man, "schemaVersion", json_integer(2));
	json_object_set_new(man, "mediaType", json_string(IMG_MT_OCI_MANIFEST));
	json_object_set_new(man, "config", img_desc_new(IMG_MT_OCI_CONFIG, &cdig, (int64_t)clen));
	layers = json_array();
	for (size_t i = 0; b.have && i < b.manifest.n; i++)
		json_array_append_new(layers, json_deep_copy(b.manifest.items[i].json));
	json_array_append_new(layers, img_desc_new(img_comp_media_type(o->comp), &r.blob, r.blob_size));
	json_object_set_new(man, "layers", layers);
	mbuf = img_json_dump(man, &mlen);
	if (img_blob_put(s, mbuf, mlen, &mdig) < 0) {
		warnx("manifest: %s", img_errmsg());
		goto out;
	}
	desc = img_desc_new(IMG_MT_OCI_MANIFEST, &mdig, (int64_t)mlen);
	na.name = canon;
	na.desc = desc;
	if (img_store_index_update(s, set_name, &na) < 0) {
		warnx("index.json: %s", img_errmsg());
		goto out;
	}
	if (o->json) {
		json_t *out = json_object(), *ls = json_array(), *ids = json_array(), *v;
		json_t *dids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
		size_t i;
		char *txt;
		json_object_set_new(out, "digest", json_string(mdig.str));
		json_object_set_new(out, "config", json_string(cdig.str));
		json_object_set_new(out, "name", canon ? json_string(canon) : json_null());
		json_array_foreach(layers, i, v)
			json_array_append(ls, json_object_get(v, "digest"));
		json_array_foreach(dids, i, v)
			json_array_append(ids, v);
		json_object_set_new(out, "layers", ls);
		json_object_set_new(out, "diff_ids", ids);
		txt = img_json_dump(out, NULL);
		printf("%s\n", txt);
		free(txt);
		json_decref(out);
	} else {
		printf("%s\n", mdig.str);
	}
	rc = 0;
out:
	json_decref(desc);
	free(mbuf);
	free(cbuf);
	json_decref(man);
	json_decref(cfg);
	if (b.have) {
		img_doc_release(&b.manifest);
		img_config_release(&b.config);
	}
	img_store_close(s);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct import_opts o = { .comp = IMG_COMP_GZIP, .level = -1, .progress = IMG_PROGRESS_AUTO };
	struct img_platform plat;
	char *canon = NULL;
	int c, rc;

	img_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "b:c:hm:qS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.base = optarg;
			break;
		case 'c':
			IMG_GROW(o.changes, o.nchanges + 1, o.changes_cap);
			o.changes[o.nchanges++] = optarg;
			break;
		case OPT_COMPRESS:
			if (img_comp_parse(optarg, &o.comp) < 0) {
				warnx("invalid compression '%s' (gzip, zstd or none)", optarg);
				img_cli_usage(synopsis);
			}
			break;
		case 'h':
			free(o.changes);
			return img_cli_help(synopsis, help_text);
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_LEVEL: {
			char *e;
			long v = strtol(optarg, &e, 10);
			if (*e || e == optarg || v < 0 || v > 22) {
				warnx("invalid level '%s'", optarg);
				img_cli_usage(synopsis);
			}
			o.level = (int)v;
			break;
		}
		case OPT_LIST_OPTIONS:
			free(o.changes);
			return img_cli_list_options(longopts);
		case 'm':
			o.message = optarg;
			break;
		case OPT_PLATFORM:
			o.platform = optarg;
			break;
		case OPT_PROGRESS:
			if (img_progress_parse(optarg, &o.progress) < 0) {
				warnx("invalid progress mode '%s'", optarg);
				img_cli_usage(synopsis);
			}
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case OPT_VERSION:
			free(o.changes);
			return img_cli_version();
		default:
			img_cli_usage(synopsis);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		img_cli_usage(synopsis);
	o.input = argv[0];
	o.name = argc > 1 ? argv[1] : NULL;

	if (o.level >= 0) {
		if ((o.comp == IMG_COMP_GZIP && (o.level < 1 || o.level > 9)) ||
		    (o.comp == IMG_COMP_ZSTD && (o.level < 1 || o.level > 19))) {
			warnx("invalid level %d for %s", o.level, img_comp_name(o.comp));
			img_cli_usage(synopsis);
		}
	}
	/* Validate the changes now, on an empty config: a bad one is a usage error. */
	{
		json_t *scratch = json_object();
		int bad = img_config_changes(scratch, o.changes, o.nchanges) < 0;

		json_decref(scratch);
		if (bad) {
			warnx("%s", img_errmsg());
			free(o.changes);
			return 2;
		}
	}
	if (o.platform) {
		if (img_platform_parse(o.platform, &plat) < 0) {
			warnx("invalid platform '%s': %s", o.platform, img_errmsg());
			free(o.changes);
			return 2;
		}
	} else {
		img_platform_host(&plat);
	}
	if (o.name) {
		struct img_ref ref;
		if (img_ref_parse(o.name, &ref) < 0) {
			warnx("invalid name '%s': %s", o.name, img_errmsg());
			free(o.changes);
			return 1;
		}
		if (ref.digest) {
			warnx("invalid name '%s': a digest cannot name an import", o.name);
			img_ref_release(&ref);
			free(o.changes);
			return 1;
		}
		canon = img_ref_canonical(&ref);
		img_ref_release(&ref);
	}

	/* A missing input fails before the store is touched (or created). */
	if (strcmp(o.input, "-") != 0 && access(o.input, F_OK) < 0) {
		warnx("cannot open '%s': %s", o.input, strerror(errno));
		free(canon);
		free(o.changes);
		return 1;
	}
	rc = run(&o, canon, &plat);
	free(canon);
	free(o.changes);
	return img_cli_finish(rc);
}
