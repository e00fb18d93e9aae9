/* tree: in-memory flattened filesystem built by a forward merge of layers (formats.md §5).
 *
 * Memory goes to paths, a few words each: a node (its name's links and hash chain, 64
 * bytes, from the tree's own slabs), an inode (96 bytes, from slabs of the arena; shared
 * by hard links and, until one of them changes it, by a tree and its clones) and the
 * path's bytes, once, in the arena the tree shares with its clones. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "digest.h"
#include "htab.h"
#include "tree.h"
#include "tree-int.h"

/* ---- the arena of names: strings that live as long as the last tree using them ---- */

struct img_tree_arena *img_tree_arena_new(void)
{
	struct img_tree_arena *a = xcalloc(1, sizeof(*a));

	a->refs = 1;
	return a;
}

void img_tree_arena_unref(struct img_tree_arena *a)
{
	if (!a || --a->refs)
		return;
	while (a->blocks) {
		struct ablock *b = a->blocks;
		a->blocks = b->next;
		free(b);
	}
	while (a->slabs) {
		struct ablock *b = a->slabs;
		a->slabs = b->next;
		free(b);
	}
	free(a);
}

void *img_tree_arena_alloc(struct img_tree_arena *a, size_t n)
{
	struct ablock *b = a->blocks;
	void *p;

	if (!b || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK - sizeof(*b);
		b = xmalloc(sizeof(*b) + cap);
		b->used = 0;
		b->cap = cap;
		if (a->blocks && cap != ARENA_BLOCK - sizeof(*b)) {
			/* a big one goes behind the block being filled */
			b->next = a->blocks->next;
			a->blocks->next = b;
		} else {
			b->next = a->blocks;
			a->blocks = b;
		}
	}
	p = b->data + b->used;
	b->used += n;
	return p;
}

const char *img_tree_arena_strndup(struct img_tree_arena *a, const char *s, size_t n)
{
	char *p = img_tree_arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ---- the tree ---- */

#define NODES_PER_SLAB 1024

struct slab {
	struct slab *next;
	struct img_tree_node node[NODES_PER_SLAB];
};

struct img_tree {
	struct img_tree_node *root;
	struct img_tree_node **buckets;
	size_t nbuckets;           /* power of two */
	size_t count;              /* nodes in the hash, root included */
	unsigned gen;              /* generation of the layer being applied */
	int layer;
	img_tree_removed_fn removed;
	void *removed_arg;
	struct img_tree_arena *names;       /* shared with the clones */
	struct slab *slabs;
	size_t slab_used;          /* nodes handed out of slabs (the first one) */
	struct img_tree_node *free_nodes;
};

static uint64_t path_hash(const char *s)
{
	return img_htab_fnv(s, strlen(s));
}

static struct img_tree_node *lookup(const struct img_tree *t, const char *path)
{
	struct img_tree_node *n = t->buckets[path_hash(path) & (t->nbuckets - 1)];

	for (; n; n = n->hnext)
		if (strcmp(n->path, path) == 0)
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
			size_t k = path_hash(n->path) & (nb - 1);
			next = n->hnext;
			n->hnext = b[k];
			b[k] = n;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

static void hash_insert(struct img_tree *t, struct img_tree_node *n)
{
	size_t k;

	if (t->count + 1 > t->nbuckets)
		hash_grow(t);
	k = path_hash(n->path) & (t->nbuckets - 1);
	n->hnext = t->buckets[k];
	t->buckets[k] = n;
	t->count++;
}

static void hash_remove(struct img_tree *t, struct img_tree_node *n)
{
	struct img_tree_node **pp = &t->buckets[path_hash(n->path) & (t->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			t->count--;
			return;
		}
	}
}

static struct img_tree_node *node_alloc(struct img_tree *t)
{
	struct img_tree_node *n = t->free_nodes;

	if (n) {
		t->free_nodes = n->next;
	} else {
		if (!t->slabs || t->slab_used == NODES_PER_SLAB) {
			struct slab *s = xmalloc(sizeof(*s));
			s->next = t->slabs;
			t->slabs = s;
			t->slab_used = 0;
		}
		n = &t->slabs->node[t->slab_used++];
	}
	memset(n, 0, sizeof(*n));
	return n;
}

/* Inodes: refs counts the names in every tree (and holds while a record is applied);
 * trees the trees that share it, each with the same nlink names. A tree changes only
 * an inode it does not share: see own_inode and own_links. */
#define INODES_PER_SLAB 512

/* A zeroed inode from the slabs of t's arena. */
static struct img_tree_inode *inode_alloc(struct img_tree *t)
{
	struct img_tree_arena *a = t->names;
	struct img_tree_inode *ino = a->free_inodes;

	if (ino) {
		/* the free list's link, kept in the first bytes of a free inode */
		memcpy(&a->free_inodes, (const void *)ino, sizeof(a->free_inodes));
	} else {
		struct ablock *b = a->slabs;
		if (!b || b->used == b->cap) {
			b = xmalloc(sizeof(*b) + INODES_PER_SLAB * sizeof(*ino));
			b->used = 0;
			b->cap = INODES_PER_SLAB * sizeof(*ino);
			b->next = a->slabs;
			a->slabs = b;
		}
		ino = (struct img_tree_inode *)(void *)(b->data + b->used);
		b->used += sizeof(*ino);
	}
	memset(ino, 0, sizeof(*ino));
	return ino;
}

static void inode_unref(struct img_tree *t, struct img_tree_inode *ino)
{
	if (ino && --ino->refs == 0) {
		memcpy((void *)ino, &t->names->free_inodes, sizeof(t->names->free_inodes));
		t->names->free_inodes = ino;
	}
}

static struct img_tree_inode *inode_new(struct img_tree *t, enum img_ent_type type, int layer)
{
	struct img_tree_inode *ino = inode_alloc(t);

	ino->type = (unsigned char)type;
	ino->layer = layer;
	ino->refs = 1;
	ino->trees = 1;
	return ino;
}

/* A name for ino (a reference is taken) under parent; path: its bytes in the arena. */
static struct img_tree_node *node_new(struct img_tree *t, const char *path,
                                      struct img_tree_node *parent, struct img_tree_inode *ino)
{
	struct img_tree_node *n = node_alloc(t);

	n->path = path;
	n->ino = ino;
	ino->refs++;
	ino->nlink++;
	if (!ino->origin)
		ino->origin = path;
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

static void node_free(struct img_tree *t, struct img_tree_node *n)
{
	struct img_tree_inode *ino = n->ino;

	if (ino->trees > 1) {
		/* this tree's one name (node_remove made those with more its own): the other
		 * trees keep theirs */
		ino->trees--;
		ino->refs--;
	} else {
		ino->nlink--;
		inode_unref(t, ino);
	}
	n->next = t->free_nodes;
	t->free_nodes = n;
}

static void own_links(struct img_tree *t);

/* n's inode, the tree's own from now on (one name: n). */
static struct img_tree_inode *own_inode(struct img_tree *t, struct img_tree_node *n)
{
	struct img_tree_inode *ino = n->ino, *c;

	if (ino->trees == 1)
		return ino;
	if (ino->nlink > 1) {
		own_links(t);
		return n->ino;
	}
	c = inode_alloc(t);
	*c = *ino;
	c->refs = c->trees = c->nlink = 1;
	ino->trees--;
	ino->refs--;
	n->ino = c;
	return c;
}

struct pair { struct img_tree_inode *from, *to; };

static int pair_eq(size_t idx, const void *key, const void *arg)
{
	const struct pair *v = arg;
	return v[idx].from == key;
}

/* Make every inode with several names that t shares with a clone t's own: all its
 * names in t move to one copy (once for all of them: a whole walk). */
static void own_links(struct img_tree *t)
{
	struct pair *v = NULL;
	size_t n = 0, cap = 0;
	struct img_htab h = { 0 };

	for (size_t b = 0; b < t->nbuckets; b++) {
		for (struct img_tree_node *x = t->buckets[b]; x; x = x->hnext) {
			struct img_tree_inode *ino = x->ino;
			uint64_t hv = img_htab_fnv(&ino, sizeof(ino));
			size_t i;
			if (ino->trees == 1 || ino->nlink < 2)
				continue;
			i = img_htab_find(&h, hv, pair_eq, ino, v);
			if (i == IMG_HTAB_NONE) {
				struct img_tree_inode *c = inode_alloc(t);
				*c = *ino;
				c->refs = 0;
				c->trees = 1;
				IMG_GROW(v, n + 1, cap);
				v[n].from = ino;
				v[n].to = c;
				img_htab_add(&h, hv, n);
				i = n++;
			}
			x->ino = v[i].to;
			x->ino->refs++;
			ino->refs--;
		}
	}
	for (size_t i = 0; i < n; i++)
		v[i].from->trees--;        /* the names it lost were all of t's */
	img_htab_clear(&h);
	free(v);
}

/* Remove n and its whole subtree, children first. notify: call the removed callback. */
static void node_remove(struct img_tree *t, struct img_tree_node *n, int notify)
{
	while (n->child)
		node_remove(t, n->child, notify);
	if (n->ino->trees > 1 && n->ino->nlink > 1)
		own_links(t);
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
	node_free(t, n);
}

static struct img_tree *tree_alloc(size_t nbuckets, struct img_tree_arena *names)
{
	struct img_tree *t = xcalloc(1, sizeof(*t));

	t->nbuckets = nbuckets;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	t->names = names;
	return t;
}

struct img_tree *img_tree_new(void)
{
	struct img_tree *t = tree_alloc(1024, img_tree_arena_new());
	struct img_tree_inode *ino;

	t->layer = -1;
	ino = inode_new(t, IMG_ENT_DIR, -1);
	ino->mode = 0755;
	ino->implicit = 1;
	t->root = node_new(t, "", NULL, ino);
	inode_unref(t, ino);
	return t;
}

void img_tree_free(struct img_tree *t)
{
	if (!t)
		return;
	node_remove(t, t->root, 0);
	while (t->slabs) {
		struct slab *s = t->slabs;
		t->slabs = s->next;
		free(s);
	}
	free(t->buckets);
	img_tree_arena_unref(t->names);
	free(t);
}

void img_tree_set_removed(struct img_tree *t, img_tree_removed_fn fn, void *arg)
{
	t->removed = fn;
	t->removed_arg = arg;
}

/* The clone's names: the same paths and inodes (counted once more), as node_new would
 * make them (each child in front: the clone lists them in the reverse order). */
static void clone_sub(struct img_tree *dst, struct img_tree_node *dparent,
                      const struct img_tree_node *sdir)
{
	for (const struct img_tree_node *c = sdir->child; c; c = c->next) {
		struct img_tree_node *n = node_alloc(dst);
		struct img_tree_inode *ino = c->ino;

		*n = (struct img_tree_node){ .path = c->path, .ino = ino, .layer = c->layer,
		                             .gen = c->gen, .parent = dparent };
		ino->refs++;
		ino->trees = ino->refs / ino->nlink;
		n->next = dparent->child;
		if (dparent->child)
			dparent->child->prev = n;
		dparent->child = n;
		hash_insert(dst, n);
		clone_sub(dst, n, c);
	}
}

struct img_tree *img_tree_clone(const struct img_tree *t)
{
	struct img_tree *c = tree_alloc(t->nbuckets, t->names);
	struct img_tree_node *r = node_alloc(c);

	t->names->refs++;
	c->gen = t->gen;
	c->layer = t->layer;
	*r = (struct img_tree_node){ .path = t->root->path, .ino = t->root->ino,
	                             .layer = t->root->layer, .gen = t->root->gen };
	r->ino->refs++;
	r->ino->trees++;
	hash_insert(c, r);
	c->root = r;
	clone_sub(c, r, t->root);
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
		const char *name = NULL;
		while (j < len && path[j] != '/')
			j++;
		memcpy(buf, path, j);
		buf[j] = '\0';
		n = lookup(t, buf);
		if (n && n->ino->type != IMG_ENT_DIR) {
			name = n->path;
			node_remove(t, n, 1);
			n = NULL;
		}
		if (!n) {
			struct img_tree_inode *ino = inode_new(t, IMG_ENT_DIR, t->layer);
			ino->mode = 0755;
			ino->implicit = 1;
			n = node_new(t, name ? name : img_tree_arena_strndup(t->names, buf, j), cur, ino);
			inode_unref(t, ino);
		}
		n->gen = t->gen;
		cur = n;
		i = j + 1;
	}
	free(buf);
	return cur;
}

static void set_attrs(struct img_tree *t, struct img_tree_inode *ino, const struct crec *r)
{
	ino->mode = r->mode & 07777;
	ino->uid = r->uid;
	ino->gid = r->gid;
	ino->mtime = r->mtime;
	ino->xattrs = NULL;
	if (r->xattrs) {
		unsigned char *x = img_tree_arena_alloc(t->names, 32);
		memcpy(x, r->xattrs, 32);
		ino->xattrs = x;
	}
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

int img_tree_apply_c(struct img_tree *t, const struct crec *r)
{
	struct img_tree_node *parent, *old;
	struct img_tree_inode *ino;
	const char *slash = strrchr(r->path, '/'), *name;
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
			set_attrs(t, own_inode(t, t->root), r);
			t->root->layer = t->layer;
		}
		return 0;
	}
	if (r->type == IMG_ENT_HARDLINK) {
		struct img_tree_node *target = r->link ? lookup(t, r->link) : NULL;
		if (!target || target == t->root || target->ino->type == IMG_ENT_DIR) {
			char *xp = img_util_escape_cut(r->path), *xl = img_util_escape_cut(r->link ? r->link : "");
			img_seterr("hard link '%s': target '%s' %s", xp, xl,
			           target && target != t->root ? "is a directory" : "not found");
			free(xp);
			free(xl);
			return -1;
		}
		ino = own_inode(t, target);   /* it gets a name: no clone may see that */
		ino->refs++;                  /* held: removing old may remove target */
		parent = ensure_dir(t, r->path, plen);
		old = lookup(t, r->path);
		if (old == target) {
			old->gen = t->gen;
			inode_unref(t, ino);
			return 0;
		}
		name = old ? old->path : NULL;
		if (old)
			node_remove(t, old, 1);
		node_new(t, name ? name : img_tree_arena_strndup(t->names, r->path, strlen(r->path)), parent,
		         ino);
		inode_unref(t, ino);
		return 0;
	}
	parent = ensure_dir(t, r->path, plen);
	old = lookup(t, r->path);
	if (old && old->ino->type == IMG_ENT_DIR && r->type == IMG_ENT_DIR) {
		set_attrs(t, own_inode(t, old), r);
		old->gen = t->gen;
		old->layer = t->layer;
		return 0;
	}
	name = old ? old->path : NULL;
	if (old)
		node_remove(t, old, 1);
	ino = inode_new(t, r->type, t->layer);
	set_attrs(t, ino, r);
	ino->size = r->type == IMG_ENT_FILE ? r->size : 0;
	if (r->type == IMG_ENT_SYMLINK)
		ino->link = img_tree_arena_strndup(t->names, r->link ? r->link : "",
		                          r->link ? strlen(r->link) : 0);
	ino->devmajor = r->devmajor;
	ino->devminor = r->devminor;
	ino->has_content = r->content != NULL;
	if (r->content) {
		unsigned char *c = img_tree_arena_alloc(t->names, 32);
		memcpy(c, r->content, 32);
		ino->content = c;
	}
	node_new(t, name ? name : img_tree_arena_strndup(t->names, r->path, strlen(r->path)), parent, ino);
	inode_unref(t, ino);
	return 0;
}

/* The 32 bytes of a sha256 digest. */
void img_tree_digest_bytes(const struct img_digest *d, unsigned char out[32])
{
	const char *h = img_digest_hex(d);

	for (int i = 0; i < 32; i++) {
		int hi = h[2 * i], lo = h[2 * i + 1];
		hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
		lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
}

int img_tree_apply(struct img_tree *t, const struct img_tree_rec *r)
{
	unsigned char content[32], xattrs[32];
	struct crec c = { r->kind, r->type, r->mode, r->uid, r->gid, r->size, r->mtime,
	                  r->devmajor, r->devminor, r->path, r->link, NULL, NULL };

	if (r->has_content) {
		img_tree_digest_bytes(&r->content, content);
		c.content = content;
	}
	if (r->has_xattrs) {
		img_tree_digest_bytes(&r->xattrs, xattrs);
		c.xattrs = xattrs;
	}
	return img_tree_apply_c(t, &c);
}

void img_tree_inode_content(const struct img_tree_inode *ino, struct img_digest *out)
{
	static const char hex[] = "0123456789abcdef";

	memset(out, 0, sizeof(*out));
	out->alg = IMG_SHA256;
	memcpy(out->str, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out->str[7 + 2 * i] = hex[ino->content[i] >> 4];
		out->str[8 + 2 * i] = hex[ino->content[i] & 15];
	}
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
