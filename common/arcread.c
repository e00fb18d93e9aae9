/* arcread: the one reader of image archives: entries hashed while they stream, kept in
 * memory or handed to the caller's sink, links resolved in a sorted table (arcread.h). */
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "digest.h"
#include "json.h"
#include "ref.h"
#include "image.h"
#include "comp.h"
#include "arcin.h"
#include "ring.h"
#include "pool.h"
#include "progress.h"
#include "arcread.h"

#define SLOT        (1u << 20)          /* pipeline hand-off unit */
#define NIN         8                   /* slots of archive bytes */
#define NOUT        4                   /* slots of decompressed bytes */
#define MEM_BUDGET  ((size_t)256 << 20) /* all in-memory entries of one archive */
#define GIB         ((uint64_t)1 << 30)

struct img_arcread {
	const struct img_arcread_opts *o;
	struct img_arcread_ent **ents;      /* archive order */
	size_t n, cap;
	struct img_arcread_ent **sorted;    /* by path, once read */
	size_t mem;
	struct pipeline *pipe;
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
	int view;                /* IMG_ARCREAD_VIEW's message */
	char *err;               /* why the diff_id is unknown, or NULL */
};

/* n more decompressed bytes: 0, or -1 past max_ratio. */
static int sum_count_out(struct sum *s, size_t n)
{
	s->out += n;
	if (s->out > GIB && s->out / s->max_ratio > s->in) {
		if (s->view)
			img_seterr("decompressed layer exceeds %u times its compressed size",
			           s->max_ratio);
		else
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
	img_digest_hash_update(s->dh, buf, n);
	return 0;
}

static void sum_decomp(struct sum *s, const void *buf, size_t n)
{
	if (s->comp == IMG_COMP_NONE || s->err || n == 0)
		return;
	if (img_comp_dec_write(s->dc, buf, n) < 0)
		s->err = xstrdup(img_errmsg());
}

static void sum_start(struct sum *s)
{
	s->comp = img_comp_sniff(s->head, s->headn);
	s->sniffed = 1;
	if (s->comp == IMG_COMP_NONE)
		return;
	s->dc = img_comp_dec_new(s->comp, 0, sum_sink, s);
	if (!s->dc) {
		s->err = xstrdup(img_errmsg());
		return;
	}
	sum_decomp(s, s->head, s->headn);
}

static int sum_init(struct sum *s, const struct img_arcread_opts *o)
{
	memset(s, 0, sizeof *s);
	s->max_ratio = o->max_ratio ? o->max_ratio : 100;
	s->view = !!(o->flags & IMG_ARCREAD_VIEW);
	s->bh = img_digest_hash_new(IMG_SHA256);
	s->dh = img_digest_hash_new(IMG_SHA256);
	return s->bh && s->dh ? 0 : -1;
}

static void sum_release(struct sum *s)
{
	img_digest_hash_free(s->bh);
	img_digest_hash_free(s->dh);
	img_comp_dec_free(s->dc);
	free(s->err);
	memset(s, 0, sizeof *s);
}

static void sum_write(struct sum *s, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	img_digest_hash_update(s->bh, p, n);
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

static void sum_finish(struct sum *s, struct img_arcread_ent *e)
{
	if (!s->sniffed)
		sum_start(s);
	img_digest_hash_final(s->bh, &e->blob);
	e->hashed = 1;
	e->comp = s->comp;
	e->diff_ok = 0;
	if (s->comp == IMG_COMP_NONE) {
		e->diff = e->blob;
		e->diff_size = (uint64_t)e->size;
		e->diff_ok = 1;
	} else if (!s->err) {
		if (!s->dc_done && img_comp_dec_finish(s->dc) < 0) {
			s->err = xstrdup(img_errmsg());
		} else {
			img_digest_hash_final(s->dh, &e->diff);
			e->diff_size = s->out;
			e->diff_ok = 1;
		}
	}
	if (s->err) {
		e->diff_err = s->err;
		s->err = NULL;
	}
}

/* ---------------------------------------------------------------- pipeline */

/* The bytes of a big entry go through a pipeline. The reading thread copies them from the
 * archive into a ring of 1 MiB slots (img_ring); stage threads (an img_pool) each take
 * every slot: one hashes the blob, one hands it to the sink's writer, one decompresses it
 * into a second ring, which the last one hashes into the diff_id (and which the writer
 * takes instead for a plain sink). The stages overlap on as many cores as there are;
 * memory stays bounded by the two rings. */
enum { ST_HASH, ST_WRITE, ST_INFLATE, ST_DIFF, NSTAGE };
enum { OUT_DIFF, OUT_WRITE };   /* the consumers of the out ring */

struct pipeline {
	struct img_pool *pool;
	struct img_ring *in, *out;
	/* the current entry, set while every stage is idle */
	struct sum *sum;
	const struct img_arcread_sink *sink;
	void *w;
	int plain;               /* the writer takes the decompressed bytes (sink->plain) */
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
			    !(s->dc = img_comp_dec_new(s->comp, 0, pipe_sink, p)))
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
	if (s->dc && !s->err && img_comp_dec_finish(s->dc) < 0)
		s->err = xstrdup(img_errmsg());
	s->dc_done = 1;
	return img_ring_end(p->out);
}

/* ST_WRITE for a plain sink: an entry ST_INFLATE decompresses (it sniffs the same first
 * slot) is taken from the out ring, any other from the in ring. */
static int stage_write_plain(struct pipeline *p)
{
	const void *b;
	size_t n;
	int r = img_ring_take(p->in, ST_WRITE, &b, &n);

	if (r > 0 && img_comp_sniff(b, n) != IMG_COMP_NONE) {
		img_ring_release(p->in, ST_WRITE);
		img_ring_leave(p->in, ST_WRITE);
		if (img_ring_consume(p->out, OUT_WRITE, p->sink->write, p->w) < 0) {
			img_ring_stop(p->in);
			return -1;
		}
		return 0;
	}
	img_ring_leave(p->out, OUT_WRITE);
	if (r <= 0)
		return r;
	r = p->sink->write(p->w, b, n);
	img_ring_release(p->in, ST_WRITE);
	if (r < 0) {
		img_ring_stop(p->in);
		return -1;
	}
	return img_ring_consume(p->in, ST_WRITE, p->sink->write, p->w);
}

static int stage_main(void *arg, size_t id, unsigned worker)
{
	struct pipeline *p = arg;

	(void)worker;
	switch (id) {
	case ST_HASH:  return img_ring_consume(p->in, ST_HASH, img_digest_hash_sink, p->sum->bh);
	case ST_WRITE: return p->plain ? stage_write_plain(p) :
	                      img_ring_consume(p->in, ST_WRITE, p->sink->write, p->w);
	case ST_DIFF:  return img_ring_consume(p->out, OUT_DIFF, img_digest_hash_sink, p->sum->dh);
	default:       return stage_inflate(p);
	}
}

static struct pipeline *pipe_start(struct img_arcread *r)
{
	struct pipeline *p = r->pipe;

	if (p)
		return p;
	p = xcalloc(1, sizeof *p);
	p->pool = img_pool_new(NSTAGE, "img-arcread");
	if (img_pool_threads(p->pool) != NSTAGE) {
		img_pool_free(p->pool);
		free(p);
		return NULL;   /* read on this thread alone */
	}
	/* both arenas huge-page backed, aligned for O_DIRECT writes */
	p->in = img_ring_new(NIN, SLOT, ST_INFLATE + 1);
	p->out = img_ring_new(NOUT, SLOT, OUT_WRITE + 1);
	return r->pipe = p;
}

static void pipe_free(struct pipeline *p)
{
	if (!p)
		return;
	img_pool_free(p->pool);
	img_ring_free(p->in);
	img_ring_free(p->out);
	free(p);
}

/* Hand the stages a new entry: its bytes follow with img_ring_write(p->in, ...). */
static void pipe_job(struct pipeline *p, struct sum *s, const struct img_arcread_sink *sink,
                     void *w)
{
	p->sum = s;
	p->sink = sink;
	p->w = w;
	p->plain = w && sink->plain;
	img_ring_open(p->in, (1u << ST_HASH) | (1u << ST_INFLATE) | (w ? 1u << ST_WRITE : 0));
	img_ring_open(p->out, (1u << OUT_DIFF) | (p->plain ? 1u << OUT_WRITE : 0));
	for (size_t id = 0; id < NSTAGE; id++)
		if (id != ST_WRITE || w)
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
	p->w = NULL;
	if (why) {
		img_seterr("%s", why);
		free(why);
	}
	return rc;
}

/* ---------------------------------------------------------------- reading */

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

const char *img_arcread_shown(struct img_arcread_ent *e)
{
	if (!e->shown)
		e->shown = img_util_escape_cut(e->path);
	return e->shown;
}

/* An error about entry e: "path: why" or "'path': why" (IMG_ARCREAD_VIEW). */
static int ent_fail(struct img_arcread *r, struct img_arcread_ent *e, const char *why)
{
	char *w = xstrdup(why);

	if (r->o->flags & IMG_ARCREAD_VIEW)
		img_seterr("'%s': %s", img_arcread_shown(e), w);
	else
		img_seterr("%s: %s", img_arcread_shown(e), w);
	free(w);
	return -1;
}

/* Where e's bytes go, decided on the first block (b, n; r_ 0 for an empty entry). */
static int choose(struct img_arcread *r, struct img_arcread_ent *e, const void *b, size_t n,
                  int any, int *big, int *pass)
{
	const struct img_arcread_opts *o = r->o;
	size_t sz = (size_t)e->size;
	int keep = is_root_meta(e->path) || sz <= o->small ||
	           (sz <= IMG_JSON_MAX_BLOB && any && looks_json(b, n));

	*big = *pass = 0;
	if (keep && r->mem + sz <= MEM_BUDGET) {
		e->mem = xmalloc(sz + 1);
		r->mem += sz;
		return 0;
	}
	if (o->flags & IMG_ARCREAD_PASS) {
		*pass = 1;
		e->diff_err = xstrdup("not read (listing only)");
		return 0;
	}
	e->comp = any ? img_comp_sniff(b, n) : IMG_COMP_NONE;
	if (o->sink && o->sink->open(o->sink->arg, e, e->size > (int64_t)SLOT, &e->out) < 0)
		return -1;   /* no pipeline started for e */
	*big = e->size > (int64_t)SLOT && pipe_start(r);
	return 0;
}

/* Read the data of regular file e. */
static int read_file(struct img_arcread *r, struct img_arcin *a, struct img_arcread_ent *e)
{
	const struct img_arcread_opts *o = r->o;
	const struct img_arcread_sink *sink = o->sink;
	struct pipeline *p = NULL;
	struct sum s;
	const void *b;
	size_t n;
	uint64_t got = 0;
	int first = 1, big = 0, pass = 0, rc = -1, k;

	if (sum_init(&s, o) < 0)
		return -1;
	if (is_root_meta(e->path) && e->size > (int64_t)IMG_JSON_MAX_ARCHIVE) {
		img_seterr("%s: larger than %u bytes", img_arcread_shown(e), IMG_JSON_MAX_ARCHIVE);
		goto out;
	}
	for (;;) {
		k = img_arcin_block(a, &b, &n);
		if (k < 0) {
			ent_fail(r, e, img_errmsg());
			goto out;
		}
		if (first) {
			first = 0;
			if (choose(r, e, b, n, k > 0, &big, &pass) < 0) {
				ent_fail(r, e, img_errmsg());
				goto out;
			}
			if (pass) {
				rc = 0;
				goto out;
			}
			if (big) {
				p = r->pipe;
				pipe_job(p, &s, sink, e->out);
			}
		}
		if (k == 0)
			break;
		got += n;
		if (e->mem) {
			if (e->memlen + n > (size_t)e->size) {
				ent_fail(r, e, "more data than its size");
				goto out;
			}
			memcpy(e->mem + e->memlen, b, n);
			e->memlen += n;
		}
		if (big) {
			if (img_ring_write(p->in, b, n) < 0) {     /* a stage failed */
				ent_fail(r, e, img_errmsg());
				goto out;
			}
			continue;
		}
		sum_write(&s, b, n);
		if (e->out && sink->write(e->out, b, n) < 0) {
			ent_fail(r, e, img_errmsg());
			goto out;
		}
	}
	if (big) {
		big = 0;
		if (pipe_finish(p, 1) < 0) {
			ent_fail(r, e, img_errmsg());
			goto out;
		}
	}
	if (got != (uint64_t)e->size) {
		char *why = xasprintf("%llu bytes, header says %lld", (unsigned long long)got,
		                      (long long)e->size);
		ent_fail(r, e, why);
		free(why);
		goto out;
	}
	if (e->mem)
		e->mem[e->memlen] = '\0';
	sum_finish(&s, e);
	if (e->out && sink->done && sink->done(sink->arg, e) < 0) {
		ent_fail(r, e, img_errmsg());
		goto out;
	}
	rc = 0;
out:
	if (big)
		pipe_finish(p, 0);
	sum_release(&s);
	return rc;
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp((*(struct img_arcread_ent *const *)a)->path,
	              (*(struct img_arcread_ent *const *)b)->path);
}

/* Sort by name; two entries of one name are refused (a tar extracted by one reader and
 * listed by another would not agree on which one counts), unless both are directories. */
static int ents_sort(struct img_arcread *r)
{
	r->sorted = xreallocarray(NULL, r->n + 1, sizeof *r->sorted);
	if (r->n)
		memcpy(r->sorted, r->ents, r->n * sizeof *r->sorted);
	qsort(r->sorted, r->n, sizeof *r->sorted, ent_cmp);
	for (size_t i = 1; i < r->n; i++)
		if (!strcmp(r->sorted[i - 1]->path, r->sorted[i]->path) &&
		    !(r->sorted[i - 1]->type == IMG_ENT_DIR && r->sorted[i]->type == IMG_ENT_DIR))
			return ent_fail(r, r->sorted[i], "duplicate entry");
	return 0;
}

/* Make each hard link an alias of its target, which must be an earlier entry (tar's rule,
 * img(7)); a link to a hard link is one to that link's target. */
static int link_hard(struct img_arcread *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct img_arcread_ent *h = r->ents[i], *t;
		const char *why = NULL;

		if (h->type != IMG_ENT_HARDLINK)
			continue;
		t = img_arcread_find(r, h->link);
		if (!t || t->type == IMG_ENT_DIR)
			why = "is not a file in the archive";
		else if (t == h)
			why = "is the link itself";
		else if (t->seq > h->seq)
			why = "comes later in the archive";
		if (why) {
			char *et = img_util_escape_cut(h->link);
			img_seterr("hard link '%s': target '%s' %s", img_arcread_shown(h), et, why);
			free(et);
			return -1;
		}
		h->alias = t->alias ? t->alias : t;
	}
	return 0;
}

static struct img_arcread_ent *ent_add(struct img_arcread *r, const struct img_arcin_entry *ae)
{
	struct img_arcread_ent *e = xcalloc(1, sizeof *e);

	e->path = xstrdup(ae->path);
	e->seq = r->n;
	e->off = -1;
	e->type = ae->type;
	if (ae->type == IMG_ENT_SYMLINK || ae->type == IMG_ENT_HARDLINK)
		e->link = xstrdup(ae->link ? ae->link : "");
	IMG_GROW(r->ents, r->n + 1, r->cap);
	r->ents[r->n++] = e;
	return e;
}

int img_arcread_read(int fd, const struct img_arcread_opts *o, struct img_arcread **out)
{
	struct img_arcread *r = xcalloc(1, sizeof *r);
	struct img_arcin *a = NULL;
	struct img_arcin_entry ae;
	int64_t done = 0, off;
	int k;

	*out = NULL;
	r->o = o;
	if (img_arcin_open_fd(fd, 0, &a) < 0)
		goto fail;
	while ((k = img_arcin_next(a, &ae)) > 0) {
		struct img_arcread_ent *e;

		if (!*ae.path)
			continue;
		if (ae.type != IMG_ENT_FILE && ae.type != IMG_ENT_DIR &&
		    ae.type != IMG_ENT_SYMLINK && ae.type != IMG_ENT_HARDLINK) {
			/* an image archive holds directories, files and links (img(7)) */
			char *esc = img_util_escape_cut(ae.path);
			img_seterr("%s: not a regular file, directory or link", esc);
			free(esc);
			goto fail;
		}
		if (r->n >= IMG_ARCREAD_MAX_ENTRIES) {
			img_seterr("more than %d entries", IMG_ARCREAD_MAX_ENTRIES);
			goto fail;
		}
		if (ae.type == IMG_ENT_FILE && (ae.size < 0 || ae.size > IMG_MAX_SIZE)) {
			char *esc = img_util_escape_cut(ae.path);
			img_seterr("%s: invalid size", esc);
			free(esc);
			goto fail;
		}
		e = ent_add(r, &ae);
		if (ae.type != IMG_ENT_FILE)
			continue;
		e->size = ae.size;
		e->off = img_arcin_data_offset(a, &ae);
		if (read_file(r, a, e) < 0)
			goto fail;
		off = img_arcin_offset(a);
		if (off > done) {
			img_progress_add(o->progress, (uint64_t)(off - done));
			done = off;
		}
		if (o->after && o->after(o->after_arg, r, e))
			break;   /* the rest is not needed */
	}
	if (k < 0)
		goto fail;
	img_arcin_free(a);
	a = NULL;
	pipe_free(r->pipe);
	r->pipe = NULL;
	if (ents_sort(r) < 0 || link_hard(r) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	img_arcin_free(a);
	img_arcread_free(r);
	*out = NULL;   /* o->after may have seen r */
	return -1;
}

void img_arcread_free(struct img_arcread *r)
{
	if (!r)
		return;
	pipe_free(r->pipe);
	for (size_t i = 0; i < r->n; i++) {
		struct img_arcread_ent *e = r->ents[i];
		if (e->out && r->o->sink && r->o->sink->drop)
			r->o->sink->drop(e->out);
		free(e->path);
		free(e->link);
		free(e->diff_err);
		free(e->mem);
		free(e->shown);
		free(e);
	}
	free(r->ents);
	free(r->sorted);
	free(r);
}

/* ---------------------------------------------------------------- names and links */

size_t img_arcread_count(const struct img_arcread *r)
{
	return r->n;
}

struct img_arcread_ent *img_arcread_ent(struct img_arcread *r, size_t seq)
{
	return seq < r->n ? r->ents[seq] : NULL;
}

struct img_arcread_ent *img_arcread_find(struct img_arcread *r, const char *path)
{
	size_t lo = 0, hi = r->sorted ? r->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(path, r->sorted[mid]->path);
		if (c == 0)
			return r->sorted[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

struct img_arcread_ent *img_arcread_get(struct img_arcread *r, const char *path)
{
	struct img_arcread_ent *e = img_arcread_find(r, path);

	return e && e->alias ? e->alias : e;
}

char *img_arcread_link_join(const char *path, const char *link)
{
	const char *slash = strrchr(path, '/');
	char *joined, *out;

	if (link[0] == '/' || link[0] == '\0')
		return NULL;
	joined = xasprintf("%.*s%s%s", slash ? (int)(slash - path) : 0, path, slash ? "/" : "",
	                   link);
	out = img_util_path_fold(joined, 1);
	free(joined);
	return out;
}

struct img_arcread_ent *img_arcread_resolve(struct img_arcread *r, const char *path,
                                            enum img_arcread_why *why)
{
	struct img_arcread_ent *e = img_arcread_get(r, path);
	char *cur = NULL;
	int hops = 0;

	*why = IMG_ARCREAD_OK;
	while (e && e->type == IMG_ENT_SYMLINK) {
		char *next;
		if (++hops > IMG_ARCREAD_LINK_HOPS) {
			*why = IMG_ARCREAD_LOOP;
			break;
		}
		if (e->link[0] == '/' || !e->link[0]) {
			*why = IMG_ARCREAD_ABSOLUTE;
			break;
		}
		if (!(next = img_arcread_link_join(e->path, e->link))) {
			*why = IMG_ARCREAD_ESCAPES;
			break;
		}
		free(cur);
		cur = next;
		e = img_arcread_get(r, cur);
	}
	free(cur);
	if (*why == IMG_ARCREAD_OK && !e)
		*why = IMG_ARCREAD_MISSING;
	else if (*why == IMG_ARCREAD_OK && e->type == IMG_ENT_DIR)
		*why = IMG_ARCREAD_DIR;
	return *why == IMG_ARCREAD_OK ? e : NULL;
}

int img_arcread_key(const char *raw, size_t len, const char *what, char **clean)
{
	char *esc;

	*clean = NULL;
	if (strlen(raw) != len) {
		esc = img_util_escape_cut(raw);
		img_seterr("manifest.json: %s: path '%s' contains NUL", what, esc);
		free(esc);
		return -1;
	}
	if (img_arcin_path_clean(raw, 0, clean) < 0) {
		img_seterr_prefix("manifest.json: %s", what);
		return -1;
	}
	if (!(*clean)[0]) {
		esc = img_util_escape_cut(raw);
		img_seterr("manifest.json: %s '%s' names the root", what, esc);
		free(esc);
		free(*clean);
		*clean = NULL;
		return -1;
	}
	return 0;
}

const char *img_arcread_why_str(enum img_arcread_why why)
{
	switch (why) {
	case IMG_ARCREAD_OK:      return "found";
	case IMG_ARCREAD_MISSING: return "not in the archive";
	case IMG_ARCREAD_DIR:     return "a directory, not a file";
	case IMG_ARCREAD_LOOP:    return "too many levels of links";
	default:                  return "a symbolic link out of the archive";
	}
}

struct img_arcread_ent *img_arcread_key_resolve(struct img_arcread *r, json_t *v,
                                                const char *what)
{
	const char *raw = json_string_value(v);
	struct img_arcread_ent *e;
	enum img_arcread_why why;
	char *clean, *esc;

	if (!raw) {
		img_seterr("manifest.json: %s is not a string", what);
		return NULL;
	}
	if (img_arcread_key(raw, json_string_length(v), what, &clean) < 0)
		return NULL;
	e = img_arcread_resolve(r, clean, &why);
	free(clean);
	if (!e) {
		esc = img_util_escape_cut(raw);
		img_seterr("%s %s: %s", what, esc, img_arcread_why_str(why));
		free(esc);
	}
	return e;
}

static void configs_at(struct img_arcread *r, json_t *dj, int depth, struct img_digest **cfgs,
                       size_t *n, size_t *cap)
{
	struct img_arcread_ent *e;
	enum img_arcread_why why;
	struct img_desc d;
	struct img_doc doc;
	size_t k = 0;
	char *path;

	if (depth > IMG_MAX_INDEX_DEPTH || img_image_desc_parse(dj, &d) < 0)
		return;
	path = img_digest_blobpath(&d.digest);
	e = img_arcread_resolve(r, path, &why);
	free(path);
	if (!e || !e->mem || img_image_doc_parse(e->mem, e->memlen, d.media_type, &doc) < 0)
		return;
	if (doc.kind == IMG_KIND_MANIFEST) {
		while (k < *n && !img_digest_eq(&(*cfgs)[k], &doc.config.digest))
			k++;
		if (k == *n) {
			IMG_GROW(*cfgs, *n + 1, *cap);
			(*cfgs)[(*n)++] = doc.config.digest;
		}
	} else {
		for (size_t i = 0; i < doc.n; i++)
			configs_at(r, doc.items[i].json, depth + 1, cfgs, n, cap);
	}
	img_image_doc_release(&doc);
}

void img_arcread_configs(struct img_arcread *r, json_t *d, struct img_digest **cfgs,
                         size_t *n, size_t *cap)
{
	configs_at(r, d, 0, cfgs, n, cap);
}

/* ---------------------------------------------------------------- top documents */

/* The top document named path, or NULL (none, or a directory); -1 for a link. */
static int top_ent(struct img_arcread *r, const char *path, struct img_arcread_ent **e)
{
	*e = img_arcread_get(r, path);
	if (*e && (*e)->type == IMG_ENT_DIR)
		*e = NULL;
	if (*e && (*e)->type == IMG_ENT_SYMLINK)
		return img_fail("%s: is a symbolic link", path);
	return 0;
}

/* A top document's JSON (its size was checked while it was read). */
static json_t *top_json(struct img_arcread_ent *e, const char *path)
{
	json_t *j;

	if (!e->mem) {
		img_seterr("%s: too much metadata in the archive", path);
		return NULL;
	}
	if (!(j = img_json_parse(e->mem, e->memlen, IMG_JSON_MAX_ARCHIVE)))
		img_seterr_prefix("%s", path);
	return j;
}

/* A RepoTags value: a name:tag (img_ref_normalize), no digest. 0 or -1. */
static int top_tag(const char *tag)
{
	char *canon = img_ref_normalize(tag), *esc;
	int bad = !canon || strchr(canon, '@');

	if (bad) {
		esc = img_util_escape_cut(tag);
		if (canon)
			img_seterr("manifest.json: RepoTags '%s': not a name:tag", esc);
		else
			img_fail("manifest.json: RepoTags '%s': %s", esc, img_errmsg());
		free(esc);
	}
	free(canon);
	return bad ? -1 : 0;
}

/* manifest.json's items: what every reader of them may take for granted. */
static int top_items(json_t *m)
{
	json_t *item, *v, *layers, *tags;
	const char *cfg;
	size_t i, j;

	if (!json_is_array(m))
		return img_fail("manifest.json: not an array");
	json_array_foreach(m, i, item) {
		tags = NULL;
		if (!json_is_object(item))
			return img_fail("manifest.json: item %zu is not an object", i);
		img_json_fold_keys(item, img_manifest_json_keys);
		if (img_json_str(item, "Config", &cfg) != 0 ||
		    img_json_arr(item, "Layers", &layers) != 0)
			return img_fail("manifest.json: item %zu: needs Config and Layers", i);
		if (img_json_arr(item, "RepoTags", &tags) < 0)
			return img_fail("manifest.json: item %zu: RepoTags is not an array", i);
		json_array_foreach(layers, j, v)
			if (!json_is_string(v))
				return img_fail("manifest.json: item %zu: Layers[%zu] is not a string",
				                i, j);
		json_array_foreach(tags, j, v)
			if (!json_is_string(v))
				return img_fail("manifest.json: item %zu: RepoTags[%zu] is not a string",
				                i, j);
		json_array_foreach(tags, j, v)
			if (top_tag(json_string_value(v)) < 0)
				return -1;
	}
	return 0;
}

int img_arcread_top(struct img_arcread *r, struct img_arcread_top *t)
{
	struct img_arcread_ent *ie, *me, *le;
	const char *v;
	json_t *j;
	int ok;

	memset(t, 0, sizeof *t);
	if (top_ent(r, "index.json", &ie) < 0 || top_ent(r, "manifest.json", &me) < 0 ||
	    top_ent(r, "oci-layout", &le) < 0)
		return -1;
	if (!ie && !me) {
		if (img_arcread_get(r, "repositories"))
			return img_fail("a legacy archive with only 'repositories' (no manifest.json) "
			                "is not supported");
		return img_fail("not an image archive (no index.json or manifest.json)");
	}
	if (le) {
		if (!(j = top_json(le, "oci-layout")))
			return -1;
		ok = json_is_object(j) && img_json_str(j, "imageLayoutVersion", &v) == 0 &&
		     strcmp(v, "1.0.0") == 0;
		json_decref(j);
		if (!ok)
			return img_fail("oci-layout: unsupported layout version (want "
			                "imageLayoutVersion 1.0.0)");
	}
	if (me && (!(t->mjson = top_json(me, "manifest.json")) || top_items(t->mjson) < 0))
		goto fail;
	if (ie) {
		if (!(t->index = top_json(ie, "index.json")))
			goto fail;
		t->manifests = json_object_get(t->index, "manifests");
		if (json_is_null(t->manifests) && me) {
			t->manifests = NULL;
		} else if (img_image_layout_index(t->index) < 0) {
			img_seterr_prefix("index.json");
			goto fail;
		}
	}
	return 0;
fail:
	img_arcread_top_release(t);
	return -1;
}

void img_arcread_top_release(struct img_arcread_top *t)
{
	json_decref(t->index);
	json_decref(t->mjson);
	memset(t, 0, sizeof *t);
}
