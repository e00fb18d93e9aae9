/* snap: what a command changed in a directory tree, found by comparing snapshots, for
 * img-build's RUN where no overlay can be mounted. The state before is recorded (each
 * path's type, inode, owner, mode, size, mtime and ctime: a change to a file's data,
 * metadata or xattrs moves its ctime; a replaced file has a new inode); the layer after
 * holds what an overlay upper directory would: the changed and added entries with the
 * directories above them, and a ".wh." whiteout for each deleted name, in the walk's
 * order. */
#ifndef IMG_SNAP_H
#define IMG_SNAP_H

#include "mklayer.h"

struct img_snap;

/* Record the state of what root holds. NULL with img_errmsg(). */
struct img_snap *img_snap_take(const char *root);
/* Write what changed in root since sn was taken into l. skip (may be NULL) leaves a
 * path out as img_mklayer_map's does. 0 or -1. */
int img_snap_layer(struct img_snap *sn, const char *root, struct img_mklayer *l,
                   int (*skip)(void *arg, const char *rel, int is_dir), void *skip_arg);
/* NULL is fine. */
void img_snap_free(struct img_snap *sn);

#endif
