/* export: the flattened root filesystem of an image as one tar (img-export, docker export):
 * the layers merged by the rules of tree.h (whiteouts, opaque directories, hard links by
 * inode identity), then written with owners, modes, mtimes, xattrs, link targets and
 * device numbers kept. Two passes over the layers: the first builds the tree (no data
 * kept), the second copies each surviving file's bytes from the layer that wrote them.
 * The same image gives the same bytes: directories, symlinks, devices and FIFOs first
 * (sorted by path), then regular files in layer order, then the further names of hard
 * links (sorted), each linked to the first name of its inode in path order. */
#ifndef IMG_EXPORT_H
#define IMG_EXPORT_H

#include "arcimg.h"
#include "arcout.h"

/* Write every name of v's flattened tree (the root left out) to a, then close a.
 * 0, or -1 with img_errmsg() (a layer that cannot be read names its digest). */
int img_export_write(struct img_view *v, struct img_arcout *a);

#endif
