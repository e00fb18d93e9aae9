/* comp: compression sniffing, streaming (de)compression (formats.md §2.5).
 * gzip goes through ISA-L (igzip) where it can, zlib for levels ISA-L lacks; zstd through
 * libzstd; xz and bzip2 are read only. Multi-member gzip and multi-frame zstd are read. */
#ifndef IMG_COMP_H
#define IMG_COMP_H

#include <stddef.h>
#include <stdint.h>

enum img_comp { IMG_COMP_NONE = 0, IMG_COMP_GZIP, IMG_COMP_ZSTD, IMG_COMP_XZ, IMG_COMP_BZIP2 };

/* Sniff from the first bytes (>= 6 for a sure answer). */
enum img_comp img_comp_sniff(const void *buf, size_t n);
const char *img_comp_name(enum img_comp c);          /* "none", "gzip", "zstd", "xz", "bzip2" */
int img_comp_parse(const char *s, enum img_comp *c); /* "gzip"|"zstd"|"none" (writable only) */
/* The OCI layer media type for a compression we write. */
const char *img_comp_media_type(enum img_comp c);

/* A sink receives output bytes. Returns 0, or -1 to stop (the error text is the sink's). */
typedef int (*img_sink_fn)(void *arg, const void *buf, size_t n);

/* Streaming decompressor (push): compressed bytes in, decompressed bytes to sink.
 * max_out: refuse (error "decompressed size exceeds limit") past this many output bytes;
 * 0 = no limit. */
struct img_decomp;
struct img_decomp *img_comp_dec_new(enum img_comp c, uint64_t max_out, img_sink_fn sink, void *arg);
int img_comp_dec_write(struct img_decomp *d, const void *buf, size_t n);    /* 0 or -1 */
int img_comp_dec_finish(struct img_decomp *d);   /* -1 "truncated" if a stream is unfinished */
uint64_t img_comp_dec_out(const struct img_decomp *d);
void img_comp_dec_free(struct img_decomp *d);

/* Streaming compressor (push). level: -1 default (gzip 6-equivalent speed class via
 * ISA-L level 1, zstd 3). Output is deterministic for given input and level. */
struct img_compw;
struct img_compw *img_comp_enc_new(enum img_comp c, int level, img_sink_fn sink, void *arg);
int img_comp_enc_write(struct img_compw *w, const void *buf, size_t n);
int img_comp_enc_finish(struct img_compw *w);
void img_comp_enc_free(struct img_compw *w);

#endif
