/* lread: the layer reader (see lread.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>

#include "util.h"
#include "digest.h"
#include "layer.h"
#include "arcin.h"
#include "tree.h"
#include "lread.h"
#include "pool.h"
#include "ring.h"

struct xattr_kv { const char *name; const void *val; size_t len; };

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const struct xattr_kv *)a)->name, ((const struct xattr_kv *)b)->name);
}

static void hash_xattrs(struct archive_entry *ae, struct img_tree_rec *r)
{
	struct xattr_kv *kv;
	const char *name;
	const void *val;
	size_t len, n = 0, cap;
	struct img_hash *h;

	cap = (size_t)archive_entry_xattr_reset(ae);
	if (cap == 0)
		return;
	h = img_digest_hash_new(IMG_SHA256);
	if (!h)
		return;
	kv = xreallocarray(NULL, cap, sizeof(*kv));
	while (n < cap && archive_entry_xattr_next(ae, &name, &val, &len) == ARCHIVE_OK) {
		kv[n].name = name;
		kv[n].val = val;
		kv[n].len = len;
		n++;
	}
	qsort(kv, n, sizeof(*kv), cmp_xattr);
	for (size_t i = 0; i < n; i++) {
		img_digest_hash_update(h, kv[i].name, strlen(kv[i].name) + 1);
		img_digest_hash_update(h, kv[i].val, kv[i].len);
		img_digest_hash_update(h, "\n", 1);
	}
	img_digest_hash_final(h, &r->xattrs);
	r->has_xattrs = 1;
	img_digest_hash_free(h);
	free(kv);
}

/* A layer is read by libarchive's tar reader. gzip, zstd, xz and bzip2 are decompressed
 * by common/layer.c's decoders (ISA-L for gzip) in a task of an img_pool that fills an
 * img_ring of chunks, handed to libarchive without a copy; an uncompressed layer is read
 * straight from fd (the data of an entry nobody wants skipped by seeking), or handed to
 * libarchive block by block as the caller's source gives them. */

#define LR_CHUNK (1024 * 1024)
#define LR_NCHUNK 4
#define LR_IBUF (256 * 1024)
/* Each chunk starts with the compressed bytes read when it was filled. */
#define LR_HDR 64
/* A layer may expand past IMG_LAYER_BOMB_MIN (layer.h) only up to LR_MAX_RATIO times the
 * bytes read from it: as img-load's default --max-ratio, so that a few KiB cannot keep a
 * reader busy for hours. */
#define LR_MAX_RATIO 100

/* The decompressing task and what it shares with the reader through the ring. */
struct producer {
	struct img_ring *ring;
	struct img_pool *pool;
	int fd;                         /* or -1: src */
	const struct img_lread_src *src;
	enum img_comp comp;
	const unsigned char *first;     /* bytes read for sniffing, decompressed first */
	size_t first_n;
	size_t cur_n;                   /* bytes in the slot being filled */
	int64_t raw;                    /* compressed bytes read */
	uint64_t out;                   /* decompressed bytes */
	/* set before the end of the stream, read after it */
	int failed;
	char err[512];
	/* the reader's */
	int held;                       /* it holds a slot */
	int seen_failed;                /* it saw the end after a failure */
};

struct img_lread {
	struct archive *a;
	int fd;                         /* or -1: src */
	struct img_lread_src src;
	unsigned char *ibuf;            /* fd: what is read */
	const unsigned char *first;     /* the bytes read for sniffing (ibuf, or src's block) */
	size_t first_n;                 /* raw mode: bytes of first not yet handed out */
	int64_t raw;
	struct producer *p;
	uint64_t given;                 /* file data handed out, sparse holes included */
	int nentries;
	char *path, *link;
	struct img_blocks blocks;       /* data blocks of the current entry */
	char *target;                   /* a whiteout's target */
	struct window *win;             /* img_lread_open_at's source */
};


/* ---- a blob read back from a part of a file (img_lread_open_at) ----
 *
 * Read with pread into the slots of a ring, each handed to the reader of the layer and
 * hashed by a task of its own meanwhile (a slot put stays the producer's to read until
 * it asks for the next one: ring.h); the digest is compared once the part is read. */

#define WIN_NSLOT 4

struct window {
	int fd;
	int64_t pos, end;
	struct img_hash *h;
	struct img_digest want;
	struct img_ring *ring;          /* consumer 0: the hashing task */
	struct img_pool *pool;          /* its thread (NULL: hashed as read) */
	int ended;                      /* the ring ended, the task waited for */
	int checked;                    /* the digest was compared: 1 equal, -1 not */
};

static int window_hash(void *arg, size_t item, unsigned worker)
{
	struct window *w = arg;

	(void)item;
	(void)worker;
	return img_ring_consume(w->ring, 0, img_digest_hash_sink, w->h);
}

static void window_free(struct window *w)
{
	if (!w)
		return;
	if (w->pool && !w->ended) {
		/* the hashing task stops with the caller's img_errmsg(), which the wait gives
		 * back unchanged */
		img_ring_stop(w->ring);
		(void)img_pool_wait(w->pool);
	}
	img_pool_free(w->pool);
	img_ring_free(w->ring);
	img_digest_hash_free(w->h);
	free(w);
}

/* An img_lread_src: the next block of the part; at its end the digest is compared, once. */
static int window_next(void *arg, const void **b, size_t *n)
{
	struct window *w = arg;
	void *slot;
	size_t want;
	ssize_t k;

	if (w->pos >= w->end) {
		if (!w->checked) {
			struct img_digest got;
			if (w->pool) {
				int rc = img_ring_end(w->ring);
				w->ended = 1;
				if (img_pool_wait(w->pool) < 0 || rc < 0)
					return -1;
			}
			img_digest_hash_final(w->h, &got);
			w->checked = img_digest_eq(&got, &w->want) ? 1 : -1;
		}
		if (w->checked > 0)
			return 0;
		img_seterr("the archive changed while it was read (%s)", w->want.str);
		return -1;
	}
	if (img_ring_slot(w->ring, &slot) < 0)
		return -1;
	want = img_ring_slot_size(w->ring);
	if ((int64_t)want > w->end - w->pos)
		want = (size_t)(w->end - w->pos);
	do
		k = pread(w->fd, slot, want, (off_t)w->pos);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		img_seterr_errno("cannot read the layer");
		return -1;
	}
	if (k == 0) {
		img_seterr("the archive changed while it was read (%s)", w->want.str);
		return -1;
	}
	if (w->pool) {
		if (img_ring_put(w->ring, (size_t)k) < 0)
			return -1;
	} else {
		img_digest_hash_update(w->h, slot, (size_t)k);
	}
	w->pos += k;
	*b = slot;
	*n = (size_t)k;
	return 1;
}

/* Publish the slot being filled, with the bytes read so far in its header. */
static int prod_publish(struct producer *p)
{
	void *slot;

	if (img_ring_slot(p->ring, &slot) < 0)
		return -1;
	memcpy(slot, &p->raw, sizeof(p->raw));
	if (img_ring_put(p->ring, LR_HDR + p->cur_n) < 0)
		return -1;
	p->cur_n = 0;
	return 0;
}

static int prod_sink(void *arg, const void *buf, size_t n)
{
	struct producer *p = arg;
	const unsigned char *b = buf;

	p->out += n;
	if (p->out > IMG_LAYER_BOMB_MIN && p->out / LR_MAX_RATIO > (uint64_t)p->raw) {
		img_seterr("layer decompresses to more than %d times its size", LR_MAX_RATIO);
		return -1;
	}
	while (n > 0) {
		void *slot;
		size_t k = LR_CHUNK - p->cur_n;
		if (img_ring_slot(p->ring, &slot) < 0)   /* waits for a free one */
			return -1;
		if (k > n)
			k = n;
		memcpy((unsigned char *)slot + LR_HDR + p->cur_n, b, k);
		p->cur_n += k;
		b += k;
		n -= k;
		if (p->cur_n == LR_CHUNK && prod_publish(p) < 0)
			return -1;
	}
	return 0;
}

/* The next compressed bytes for the task: 1, 0 at the end, -1 (img_errmsg). */
static int prod_read(struct producer *p, unsigned char *ibuf, const void **b, size_t *n)
{
	ssize_t k;

	if (p->src)
		return p->src->next(p->src->arg, b, n);
	do
		k = read(p->fd, ibuf, LR_IBUF);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		img_seterr_errno("cannot read the layer");
		return -1;
	}
	*b = ibuf;
	*n = (size_t)k;
	return k > 0;
}

/* The task: decompress fd (or src) into the ring; a failure ends the stream after the
 * data before it, with the reason in p->err (a stop by the reader ends it at once). */
static int prod_main(void *arg, size_t item, unsigned worker)
{
	struct producer *p = arg;
	struct img_decomp *d = img_comp_dec_new(p->comp, 0, prod_sink, p);
	unsigned char *ibuf = NULL;
	const void *b;
	size_t n;
	int ok = 0, k;

	(void)item;
	(void)worker;
	if (!d)
		goto out;
	if (img_comp_dec_write(d, p->first, p->first_n) < 0)
		goto out;
	if (!p->src)
		ibuf = xmalloc(LR_IBUF);
	while ((k = prod_read(p, ibuf, &b, &n)) > 0) {
		p->raw += (int64_t)n;
		if (img_comp_dec_write(d, b, n) < 0)
			goto out;
	}
	if (k < 0)
		goto out;
	if (img_comp_dec_finish(d) < 0)
		goto out;
	ok = 1;
out:
	img_comp_dec_free(d);
	free(ibuf);
	if (!ok) {
		snprintf(p->err, sizeof(p->err), "%s", img_errmsg());
		p->failed = 1;
	}
	/* the data before the end (or the error), then the end: a stop makes both fail */
	if (p->cur_n > 0 && prod_publish(p) < 0)
		return 0;
	(void)img_ring_end(p->ring);
	return 0;
}

static la_ssize_t prod_read_cb(struct archive *a, void *arg, const void **buf)
{
	struct img_lread *r = arg;
	struct producer *p = r->p;
	const void *slot;
	size_t len;
	int rc;

	if (p->held) {
		img_ring_release(p->ring, 0);
		p->held = 0;
	}
	rc = img_ring_take(p->ring, 0, &slot, &len);
	if (rc == 1) {
		memcpy(&r->raw, slot, sizeof(r->raw));
		*buf = (const unsigned char *)slot + LR_HDR;
		p->held = 1;
		return (la_ssize_t)(len - LR_HDR);
	}
	if (rc == 0 && !p->failed)
		return 0;
	p->seen_failed = rc == 0;
	archive_set_error(a, EIO, "%s", rc == 0 ? p->err : img_errmsg());
	return -1;
}

static void prod_stop(struct producer *p)
{
	if (!p)
		return;
	img_ring_stop(p->ring);          /* a task still filling the ring stops */
	img_pool_free(p->pool);
	img_ring_free(p->ring);
	free(p);
}

static la_ssize_t raw_read_cb(struct archive *a, void *arg, const void **buf)
{
	struct img_lread *r = arg;
	ssize_t n;

	if (r->first_n) {
		n = (ssize_t)r->first_n;
		r->first_n = 0;
		*buf = r->first;
		return n;
	}
	if (r->fd < 0) {
		size_t bn;
		int k = r->src.next(r->src.arg, buf, &bn);
		if (k < 0) {
			archive_set_error(a, EIO, "%s", img_errmsg());
			return -1;
		}
		if (k == 0)
			return 0;
		r->raw += (int64_t)bn;
		return (la_ssize_t)bn;
	}
	do
		n = read(r->fd, r->ibuf, LR_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	r->raw += n;
	*buf = r->ibuf;
	return n;
}

/* Skip by seeking in a regular file; 0 (libarchive then reads) where that cannot be. */
static la_int64_t raw_skip_cb(struct archive *a, void *arg, la_int64_t req)
{
	struct img_lread *r = arg;
	struct stat st;
	off_t cur;

	(void)a;
	if (r->fd < 0 || r->first_n || req <= 0 || fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	cur = lseek(r->fd, 0, SEEK_CUR);
	if (cur < 0 || cur >= st.st_size)
		return 0;
	if (req > st.st_size - cur)
		req = st.st_size - cur;
	if (lseek(r->fd, (off_t)req, SEEK_CUR) < 0)
		return 0;
	r->raw += req;
	return req;
}

/* One clear line for a failure, as common/arcin.c words it (the producer's own failure
 * as it said it). */
static void lr_seterr(struct img_lread *r)
{
	const char *why = r->p && r->p->seen_failed ? r->p->err : NULL;

	img_arcin_seterr_from(r->a, why, r->nentries == 0, r->raw == 0);
}

static void window_free(struct window *w);

static void lr_free(struct img_lread *r)
{
	if (!r)
		return;
	if (r->a)
		archive_read_free(r->a);
	prod_stop(r->p);
	window_free(r->win);
	free(r->ibuf);
	free(r->path);
	free(r->link);
	free(r->target);
	free(r);
}

static struct img_lread *lr_open(int fd, const struct img_lread_src *src)
{
	struct img_lread *r = xcalloc(1, sizeof(*r));
	enum img_comp c;
	ssize_t n;
	int rc;

	r->fd = fd;
	if (src) {
		const void *b;
		size_t bn = 0;
		r->src = *src;
		if (src->next(src->arg, &b, &bn) < 0)
			goto fail;
		r->first = b;
		n = (ssize_t)bn;
	} else {
		r->ibuf = xmalloc(LR_CHUNK);
		r->first = r->ibuf;
		do
			n = read(fd, r->ibuf, LR_IBUF);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			img_seterr_errno("cannot read the layer");
			goto fail;
		}
	}
	r->first_n = (size_t)n;
	r->raw = n;
	c = img_comp_sniff(r->first, r->first_n);
	/* in-process decompressors too: for a filter inside the stream */
	if (!(r->a = img_arcin_la_new(0)))
		goto fail;
	if (c == IMG_COMP_GZIP || c == IMG_COMP_ZSTD || c == IMG_COMP_XZ || c == IMG_COMP_BZIP2) {
		struct producer *p = xcalloc(1, sizeof(*p));
		p->fd = fd;
		p->src = src ? &r->src : NULL;
		p->comp = c;
		p->first = r->first;
		p->first_n = r->first_n;
		p->raw = n;
		r->first_n = 0;
		p->ring = img_ring_new(LR_NCHUNK, LR_HDR + LR_CHUNK, 1);
		p->pool = img_pool_new(1, "img-lread");
		r->p = p;
		if (img_pool_threads(p->pool) != 1) {
			img_seterr("cannot start a thread");
			goto fail;
		}
		img_ring_open(p->ring, 1);
		img_pool_add(p->pool, prod_main, p, 0);
		rc = archive_read_open(r->a, r, NULL, prod_read_cb, NULL);
	} else {
		rc = archive_read_open2(r->a, r, NULL, raw_read_cb, raw_skip_cb, NULL);
	}
	if (rc != ARCHIVE_OK) {
		lr_seterr(r);
		goto fail;
	}
	return r;
fail:
	lr_free(r);
	return NULL;
}

/* 1 an entry, 0 the end, -1 error (img_errmsg). Names cleaned as common/arcin.c does. */
static int lr_next(struct img_lread *r, struct img_arcin_entry *e)
{
	struct archive_entry *ae;
	int rc;

	memset(e, 0, sizeof(*e));
	free(r->path);
	free(r->link);
	r->path = r->link = NULL;
	rc = archive_read_next_header(r->a, &ae);
	if (rc == ARCHIVE_EOF) {
		if (r->nentries == 0 && r->raw == 0) {
			img_seterr("not a tar archive (empty input)");
			return -1;
		}
		return 0;
	}
	if (rc < ARCHIVE_WARN) {
		lr_seterr(r);
		return -1;
	}
	if (img_arcin_entry_from(ae, IMG_ARCIN_STRIP_ABS, r->nentries + 1, &r->path, &r->link,
	                         e) < 0)
		return -1;
	r->nentries++;
	img_arcin_blocks_begin(&r->blocks, e->type == IMG_ENT_FILE ? e->size : 0);
	return 1;
}

/* The next block of the current entry's data, sparse holes as zeros: 1, 0 end, -1. */
static int lr_block(struct img_lread *r, const void **buf, size_t *n)
{
	int rc = img_arcin_blocks_next(&r->blocks, r->a, r->path, buf, n);

	if (rc == -2) {
		lr_seterr(r);
		return -1;
	}
	if (rc == 1) {
		r->given += *n;
		if (r->given > IMG_LAYER_BOMB_MIN && r->given / LR_MAX_RATIO > (uint64_t)r->raw) {
			char *x = img_util_escape_cut(r->path);
			img_seterr("%s: sparse files expand the layer more than %d times its size", x,
			           LR_MAX_RATIO);
			free(x);
			return -1;
		}
	}
	return rc;
}


int img_lread_open(int fd, struct img_lread **out)
{
	*out = lr_open(fd, NULL);
	return *out ? 0 : -1;
}

int img_lread_open_src(const struct img_lread_src *src, struct img_lread **out)
{
	*out = lr_open(-1, src);
	return *out ? 0 : -1;
}

int img_lread_open_at(int fd, int64_t off, int64_t len, const struct img_digest *blob,
                      struct img_lread **out)
{
	struct window *w = xcalloc(1, sizeof(*w));
	struct img_lread_src src = { window_next, w };

	w->fd = fd;
	w->pos = off;
	w->end = off + len;
	w->want = *blob;
	w->ring = img_ring_new(WIN_NSLOT, LR_CHUNK, 1);
	if (!(w->h = img_digest_hash_new(blob->alg))) {
		window_free(w);
		*out = NULL;
		return -1;
	}
	w->pool = img_pool_new(1, "img-lread-hash");
	if (img_pool_threads(w->pool) != 1) {
		img_pool_free(w->pool);
		w->pool = NULL;   /* hashed as it is read */
	} else {
		img_ring_open(w->ring, 1);
		img_pool_add(w->pool, window_hash, w, 0);
	}
	*out = lr_open(-1, &src);
	if (!*out) {
		window_free(w);
		return -1;
	}
	(*out)->win = w;
	return 0;
}

int img_lread_end(struct img_lread *r)
{
	struct producer *p = r->p;
	const void *b;
	size_t n;
	int k;

	if (!r->win)
		return 0;
	if (p) {
		/* the decompressing task reads on until its input or the decoder ends: let it
		 * finish (what it still makes is not wanted), then read what it left */
		if (p->held)
			img_ring_release(p->ring, 0);
		p->held = 0;
		while (img_ring_take(p->ring, 0, &b, &n) > 0)
			img_ring_release(p->ring, 0);
	}
	while ((k = window_next(r->win, &b, &n)) > 0)
		;
	return k;
}

int img_lread_next(struct img_lread *a, struct img_tree_rec *r, struct img_arcin_entry *out)
{
	struct img_arcin_entry e;
	int rc, w;

	for (;;) {
		rc = lr_next(a, &e);
		if (rc <= 0)
			return rc;
		memset(r, 0, sizeof(*r));
		free(a->target);
		a->target = NULL;
		w = img_layer_whiteout(e.path, &a->target);
		if (w < 0)
			return -1;
		if (w != 3)
			break;
	}
	if (out)
		*out = e;
	r->mode = e.mode;
	r->uid = e.uid;
	r->gid = e.gid;
	r->mtime = e.mtime;
	if (w == 1 || w == 2) {
		r->kind = w == 1 ? IMG_TREE_WHITEOUT : IMG_TREE_OPAQUE;
		r->path = a->target;
		r->type = w == 1 ? IMG_ENT_OTHER : IMG_ENT_DIR;
		return 1;
	}
	r->kind = IMG_TREE_ENTRY;
	r->path = e.path;
	r->type = e.type;
	r->size = e.type == IMG_ENT_FILE && e.size > 0 ? e.size : 0;
	r->link = (e.type == IMG_ENT_SYMLINK || e.type == IMG_ENT_HARDLINK) ? e.link : NULL;
	if (e.type == IMG_ENT_CHR || e.type == IMG_ENT_BLK) {
		r->devmajor = (unsigned)archive_entry_rdevmajor(e.ae);
		r->devminor = (unsigned)archive_entry_rdevminor(e.ae);
	}
	hash_xattrs(e.ae, r);
	return 1;
}

int img_lread_block(struct img_lread *r, const void **buf, size_t *n)
{
	return lr_block(r, buf, n);
}

int img_lread_entry_number(const struct img_lread *r)
{
	return r->nentries;
}

void img_lread_free(struct img_lread *r)
{
	lr_free(r);
}
