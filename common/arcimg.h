/* arcimg: an image archive read once, for tools that only look (img-layers,
 * img-diff, img-inspect, img-ls --archive); the view of one of its images is in view.h
 * (included). Any dialect (img(7)): docker-save legacy with symlinked layer.tar, Docker
 * 25+ combined, OCI image-layout archives, several images per archive. The archive is
 * read by arcread.h, from a pipe too: its entries are read once and hashed as they
 * stream; JSON documents are kept in memory (capped); the bytes of the other files are
 * never kept (nor written anywhere): what the tools need of a layer, its files' records
 * (tree.h), is read from them as they stream past, or, from an uncompressed archive in a
 * regular file, read back from it when asked for (IMG_ARCIMG_FILES). */
#ifndef IMG_ARCIMG_H
#define IMG_ARCIMG_H

#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "image.h"
#include "store.h"
#include "view.h"

/* ---- an archive, read whole ---- */

struct img_arcimg;
/* Read every entry of the archive on fd (not closed), digests only (no layer's files).
 * 0, or -1 with img_errmsg(). */
int img_arcimg_read(int fd, unsigned max_ratio, struct img_arcimg **out);
void img_arcimg_free(struct img_arcimg *a);
enum {
	/* For listing only: JSON documents are read, other entries' bytes pass unread (no
	 * digest, no diff_id), and reading stops once index.json, manifest.json and every
	 * manifest, index and config they reach are in (an img-save archive: its head).
	 * Views of such an archive have no layers' files. */
	IMG_ARCIMG_HEAD = 1,
	/* The files of every layer (img_view_layer_records, img_view_layer_blob): from a
	 * pipe (or a compressed archive), each file that may be a layer is read as one while
	 * it streams (tree.h's img_tree_feed), only its records kept (memory grows with the
	 * paths, not the bytes); from an uncompressed archive in a regular file, the layers
	 * are read back from it (fd is kept open, a descriptor of its own). */
	IMG_ARCIMG_FILES = 2,
	/* With FILES: the records read while the archive streams hold each regular file's
	 * sha256 (else its data is skipped, as img_tree_read_scan_layer_sel with an empty set
	 * does). */
	IMG_ARCIMG_CONTENT = 4,
};
int img_arcimg_read_flags(int fd, unsigned max_ratio, int flags, struct img_arcimg **out);
/* The images as a JSON array, one object each: names (canonical), tag (a bare tag or
 * null), mediaType and digest of what index.json names (null for a docker-save item),
 * config, platforms ("os/arch[/variant]" of its images), size (the bytes of every blob
 * it reaches, each once, as the descriptors and entries give them), leftOut (the blobs
 * of it a delta archive left out: digest and size each, img(7)). New reference. */
json_t *img_arcimg_summary(struct img_arcimg *a);
/* The number of images the archive holds. */
size_t img_arcimg_count(const struct img_arcimg *a);

/* An archive operand "FILE#SEL" (img-layers --archive, img-diff archive:): *file and *sel
 * (NULL when there is no '#', or when arg itself is an existing file), new strings. 0. */
int img_arcimg_operand(const char *arg, char **file, char **sel);

#endif
