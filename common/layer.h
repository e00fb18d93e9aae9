/* layer: layer digests (formats.md §5.7) and whiteouts (§5.4); the compression they
 * read is comp.h's, included here for the programs that use both. */
#ifndef IMG_LAYER_H
#define IMG_LAYER_H

#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "comp.h"

/* A layer's output (decompressed, or sparse holes given back as zeros) may pass this
 * only up to the reader's ratio times its input: the one bound on a decompression bomb,
 * for layer digests (img_layer_sum) and the layer reader (lread). 1 GiB; the fuzz build
 * makes it smaller, so that no input keeps a target busy for seconds. */
#ifndef IMG_LAYER_BOMB_MIN
#define IMG_LAYER_BOMB_MIN ((uint64_t)1 << 30)
#endif

/* Layer digests in one pass: feed the blob's bytes; on finish get the blob digest,
 * the compression sniffed from the first bytes, and the diff_id (sha256 of the whole
 * decompressed stream to EOF; equal to the blob digest when uncompressed).
 * max_ratio: refuse a layer whose output passes both IMG_LAYER_BOMB_MIN and max_ratio x
 * input (0 = 100). */
struct img_layer_sum;
struct img_layer_sum *img_layer_sum_new(unsigned max_ratio);
int img_layer_sum_write(struct img_layer_sum *ls, const void *buf, size_t n);
int img_layer_sum_finish(struct img_layer_sum *ls, struct img_digest *blob,
                         struct img_digest *diff_id, enum img_comp *comp,
                         uint64_t *blob_size, uint64_t *diff_size);
void img_layer_sum_free(struct img_layer_sum *ls);

/* Whiteouts (formats.md §5.4). For a cleaned path: 0 normal entry, 1 whiteout of
 * *target (a new string, caller frees: "dir/NAME"), 2 opaque marker of *target ("dir" or
 * "" for the root), 3 AUFS metadata to skip, -1 invalid (".wh." alone, ".wh.." ...). */
int img_layer_whiteout(const char *path, char **target);

#endif
