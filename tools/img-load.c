/* img-load: load image archives (docker-save v1.2, Docker 25+, Docker's containerd-store
 * output, skopeo/podman docker-archive and oci-archive, img-save) into the store, in one
 * pass over the input, verifying every blob, manifest, config and diff_id.
 *
 * Every regular file of the archive is hashed while it streams (blob digest, sniffed
 * compression and diff_id in one pass; big entries go through a pipeline of threads)
 * and, unless --check, written to a temp file in the store's .img/tmp. Small JSON-looking
 * entries are also kept in memory for parsing. Once the archive has ended, its metadata
 * (index.json, manifest.json) is resolved against those entries by archive path, never
 * through the file system; then the referenced temp blobs are committed, the rest thrown
 * away, and index.json updated. Any failure leaves the store as it was. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "delta.h"

#define SLOT         (1u << 20)          /* pipeline hand-off unit */
#define NIN          8                   /* slots of archive bytes */
#define NOUT         4                   /* slots of decompressed bytes */
#define DIO_ALIGN    4096                /* O_DIRECT buffer, length and offset alignment */
#define PIPE_SIZE    (1 << 20)           /* input pipe capacity asked for */
#define SMALL_MEM    (64u << 10)         /* always kept in memory up to this size */
#define MEM_BUDGET   ((size_t)256 << 20) /* all in-memory entries of one archive */
#define MAX_ENTRIES  200000
#define LINK_DEPTH   8
#define GIB          ((uint64_t)1 << 30)

enum { OPT_ALLOW_MISSING = 256, OPT_BASE_NAME, OPT_CHECK, OPT_JSON, OPT_LIST, OPT_MAX_RATIO, OPT_PLATFORM, OPT_PROGRESS,
       OPT_VERSION };

static const struct option longopts[] = {
	{ "allow-missing", no_argument,      NULL, OPT_ALLOW_MISSING },
	{ "base-name",    required_argument, NULL, OPT_BASE_NAME },
	{ "check",        no_argument,       NULL, OPT_CHECK },
	{ "help",         no_argument,       NULL, 'h' },
	{ "json",         no_argument,       NULL, OPT_JSON },
	{ "list-options", no_argument,       NULL, OPT_LIST },
	{ "max-ratio",    required_argument, NULL, OPT_MAX_RATIO },
	{ "platform",     required_argument, NULL, OPT_PLATFORM },
	{ "progress",     required_argument, NULL, OPT_PROGRESS },
	{ "quiet",        no_argument,       NULL, 'q' },
	{ "store",        required_argument, NULL, 'S' },
	{ "tag",          required_argument, NULL, 't' },
	{ "version",      no_argument,       NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
	"usage: img-load [-q] [-S DIR] [-t NAME] [--base-name REPO] [--platform P] [--check "
	"[--allow-missing]] [--json] [--max-ratio N] [--progress M] [FILE...]\n";

static void usage(void)
{
	fputs(usage_text, stderr);
	exit(2);
}

static void help(void)
{
	fputs(usage_text, stdout);
	fputs("Load image archives (docker save, OCI, skopeo, podman, img-save) into the store.\n"
	      "With no FILE, or when FILE is -, read stdin. Any outer compression is detected.\n"
	      "  -q, --quiet          no progress\n"
	      "  -S, --store DIR      the image store (default $IMG_STORE or ~/.local/share/img)\n"
	      "  -t, --tag NAME       name the loaded image NAME (the archive must hold one image)\n"
	      "      --base-name REPO a bare tag in an OCI layout (ref.name \"v1\") names REPO:v1\n"
	      "      --platform P     load only the manifest for platform P (os/arch[/variant])\n"
	      "      --check          verify the archive only; write nothing\n"
	      "      --allow-missing  with --check, layers left out of a delta are no error\n"
	      "      --json           print one JSON document describing the loaded images\n"
	      "      --max-ratio N    allow layers that decompress to more than N times their size\n"
	      "                       (default 100; applies past 1 GiB)\n"
	      "      --progress M     auto, tty, plain or none\n"
	      "  -h, --help           this help\n"
	      "      --version        print the version\n", stdout);
}

struct opts {
	int quiet, check, json, allow_missing;
	const char *store, *tag;
	char *tag_canon;
	char *base;                  /* --base-name, canonical repository */
	int has_platform;
	struct img_platform platform;
	unsigned max_ratio;
	enum img_progress_mode progress;
};

/* ---------------------------------------------------------------- hashing */

/* Blob digest, compression and diff_id of one entry's bytes. */
struct sum {
	struct img_hash *bh, *dh;
	struct img_decomp *dc;
	enum img_comp comp;
	int sniffed;
	int dc_done;             /* the decompressor was finished (by ST_INFLATE) */
	unsigned char head[6];
	size_t headn;
	uint64_t in, out;
	unsigned max_ratio;
	char *err;               /* why the diff_id is unknown, or NULL */
};

/* n more decompressed bytes: 0, or -1 past --max-ratio. */
static int sum_count_out(struct sum *s, size_t n)
{
	s->out += n;
	if (s->out > GIB && s->out / s->max_ratio > s->in) {
		img_seterr("decompresses to more than %u times its size (see --max-ratio)",
		           s->max_ratio);
		return -1;
	}
	return 0;
}

static int sum_sink(void *arg, const void *buf, size_t n)
{
	struct sum *s = arg;

	if (sum_count_out(s, n) < 0)
		return -1;
	img_hash_update(s->dh, buf, n);
	return 0;
}

static void sum_decomp(struct sum *s, const void *buf, size_t n)
{
	if (s->comp == IMG_COMP_NONE || s->err || n == 0)
		return;
	if (img_decomp_write(s->dc, buf, n) < 0)
		s->err = xstrdup(img_errmsg());
}

static void sum_start(struct sum *s)
{
	s->comp = img_comp_sniff(s->head, s->headn);
	s->sniffed = 1;
	if (s->comp == IMG_COMP_NONE)
		return;
	s->dc = img_decomp_new(s->comp, 0, sum_sink, s);
	if (!s->dc) {
		s->err = xstrdup(img_errmsg());
		return;
	}
	sum_decomp(s, s->head, s->headn);
}

static void sum_init(struct sum *s, unsigned max_ratio)
{
	memset(s, 0, sizeof *s);
	s->max_ratio = max_ratio;
	s->bh = img_hash_new(IMG_SHA256);
	s->dh = img_hash_new(IMG_SHA256);
	if (!s->bh || !s->dh)
		errx(1, "%s", img_errmsg());
}

static void sum_release(struct sum *s)
{
	img_hash_free(s->bh);
	img_hash_free(s->dh);
	img_decomp_free(s->dc);
	free(s->err);
	memset(s, 0, sizeof *s);
}

static void sum_write(struct sum *s, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	img_hash_update(s->bh, p, n);
	s->in += n;
	if (!s->sniffed) {
		size_t take = sizeof s->head - s->headn;
		if (take > n)
			take = n;
		memcpy(s->head + s->headn, p, take);
		s->headn += take;
		p += take;
		n -= take;
		if (s->headn < sizeof s->head)
			return;
		sum_start(s);
	}
	sum_decomp(s, p, n);
}

/* diff_ok: 1 when *diff is known, else s->err says why. */
static void sum_finish(struct sum *s, struct img_digest *blob, struct img_digest *diff,
                       int *diff_ok)
{
	if (!s->sniffed)
		sum_start(s);
	img_hash_final(s->bh, blob);
	*diff_ok = 0;
	if (s->comp == IMG_COMP_NONE) {
		*diff = *blob;
		*diff_ok = 1;
	} else if (!s->err) {
		if (!s->dc_done && img_decomp_finish(s->dc) < 0)
			s->err = xstrdup(img_errmsg());
		else {
			img_hash_final(s->dh, diff);
			*diff_ok = 1;
		}
	}
}

/* ---------------------------------------------------------------- pipeline */

/* The bytes of a big entry go through a pipeline. The main thread copies them from the
 * archive into a ring of 1 MiB slots (img_ring); stage threads (an img_pool) each take
 * every slot: one hashes the blob, one writes it to the temp blob, one decompresses it
 * into a second ring, which the last one hashes into the diff_id. The stages overlap on
 * as many cores as there are; memory stays bounded by the two rings. */
enum { ST_HASH, ST_WRITE, ST_INFLATE, ST_DIFF, NSTAGE };   /* ST_DIFF: consumer 0 of out */

struct pipeline {
	struct img_pool *pool;
	struct img_ring *in, *out;
	/* the current entry, set while every stage is idle */
	struct sum *sum;
	struct img_blob_writer *tb;
};

/* ST_INFLATE's sink: decompressed bytes into the out ring. */
static int pipe_sink(void *arg, const void *buf, size_t n)
{
	struct pipeline *p = arg;

	if (sum_count_out(p->sum, n) < 0)
		return -1;
	return img_ring_write(p->out, buf, n);
}

/* ST_INFLATE: sniff the first slot; leave the ring when there is nothing (more) to
 * inflate. The out ring ends (or stops) with it. */
static int stage_inflate(struct pipeline *p)
{
	struct sum *s = p->sum;
	const void *b;
	size_t n;
	int r;

	while ((r = img_ring_take(p->in, ST_INFLATE, &b, &n)) > 0) {
		if (!s->sniffed) {
			s->comp = img_comp_sniff(b, n);
			s->sniffed = 1;
			if (s->comp != IMG_COMP_NONE &&
			    !(s->dc = img_decomp_new(s->comp, 0, pipe_sink, p)))
				s->err = xstrdup(img_errmsg());
		}
		s->in += n;
		sum_decomp(s, b, n);
		img_ring_release(p->in, ST_INFLATE);
		if (s->comp == IMG_COMP_NONE || s->err) {
			img_ring_leave(p->in, ST_INFLATE);
			break;
		}
	}
	if (r < 0) {
		img_ring_stop(p->out);
		return -1;
	}
	if (s->dc && !s->err && img_decomp_finish(s->dc) < 0)
		s->err = xstrdup(img_errmsg());
	s->dc_done = 1;
	return img_ring_end(p->out);
}

/* ST_WRITE's sink: a failure stops the main thread and the other stages too. */
static int write_sink(void *arg, const void *buf, size_t n)
{
	return img_blob_write(arg, buf, n);
}

static int stage_main(void *arg, size_t id, unsigned worker)
{
	struct pipeline *p = arg;

	(void)worker;
	switch (id) {
	case ST_HASH:  return img_ring_consume(p->in, ST_HASH, img_hash_sink, p->sum->bh);
	case ST_WRITE: return img_ring_consume(p->in, ST_WRITE, write_sink, p->tb);
	case ST_DIFF:  return img_ring_consume(p->out, 0, img_hash_sink, p->sum->dh);
	default:       return stage_inflate(p);
	}
}

static void pipe_start(struct pipeline *p)
{
	if (p->pool)
		return;
	p->pool = img_pool_new(NSTAGE, "img-load");
	if (img_pool_threads(p->pool) != NSTAGE)
		errx(1, "cannot start a thread");
	/* both arenas huge-page backed, aligned for O_DIRECT writes */
	p->in = img_ring_new(NIN, SLOT, ST_INFLATE + 1);
	p->out = img_ring_new(NOUT, SLOT, 1);
}

static void pipe_stop(struct pipeline *p)
{
	img_pool_free(p->pool);
	img_ring_free(p->in);
	img_ring_free(p->out);
	memset(p, 0, sizeof *p);
}

/* Hand the stages a new entry: its bytes follow with img_ring_write(p->in, ...). */
static void pipe_job(struct pipeline *p, struct sum *s, struct img_blob_writer *tb)
{
	p->sum = s;
	p->tb = tb;
	img_ring_open(p->in, (1u << ST_HASH) | (1u << ST_INFLATE) | (tb ? 1u << ST_WRITE : 0));
	img_ring_open(p->out, 1);
	for (size_t id = 0; id < NSTAGE; id++)
		if (id != ST_WRITE || tb)
			img_pool_add(p->pool, stage_main, p, id);
}

/* The entry's bytes are all in (ok), or the entry failed: wait until every stage is done
 * with it. 0, or -1 when a stage failed (or ok == 0). */
static int pipe_finish(struct pipeline *p, int ok)
{
	char *why = ok ? NULL : xstrdup(img_errmsg());  /* the entry's failure, kept */
	int rc;

	if (ok)
		img_ring_end(p->in);
	else
		img_ring_stop(p->in);
	rc = img_pool_wait(p->pool);
	p->sum = NULL;
	p->tb = NULL;
	if (why) {
		img_seterr("%s", why);
		free(why);
	}
	return rc;
}

/* ---------------------------------------------------------------- archive entries */

struct ent {
	char *path;
	size_t seq;                  /* its place in the archive */
	int is_link;                 /* a symbolic link */
	int is_hard;                 /* a hard link: an alias of an earlier entry */
	char *link;                  /* symlink target (verbatim), hard link target (cleaned) */
	struct ent *alias;           /* a hard link's target (never itself a hard link) */
	int64_t size;
	struct img_digest blob, diff;
	int diff_ok;
	char *diff_err;
	enum img_comp comp;
	char *mem;                   /* in-memory copy, or NULL */
	size_t memlen;
	struct img_blob_writer *w;   /* temp blob, or NULL */
	char *shown;                 /* path as error lines name it (ent_shown), or NULL */
	int in_store;
	int used;
};

struct image {
	json_t *desc;                /* descriptor for index.json (owned) */
	struct img_digest top;
	char **names;                /* canonical */
	size_t nnames;
	int has_config, config_host;
	int is_image;                /* a manifest with an image config below it: not an artifact */
	struct img_digest config;
	json_t *layers;              /* for --json (owned) */
	char *bare;                  /* a bare tag that named nothing (no --base-name), or NULL */
	char *synth;                 /* manifest we built (legacy archives), or NULL */
	size_t synthlen;
};

struct load {
	const struct opts *o;
	const char *file;            /* for messages */
	struct img_store *store;
	struct pipeline *pipe;
	struct ent **ents;
	size_t nents, cap;
	size_t mem_total;
	struct image *imgs;
	size_t nimgs;
	struct img_platform host;
	struct img_delta delta;      /* the layers a delta archive left out (flags: LO_*) */
};

enum { LO_USED = 1, LO_IN_STORE = 2, LO_MISSING = 4 };

static int ent_cmp(const void *a, const void *b)
{
	return strcmp((*(struct ent *const *)a)->path, (*(struct ent *const *)b)->path);
}

/* The entry named path itself (a hard link as such), once the entries are sorted. */
static struct ent *find_raw(struct load *L, const char *path)
{
	struct ent key = { .path = (char *)path }, *kp = &key, **r;

	if (!L->nents)
		return NULL;
	r = bsearch(&kp, L->ents, L->nents, sizeof *L->ents, ent_cmp);
	return r ? *r : NULL;
}

/* The entry named path, a hard link taken as the entry it links to. */
static struct ent *find(struct load *L, const char *path)
{
	struct ent *e = find_raw(L, path);

	return e && e->alias ? e->alias : e;
}

/* The entry's path as an error line names it: escaped, cut to IMG_SHOWN_MAX bytes. */
static const char *ent_shown(struct ent *e)
{
	if (!e->shown)
		e->shown = img_escape_cut(e->path);
	return e->shown;
}

static void ent_free(struct ent *e)
{
	free(e->shown);
	if (!e)
		return;
	img_blob_abort(e->w);
	free(e->path);
	free(e->link);
	free(e->diff_err);
	free(e->mem);
	free(e);
}

static void image_release(struct image *im)
{
	json_decref(im->desc);
	json_decref(im->layers);
	for (size_t i = 0; i < im->nnames; i++)
		free(im->names[i]);
	free(im->names);
	free(im->synth);
	free(im->bare);
}

static void load_release(struct load *L)
{
	for (size_t i = 0; i < L->nents; i++)
		ent_free(L->ents[i]);
	free(L->ents);
	for (size_t i = 0; i < L->nimgs; i++)
		image_release(&L->imgs[i]);
	free(L->imgs);
	img_delta_clear(&L->delta);
	L->ents = NULL;
	L->imgs = NULL;
	L->nents = L->nimgs = L->cap = 0;
}

/* img_seterr with a message that may contain img_errmsg() itself. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	img_seterr("%s", s ? s : "out of memory");
	free(s);
	return -1;
}

static int is_root_meta(const char *p)
{
	return !strcmp(p, "index.json") || !strcmp(p, "manifest.json") ||
	       !strcmp(p, "repositories") || !strcmp(p, "oci-layout");
}

static int looks_json(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
			continue;
		return p[i] == '{' || p[i] == '[';
	}
	return 0;
}

/* Read the data of a regular file entry e. */
static int read_file(struct load *L, struct img_arcin *a, struct ent *e)
{
	const struct opts *o = L->o;
	struct pipeline *p = L->pipe;
	struct sum s;
	const void *b;
	size_t n;
	uint64_t got = 0;
	int first = 1, big = 0, rc = -1, r;
	char *esc = img_escape_cut(e->path);

	sum_init(&s, o->max_ratio);
	if (is_root_meta(e->path) && e->size > (int64_t)IMG_JSON_MAX_ARCHIVE) {
		fail("%s: larger than %u bytes", esc, IMG_JSON_MAX_ARCHIVE);
		goto out;
	}
	for (;;) {
		r = img_arcin_block(a, &b, &n);
		if (r < 0) {
			fail("%s: %s", esc, img_errmsg());
			goto out;
		}
		if (first) {
			/* where the bytes go: memory (JSON, small), temp blob, the pipeline */
			size_t sz = (size_t)e->size;
			int keep = is_root_meta(e->path) || sz <= SMALL_MEM ||
			           (sz <= IMG_JSON_MAX_BLOB && r > 0 && looks_json(b, n));
			if (keep && L->mem_total + sz <= MEM_BUDGET) {
				e->mem = xmalloc(sz ? sz : 1);
				L->mem_total += sz;
			}
			big = !e->mem && e->size > (int64_t)SLOT;
			/* The pipeline hashes the bytes; a big entry comes in aligned slots. */
			if (!e->mem && !o->check &&
			    img_blob_begin_flags(L->store, IMG_BLOB_STREAM | IMG_BLOB_TRUSTED |
			                         (big ? IMG_BLOB_DIRECT : 0), &e->w) < 0) {
				fail("%s: %s", esc, img_errmsg());
				goto out;
			}
			if (big) {
				pipe_start(p);
				pipe_job(p, &s, e->w);
			}
			first = 0;
		}
		if (r == 0)
			break;
		got += n;
		if (e->mem) {
			if (e->memlen + n > (size_t)e->size) {
				fail("%s: more data than its size", esc);
				goto out;
			}
			memcpy(e->mem + e->memlen, b, n);
			e->memlen += n;
		}
		if (!big) {
			sum_write(&s, b, n);
			if (e->w && img_blob_write(e->w, b, n) < 0) {
				fail("%s: %s", esc, img_errmsg());
				goto out;
			}
			continue;
		}
		if (img_ring_write(p->in, b, n) < 0) {     /* a stage failed */
			fail("%s: %s", esc, img_errmsg());
			goto out;
		}
	}
	if (big) {
		big = 0;
		if (pipe_finish(p, 1) < 0) {
			fail("%s: %s", esc, img_errmsg());
			goto out;
		}
	}
	if (got != (uint64_t)e->size) {
		fail("%s: %llu bytes, header says %lld", esc, (unsigned long long)got,
		     (long long)e->size);
		goto out;
	}
	sum_finish(&s, &e->blob, &e->diff, &e->diff_ok);
	e->comp = s.comp;
	if (s.err) {
		e->diff_err = s.err;
		s.err = NULL;
	}
	if (e->w) {
		r = img_blob_has(L->store, &e->blob, NULL);
		if (r < 0) {
			fail("%s: %s", esc, img_errmsg());
			goto out;
		}
		if (r > 0) {
			img_blob_abort(e->w);
			e->w = NULL;
			e->in_store = 1;
		}
	}
	rc = 0;
out:
	if (big)
		pipe_finish(p, 0);
	sum_release(&s);
	free(esc);
	return rc;
}

static int read_archive(struct load *L, int fd, struct img_progress *pg)
{
	struct img_arcin *a = NULL;
	struct img_arcin_entry ae;
	int64_t done = 0;
	int r, rc = -1;

	if (img_arcin_open_fd(fd, 0, &a) < 0)
		return -1;
	while ((r = img_arcin_next(a, &ae)) > 0) {
		struct ent *e;
		int64_t off;

		if (ae.type == IMG_ENT_DIR || !*ae.path)
			continue;
		if (ae.type != IMG_ENT_FILE && ae.type != IMG_ENT_SYMLINK &&
		    ae.type != IMG_ENT_HARDLINK) {
			char *esc = img_escape_cut(ae.path);
			fail("%s: not a regular file, directory or link", esc);
			free(esc);
			goto out;
		}
		if (L->nents >= MAX_ENTRIES) {
			fail("more than %d entries", MAX_ENTRIES);
			goto out;
		}
		if (ae.size < 0 || ae.size > IMG_MAX_SIZE) {
			char *esc = img_escape_cut(ae.path);
			fail("%s: invalid size", esc);
			free(esc);
			goto out;
		}
		e = xcalloc(1, sizeof *e);
		e->path = xstrdup(ae.path);
		e->seq = L->nents;
		if (L->nents == L->cap) {
			L->cap = L->cap ? 2 * L->cap : 64;
			L->ents = xreallocarray(L->ents, L->cap, sizeof *L->ents);
		}
		L->ents[L->nents++] = e;
		if (ae.type == IMG_ENT_SYMLINK) {
			e->is_link = 1;
			e->link = xstrdup(ae.link ? ae.link : "");
			continue;
		}
		if (ae.type == IMG_ENT_HARDLINK) {
			/* its target is found once every entry is known (link_hard) */
			e->is_hard = 1;
			e->link = xstrdup(ae.link ? ae.link : "");
			continue;
		}
		e->size = ae.size;
		if (read_file(L, a, e) < 0)
			goto out;
		off = img_arcin_offset(a);
		if (off > done) {
			img_progress_add(pg, (uint64_t)(off - done));
			done = off;
		}
	}
	if (r < 0)
		goto out;
	rc = 0;
out:
	img_arcin_free(a);
	return rc;
}

/* ---------------------------------------------------------------- resolving */

/* Follow symlinks as archive keys (never the file system). Messages name the path as
 * shown (as the archive's metadata spells it). */
static struct ent *resolve(struct load *L, const char *path, const char *shown,
                           const char *what)
{
	char *cur = xstrdup(path);
	struct ent *e = NULL;

	for (int depth = 0;; depth++) {
		e = find(L, cur);
		if (!e) {
			char *esc = img_escape_cut(shown);
			fail("%s %s: not in the archive", what, esc);
			free(esc);
			break;
		}
		if (!e->is_link)
			break;
		if (depth >= LINK_DEPTH || e->link[0] == '/' || !e->link[0]) {
			char *esc = img_escape_cut(shown);
			fail("%s %s: bad symbolic link", what, esc);
			free(esc);
			e = NULL;
			break;
		}
		/* join the link's directory and its target, then fold "." and ".." */
		char *slash = strrchr(cur, '/');
		char *joined = xasprintf("%.*s%s%s", slash ? (int)(slash - cur) : 0, cur,
		                         slash ? "/" : "", e->link);
		char *outp = xmalloc(strlen(joined) + 1);
		size_t n = 0;
		int bad = 0;
		for (char *p = joined; *p && !bad;) {
			char *s = strchr(p, '/');
			size_t cl = s ? (size_t)(s - p) : strlen(p);
			if (cl == 0 || (cl == 1 && p[0] == '.')) {
				/* skip */
			} else if (cl == 2 && p[0] == '.' && p[1] == '.') {
				if (n == 0)
					bad = 1;
				else {
					while (n > 0 && outp[n - 1] != '/')
						n--;
					if (n > 0)
						n--;
				}
			} else {
				if (n)
					outp[n++] = '/';
				memcpy(outp + n, p, cl);
				n += cl;
			}
			p += cl;
			if (*p == '/')
				p++;
		}
		outp[n] = '\0';
		free(joined);
		free(cur);
		cur = outp;
		if (bad) {
			char *esc = img_escape_cut(shown);
			fail("%s %s: symbolic link leaves the archive", what, esc);
			free(esc);
			e = NULL;
			break;
		}
	}
	free(cur);
	return e;
}

/* The entry of a manifest.json path (Config, Layers): cleaned as entry names are ("./"
 * and "//" dropped); "..", absolute paths, NUL and the root are refused. */
static struct ent *resolve_key(struct load *L, json_t *v, const char *what)
{
	const char *raw = json_string_value(v);
	char *clean, *esc;
	struct ent *e = NULL;

	if (strlen(raw) != json_string_length(v)) {
		esc = img_escape_cut(raw);
		fail("manifest.json: %s: path '%s' contains NUL", what, esc);
		free(esc);
		return NULL;
	}
	if (img_path_clean(raw, 0, &clean) < 0) {
		fail("manifest.json: %s: %s", what, img_errmsg());
		return NULL;
	}
	if (!clean[0]) {
		esc = img_escape_cut(raw);
		fail("manifest.json: %s '%s' names the root", what, esc);
		free(esc);
	} else {
		e = resolve(L, clean, raw, what);
	}
	free(clean);
	return e;
}

/* Parse a small JSON entry of the archive. */
static json_t *ent_json(struct ent *e, size_t cap, const char *what)
{
	char *esc = img_escape_cut(e->path);
	json_t *j = NULL;

	if (e->size > (int64_t)cap)
		fail("%s %s: larger than %zu bytes", what, esc, cap);
	else if (!e->mem)
		fail("%s %s: too much metadata in the archive", what, esc);
	else if (!(j = img_json_parse(e->mem, e->memlen, cap)))
		fail("%s %s: %s", what, esc, img_errmsg());
	free(esc);
	return j;
}

static int add_name(struct image *im, const char *canon)
{
	for (size_t i = 0; i < im->nnames; i++)
		if (!strcmp(im->names[i], canon))
			return 0;
	im->names = xreallocarray(im->names, im->nnames + 1, sizeof *im->names);
	im->names[im->nnames++] = xstrdup(canon);
	return 0;
}

static struct image *new_image(struct load *L)
{
	L->imgs = xreallocarray(L->imgs, L->nimgs + 1, sizeof *L->imgs);
	struct image *im = &L->imgs[L->nimgs++];
	memset(im, 0, sizeof *im);
	return im;
}

static struct image *image_by_top(struct load *L, const struct img_digest *d)
{
	for (size_t i = 0; i < L->nimgs; i++)
		if (img_digest_eq(&L->imgs[i].top, d))
			return &L->imgs[i];
	return NULL;
}

/* An absent layer d that a delta archive declares left out (img(7), DELTA ARCHIVES): 1
 * when declared with d's size (with mark, whether the store has it is recorded for
 * delta_check), 0 when not declared, -1 when declared with another size. */
static int left_out(struct load *L, const struct img_desc *d, int mark)
{
	int64_t size, have = -1;
	struct img_dset_entry *e = img_delta_find(&L->delta, &d->digest, &size);
	int r;

	if (!e)
		return 0;
	if (size != d->size)
		return fail("%s: left out with size %lld, but the descriptor says %lld",
		            d->digest.str, (long long)size, (long long)d->size);
	if (!mark || (e->flags & LO_USED))
		return 1;
	e->flags |= LO_USED;
	if (L->store) {
		if ((r = img_blob_has(L->store, &d->digest, &have)) < 0)
			return -1;
		e->flags |= r > 0 && have == d->size ? LO_IN_STORE : LO_MISSING;
	}
	return 1;
}

/* The archive entry of a descriptor: present, a regular file, right size and digest.
 * *foreign set (and NULL returned, no error) for an absent layer that has urls (1) or
 * that a delta archive left out (2). */
static struct ent *blob_ent(struct load *L, const struct img_desc *d, int mark, int *foreign)
{
	char *path = img_digest_blobpath(&d->digest);
	struct ent *e = find(L, path);
	int lo = 0;

	if (foreign)
		*foreign = 0;
	if (!e) {
		json_t *urls = json_object_get(d->json, "urls");
		if (foreign && img_mt_kind(d->media_type) == IMG_KIND_LAYER &&
		    json_is_array(urls) && json_array_size(urls) > 0) {
			*foreign = 1;
		} else if (foreign && img_mt_kind(d->media_type) == IMG_KIND_LAYER &&
		           (lo = left_out(L, d, mark)) != 0) {
			*foreign = lo > 0 ? 2 : 0;
		} else {
			fail("%s: missing from the archive (referenced as %s)", path,
			     d->media_type);
		}
	} else if (e->is_link) {
		fail("%s: is a symbolic link", path);
		e = NULL;
	} else if (d->digest.alg != IMG_SHA256) {
		fail("%s: unsupported digest algorithm", path);
		e = NULL;
	} else if (e->size != d->size) {
		fail("%s: size %lld, but the descriptor says %lld", path, (long long)e->size,
		     (long long)d->size);
		e = NULL;
	} else if (!img_digest_eq(&e->blob, &d->digest)) {
		fail("%s: digest mismatch (got %s)", path, e->blob.str);
		e = NULL;
	} else if (mark) {
		e->used = 1;
	}
	free(path);
	return e;
}

static int parse_doc(struct ent *e, const struct img_desc *d, struct img_doc *doc)
{
	if (e->size > (int64_t)IMG_JSON_MAX_BLOB)
		return fail("%s: larger than %u bytes", ent_shown(e), IMG_JSON_MAX_BLOB);
	if (!e->mem)
		return fail("%s: too much metadata in the archive", ent_shown(e));
	if (img_doc_parse(e->mem, e->memlen, d->media_type, doc) < 0)
		return fail("%s: %s", ent_shown(e), img_errmsg());
	return 0;
}

static int parse_config(struct ent *e, struct img_config *c)
{
	if (e->size > (int64_t)IMG_JSON_MAX_BLOB)
		return fail("%s: larger than %u bytes", ent_shown(e), IMG_JSON_MAX_BLOB);
	if (!e->mem)
		return fail("%s: too much metadata in the archive", ent_shown(e));
	if (img_config_parse(e->mem, e->memlen, c) < 0)
		return fail("%s: %s", ent_shown(e), img_errmsg());
	return 0;
}

static json_t *layer_json(const char *mt, const struct img_digest *d, int64_t size,
                          const struct img_digest *diff)
{
	json_t *j = json_object();
	json_object_set_new(j, "mediaType", json_string(mt));
	json_object_set_new(j, "digest", json_string(d->str));
	json_object_set_new(j, "size", json_integer(size));
	if (diff)
		json_object_set_new(j, "diff_id", json_string(diff->str));
	return j;
}

/* Verify a manifest's config and layers (diff_ids against the config). */
static int verify_manifest(struct load *L, struct image *im, struct img_doc *m, int host)
{
	struct img_config c = { 0 };
	struct ent *ce;
	int all_layers = 1, rc = -1, foreign;
	json_t *layers = json_array();

	if (!(ce = blob_ent(L, &m->config, 1, NULL)))
		goto out;
	for (size_t i = 0; i < m->n; i++)
		if (img_mt_kind(m->items[i].media_type) != IMG_KIND_LAYER)
			all_layers = 0;
	if (img_mt_kind(m->config.media_type) == IMG_KIND_CONFIG) {
		if (parse_config(ce, &c) < 0)
			goto out;
		im->is_image = 1;
		if (all_layers && c.ndiff != m->n) {
			fail("%s: %zu diff_ids for %zu layers", ent_shown(ce), c.ndiff, m->n);
			goto out;
		}
	} else {
		all_layers = 0;   /* an artifact: its blobs are checked, nothing more */
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct img_desc *ld = &m->items[i];
		struct ent *le = blob_ent(L, ld, 1, &foreign);
		if (!le && !foreign)
			goto out;
		if (le && all_layers) {
			if (!le->diff_ok) {
				fail("%s: %s", ent_shown(le), le->diff_err ? le->diff_err : "no diff_id");
				goto out;
			}
			if (!img_digest_eq(&le->diff, &c.diff_ids[i])) {
				fail("%s: diff_id mismatch (got %s, the config says %s)", ent_shown(le),
				     le->diff.str, c.diff_ids[i].str);
				goto out;
			}
		}
		json_array_append_new(layers, layer_json(ld->media_type, &ld->digest, ld->size,
		                                         all_layers ? &c.diff_ids[i] : NULL));
		if (foreign == 2)
			json_object_set_new(json_array_get(layers, i), "leftOut", json_true());
	}
	if (!im->has_config || (host && !im->config_host)) {
		im->has_config = 1;
		im->config_host = host;
		im->config = m->config.digest;
		json_decref(im->layers);
		im->layers = json_incref(layers);
	}
	rc = 0;
out:
	json_decref(layers);
	img_config_release(&c);
	return rc;
}

/* Is everything d names in the archive, with the sizes it says (nothing recorded)? A foreign
 * layer (absent, with urls) counts as there. */
static int complete(struct load *L, const struct img_desc *d, int depth)
{
	char *path = img_digest_blobpath(&d->digest);
	struct ent *e = find(L, path);
	enum img_kind k = img_mt_kind(d->media_type);
	struct img_doc doc;
	int ok = 1;

	free(path);
	if (!e) {
		json_t *urls = json_object_get(d->json, "urls");
		int64_t lsize;
		return k == IMG_KIND_LAYER && ((json_is_array(urls) && json_array_size(urls) > 0) ||
		       (img_delta_find(&L->delta, &d->digest, &lsize) && lsize == d->size));
	}
	if (e->is_link || e->size != d->size)
		return 0;
	if (k != IMG_KIND_MANIFEST && k != IMG_KIND_INDEX)
		return 1;
	if (depth > IMG_MAX_INDEX_DEPTH || !e->mem ||
	    img_doc_parse(e->mem, e->memlen, d->media_type, &doc) < 0)
		return 0;
	if (doc.kind == IMG_KIND_MANIFEST)
		ok = complete(L, &doc.config, depth + 1);
	for (size_t i = 0; i < doc.n && ok; i++)
		ok = complete(L, &doc.items[i], depth + 1);
	img_doc_release(&doc);
	return ok;
}

static int complete_cb(void *arg, const struct img_desc *d)
{
	return complete(arg, d, 1);
}

/* An index of which the archive holds only some platforms (a containerd export of one
 * platform): the entry for the host that is complete, in *chosen (a new descriptor object);
 * the platforms left out are said on stderr. 0, or 1 when d is no such index. */
static int partial_index(struct load *L, const struct img_desc *d, const char *name,
                         json_t **chosen)
{
	struct img_doc doc;
	struct ent *e;
	long pi;
	char *out = NULL;

	if (img_mt_kind(d->media_type) != IMG_KIND_INDEX || complete(L, d, 0))
		return 1;
	if (!(e = blob_ent(L, d, 0, NULL)) || !e->mem ||
	    img_doc_parse(e->mem, e->memlen, d->media_type, &doc) < 0)
		return 1;
	pi = img_index_pick(&doc, &L->host, complete_cb, L);
	if (pi >= 0) {
		for (size_t i = 0; i < doc.n; i++) {
			const struct img_desc *c = &doc.items[i];
			char pb[128], *t;
			if (!c->has_platform || img_desc_not_image(c) || complete(L, c, 1))
				continue;
			img_platform_format(&c->platform, pb, sizeof pb);
			t = xasprintf("%s%s%s", out ? out : "", out ? ", " : "", pb);
			free(out);
			out = t;
		}
		char picked[128];
		img_platform_format(&doc.items[pi].platform, picked, sizeof picked);
		warnx("%s: loading %s only; left out, not in the archive: %s",
		      name ? name : d->digest.str, picked, out ? out : "(none)");
		free(out);
		*chosen = json_deep_copy(doc.items[pi].json);
	}
	img_doc_release(&doc);
	return pi >= 0 ? 0 : 1;
}

/* d is an index blob below depth others (0: named by index.json itself): refused past
 * IMG_MAX_INDEX_DEPTH nested index blobs, as the store counts them. */
static int index_too_deep(const struct img_desc *d, int depth)
{
	if (depth < IMG_MAX_INDEX_DEPTH)
		return 0;
	return fail("%s: indexes nested more than %d deep", d->digest.str, IMG_MAX_INDEX_DEPTH);
}

/* Verify everything reachable from d (a manifest, an index or anything else). depth:
 * the index blobs above d (0 for a descriptor of index.json). */
static int verify_desc(struct load *L, struct image *im, const struct img_desc *d, int depth,
                       int host)
{
	struct img_doc doc = { 0 };
	struct ent *e;
	int rc = -1;
	enum img_kind k = img_mt_kind(d->media_type);

	if (k == IMG_KIND_INDEX && index_too_deep(d, depth) < 0)
		return -1;
	if (!(e = blob_ent(L, d, 1, NULL)))
		return -1;
	if (k != IMG_KIND_MANIFEST && k != IMG_KIND_INDEX)
		return 0;
	if (parse_doc(e, d, &doc) < 0)
		return -1;
	if (doc.kind == IMG_KIND_MANIFEST) {
		rc = verify_manifest(L, im, &doc, host);
	} else {
		rc = 0;
		for (size_t i = 0; i < doc.n && rc == 0; i++) {
			const struct img_desc *c = &doc.items[i];
			int h = c->has_platform && img_platform_match(&L->host, &c->platform);
			if (verify_desc(L, im, c, depth + 1, h) < 0) {
				char pb[128];
				if (c->has_platform && img_mt_kind(c->media_type) == IMG_KIND_MANIFEST &&
				    strstr(img_errmsg(), ": missing"))
					fail("%s (platform %s; --platform P loads one platform)",
					     img_errmsg(), img_platform_format(&c->platform, pb, sizeof pb));
				rc = -1;
			}
		}
	}
	img_doc_release(&doc);
	return rc;
}

/* With --platform: the manifest under d that matches (first match), copied into *out
 * (a new descriptor object). depth as for verify_desc. 0 found, 1 none, -1 error. */
static int select_platform(struct load *L, const struct img_desc *d, int depth, json_t **out)
{
	struct img_doc doc = { 0 };
	struct ent *e;
	int rc = 1;
	enum img_kind k = img_mt_kind(d->media_type);

	if (k == IMG_KIND_MANIFEST) {
		struct img_platform p;
		if (d->has_platform) {
			p = d->platform;
		} else {
			/* read it from the config */
			struct img_config c = { 0 };
			struct ent *ce;
			if (!(e = blob_ent(L, d, 0, NULL)) || parse_doc(e, d, &doc) < 0)
				return -1;
			ce = blob_ent(L, &doc.config, 0, NULL);
			if (!ce || img_mt_kind(doc.config.media_type) != IMG_KIND_CONFIG ||
			    parse_config(ce, &c) < 0) {
				img_doc_release(&doc);
				return ce ? 1 : -1;
			}
			p = c.platform;
			img_config_release(&c);
			img_doc_release(&doc);
		}
		if (!img_platform_match(&L->o->platform, &p))
			return 1;
		*out = json_deep_copy(d->json);
		return 0;
	}
	if (k != IMG_KIND_INDEX)
		return 1;
	if (index_too_deep(d, depth) < 0)
		return -1;
	if (!(e = blob_ent(L, d, 0, NULL)) || parse_doc(e, d, &doc) < 0)
		return -1;
	long pi = img_index_pick(&doc, &L->o->platform, NULL, NULL);
	if (pi >= 0)
		rc = select_platform(L, &doc.items[pi], depth + 1, out);
	img_doc_release(&doc);
	return rc;
}

/* A clean descriptor for index.json: mediaType, digest, size (and platform). */
static json_t *store_desc(const struct img_desc *d)
{
	json_t *j = img_desc_new(d->media_type, &d->digest, d->size);
	json_t *p = json_object_get(d->json, "platform");
	json_t *at = json_object_get(d->json, "artifactType");
	if (json_is_object(p))
		json_object_set_new(j, "platform", json_deep_copy(p));
	if (json_is_string(at))
		json_object_set_new(j, "artifactType", json_deep_copy(at));
	return j;
}

/* Canonical name of an archive index.json entry (img_ref_archive_name), or NULL (no name);
 * a bare tag that names nothing is kept for the message. */
static char *entry_name(struct load *L, const struct img_desc *d, const char **bare, int *bad)
{
	const char *ctr = img_desc_annotation(d, IMG_ANN_CTR_NAME);
	const char *rn = img_desc_annotation(d, IMG_ANN_REF_NAME);
	char *c;

	*bad = 0;
	if (img_ref_archive_name(ctr, rn, L->o->base, &c, bare) < 0) {
		char *esc = img_escape_cut(ctr ? ctr : rn);
		fail("index.json: invalid image name '%s': %s", esc, img_errmsg());
		free(esc);
		*bad = 1;
		return NULL;
	}
	return c;
}

/* The image of a manifest picked out of an index (chosen: its descriptor, consumed),
 * verified. depth as for verify_desc. NULL with the error recorded. */
static struct image *image_of_chosen(struct load *L, json_t *chosen, int depth)
{
	struct img_desc cd;
	struct image *im = NULL;

	if (img_desc_parse(chosen, &cd) < 0) {
		fail("%s", img_errmsg());
	} else if (!(im = image_by_top(L, &cd.digest))) {
		im = new_image(L);
		im->top = cd.digest;
		im->desc = store_desc(&cd);
		if (verify_desc(L, im, &cd, depth, 1) < 0)
			im = NULL;
	}
	json_decref(chosen);
	return im;
}

static int load_oci(struct load *L, struct ent *ie)
{
	json_t *root = ent_json(ie, IMG_JSON_MAX_ARCHIVE, "archive"), *mans;
	int rc = -1;
	size_t i;
	json_t *v;

	if (!root)
		return -1;
	/* docker save of untagged images (Docker 25+): "manifests": null, manifest.json has all */
	if (json_is_object(root) && json_is_null(json_object_get(root, "manifests")) &&
	    find(L, "manifest.json")) {
		rc = 0;
		goto out;
	}
	if (!json_is_object(root) || !json_is_array(mans = json_object_get(root, "manifests"))) {
		fail("index.json: not an image index (no manifests array)");
		goto out;
	}
	if (json_object_get(root, "layers") || json_object_get(root, "config")) {
		fail("index.json: has both manifests and config/layers");
		goto out;
	}
	json_t *mt = json_object_get(root, "mediaType");
	if (mt && !json_is_null(mt) && (!json_is_string(mt) ||
	                                strcmp(json_string_value(mt), IMG_MT_OCI_INDEX))) {
		fail("index.json: mediaType is not %s", IMG_MT_OCI_INDEX);
		goto out;
	}
	json_t *sv = json_object_get(root, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
		fail("index.json: schemaVersion is not 2");
		goto out;
	}
	if (img_delta_from_index(root, &L->delta) < 0) {
		fail("index.json: %s", img_errmsg());
		goto out;
	}
	json_array_foreach(mans, i, v) {
		struct img_desc d;
		json_t *chosen = NULL;
		int bad;

		if (img_desc_parse(v, &d) < 0) {
			fail("index.json: manifests[%zu]: %s", i, img_errmsg());
			goto out;
		}
		const char *bare;
		char *name = entry_name(L, &d, &bare, &bad);
		if (bad)
			goto out;
		struct image *im;
		if (L->o->has_platform) {
			int r = select_platform(L, &d, 0, &chosen);
			if (r < 0) {
				free(name);
				goto out;
			}
			if (r > 0) {
				free(name);
				continue;
			}
			if (!(im = image_of_chosen(L, chosen, 0))) {
				free(name);
				goto out;
			}
		} else if (partial_index(L, &d, name, &chosen) == 0) {
			if (!(im = image_of_chosen(L, chosen, 1))) {
				free(name);
				goto out;
			}
		} else {
			im = image_by_top(L, &d.digest);
			if (!im) {
				im = new_image(L);
				im->top = d.digest;
				im->desc = store_desc(&d);
				int host = !d.has_platform || img_platform_match(&L->host, &d.platform);
				if (verify_desc(L, im, &d, 0, host) < 0) {
					free(name);
					goto out;
				}
			}
		}
		if (name)
			add_name(im, name);
		else if (bare && !im->bare)
			im->bare = xstrdup(bare);
		free(name);
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static const char *legacy_layer_type(struct ent *le)
{
	switch (le->comp) {
	case IMG_COMP_NONE: return IMG_MT_OCI_LAYER;
	case IMG_COMP_GZIP: return IMG_MT_OCI_LAYER_GZIP;
	case IMG_COMP_ZSTD: return IMG_MT_OCI_LAYER_ZSTD;
	default: return NULL;
	}
}

/* manifest.json: names for images already found through index.json, and an OCI manifest
 * built (always the same way) for every other item. */
static int load_docker(struct load *L, struct ent *me)
{
	json_t *root = ent_json(me, IMG_JSON_MAX_ARCHIVE, "archive"), *item;
	struct img_config c = { 0 };
	json_t *man = NULL;
	int rc = -1;
	size_t i;

	if (!root)
		return -1;
	if (!json_is_array(root)) {
		fail("manifest.json: not an array");
		goto out;
	}
	json_array_foreach(root, i, item) {
		const char *cfgpath;
		json_t *layers = NULL, *tags = NULL, *v;
		struct ent *ce;
		struct image *im = NULL;
		size_t j;

		img_json_fold_keys(item, img_manifest_json_keys);
		if (!json_is_object(item) || img_json_str(item, "Config", &cfgpath) != 0 ||
		    img_json_arr(item, "Layers", &layers) != 0 ||
		    img_json_arr(item, "RepoTags", &tags) < 0) {
			fail("manifest.json: item %zu: needs Config and Layers", i);
			goto out;
		}
		json_array_foreach(layers, j, v) {
			if (!json_is_string(v)) {
				fail("manifest.json: item %zu: Layers[%zu] is not a string", i, j);
				goto out;
			}
		}
		if (tags) {
			json_array_foreach(tags, j, v) {
				if (!json_is_string(v)) {
					fail("manifest.json: item %zu: RepoTags[%zu] is not a string", i, j);
					goto out;
				}
			}
		}
		if (!(ce = resolve_key(L, json_object_get(item, "Config"), "config")))
			goto out;
		if (L->o->has_platform) {
			/* another platform's image is not loaded, whoever names it */
			struct img_config pc = { 0 };
			int match;
			if (parse_config(ce, &pc) < 0)
				goto out;
			match = img_platform_match(&L->o->platform, &pc.platform);
			img_config_release(&pc);
			if (!match)
				continue;
		}
		/* already loaded through index.json? */
		for (size_t k = 0; k < L->nimgs && !im; k++)
			if (L->imgs[k].has_config && img_digest_eq(&L->imgs[k].config, &ce->blob))
				im = &L->imgs[k];
		if (!im) {
			if (parse_config(ce, &c) < 0)
				goto out;
			if (c.ndiff != json_array_size(layers)) {
				fail("%s: %zu diff_ids, but manifest.json lists %zu layers", ent_shown(ce),
				     c.ndiff, json_array_size(layers));
				goto out;
			}
			man = json_object();
			json_t *mlayers = json_array(), *jl = json_array();
			json_object_set_new(man, "schemaVersion", json_integer(2));
			json_object_set_new(man, "mediaType", json_string(IMG_MT_OCI_MANIFEST));
			json_object_set_new(man, "config",
			                    img_desc_new(IMG_MT_OCI_CONFIG, &ce->blob, ce->size));
			json_object_set_new(man, "layers", mlayers);
			json_array_foreach(layers, j, v) {
				struct ent *le = resolve_key(L, v, "layer");
				const char *mt;
				if (!le) {
					json_decref(jl);
					goto out;
				}
				if (!le->diff_ok) {
					fail("%s: %s", ent_shown(le), le->diff_err ? le->diff_err : "no diff_id");
					json_decref(jl);
					goto out;
				}
				if (!img_digest_eq(&le->diff, &c.diff_ids[j])) {
					fail("%s: diff_id mismatch (got %s, the config says %s)", ent_shown(le),
					     le->diff.str, c.diff_ids[j].str);
					json_decref(jl);
					goto out;
				}
				if (!(mt = legacy_layer_type(le))) {
					fail("%s: %s-compressed layers are not supported (recompress it "
					     "with gzip or zstd, or leave it uncompressed)", ent_shown(le),
					     img_comp_name(le->comp));
					json_decref(jl);
					goto out;
				}
				le->used = 1;
				json_array_append_new(mlayers, img_desc_new(mt, &le->blob, le->size));
				json_array_append_new(jl, layer_json(mt, &le->blob, le->size, &le->diff));
			}
			ce->used = 1;
			size_t len;
			char *buf = img_json_dump(man, &len);
			struct img_digest md;
			img_digest_buf(buf, len, &md);
			im = image_by_top(L, &md);
			if (im) {
				free(buf);
				json_decref(jl);
			} else {
				im = new_image(L);
				im->top = md;
				im->synth = buf;
				im->is_image = 1;
				im->synthlen = len;
				im->desc = img_desc_new(IMG_MT_OCI_MANIFEST, &md, (int64_t)len);
				im->has_config = 1;
				im->config = ce->blob;
				im->layers = jl;
			}
			json_decref(man);
			man = NULL;
			img_config_release(&c);
			memset(&c, 0, sizeof c);
		}
		if (tags) {
			json_array_foreach(tags, j, v) {
				char *canon = img_ref_normalize(json_string_value(v));
				if (!canon) {
					char *esc = img_escape_cut(json_string_value(v));
					fail("manifest.json: RepoTags '%s': %s", esc, img_errmsg());
					free(esc);
					goto out;
				}
				if (strchr(canon, '@')) {
					char *esc = img_escape_cut(json_string_value(v));
					fail("manifest.json: RepoTags '%s': not a name:tag", esc);
					free(esc);
					free(canon);
					goto out;
				}
				add_name(im, canon);
				free(canon);
			}
		}
	}
	rc = 0;
out:
	json_decref(man);
	img_config_release(&c);
	json_decref(root);
	return rc;
}

static int check_layout(struct load *L, struct ent *le)
{
	json_t *j = ent_json(le, IMG_JSON_MAX_ARCHIVE, "archive");
	const char *v;
	int rc = 0;

	(void)L;
	if (!j)
		return -1;
	if (!json_is_object(j) || img_json_str(j, "imageLayoutVersion", &v) != 0 ||
	    strcmp(v, "1.0.0")) {
		fail("oci-layout: unsupported layout version (want imageLayoutVersion 1.0.0)");
		rc = -1;
	}
	json_decref(j);
	return rc;
}

/* Make each hard link (hl: in archive order) an alias of its target, which must be an
 * earlier entry; a link to a link is one to that link's target. Never the file system. */
static int link_hard(struct load *L, struct ent **hl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ent *h = hl[i], *t = find_raw(L, h->link);
		const char *why = NULL;

		if (!t)
			why = "is not a file in the archive";
		else if (t == h)
			why = "is the link itself";
		else if (t->seq > h->seq)
			why = "comes later in the archive";
		if (why) {
			char *en = img_escape_cut(h->path), *et = img_escape_cut(h->link);
			fail("hard link '%s': target '%s' %s", en, et, why);
			free(en);
			free(et);
			return -1;
		}
		h->alias = t->alias ? t->alias : t;
	}
	return 0;
}

static int resolve_all(struct load *L)
{
	struct ent *ie, *me, *le, **hl = NULL;
	size_t nhl = 0;
	int r;

	/* the hard links in archive order, before the entries are sorted by name */
	for (size_t i = 0; i < L->nents; i++)
		if (L->ents[i]->is_hard) {
			if (!hl)
				hl = xreallocarray(NULL, L->nents - i, sizeof *hl);
			hl[nhl++] = L->ents[i];
		}
	if (L->nents)   /* an archive of directories only: no array to sort */
		qsort(L->ents, L->nents, sizeof *L->ents, ent_cmp);
	for (size_t i = 1; i < L->nents; i++)
		if (!strcmp(L->ents[i - 1]->path, L->ents[i]->path)) {
			char *esc = img_escape_cut(L->ents[i]->path);
			fail("%s: duplicate entry", esc);
			free(esc);
			free(hl);
			return -1;
		}
	r = link_hard(L, hl, nhl);
	free(hl);
	if (r < 0)
		return -1;
	ie = find(L, "index.json");
	me = find(L, "manifest.json");
	le = find(L, "oci-layout");
	if (ie && ie->is_link)
		return fail("index.json: is a symbolic link");
	if (me && me->is_link)
		return fail("manifest.json: is a symbolic link");
	if (le && (le->is_link || check_layout(L, le) < 0))
		return le->is_link ? fail("oci-layout: is a symbolic link") : -1;
	if (!ie && !me) {
		if (find(L, "repositories"))
			return fail("a legacy archive with only 'repositories' (no manifest.json) "
			            "is not supported");
		return fail("not an image archive (no index.json or manifest.json)");
	}
	if (ie && load_oci(L, ie) < 0)
		return -1;
	if (me && load_docker(L, me) < 0)
		return -1;
	if (L->o->has_platform && L->nimgs == 0) {
		char buf[128];
		return fail("no image for platform %s in the archive",
		            img_platform_format(&L->o->platform, buf, sizeof buf));
	}
	if (L->nimgs == 0)
		return fail("the archive holds no image");
	if (L->o->tag_canon) {
		if (L->nimgs != 1)
			return fail("-t needs an archive with one image; this one has %zu", L->nimgs);
		for (size_t i = 0; i < L->imgs[0].nnames; i++)
			free(L->imgs[0].names[i]);
		L->imgs[0].nnames = 0;
		add_name(&L->imgs[0], L->o->tag_canon);
	}
	return 0;
}

/* A delta archive: every layer it left out is in the store with its size; with --check,
 * left out at all only with --allow-missing. 0, or -1 naming them all. */
static int delta_check(struct load *L)
{
	char *list = img_delta_list(&L->delta, L->store ? LO_MISSING : LO_USED);
	int rc = 0;

	if (*list && L->store)
		rc = fail("a delta archive; left out of it and not in the store: %s", list);
	else if (*list && !L->o->allow_missing)
		rc = fail("a delta archive; left out of it (--allow-missing accepts that): %s", list);
	free(list);
	return rc;
}

/* ---------------------------------------------------------------- committing */

static int idx_fn(json_t *index, void *arg)
{
	struct load *L = arg;

	for (size_t i = 0; i < L->nimgs; i++) {
		struct image *im = &L->imgs[i];
		if (img_index_put(index, im->desc, (const char *const *)im->names, im->nnames) < 0)
			return -1;
	}
	return 0;
}

static int commit(struct load *L)
{
	struct img_digest got;

	for (size_t i = 0; i < L->nents; i++) {
		struct ent *e = L->ents[i];
		if (!e->used) {
			img_blob_abort(e->w);
			e->w = NULL;
		}
	}
	for (size_t i = 0; i < L->nents; i++) {
		struct ent *e = L->ents[i];
		if (!e->used || e->in_store)
			continue;
		if (e->w) {
			struct img_blob_writer *w = e->w;
			e->w = NULL;
			if (img_blob_commit(w, &e->blob, -1, NULL) < 0)
				return fail("%s: %s", ent_shown(e), img_errmsg());
		} else if (e->mem) {
			if (img_blob_put(L->store, e->mem, e->memlen, &got) < 0)
				return fail("%s: %s", ent_shown(e), img_errmsg());
		}
		e->in_store = 1;
	}
	for (size_t i = 0; i < L->nimgs; i++) {
		struct image *im = &L->imgs[i];
		if (im->synth && img_blob_put(L->store, im->synth, im->synthlen, &got) < 0)
			return fail("manifest %s: %s", im->top.str, img_errmsg());
	}
	if (img_store_index_update(L->store, idx_fn, L) < 0)
		return fail("index.json: %s", img_errmsg());
	return 0;
}

/* ---------------------------------------------------------------- output */

static void print_images(struct load *L, json_t *jimages)
{
	const struct opts *o = L->o;

	for (size_t i = 0; i < L->nimgs; i++) {
		struct image *im = &L->imgs[i];
		if (o->json) {
			json_t *j = json_object(), *names = json_array();
			for (size_t k = 0; k < im->nnames; k++)
				json_array_append_new(names, json_string(im->names[k]));
			json_object_set_new(j, "names", names);
			json_object_set_new(j, "mediaType",
			                    json_incref(json_object_get(im->desc, "mediaType")));
			json_object_set_new(j, "manifest", json_string(im->top.str));
			json_object_set_new(j, "config",
			                    im->has_config ? json_string(im->config.str) : json_null());
			json_object_set_new(j, "layers",
			                    im->layers ? json_incref(im->layers) : json_array());
			json_array_append_new(jimages, j);
			continue;
		}
		const char *verb = o->check ? "Verified" : "Loaded";
		for (size_t k = 0; k < im->nnames; k++) {
			struct img_ref r;
			char *fam = NULL;
			if (img_ref_parse(im->names[k], &r) == 0) {
				fam = img_ref_familiar(&r);
				img_ref_release(&r);
			}
			char *esc = img_escape(fam ? fam : im->names[k]);
			printf("%s image: %s\n", verb, esc);
			free(esc);
			free(fam);
		}
		if (!im->nnames && !im->is_image) {
			printf("%s artifact: %s\n", verb, im->top.str);
		} else if (!im->nnames && im->bare) {
			char *esc = img_escape(im->bare);
			printf("%s image ID: %s (tagged '%s' in the archive: --base-name REPO names it "
			       "REPO:%s)\n", verb, im->has_config ? im->config.str : im->top.str, esc,
			       esc);
			free(esc);
		} else if (!im->nnames) {
			printf("%s image ID: %s\n", verb,
			       im->has_config ? im->config.str : im->top.str);
		}
	}
	for (size_t i = 0; o->check && !o->json && i < L->delta.set.n; i++)
		if (L->delta.set.e[i].flags & LO_USED)
			printf("Left out: %s (%lld bytes)\n", L->delta.set.e[i].d.str,
			       (long long)L->delta.size[i]);
}

/* ---------------------------------------------------------------- main */

static int load_one(const struct opts *o, struct img_store *store, struct pipeline *pipe,
                    const char *file, json_t *jimages)
{
	struct load L = { .o = o, .file = file, .store = store, .pipe = pipe };
	struct img_progress *pg = NULL;
	struct stat st;
	int fd, rc = -1;

	img_platform_host(&L.host);
	fd = img_io_open_in(file);
	if (fd < 0)
		return fail("%s", img_errmsg());
	/* a pipe: fewer, bigger reads (the writer sleeps and wakes us far less often) */
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
		fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
	pg = img_progress_new(o->quiet ? IMG_PROGRESS_NONE : o->progress, "Loading",
	                      fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size
	                                                                 : 0);
	if (read_archive(&L, fd, pg) < 0 || resolve_all(&L) < 0 || delta_check(&L) < 0)
		goto out;
	if (!o->check && commit(&L) < 0)
		goto out;
	print_images(&L, jimages);
	rc = 0;
out:
	img_progress_done(pg);
	close(fd);
	load_release(&L);
	return rc;
}

static void waiting(void *arg)
{
	(void)arg;
	warnx("waiting for the store lock");
}

int main(int argc, char **argv)
{
	struct opts o = { .progress = IMG_PROGRESS_AUTO, .max_ratio = 100 };
	struct img_store *store = NULL;
	struct pipeline pipe = { 0 };
	json_t *jimages = NULL;
	char *path = NULL;
	int c, status = 0;
	struct rlimit rl;

	img_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "hqS:t:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			help();
			return img_close_stdout() < 0 ? 1 : 0;
		case 'q':
			o.quiet = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case 't':
			o.tag = optarg;
			break;
		case OPT_BASE_NAME: {
			struct img_ref r;
			const char *slash = strrchr(optarg, '/');
			if (strchr(optarg, '@') || strchr(slash ? slash : optarg, ':') ||
			    img_ref_parse(optarg, &r) < 0) {
				warnx("--base-name: not a repository name: '%s'", optarg);
				usage();
			}
			free(o.base);
			o.base = img_ref_repo(&r);
			img_ref_release(&r);
			break;
		}
		case OPT_ALLOW_MISSING:
			o.allow_missing = 1;
			break;
		case OPT_CHECK:
			o.check = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_LIST:
			img_list_options(stdout, longopts);
			return img_close_stdout() < 0 ? 1 : 0;
		case OPT_MAX_RATIO:
			if (img_cli_max_ratio(optarg, &o.max_ratio) < 0)
				usage();
			break;
		case OPT_PLATFORM:
			if (img_platform_parse(optarg, &o.platform) < 0) {
				warnx("--platform: %s", img_errmsg());
				usage();
			}
			o.has_platform = 1;
			break;
		case OPT_PROGRESS:
			if (img_progress_parse(optarg, &o.progress) < 0) {
				warnx("--progress: %s", img_errmsg());
				usage();
			}
			break;
		case OPT_VERSION:
			printf("%s %s\n", img_progname(), IMG_VERSION);
			return img_close_stdout() < 0 ? 1 : 0;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (o.allow_missing && !o.check) {
		warnx("--allow-missing goes with --check (a load needs every blob)");
		usage();
	}
	if (o.tag && argc > 1) {
		warnx("-t names one image: give one FILE");
		usage();
	}
	if (o.tag) {
		struct img_ref r;
		if (img_ref_parse(o.tag, &r) < 0)
			errx(2, "-t: invalid name '%s': %s", o.tag, img_errmsg());
		if (!r.tag) {
			img_ref_release(&r);
			errx(2, "-t: '%s' is not a name:tag", o.tag);
		}
		o.tag_canon = img_ref_canonical(&r);
		img_ref_release(&r);
	}
	/* one temp blob per big entry stays open until the end */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!o.check) {
		path = img_store_default_path(o.store);
		if (img_store_open(path, IMG_STORE_CREATE, &store) < 0) {
			warnx("%s", img_errmsg());
			status = 1;
			goto out;
		}
		img_store_set_waiting(store, waiting, NULL);
		if (img_store_lock(store, IMG_LOCK_SHARED, waiting, NULL) < 0) {
			warnx("%s", img_errmsg());
			status = 1;
			goto out;
		}
	}
	if (o.json)
		jimages = json_array();
	for (int i = 0; i < (argc ? argc : 1); i++) {
		const char *file = argc ? argv[i] : "-";
		if (load_one(&o, store, &pipe, file, jimages) < 0) {
			if (argc > 1) {
				char *esc = img_escape_cut(file);
				warnx("%s: %s", esc, img_errmsg());
				free(esc);
			} else {
				warnx("%s", img_errmsg());
			}
			status = 1;
		}
	}
	if (o.json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "images", jimages);
		jimages = NULL;
		char *s = json_dumps(doc, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
		json_decref(doc);
	}
out:
	pipe_stop(&pipe);
	json_decref(jimages);
	img_store_close(store);
	free(path);
	free(o.tag_canon);
	free(o.base);
	if (img_close_stdout() < 0) {
		warnx("%s", img_errmsg());
		status = 1;
	}
	return status;
}
