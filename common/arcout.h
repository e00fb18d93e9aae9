/* arcout: deterministic tar writer over libarchive (restricted pax: ustar unless a field
 * needs pax). Entries get uid/gid 0, no user/group names, fixed mtime, fixed modes. */
#ifndef IMG_ARCOUT_H
#define IMG_ARCOUT_H

#include <stddef.h>
#include <stdint.h>
#include "layer.h"

struct archive_entry;
struct img_arcout;

/* To fd (not closed) or to a sink. mtime applies to entries written with the helpers
 * below. NULL with img_errmsg() on failure. */
struct img_arcout *img_arcout_new_fd(int fd, int64_t mtime);
struct img_arcout *img_arcout_new_sink(img_sink_fn sink, void *arg, int64_t mtime);

int img_arcout_dir(struct img_arcout *a, const char *path);                 /* 0755 */
/* Begin a regular file of exactly size bytes (mode 0444 for blobs, 0644 else), then
 * img_arcout_data until size bytes are written. */
int img_arcout_file(struct img_arcout *a, const char *path, int64_t size, int mode);
int img_arcout_data(struct img_arcout *a, const void *buf, size_t n);
/* Convenience: a whole small file. */
int img_arcout_buf(struct img_arcout *a, const char *path, const void *buf, size_t n, int mode);
/* Write an arbitrary entry as given (img-import: owners, modes, mtimes, xattrs, links,
 * devices preserved), followed by img_arcout_data for regular files. */
int img_arcout_entry(struct img_arcout *a, struct archive_entry *e);
/* Write the end-of-archive blocks and flush. 0 or -1. */
int img_arcout_close(struct img_arcout *a);
void img_arcout_free(struct img_arcout *a);
uint64_t img_arcout_bytes(const struct img_arcout *a);

#endif
