/* unpack: layers written into a directory (img-unpack, img-run), one pass per layer
 * straight from its blob, by the merge rules of tree.h (formats.md §5.4-5.6), so the
 * directory holds what img-export writes as a tar. Given the headers of the layers above
 * (img_unpack_read_above), a layer skips what they replace or remove, so that each name
 * is written about once, as from the flattened tar.
 *
 * Every path is resolved relative to the directory's fd without following a symbolic
 * link (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, else a walk with O_NOFOLLOW): a
 * symlink or file that a layer put where a later entry needs a directory is replaced by
 * a directory, as tree.h does; names are created with O_EXCL|O_NOFOLLOW after the old
 * name is unlinked; owners, modes and times are set through the new fd (a symlink gets
 * lchown/utimensat NOFOLLOW, never a chmod). Nothing can be written outside it.
 * Directory modes and mtimes are set at the end, so a 0555 directory still takes its
 * children. */
#ifndef IMG_UNPACK_H
#define IMG_UNPACK_H

#include "arcimg.h"

enum {
	/* as root: owners, devices, every xattr, setuid and setgid bits; without it files
	 * belong to the caller, devices are skipped, only user.* xattrs are set and the
	 * setuid and setgid bits are dropped */
	IMG_UNPACK_OWNERS = 1,
};

struct img_unpack;
/* Unpack into the directory rootfd (borrowed, kept open by the caller). Never NULL. */
struct img_unpack *img_unpack_new(int rootfd, int flags);
/* Before the first layer: read the headers of the layer that img_unpack_layer will apply
 * as number layer (0 is the first) from fd (to its end; not closed). What it whites out,
 * replaces or hides under an opaque directory is then not written by the layers below
 * it, unless a hard link that stays needs it. Layers not read so hide nothing.
 * 0, or -1 with img_errmsg(). */
int img_unpack_read_above(struct img_unpack *u, int layer, int fd);
/* Apply the layer blob on fd (any compression; not closed). 0, or -1 with img_errmsg()
 * naming the entry. */
int img_unpack_layer(struct img_unpack *u, int fd);
/* After the last layer: directory modes and mtimes. 0 or -1. */
int img_unpack_finish(struct img_unpack *u);
/* Devices skipped (no IMG_UNPACK_OWNERS), xattrs the file system refused. */
unsigned long img_unpack_skipped_devices(const struct img_unpack *u);
unsigned long img_unpack_skipped_xattrs(const struct img_unpack *u);
void img_unpack_free(struct img_unpack *u);

/* Every layer of v into rootfd, then finish; a failure names the layer
 * ("layer sha256:...: ..."). devs/xattrs (may be NULL) get the counts above. 0 or -1. */
int img_unpack_view(struct img_view *v, int rootfd, int flags, unsigned long *devs,
                    unsigned long *xattrs);

/* Remove name in the directory dirfd and, when it is a directory, everything under it,
 * following no symlink (directories made writable on the way). A missing name is no
 * error. 0, or -1 with img_errmsg(). */
int img_unpack_put_remove_at(int dirfd, const char *name);

#endif
