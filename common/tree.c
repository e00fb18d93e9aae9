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
#include "lread.h"

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
			char *xp = img_escape_cut(r->path), *xl = img_escape_cut(r->link ? r->link : "");
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

int img_tree_scan_layer_sel(int fd, const struct img_pathset *hash, img_tree_rec_fn fn,
                            void *arg)
{
	struct img_lread *a;
	struct img_tree_rec r;
	struct img_hash *h = NULL;
	int rc, ret = -1;

	if (img_lread_open(fd, &a) < 0)
		return -1;
	h = img_hash_new(IMG_SHA256);
	if (!h)
		goto out;
	while ((rc = img_lread_next(a, &r, NULL)) == 1) {
		if (r.kind == IMG_TREE_ENTRY && r.type == IMG_ENT_FILE &&
		    (!hash || img_pathset_has(hash, r.path))) {
			const void *buf;
			size_t n;
			uint64_t total = 0;
			int b;
			img_hash_reset(h);
			while ((b = img_lread_block(a, &buf, &n)) == 1) {
				img_hash_update(h, buf, n);
				total += n;
			}
			if (b < 0)
				goto out;
			img_hash_final(h, &r.content);
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
	img_hash_free(h);
	img_lread_free(a);
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
