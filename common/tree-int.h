/* tree-int: what tree.c (the tree) and tree-read.c (layers read into records) share.
 * Private to those two files. */
#ifndef IMG_TREE_INT_H
#define IMG_TREE_INT_H

#include "tree.h"

/* An arena of strings and small records that lives as long as its last user (a tree
 * and its clones, a path set, a layer's records): appended to, never freed piecemeal. */
#define ARENA_BLOCK 65536

struct ablock {
	struct ablock *next;
	size_t used, cap;
	char data[];
};

struct img_tree_arena {
	unsigned refs;              /* a tree and its clones */
	struct ablock *blocks;
	struct ablock *slabs;       /* the inodes of a tree and its clones */
	struct img_tree_inode *free_inodes;
};

struct img_tree_arena *img_tree_arena_new(void);
void img_tree_arena_unref(struct img_tree_arena *a);
void *img_tree_arena_alloc(struct img_tree_arena *a, size_t n);
const char *img_tree_arena_strndup(struct img_tree_arena *a, const char *s, size_t n);

/* A record as the tree applies it: digests as bytes (NULL: none). */
struct crec {
	enum img_tree_kind kind;
	enum img_ent_type type;
	mode_t mode;
	int64_t uid, gid, size, mtime;
	unsigned devmajor, devminor;
	const char *path, *link;
	const unsigned char *content, *xattrs;
};
/* Apply a record to the layer begun (img_tree_apply without the digests' text). */
int img_tree_apply_c(struct img_tree *t, const struct crec *r);
/* The 32 bytes of a sha256 digest. */
void img_tree_digest_bytes(const struct img_digest *d, unsigned char out[32]);

#endif
