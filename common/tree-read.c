/* tree-read: layers read into records (several at once, on an img_pool), and sets of
 * paths (see tree.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "digest.h"
#include "htab.h"
#include "pool.h"
#include "ring.h"
#include "tree.h"
#include "tree-int.h"
#include "lread.h"

int img_tree_read_scan_lread(struct img_lread *a, const struct img_pathset *hash, img_tree_rec_fn fn,
                             void *arg)
{
	struct img_tree_rec r;
	struct img_hash *h = NULL;
	int rc, ret = -1;

	h = img_digest_hash_new(IMG_SHA256);
	if (!h)
		goto out;
	while ((rc = img_lread_next(a, &r, NULL)) == 1) {
		if (r.kind == IMG_TREE_ENTRY && r.type == IMG_ENT_FILE &&
		    (!hash || img_tree_read_pathset_has(hash, r.path))) {
			const void *buf;
			size_t n;
			uint64_t total = 0;
			int b;
			img_digest_hash_reset(h);
			while ((b = img_lread_block(a, &buf, &n)) == 1) {
				img_digest_hash_update(h, buf, n);
				total += n;
			}
			if (b < 0)
				goto out;
			img_digest_hash_final(h, &r.content);
			r.has_content = 1;
			r.size = (int64_t)total;
		}
		/* else: the data is skipped by the next header read */
		if (fn(arg, &r) < 0)
			goto out;
	}
	if (rc < 0)
		goto out;
	ret = 0;
out:
	img_digest_hash_free(h);
	return ret;
}

int img_tree_read_scan_part(int fd, const struct img_tree_part *part, const struct img_pathset *hash,
                            img_tree_rec_fn fn, void *arg)
{
	struct img_lread *a;
	int ret;

	if ((part && part->blob ? img_lread_open_at(fd, part->off, part->len, part->blob, &a)
	                        : img_lread_open(fd, &a)) < 0)
		return -1;
	ret = img_tree_read_scan_lread(a, hash, fn, arg);
	if (ret == 0)
		ret = img_lread_end(a);
	img_lread_free(a);
	return ret;
}

int img_tree_read_scan_layer_sel(int fd, const struct img_pathset *hash, img_tree_rec_fn fn,
                                 void *arg)
{
	return img_tree_read_scan_part(fd, NULL, hash, fn, arg);
}

int img_tree_read_scan_layer(int fd, img_tree_rec_fn fn, void *arg)
{
	return img_tree_read_scan_layer_sel(fd, NULL, fn, arg);
}

/* ---- a set of paths: the strings in an arena, indexed by img_htab ---- */

struct img_pathset {
	const char **path;
	size_t n, cap;
	struct img_htab index;
	struct img_tree_arena *names;
};

struct img_pathset *img_tree_read_pathset_new(void)
{
	struct img_pathset *s = xcalloc(1, sizeof(*s));

	s->names = img_tree_arena_new();
	return s;
}

void img_tree_read_pathset_free(struct img_pathset *s)
{
	if (!s)
		return;
	free(s->path);
	img_htab_clear(&s->index);
	img_tree_arena_unref(s->names);
	free(s);
}

struct pkey { const char *s; size_t len; };

static int pathset_eq(size_t idx, const void *key, const void *arg)
{
	const struct img_pathset *s = arg;
	const struct pkey *k = key;

	return strncmp(s->path[idx], k->s, k->len) == 0 && s->path[idx][k->len] == '\0';
}

/* The index of path[0..len) in s, or IMG_HTAB_NONE. */
static size_t pathset_find_n(const struct img_pathset *s, const char *path, size_t len)
{
	struct pkey k = { path, len };

	return img_htab_find(&s->index, img_htab_fnv(path, len), pathset_eq, &k, s);
}

/* The index of path[0..len) in s, added when missing (*added: whether it was). */
static size_t pathset_put_n(struct img_pathset *s, const char *path, size_t len, int *added)
{
	size_t i = pathset_find_n(s, path, len);

	*added = i == IMG_HTAB_NONE;
	if (!*added)
		return i;
	IMG_GROW(s->path, s->n + 1, s->cap);
	s->path[s->n] = img_tree_arena_strndup(s->names, path, len);
	img_htab_add(&s->index, img_htab_fnv(path, len), s->n);
	return s->n++;
}

static int pathset_add_n(struct img_pathset *s, const char *path, size_t len)
{
	int added;

	(void)pathset_put_n(s, path, len, &added);
	return added;
}

int img_tree_read_pathset_add(struct img_pathset *s, const char *path, int parents)
{
	if (parents)
		for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/'))
			if (p > path)
				pathset_add_n(s, path, (size_t)(p - path));
	return pathset_add_n(s, path, strlen(path));
}

int img_tree_read_pathset_has(const struct img_pathset *s, const char *path)
{
	return pathset_find_n(s, path, strlen(path)) != IMG_HTAB_NONE;
}

size_t img_tree_read_pathset_count(const struct img_pathset *s)
{
	return s->n;
}

/* ---- what the layers above hide: per path, the highest layer that does each thing ---- */

struct cover_ent {
	int rm;     /* whites out the path or puts a non-directory there */
	int opq;    /* makes it an opaque directory */
	int dir;    /* puts a directory there, listed or implied */
	int hl;     /* has a hard link to it */
};

struct img_tree_cover {
	struct img_pathset *paths;      /* entry i of e is path i of the set */
	struct cover_ent *e;
	size_t cap;
};

struct img_tree_cover *img_tree_read_cover_new(void)
{
	struct img_tree_cover *c = xcalloc(1, sizeof(*c));

	c->paths = img_tree_read_pathset_new();
	return c;
}

void img_tree_read_cover_free(struct img_tree_cover *c)
{
	if (!c)
		return;
	img_tree_read_pathset_free(c->paths);
	free(c->e);
	free(c);
}

static struct cover_ent *cover_at(struct img_tree_cover *c, const char *path, size_t len)
{
	int added;
	size_t i = pathset_put_n(c->paths, path, len, &added);

	if (added) {
		IMG_GROW(c->e, i + 1, c->cap);
		c->e[i] = (struct cover_ent){ -1, -1, -1, -1 };
	}
	return &c->e[i];
}

static void raise_to(int *v, int layer)
{
	if (*v < layer)
		*v = layer;
}

void img_tree_read_cover_add(struct img_tree_cover *c, int layer, const struct img_tree_rec *r)
{
	size_t len = strlen(r->path);

	/* a name implies its parents are directories; a whiteout does not (nothing is
	 * made when they are not) */
	if (r->kind != IMG_TREE_WHITEOUT)
		for (const char *p = strchr(r->path, '/'); p; p = strchr(p + 1, '/'))
			raise_to(&cover_at(c, r->path, (size_t)(p - r->path))->dir, layer);
	if (r->kind == IMG_TREE_OPAQUE) {
		struct cover_ent *e = cover_at(c, r->path, len);
		raise_to(&e->opq, layer);
		raise_to(&e->dir, layer);
		return;
	}
	if (len == 0)
		return;             /* the root is never replaced */
	if (r->kind == IMG_TREE_WHITEOUT || r->type != IMG_ENT_DIR)
		raise_to(&cover_at(c, r->path, len)->rm, layer);
	else
		raise_to(&cover_at(c, r->path, len)->dir, layer);
	if (r->kind == IMG_TREE_ENTRY && r->type == IMG_ENT_HARDLINK && r->link)
		raise_to(&cover_at(c, r->link, strlen(r->link))->hl, layer);
}

static const struct cover_ent *cover_get(const struct img_tree_cover *c, const char *path,
                                         size_t len)
{
	size_t i = pathset_find_n(c->paths, path, len);

	return i == IMG_HTAB_NONE ? NULL : &c->e[i];
}

int img_tree_read_cover_hides(const struct img_tree_cover *c, int layer, const char *path, int dir)
{
	size_t len = strlen(path);
	const struct cover_ent *e;

	if (len == 0)
		return 0;
	e = cover_get(c, path, len);
	if (e && (e->rm > layer || (!dir && e->dir > layer)))
		return 1;
	/* the parents, the root first */
	e = cover_get(c, path, 0);
	if (e && e->opq > layer)
		return 1;
	for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
		e = cover_get(c, path, (size_t)(p - path));
		if (e && (e->rm > layer || e->opq > layer))
			return 1;
	}
	return 0;
}

int img_tree_read_cover_linked(const struct img_tree_cover *c, int layer, const char *path)
{
	const struct cover_ent *e = cover_get(c, path, strlen(path));

	return e && e->hl > layer;
}

/* ---- layers in memory: each record packed into a few bytes of an arena ----
 *
 * A record: a flags byte (the kind, content, xattrs, link, device), the type, then
 * mode, uid, gid, size, mtime (zigzag) and the device numbers as varints, the 32 bytes
 * of each digest, the path and the link with their NULs. */

enum { R_CONTENT = 4, R_XATTRS = 8, R_LINK = 16, R_DEV = 32 };

struct img_tree_layer {
	const unsigned char **rec;
	size_t n, cap;
	struct img_tree_arena *bytes;
	struct img_tree_rec scratch;   /* img_tree_read_layer_rec's */
};

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

static const unsigned char *get_varint(const unsigned char *p, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned sh = 0;; sh += 7) {
		x |= (uint64_t)(*p & 0x7f) << sh;
		if (!(*p++ & 0x80))
			break;
	}
	*v = x;
	return p;
}

static uint64_t zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzz(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int layer_collect(void *arg, const struct img_tree_rec *r)
{
	struct img_tree_layer *l = arg;
	size_t plen = strlen(r->path) + 1, llen = r->link ? strlen(r->link) + 1 : 0;
	unsigned char tmp[3 + 7 * 10 + 64], *p = tmp, *dst;
	int dev = r->devmajor || r->devminor;

	*p++ = (unsigned char)(r->kind | (r->has_content ? R_CONTENT : 0) |
	                       (r->has_xattrs ? R_XATTRS : 0) | (r->link ? R_LINK : 0) |
	                       (dev ? R_DEV : 0));
	*p++ = (unsigned char)r->type;
	p = put_varint(p, (uint64_t)r->mode);
	p = put_varint(p, zz(r->uid));
	p = put_varint(p, zz(r->gid));
	p = put_varint(p, zz(r->size));
	p = put_varint(p, zz(r->mtime));
	if (dev) {
		p = put_varint(p, r->devmajor);
		p = put_varint(p, r->devminor);
	}
	if (r->has_content) {
		img_tree_digest_bytes(&r->content, p);
		p += 32;
	}
	if (r->has_xattrs) {
		img_tree_digest_bytes(&r->xattrs, p);
		p += 32;
	}
	dst = img_tree_arena_alloc(l->bytes, (size_t)(p - tmp) + plen + llen);
	memcpy(dst, tmp, (size_t)(p - tmp));
	memcpy(dst + (p - tmp), r->path, plen);
	if (llen)
		memcpy(dst + (p - tmp) + plen, r->link, llen);
	IMG_GROW(l->rec, l->n + 1, l->cap);
	l->rec[l->n++] = dst;
	return 0;
}

static void layer_decode(const unsigned char *p, struct crec *c)
{
	unsigned f = *p++;
	uint64_t v;

	memset(c, 0, sizeof(*c));
	c->kind = (enum img_tree_kind)(f & 3);
	c->type = (enum img_ent_type)*p++;
	p = get_varint(p, &v);
	c->mode = (mode_t)v;
	p = get_varint(p, &v);
	c->uid = unzz(v);
	p = get_varint(p, &v);
	c->gid = unzz(v);
	p = get_varint(p, &v);
	c->size = unzz(v);
	p = get_varint(p, &v);
	c->mtime = unzz(v);
	if (f & R_DEV) {
		p = get_varint(p, &v);
		c->devmajor = (unsigned)v;
		p = get_varint(p, &v);
		c->devminor = (unsigned)v;
	}
	if (f & R_CONTENT) {
		c->content = p;
		p += 32;
	}
	if (f & R_XATTRS) {
		c->xattrs = p;
		p += 32;
	}
	c->path = (const char *)p;
	if (f & R_LINK)
		c->link = c->path + strlen(c->path) + 1;
}

void img_tree_read_layer_free(struct img_tree_layer *l)
{
	if (!l)
		return;
	img_tree_arena_unref(l->bytes);
	free(l->rec);
	free(l);
}

size_t img_tree_read_layer_count(const struct img_tree_layer *l)
{
	return l->n;
}

static void digest_from(const unsigned char b[32], struct img_digest *out)
{
	struct img_tree_inode x;

	x.content = b;
	img_tree_inode_content(&x, out);
}

static void rec_decode(const unsigned char *p, struct img_tree_rec *r)
{
	struct crec c;

	layer_decode(p, &c);
	memset(r, 0, sizeof(*r));
	r->kind = c.kind;
	r->path = c.path;
	r->type = c.type;
	r->mode = c.mode;
	r->uid = c.uid;
	r->gid = c.gid;
	r->size = c.size;
	r->mtime = c.mtime;
	r->link = c.link;
	r->devmajor = c.devmajor;
	r->devminor = c.devminor;
	r->has_xattrs = c.xattrs != NULL;
	if (c.xattrs)
		digest_from(c.xattrs, &r->xattrs);
	r->has_content = c.content != NULL;
	if (c.content)
		digest_from(c.content, &r->content);
}

const struct img_tree_rec *img_tree_read_layer_rec(struct img_tree_layer *l, size_t i)
{
	if (i >= l->n)
		return NULL;
	rec_decode(l->rec[i], &l->scratch);
	return &l->scratch;
}

int img_tree_read_layer_each(const struct img_tree_layer *l, img_tree_rec_fn fn, void *arg)
{
	struct img_tree_rec r;

	for (size_t i = 0; i < l->n; i++) {
		rec_decode(l->rec[i], &r);
		if (fn(arg, &r) < 0)
			return -1;
	}
	return 0;
}

void img_tree_read_layer_paths(const struct img_tree_layer *l, struct img_pathset *s)
{
	for (size_t i = 0; i < l->n; i++) {
		struct crec r;
		layer_decode(l->rec[i], &r);
		if (r.kind == IMG_TREE_WHITEOUT)
			continue;
		if (r.path[0])
			img_tree_read_pathset_add(s, r.path, 1);
		if (r.kind == IMG_TREE_ENTRY && r.type == IMG_ENT_HARDLINK && r.link)
			img_tree_read_pathset_add(s, r.link, 1);
	}
}

int img_tree_read_apply_layer(struct img_tree *t, int layer, const struct img_tree_layer *l)
{
	int ret = 0;

	img_tree_layer_begin(t, layer);
	for (size_t i = 0; i < l->n && ret == 0; i++) {
		struct crec r;
		layer_decode(l->rec[i], &r);
		ret = img_tree_apply_c(t, &r);
	}
	img_tree_layer_end(t);
	return ret;
}

size_t img_tree_read_unhashed(const struct img_tree *t, const struct img_pathset *want,
                              struct img_pathset *more)
{
	size_t added = 0;

	for (size_t i = 0; i < want->n; i++) {
		const struct img_tree_node *n = img_tree_get(t, want->path[i]);
		if (n && n->ino->type == IMG_ENT_FILE && !n->ino->has_content)
			added += (size_t)img_tree_read_pathset_add(more, n->ino->origin, 0);
	}
	return added;
}

/* ---- reading several layers at once: tasks of an img_pool ---- */

static struct img_tree_layer *layer_new(void)
{
	struct img_tree_layer *l = xcalloc(1, sizeof(*l));

	l->bytes = img_tree_arena_new();
	return l;
}

struct jobs {
	struct img_tree_job *jobs;
	const struct img_tree_part *parts;
};

/* One layer; its failure is the job's, not the pool's: the others go on. */
static int read_job(void *arg, size_t i, unsigned worker)
{
	struct jobs *js = arg;
	struct img_tree_job *j = &js->jobs[i];
	struct img_tree_layer *l = layer_new();

	(void)worker;
	if (img_tree_read_scan_part(j->fd, js->parts ? &js->parts[i] : NULL, j->hash, layer_collect,
	                            l) < 0) {
		j->err = xstrdup(img_errmsg());
		img_tree_read_layer_free(l);
		return 0;
	}
	j->out = l;
	return 0;
}

int img_tree_read_layers(struct img_tree_job *jobs, size_t n, unsigned threads)
{
	return img_tree_read_parts(jobs, NULL, n, threads);
}

int img_tree_read_parts(struct img_tree_job *jobs, const struct img_tree_part *parts, size_t n,
                        unsigned threads)
{
	struct jobs js = { jobs, parts };
	struct img_pool *p;
	size_t *order;
	off_t *size;

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
	/* the biggest layers first: the last to finish starts first */
	order = xcalloc(n + 1, sizeof(*order));
	size = xcalloc(n + 1, sizeof(*size));
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		size_t j = i;
		if (parts && parts[i].blob)
			size[i] = (off_t)parts[i].len;
		else
			size[i] = fstat(jobs[i].fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
		for (; j > 0 && size[order[j - 1]] < size[i]; j--)   /* a handful of layers */
			order[j] = order[j - 1];
		order[j] = i;
	}
	/* one thread: the tasks run on the caller's (a pool without threads) */
	p = img_pool_new(threads > 1 ? threads : 0, "img-tree");
	for (size_t i = 0; i < n; i++)
		img_pool_add(p, read_job, &js, order[i]);
	(void)img_pool_wait(p);
	img_pool_free(p);
	free(order);
	free(size);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].err)
			return -1;
	return 0;
}

/* ---- a layer read from a source, or as its bytes are written ---- */

void img_tree_read_layer_read(const struct img_lread_src *src, int hash, struct img_tree_layer **out,
                              char **err)
{
	struct img_tree_layer *l = layer_new();
	struct img_pathset *none = hash ? NULL : img_tree_read_pathset_new();
	struct img_lread *a;

	*err = NULL;
	if (img_lread_open_src(src, &a) < 0 || img_tree_read_scan_lread(a, none, layer_collect, l) < 0)
		*err = xstrdup(img_errmsg());
	img_lread_free(a);
	img_tree_read_pathset_free(none);
	*out = l;
}

/* The writer fills a ring; the reader, a task of a pool of one thread, takes it as
 * consumer 0 through an img_lread_src. A layer that cannot be read leaves the ring: the
 * rest of its bytes are written (into slots nobody waits for) and never read. */
#define FEED_SLOT  (1u << 20)
#define FEED_NSLOT 4

struct img_tree_feed {
	struct img_pool *pool;
	struct img_ring *ring;
	int hash;
	int open;                   /* a layer begun, not ended */
	int held;                   /* the reader holds a slot */
	struct img_tree_layer *out; /* the reader's results, read after img_pool_wait */
	char *err;
};

static int feed_next(void *arg, const void **buf, size_t *n)
{
	struct img_tree_feed *f = arg;
	int rc;

	if (f->held) {
		img_ring_release(f->ring, 0);
		f->held = 0;
	}
	rc = img_ring_take(f->ring, 0, buf, n);
	f->held = rc > 0;
	return rc;
}

static int feed_main(void *arg, size_t item, unsigned worker)
{
	struct img_tree_feed *f = arg;
	struct img_lread_src src = { feed_next, f };

	(void)item;
	(void)worker;
	img_tree_read_layer_read(&src, f->hash, &f->out, &f->err);
	if (f->held)
		img_ring_release(f->ring, 0);
	f->held = 0;
	img_ring_leave(f->ring, 0);
	return 0;
}

struct img_tree_feed *img_tree_read_feed_new(int hash)
{
	struct img_tree_feed *f = xcalloc(1, sizeof(*f));

	f->hash = hash;
	f->pool = img_pool_new(1, "img-tree-feed");
	if (img_pool_threads(f->pool) != 1) {
		img_pool_free(f->pool);
		free(f);
		img_seterr("cannot start a thread");
		return NULL;
	}
	f->ring = img_ring_new(FEED_NSLOT, FEED_SLOT, 1);
	return f;
}

void img_tree_read_feed_begin(struct img_tree_feed *f)
{
	img_tree_read_feed_abort(f);
	img_ring_open(f->ring, 1);
	f->open = 1;
	img_pool_add(f->pool, feed_main, f, 0);
}

int img_tree_read_feed_write(void *arg, const void *buf, size_t n)
{
	struct img_tree_feed *f = arg;

	return img_ring_write(f->ring, buf, n);
}

void img_tree_read_feed_end(struct img_tree_feed *f, struct img_tree_layer **out, char **err)
{
	(void)img_ring_end(f->ring);
	(void)img_pool_wait(f->pool);
	f->open = 0;
	*out = f->out;
	*err = f->err;
	f->out = NULL;
	f->err = NULL;
}

void img_tree_read_feed_abort(struct img_tree_feed *f)
{
	if (!f->open)
		return;
	img_ring_stop(f->ring);         /* the reader fails; its failure is not the pool's */
	(void)img_pool_wait(f->pool);
	f->open = 0;
	img_tree_read_layer_free(f->out);
	free(f->err);
	f->out = NULL;
	f->err = NULL;
}

void img_tree_read_feed_free(struct img_tree_feed *f)
{
	if (!f)
		return;
	img_tree_read_feed_abort(f);
	img_pool_free(f->pool);
	img_ring_free(f->ring);
	free(f);
}
