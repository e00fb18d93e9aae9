/* copy: what a build's COPY or ADD reads (files of the context or of an earlier stage),
 * the content hash its cache key takes, and the layer it writes (sources copied to the
 * destination with the directories above it, archives of ADD extracted). */
#ifndef IMG_COPY_H
#define IMG_COPY_H

#include <stdint.h>
#include <jansson.h>
#include "digest.h"
#include "dockerfile.h"
#include "mklayer.h"
#include "store.h"

struct img_copy_src { char *path; char *rel; int archive; };

struct img_copy {
	struct img_copy_src *v;
	size_t n, cap;
	char *dest;                 /* relative to /, cleaned; "" for / */
	int destdir;                /* sources go into dest */
	int64_t uid, gid;
	int mode;
	int from_ctx;               /* .dockerignore applies */
	char *root;                 /* the directory sources are found in */
	const struct img_ignore *ig; /* .dockerignore of the context (from_ctx), or NULL */
};

void img_copy_release(struct img_copy *p);
/* Clean a path lexically below / ("/a/../b/" -> "b", ".." stops at the top). New string. */
char *img_copy_clean(const char *p);
/* 1 when ADD extracts the file: compressed data or a tar header. */
int img_copy_is_archive(const char *path);
/* The content hash of the sources: names, types, modes, link targets and bytes, what
 * .dockerignore leaves out left out. 0 or -1. */
int img_copy_hash(const struct img_copy *p, struct img_digest *out);
/* Write the layer into s (lo: compression, clamp; lower: the image so far unpacked, for
 * the directories above the destination). *layer: its descriptor. 0 or -1. */
int img_copy_layer(const struct img_copy *p, struct img_store *s,
                   const struct img_mklayer_opts *lo, const char *lower, json_t **layer,
                   struct img_digest *diff_id);

#endif
