/* tree: in-memory flattened filesystem built by a forward merge of layers (formats.md §5). */
#include <errno.h>
#include <pthread.h>
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

struct img_tree {
	struct img_tree_node *root;
	struct img_tree_node **buckets;
	size_t nbuckets;           /* power of two */
	size_t count;              /* nodes in the hash, root included */
	unsigned gen;              /* generation of the layer being applied */
	int layer;
	img_tree_removed_fn removed;
	void *removed_arg;
};

static uint32_t path_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static struct img_tree_node *lookup(const struct img_tree *t, const char *path)
{
	uint32_t h = path_hash(path);
	struct img_tree_node *n;

	for (n = t->buckets[h & (t->nbuckets - 1)]; n; n = n->hnext)
		if (n->hash == h && strcmp(n->path, path) == 0)
			return n;
	return NULL;
}

static void hash_grow(struct img_tree *t)
{
	size_t nb = t->nbuckets * 2;
	struct img_tree_node **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < t->nbuckets; i++) {
		struct img_tree_node *n = t->buckets[i], *next;
		for (; n; n = next) {
			next = n->hnext;
			n->hnext = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

static void hash_insert(struct img_tree *t, struct img_tree_node *n)
{
	if (t->count + 1 > t->nbuckets)
		hash_grow(t);
	n->hash = path_hash(n->path);
	n->hnext = t->buckets[n->hash & (t->nbuckets - 1)];
	t->buckets[n->hash & (t->nbuckets - 1)] = n;
	t->count++;
}

static void hash_remove(struct img_tree *t, struct img_tree_node *n)
{
	struct img_tree_node **pp = &t->buckets[n->hash & (t->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			t->count--;
			return;
		}
	}
}

static void inode_unref(struct img_tree_inode *ino)
{
	if (!ino || --ino->refs)
		return;
	free(ino->link);
	free(ino->origin);
	free(ino);
}

static struct img_tree_inode *inode_new(enum img_ent_type type, const char *origin, int layer)
{
	struct img_tree_inode *ino = xcalloc(1, sizeof(*ino));

	ino->type = type;
	ino->origin = xstrdup(origin);
	ino->layer = layer;
	ino->refs = 1;
	return ino;
}

/* A new name for ino (a reference is taken) under parent. */
static struct img_tree_node *node_new(struct img_tree *t, const char *path,
                                      struct img_tree_node *parent, struct img_tree_inode *ino)
{
	struct img_tree_node *n = xcalloc(1, sizeof(*n));

	n->path = xstrdup(path);
	n->ino = ino;
	ino->refs++;
	ino->nlink++;
	n->gen = t->gen;
	n->layer = t->layer;
	n->parent = parent;
	if (parent) {
		n->next = parent->child;
		if (parent->child)
			parent->child->prev = n;
		parent->child = n;
	}
	hash_insert(t, n);
	return n;
}

static void node_free(struct img_tree_node *n)
{
	n->ino->nlink--;
	inode_unref(n->ino);
	free(n->path);
	free(n);
}

/* Remove n and its whole subtree, children first. notify: call the removed callback. */
static void node_remove(struct img_tree *t, struct img_tree_node *n, int notify)
{
	while (n->child)
		node_remove(t, n->child, notify);
	if (notify && t->removed)
		t->removed(t->removed_arg, n, n->ino->nlink == 1, t->layer);
	if (n->parent) {
		if (n->prev)
			n->prev->next = n->next;
		else
			n->parent->child = n->next;
		if (n->next)
			n->next->prev = n->prev;
	}
	hash_remove(t, n);
	node_free(n);
}

struct img_tree *img_tree_new(void)
{
	struct img_tree *t = xcalloc(1, sizeof(*t));
	struct img_tree_inode *ino;

	t->nbuckets = 1024;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	t->layer = -1;
	ino = inode_new(IMG_ENT_DIR, "", -1);
	ino->mode = 0755;
	ino->implicit = 1;
	t->root = node_new(t, "", NULL, ino);
	inode_unref(ino);
	return t;
}

void img_tree_free(struct img_tree *t)
{
	if (!t)
		return;
	node_remove(t, t->root, 0);
	free(t->buckets);
	free(t);
}

void img_tree_set_removed(struct img_tree *t, img_tree_removed_fn fn, void *arg)
{
	t->removed = fn;
	t->removed_arg = arg;
}

static struct img_tree_inode *inode_copy(struct img_tree_inode *src)
{
	struct img_tree_inode *ino;

	if (src->clone) {
		src->clone->refs++;
		return src->clone;
	}
	ino = xmalloc(sizeof(*ino));
	*ino = *src;
	ino->link = src->link ? xstrdup(src->link) : NULL;
	ino->origin = xstrdup(src->origin);
	ino->nlink = 0;
	ino->refs = 2;       /* one for the clone pointer holder (dropped below), one for us */
	ino->clone = NULL;
	src->clone = ino;
	return ino;
}

static void clone_sub(struct img_tree *dst, struct img_tree_node *dparent,
                      const struct img_tree_node *sdir)
{
	for (const struct img_tree_node *c = sdir->child; c; c = c->next) {
		struct img_tree_inode *ino = inode_copy(c->ino);
		struct img_tree_node *n = node_new(dst, c->path, dparent, ino);
		inode_unref(ino);
		n->gen = c->gen;
		n->layer = c->layer;
		clone_sub(dst, n, c);
	}
}

static void clone_reset(const struct img_tree_node *n)
{
	for (; n; n = n->next) {
		if (n->ino->clone) {
			inode_unref(n->ino->clone);   /* the extra reference of inode_copy */
			n->ino->clone = NULL;
		}
		clone_reset(n->child);
	}
}

struct img_tree *img_tree_clone(const struct img_tree *t)
{
	struct img_tree *c = xcalloc(1, sizeof(*c));
	struct img_tree_inode *ino;

	c->nbuckets = t->nbuckets;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	c->gen = t->gen;
	c->layer = t->layer;
	ino = inode_copy(t->root->ino);
	c->root = node_new(c, "", NULL, ino);
	inode_unref(ino);
	c->root->gen = t->root->gen;
	c->root->layer = t->root->layer;
	clone_sub(c, c->root, t->root);
	clone_reset(t->root);
	return c;
}

void img_tree_layer_begin(struct img_tree *t, int layer)
{
	t->gen++;
	t->layer = layer;
}

void img_tree_layer_end(struct img_tree *t)
{
	(void)t;
}

/* The directory at path[0..len) with all its parents, created implicitly (0755, 0:0, mtime 0)
 * where missing; a non-directory in the way is replaced. Every node on the way is marked as
 * touched by the current layer. */
static struct img_tree_node *ensure_dir(struct img_tree *t, const char *path, size_t len)
{
	struct img_tree_node *cur = t->root;
	char *buf;
	size_t i = 0;

	cur->gen = t->gen;
	if (len == 0)
		return cur;
	buf = xmalloc(len + 1);
	while (i < len) {
		size_t j = i;
		struct img_tree_node *n;
		while (j < len && path[j] != '/')
			j++;
		memcpy(buf, path, j);
		buf[j] = '\0';
		n = lookup(t, buf);
		if (n && n->ino->type != IMG_ENT_DIR) {
			node_remove(t, n, 1);
			n = NULL;
		}
		if (!n) {
			struct img_tree_inode *ino = inode_new(IMG_ENT_DIR, buf, t->layer);
			ino->mode = 0755;
			ino->implicit = 1;
			n = node_new(t, buf, cur, ino);
			inode_unref(ino);
		}
		n->gen = t->gen;
		cur = n;
		i = j + 1;
	}
	free(buf);
	return cur;
}

static void set_attrs(struct img_tree_inode *ino, const struct img_tree_rec *r)
{
	ino->mode = r->mode & 07777;
	ino->uid = r->uid;
	ino->gid = r->gid;
	ino->mtime = r->mtime;
	ino->has_xattrs = r->has_xattrs;
	if (r->has_xattrs)
		ino->xattrs = r->xattrs;
	ino->implicit = 0;
}

/* Remove every name under dir that the current layer did not put there. */
static void purge_lower(struct img_tree *t, struct img_tree_node *dir)
{
	struct img_tree_node *c = dir->child, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->gen != t->gen)
			node_remove(t, c, 1);
		else if (c->ino->type == IMG_ENT_DIR)
			purge_lower(t, c);
	}
}

int img_tree_apply(struct img_tree *t, const struct img_tree_rec *r)
{
	struct img_tree_node *parent, *old, *n;
	struct img_tree_inode *ino;
	const char *slash = strrchr(r->path, '/');
	size_t plen = slash ? (size_t)(slash - r->path) : 0;

	if (r->kind == IMG_TREE_WHITEOUT) {
		old = lookup(t, r->path);
		/* a whiteout never removes what the same layer added */
		if (old && old != t->root && old->gen != t->gen)
			node_remove(t, old, 1);
		return 0;
	}
	if (r->kind == IMG_TREE_OPAQUE) {
		purge_lower(t, ensure_dir(t, r->path, strlen(r->path)));
		return 0;
	}
	if (r->path[0] == '\0') {
		if (r->type == IMG_ENT_DIR) {
			set_attrs(t->root->ino, r);
			t->root->layer = t->layer;
		}
		return 0;
	}
	if (r->type == IMG_ENT_HARDLINK) {
		struct img_tree_node *target = r->link ? lookup(t, r->link) : NULL;
		if (!target || target == t->root || target->ino->type == IMG_ENT_DIR) {
			char *xp = img_escape(r->path), *xl = img_escape(r->link ? r->link : "");
			img_seterr("hard link '%s': target '%s' %s", xp, xl,
			           target && target != t->root ? "is a directory" : "not found");
			free(xp);
			free(xl);
			return -1;
		}
		ino = target->ino;
		ino->refs++;
		parent = ensure_dir(t, r->path, plen);
		old = lookup(t, r->path);
		if (old == target) {
			old->gen = t->gen;
			inode_unref(ino);
			return 0;
		}
		if (old)
			node_remove(t, old, 1);
		n = node_new(t, r->path, parent, ino);
		inode_unref(ino);
		return 0;
	}
	parent = ensure_dir(t, r->path, plen);
	old = lookup(t, r->path);
	if (old && old->ino->type == IMG_ENT_DIR && r->type == IMG_ENT_DIR) {
		set_attrs(old->ino, r);
		old->gen = t->gen;
		old->layer = t->layer;
		return 0;
	}
	if (old)
		node_remove(t, old, 1);
	ino = inode_new(r->type, r->path, t->layer);
	set_attrs(ino, r);
	ino->size = r->type == IMG_ENT_FILE ? r->size : 0;
	if (r->type == IMG_ENT_SYMLINK)
		ino->link = xstrdup(r->link ? r->link : "");
	ino->devmajor = r->devmajor;
	ino->devminor = r->devminor;
	ino->has_content = r->has_content;
	if (r->has_content)
		ino->content = r->content;
	n = node_new(t, r->path, parent, ino);
	inode_unref(ino);
	(void)n;
	return 0;
}

const struct img_tree_node *img_tree_get(const struct img_tree *t, const char *path)
{
	return lookup(t, path);
}

size_t img_tree_count(const struct img_tree *t)
{
	return t->count - 1;
}

static int cmp_node(const void *a, const void *b)
{
	const struct img_tree_node *x = *(const struct img_tree_node *const *)a;
	const struct img_tree_node *y = *(const struct img_tree_node *const *)b;
	return strcmp(x->path, y->path);
}

size_t img_tree_sorted(const struct img_tree *t, const struct img_tree_node ***out)
{
	const struct img_tree_node **v = xreallocarray(NULL, t->count ? t->count : 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < t->nbuckets; i++)
		for (const struct img_tree_node *p = t->buckets[i]; p; p = p->hnext)
			if (p != t->root)
				v[n++] = p;
	qsort(v, n, sizeof(*v), cmp_node);
	*out = v;
	return n;
}

const char *img_tree_type_name(enum img_ent_type t)
{
	switch (t) {
	case IMG_ENT_FILE: return "file";
	case IMG_ENT_DIR: return "dir";
	case IMG_ENT_SYMLINK: return "symlink";
	case IMG_ENT_HARDLINK: return "hardlink";
	case IMG_ENT_CHR: return "char";
	case IMG_ENT_BLK: return "block";
	case IMG_ENT_FIFO: return "fifo";
	default: return "other";
	}
}

/* ---- reading a layer ---- */

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
	h = img_hash_new(IMG_SHA256);
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
		img_hash_update(h, kv[i].name, strlen(kv[i].name) + 1);
		img_hash_update(h, kv[i].val, kv[i].len);
		img_hash_update(h, "\n", 1);
	}
	img_hash_final(h, &r->xattrs);
	r->has_xattrs = 1;
	img_hash_free(h);
	free(kv);
}

/* A layer is read by libarchive's tar reader. gzip, zstd and xz are decompressed by
 * common/layer.c's decoders (ISA-L for gzip) in a producer thread that fills a ring of
 * chunks, handed to libarchive without a copy; an uncompressed layer is read straight
 * from fd, and the data of an entry nobody wants is skipped by seeking. */

#define LR_CHUNK (1024 * 1024)
#define LR_NCHUNK 4
#define LR_IBUF (256 * 1024)
/* A layer may expand (decompressed, or sparse holes given back as zeros) past 1 GiB only
 * up to LR_MAX_RATIO times the bytes read from it: as img-load's default --max-ratio, so
 * a few KiB cannot keep a reader busy for hours. */
#define LR_BOMB_MIN ((uint64_t)1 << 30)
#define LR_MAX_RATIO 100


struct producer {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	enum img_comp comp;
	const unsigned char *first;     /* bytes read for sniffing, decompressed first */
	size_t first_n;
	unsigned char *chunk[LR_NCHUNK];
	size_t len[LR_NCHUNK];
	unsigned head, tail;            /* chunks [head, tail) are filled; head may be held */
	size_t cur_n;                   /* bytes in chunk[tail % N], not yet published */
	int held;                       /* the consumer holds chunk[head % N] */
	int done, failed, stop;
	int64_t raw;                    /* compressed bytes read (under mu) */
	int64_t raw_own;                /* the same, the producer's own copy */
	uint64_t out;                   /* decompressed bytes (the producer's) */
	char err[512];
};

struct lreader {
	struct archive *a;
	int fd;
	unsigned char *ibuf;
	size_t first_n;                 /* raw mode: bytes of ibuf not yet handed out */
	int64_t raw;
	struct producer *p;
	int nentries;
	char *path, *link;
	struct img_blocks blocks;       /* data blocks of the current entry */
};


/* publish the chunk being filled; mu held */
static void prod_publish(struct producer *p)
{
	p->len[p->tail % LR_NCHUNK] = p->cur_n;
	p->raw = p->raw_own;
	p->tail++;
	p->cur_n = 0;
	pthread_cond_broadcast(&p->cv);
}

static int prod_sink(void *arg, const void *buf, size_t n)
{
	struct producer *p = arg;
	const unsigned char *b = buf;

	p->out += n;
	if (p->out > LR_BOMB_MIN && p->out / LR_MAX_RATIO > (uint64_t)p->raw_own) {
		img_seterr("layer decompresses to more than %d times its size", LR_MAX_RATIO);
		return -1;
	}
	while (n > 0) {
		size_t k;
		if (p->cur_n == 0) {
			/* a free chunk to fill */
			pthread_mutex_lock(&p->mu);
			while (p->tail - p->head >= LR_NCHUNK && !p->stop)
				pthread_cond_wait(&p->cv, &p->mu);
			if (p->stop) {
				pthread_mutex_unlock(&p->mu);
				return -1;
			}
			pthread_mutex_unlock(&p->mu);
		}
		k = LR_CHUNK - p->cur_n;
		if (k > n)
			k = n;
		memcpy(p->chunk[p->tail % LR_NCHUNK] + p->cur_n, b, k);
		p->cur_n += k;
		b += k;
		n -= k;
		if (p->cur_n == LR_CHUNK) {
			pthread_mutex_lock(&p->mu);
			prod_publish(p);
			pthread_mutex_unlock(&p->mu);
		}
	}
	return 0;
}

static void *prod_main(void *arg)
{
	struct producer *p = arg;
	struct img_decomp *d = img_decomp_new(p->comp, 0, prod_sink, p);
	unsigned char *ibuf = NULL;
	int ok = 0;

	if (!d)
		goto out;
	if (img_decomp_write(d, p->first, p->first_n) < 0)
		goto out;
	ibuf = xmalloc(LR_IBUF);
	for (;;) {
		ssize_t n = read(p->fd, ibuf, LR_IBUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			img_seterr_errno("cannot read the layer");
			goto out;
		}
		if (n == 0)
			break;
		p->raw_own += n;
		if (img_decomp_write(d, ibuf, (size_t)n) < 0)
			goto out;
	}
	if (img_decomp_finish(d) < 0)
		goto out;
	ok = 1;
out:
	pthread_mutex_lock(&p->mu);
	if (!ok && !p->stop) {
		snprintf(p->err, sizeof(p->err), "%s", img_errmsg());
		p->failed = 1;
	}
	if (p->cur_n > 0 && !p->stop) {
		/* the data before the end (or the error): a free chunk is there, see prod_sink */
		prod_publish(p);
	}
	p->raw = p->raw_own;
	p->done = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	img_decomp_free(d);
	free(ibuf);
	return NULL;
}

static la_ssize_t prod_read_cb(struct archive *a, void *arg, const void **buf)
{
	struct lreader *r = arg;
	struct producer *p = r->p;
	la_ssize_t n = 0;

	pthread_mutex_lock(&p->mu);
	if (p->held) {
		p->head++;
		p->held = 0;
		pthread_cond_broadcast(&p->cv);
	}
	while (p->tail == p->head && !p->done)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->tail != p->head) {
		*buf = p->chunk[p->head % LR_NCHUNK];
		n = (la_ssize_t)p->len[p->head % LR_NCHUNK];
		p->held = 1;
	} else if (p->failed) {
		archive_set_error(a, EIO, "%s", p->err);
		n = -1;
	}
	r->raw = p->raw;
	pthread_mutex_unlock(&p->mu);
	return n;
}

static void prod_stop(struct producer *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	for (int i = 0; i < LR_NCHUNK; i++)
		free(p->chunk[i]);
	free(p);
}

static la_ssize_t raw_read_cb(struct archive *a, void *arg, const void **buf)
{
	struct lreader *r = arg;
	ssize_t n;

	if (r->first_n) {
		n = (ssize_t)r->first_n;
		r->first_n = 0;
		*buf = r->ibuf;
		return n;
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
	struct lreader *r = arg;
	struct stat st;
	off_t cur;

	(void)a;
	if (r->first_n || req <= 0 || fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode))
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

/* libarchive's private error codes (archive_platform.h) */
#ifndef ARCHIVE_ERRNO_FILE_FORMAT
#define ARCHIVE_ERRNO_FILE_FORMAT EILSEQ
#endif
#ifndef ARCHIVE_ERRNO_MISC
#define ARCHIVE_ERRNO_MISC (-1)
#endif

/* One clear line for a failure, as common/arcin.c words it. */
static void lr_seterr(struct lreader *r)
{
	const char *s = archive_error_string(r->a);
	int en = archive_errno(r->a);
	int first = r->nentries == 0;

	if (r->p && r->p->failed)
		s = r->p->err;
	if (!s)
		s = "unknown error";
	if (strstr(s, "runcated") || strstr(s, "remature end") || strstr(s, "nexpected end") ||
	    strstr(s, "nexpected EOF") || strstr(s, "No progress is possible"))
		img_seterr("truncated archive");
	else if (r->p && r->p->failed)
		img_seterr("%s", s);
	else if (first && (en == ARCHIVE_ERRNO_FILE_FORMAT || en == ARCHIVE_ERRNO_MISC ||
	                   strstr(s, "Unrecognized archive format")))
		img_seterr(r->raw == 0 ? "not a tar archive (empty input)" : "not a tar archive");
	else if (en > 0 && en != ARCHIVE_ERRNO_FILE_FORMAT)
		img_seterr("cannot read archive: %s", s);
	else
		img_seterr("invalid archive: %s", s);
}

static void lr_free(struct lreader *r)
{
	if (!r)
		return;
	if (r->a)
		archive_read_free(r->a);
	prod_stop(r->p);
	free(r->ibuf);
	free(r->path);
	free(r->link);
	free(r);
}

static struct lreader *lr_open(int fd)
{
	struct lreader *r = xcalloc(1, sizeof(*r));
	enum img_comp c;
	ssize_t n;
	int rc;

	r->fd = fd;
	r->ibuf = xmalloc(LR_CHUNK);
	do
		n = read(fd, r->ibuf, LR_IBUF);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		img_seterr_errno("cannot read the layer");
		goto fail;
	}
	r->first_n = (size_t)n;
	r->raw = n;
	c = img_comp_sniff(r->ibuf, r->first_n);
	r->a = archive_read_new();
	if (!r->a) {
		img_seterr("cannot create an archive reader");
		goto fail;
	}
	/* as common/arcin.c: in-process decompressors only (a filter inside the stream) */
	if (archive_read_support_filter_gzip(r->a) != ARCHIVE_OK ||
	    archive_read_support_filter_bzip2(r->a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(r->a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(r->a) != ARCHIVE_OK) {
		img_seterr("libarchive lacks an in-process decompressor (gzip, bzip2, xz, zstd)");
		goto fail;
	}
	if (archive_read_support_format_tar(r->a) != ARCHIVE_OK) {
		img_seterr("archive reader: %s", archive_error_string(r->a));
		goto fail;
	}
	if (c == IMG_COMP_GZIP || c == IMG_COMP_ZSTD || c == IMG_COMP_XZ || c == IMG_COMP_BZIP2) {
		struct producer *p = xcalloc(1, sizeof(*p));
		pthread_mutex_init(&p->mu, NULL);
		pthread_cond_init(&p->cv, NULL);
		p->fd = fd;
		p->comp = c;
		p->first = r->ibuf;
		p->first_n = r->first_n;
		p->raw = p->raw_own = n;
		r->first_n = 0;
		for (int i = 0; i < LR_NCHUNK; i++)
			p->chunk[i] = xmalloc(LR_CHUNK);
		if (pthread_create(&p->th, NULL, prod_main, p) != 0) {
			pthread_mutex_destroy(&p->mu);
			pthread_cond_destroy(&p->cv);
			for (int i = 0; i < LR_NCHUNK; i++)
				free(p->chunk[i]);
			free(p);
			img_seterr("cannot start a thread");
			goto fail;
		}
		r->p = p;
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

/* Bytes read from the layer's fd so far. */
static int64_t lr_raw(struct lreader *r)
{
	int64_t n;

	if (!r->p)
		return r->raw;
	pthread_mutex_lock(&r->p->mu);
	n = r->p->raw;
	pthread_mutex_unlock(&r->p->mu);
	return n;
}

/* 1 an entry, 0 the end, -1 error (img_errmsg). Names cleaned as common/arcin.c does. */
static int lr_next(struct lreader *r, struct img_arcin_entry *e)
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
	img_blocks_begin(&r->blocks, e->type == IMG_ENT_FILE ? e->size : 0);
	return 1;
}

/* The next block of the current entry's data, sparse holes as zeros: 1, 0 end, -1. */
static int lr_block(struct lreader *r, const void **buf, size_t *n)
{
	int rc = img_blocks_next(&r->blocks, r->a, r->path, buf, n);

	if (rc == -2) {
		lr_seterr(r);
		return -1;
	}
	return rc;
}

int img_tree_scan_layer_sel(int fd, const struct img_pathset *hash, img_tree_rec_fn fn,
                            void *arg)
{
	struct lreader *a;
	struct img_arcin_entry e;
	struct img_hash *h = NULL;
	int rc, ret = -1;
	char *target = NULL;
	uint64_t hashed = 0;             /* file bytes hashed, holes included */

	a = lr_open(fd);
	if (!a)
		return -1;
	h = img_hash_new(IMG_SHA256);
	if (!h)
		goto out;
	while ((rc = lr_next(a, &e)) == 1) {
		struct img_tree_rec r;
		int w;

		memset(&r, 0, sizeof(r));
		free(target);
		target = NULL;
		w = img_whiteout(e.path, &target);
		if (w < 0)
			goto out;
		if (w == 3)
			continue;
		if (w == 1 || w == 2) {
			r.kind = w == 1 ? IMG_TREE_WHITEOUT : IMG_TREE_OPAQUE;
			r.path = target;
			r.type = w == 1 ? IMG_ENT_OTHER : IMG_ENT_DIR;
			r.mode = e.mode;
			r.uid = e.uid;
			r.gid = e.gid;
			r.mtime = e.mtime;
		} else {
			r.kind = IMG_TREE_ENTRY;
			r.path = e.path;
			r.type = e.type;
			r.mode = e.mode;
			r.uid = e.uid;
			r.gid = e.gid;
			r.mtime = e.mtime;
			r.size = e.type == IMG_ENT_FILE && e.size > 0 ? e.size : 0;
			r.link = (e.type == IMG_ENT_SYMLINK || e.type == IMG_ENT_HARDLINK) ? e.link : NULL;
			if (e.type == IMG_ENT_CHR || e.type == IMG_ENT_BLK) {
				r.devmajor = (unsigned)archive_entry_rdevmajor(e.ae);
				r.devminor = (unsigned)archive_entry_rdevminor(e.ae);
			}
			hash_xattrs(e.ae, &r);
			if (e.type == IMG_ENT_FILE && (!hash || img_pathset_has(hash, e.path))) {
				const void *buf;
				size_t n;
				uint64_t total = 0;
				int b;
				img_hash_reset(h);
				while ((b = lr_block(a, &buf, &n)) == 1) {
					img_hash_update(h, buf, n);
					total += n;
					hashed += n;
					if (hashed > LR_BOMB_MIN &&
					    hashed / LR_MAX_RATIO > (uint64_t)lr_raw(a)) {
						img_seterr("%s: sparse file expands the layer more than "
						           "%d times its size", e.path, LR_MAX_RATIO);
						b = -1;
						break;
					}
				}
				if (b < 0)
					goto out;
				img_hash_final(h, &r.content);
				r.has_content = 1;
				r.size = (int64_t)total;
			}
			/* else: the data is skipped by the next header read */
		}
		if (fn(arg, &r) < 0)
			goto out;
	}
	if (rc < 0)
		goto out;
	ret = 0;
out:
	free(target);
	img_hash_free(h);
	lr_free(a);
	return ret;
}

int img_tree_scan_layer(int fd, img_tree_rec_fn fn, void *arg)
{
	return img_tree_scan_layer_sel(fd, NULL, fn, arg);
}

/* ---- a set of paths ---- */

struct img_pathset {
	char **slot;
	uint32_t *hash;
	size_t nslots;              /* power of two */
	size_t count;
};

struct img_pathset *img_pathset_new(void)
{
	struct img_pathset *s = xcalloc(1, sizeof(*s));

	s->nslots = 64;
	s->slot = xcalloc(s->nslots, sizeof(*s->slot));
	s->hash = xcalloc(s->nslots, sizeof(*s->hash));
	return s;
}

void img_pathset_free(struct img_pathset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nslots; i++)
		free(s->slot[i]);
	free(s->slot);
	free(s->hash);
	free(s);
}

static size_t pathset_find(const struct img_pathset *s, const char *path, size_t len,
                           uint32_t h)
{
	size_t i = h & (s->nslots - 1);

	for (; s->slot[i]; i = (i + 1) & (s->nslots - 1))
		if (s->hash[i] == h && strncmp(s->slot[i], path, len) == 0 && s->slot[i][len] == '\0')
			return i;
	return i;
}

static uint32_t path_hash_n(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static int pathset_add_n(struct img_pathset *s, const char *path, size_t len)
{
	uint32_t h = path_hash_n(path, len);
	size_t i = pathset_find(s, path, len, h);

	if (s->slot[i])
		return 0;
	if ((s->count + 1) * 2 > s->nslots) {
		size_t nn = s->nslots * 2;
		char **ns = xcalloc(nn, sizeof(*ns));
		uint32_t *nh = xcalloc(nn, sizeof(*nh));
		for (size_t j = 0; j < s->nslots; j++) {
			size_t k;
			if (!s->slot[j])
				continue;
			for (k = s->hash[j] & (nn - 1); ns[k]; k = (k + 1) & (nn - 1))
				;
			ns[k] = s->slot[j];
			nh[k] = s->hash[j];
		}
		free(s->slot);
		free(s->hash);
		s->slot = ns;
		s->hash = nh;
		s->nslots = nn;
		i = pathset_find(s, path, len, h);
	}
	s->slot[i] = xmalloc(len + 1);
	memcpy(s->slot[i], path, len);
	s->slot[i][len] = '\0';
	s->hash[i] = h;
	s->count++;
	return 1;
}

int img_pathset_add(struct img_pathset *s, const char *path, int parents)
{
	if (parents)
		for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/'))
			if (p > path)
				pathset_add_n(s, path, (size_t)(p - path));
	return pathset_add_n(s, path, strlen(path));
}

int img_pathset_has(const struct img_pathset *s, const char *path)
{
	size_t len = strlen(path);

	return s->slot[pathset_find(s, path, len, path_hash_n(path, len))] != NULL;
}

size_t img_pathset_count(const struct img_pathset *s)
{
	return s->count;
}

/* ---- layers in memory ---- */

struct strblock {
	struct strblock *next;
	size_t used, cap;
	char data[];
};

struct img_tree_layer {
	struct img_tree_rec *recs;
	size_t n, cap;
	struct strblock *strs;
};

static const char *layer_strdup(struct img_tree_layer *l, const char *s)
{
	size_t len = strlen(s) + 1;
	struct strblock *b = l->strs;
	char *p;

	if (!b || b->cap - b->used < len) {
		size_t cap = len > 65536 ? len : 65536;
		b = xmalloc(sizeof(*b) + cap);
		b->used = 0;
		b->cap = cap;
		b->next = l->strs;
		l->strs = b;
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	b->used += len;
	return p;
}

static int layer_collect(void *arg, const struct img_tree_rec *r)
{
	struct img_tree_layer *l = arg;
	struct img_tree_rec *c;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->recs = xreallocarray(l->recs, l->cap, sizeof(*l->recs));
	}
	c = &l->recs[l->n++];
	*c = *r;
	c->path = layer_strdup(l, r->path);
	c->link = r->link ? layer_strdup(l, r->link) : NULL;
	return 0;
}

void img_tree_layer_free(struct img_tree_layer *l)
{
	if (!l)
		return;
	while (l->strs) {
		struct strblock *b = l->strs;
		l->strs = b->next;
		free(b);
	}
	free(l->recs);
	free(l);
}

size_t img_tree_layer_count(const struct img_tree_layer *l)
{
	return l->n;
}

const struct img_tree_rec *img_tree_layer_rec(const struct img_tree_layer *l, size_t i)
{
	return i < l->n ? &l->recs[i] : NULL;
}

void img_tree_layer_paths(const struct img_tree_layer *l, struct img_pathset *s)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct img_tree_rec *r = &l->recs[i];
		if (r->kind == IMG_TREE_WHITEOUT)
			continue;
		if (r->path[0])
			img_pathset_add(s, r->path, 1);
		if (r->kind == IMG_TREE_ENTRY && r->type == IMG_ENT_HARDLINK && r->link)
			img_pathset_add(s, r->link, 1);
	}
}

int img_tree_apply_layer(struct img_tree *t, int layer, const struct img_tree_layer *l)
{
	int ret = 0;

	img_tree_layer_begin(t, layer);
	for (size_t i = 0; i < l->n && ret == 0; i++)
		ret = img_tree_apply(t, &l->recs[i]);
	img_tree_layer_end(t);
	return ret;
}

size_t img_tree_unhashed(const struct img_tree *t, const struct img_pathset *want,
                         struct img_pathset *more)
{
	size_t added = 0;

	for (size_t i = 0; i < want->nslots; i++) {
		const struct img_tree_node *n;
		if (!want->slot[i])
			continue;
		n = lookup(t, want->slot[i]);
		if (n && n->ino->type == IMG_ENT_FILE && !n->ino->has_content)
			added += (size_t)img_pathset_add(more, n->ino->origin, 0);
	}
	return added;
}

/* ---- reading several layers at once ---- */

struct pool {
	pthread_mutex_t mu;
	struct img_tree_job *jobs;
	size_t *order;              /* the biggest layers first: the last to finish starts first */
	size_t n, next;
};

static void run_job(struct img_tree_job *j)
{
	struct img_tree_layer *l = xcalloc(1, sizeof(*l));

	if (img_tree_scan_layer_sel(j->fd, j->hash, layer_collect, l) < 0) {
		j->err = xstrdup(img_errmsg());
		img_tree_layer_free(l);
		return;
	}
	j->out = l;
}

static void *pool_main(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		size_t i;
		pthread_mutex_lock(&p->mu);
		i = p->next < p->n ? p->next++ : p->n;
		pthread_mutex_unlock(&p->mu);
		if (i == p->n)
			return NULL;
		run_job(&p->jobs[p->order[i]]);
	}
}

int img_tree_read_layers(struct img_tree_job *jobs, size_t n, unsigned threads)
{
	struct pool p;
	pthread_t th[16];
	size_t nth = 0;

	for (size_t i = 0; i < n; i++) {
		jobs[i].out = NULL;
		jobs[i].err = NULL;
	}
	if (threads == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		threads = c > 0 ? (unsigned)c : 1;
	}
	if (threads > 16)
		threads = 16;
	if (threads > n)
		threads = (unsigned)n;
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	p.jobs = jobs;
	p.n = n;
	p.order = xcalloc(n + 1, sizeof(*p.order));
	{
		off_t *size = xcalloc(n + 1, sizeof(*size));
		for (size_t i = 0; i < n; i++) {
			struct stat st;
			size[i] = fstat(jobs[i].fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
			/* insertion sort: a handful of layers */
			size_t j = i;
			for (; j > 0 && size[p.order[j - 1]] < size[i]; j--)
				p.order[j] = p.order[j - 1];
			p.order[j] = i;
		}
		free(size);
	}
	/* the calling thread works too */
	for (unsigned i = 1; i < threads; i++)
		if (pthread_create(&th[nth], NULL, pool_main, &p) == 0)
			nth++;
	pool_main(&p);
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.mu);
	free(p.order);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].err)
			return -1;
	return 0;
}
