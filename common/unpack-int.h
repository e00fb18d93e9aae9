/* unpack-int: what unpack.c (the layers, what they skip, the end) and unpack-put.c (names
 * written beneath the directory) share. Private to those two files. */
#ifndef IMG_UNPACK_INT_H
#define IMG_UNPACK_INT_H

#include <sys/types.h>
#include "htab.h"
#include "tree.h"
#include "lread.h"
#include "unpack.h"

struct archive_entry;

/* An inode of the layer being applied whose entry was not written, the layers above
 * hiding it, and the names hard links of this layer gave it since (none written yet). */
struct skip {
	const struct img_tree_inode *ino;   /* NULL: it lost its last name */
	size_t rec;                    /* the number of its record in the layer, from 0 */
	char **names;
	size_t n, cap;
};

struct img_unpack {
	int root;
	int flags;
	struct img_tree *tree;         /* what the directory holds, by the rules of tree.h,
	                                * but for the names of skipped entries */
	struct img_pathset *upper;     /* paths the current layer wrote (with parents) */
	struct img_tree_cover *cover;  /* what the layers above hide (NULL: nothing known) */
	int layer;                     /* the number of the layer being applied */
	int nlayers;                   /* layers begun */
	struct skip *skips;            /* this layer's, in the order of their records */
	size_t nskips, skipcap;
	struct img_htab skipidx;       /* by inode */
	struct {                       /* parent directories opened lately */
		char *path;
		size_t len;
		int fd;
	} cache[16];
	unsigned next;
	int skip_owner;                /* new names get 0:0 already: no chown to 0:0 */
	int no_openat2;
	unsigned long devs, xattrs;
	unsigned long xattrs_set;      /* xattrs set on names (0: no name has one) */
};

/* img_seterr "'path': what: strerror(errno)" (errno kept). */
void img_unpack_put_path_err(const char *what, const char *path);
/* Close the cached parents that are path or under it ("": all of them). */
void img_unpack_put_forget_under(struct img_unpack *u, const char *path);
/* The directory path[0..len) opened beneath the root without following a symlink (a
 * new fd); with create, a missing component is made (0700) and a non-directory in the
 * way replaced by one. -1 with errno and img_errmsg. */
int img_unpack_put_open_dir(struct img_unpack *u, const char *path, size_t len, int create);
/* The permission bits set for mode (no setuid or setgid without IMG_UNPACK_OWNERS). */
mode_t img_unpack_put_perm(const struct img_unpack *u, mode_t mode);
/* Write entry r, its data from rd (there: the tree had a name at its path, so no new name
 * is tried first). 0 or -1. */
int img_unpack_put_entry(struct img_unpack *u, struct img_lread *rd, const struct img_tree_rec *r,
                         struct archive_entry *ae, int there);
/* Remove path and all under it if it is there (nothing when its parent is not a
 * directory). 0 or -1. */
int img_unpack_put_remove(struct img_unpack *u, const char *path);
/* A whiteout and an opaque directory of the layer being applied. 0 or -1. */
int img_unpack_put_whiteout(struct img_unpack *u, const struct img_tree_rec *r);
int img_unpack_put_opaque(struct img_unpack *u, const struct img_tree_rec *r);

#endif
