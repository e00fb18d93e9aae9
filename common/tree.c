/* tree: in-memory flattened filesystem built by a forward merge of layers (formats.md §5). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
		if (!target || target == t->root) {
			img_seterr("hard link '%s': target '%s' not found", r->path,
			           r->link ? r->link : "");
			return -1;
		}
		if (target->ino->type == IMG_ENT_DIR) {
			img_seterr("hard link '%s': target '%s' is a directory", r->path, r->link);
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

int img_tree_scan_layer(int fd, img_tree_rec_fn fn, void *arg)
{
	struct img_arcin *a = NULL;
	struct img_arcin_entry e;
	struct img_hash *h = NULL;
	int rc, ret = -1;
	char *target = NULL;

	if (img_arcin_open_fd(fd, IMG_ARCIN_STRIP_ABS, &a) < 0)
		return -1;
	h = img_hash_new(IMG_SHA256);
	if (!h)
		goto out;
	while ((rc = img_arcin_next(a, &e)) == 1) {
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
			r.size = e.type == IMG_ENT_FILE ? e.size : 0;
			r.link = (e.type == IMG_ENT_SYMLINK || e.type == IMG_ENT_HARDLINK) ? e.link : NULL;
			if (e.ae) {
				if (e.type == IMG_ENT_CHR || e.type == IMG_ENT_BLK) {
					r.devmajor = (unsigned)archive_entry_rdevmajor(e.ae);
					r.devminor = (unsigned)archive_entry_rdevminor(e.ae);
				}
				hash_xattrs(e.ae, &r);
			}
			if (e.type == IMG_ENT_FILE) {
				const void *buf;
				size_t n;
				uint64_t total = 0;
				int b;
				img_hash_reset(h);
				while ((b = img_arcin_block(a, &buf, &n)) == 1) {
					img_hash_update(h, buf, n);
					total += n;
				}
				if (b < 0)
					goto out;
				img_hash_final(h, &r.content);
				r.has_content = 1;
				r.size = (int64_t)total;
			}
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
	img_arcin_free(a);
	return ret;
}
