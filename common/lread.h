/* lread: the layer reader (formats.md §5): a layer blob in any compression (from a file
 * descriptor, a part of a file checked against its digest, or block by block from the
 * caller) read as a tar in one pass, each entry given back as a tree record (whiteouts
 * and opaque markers classified, AUFS metadata skipped) with the raw entry for what a
 * record leaves out (xattr values), and the data of a regular file as blocks. gzip, zstd
 * and xz are decompressed in a thread of their own beside the tar parser. img-layers and
 * img-diff (through tree.c), img-export and img-unpack read layers through it. */
#ifndef IMG_LREAD_H
#define IMG_LREAD_H

#include <stddef.h>
#include <stdint.h>
#include "arcin.h"
#include "tree.h"

struct img_lread;

/* Read the layer on fd (not closed by img_lread_free). 0, or -1 with img_errmsg(). */
int img_lread_open(int fd, struct img_lread **out);

/* Where a layer's bytes (as stored) come from when not from a file descriptor: next gives
 * the next block, 1 with *buf and *n (borrowed until the next call), 0 at the end, -1 on
 * error (img_errmsg). It is called from one thread at a time, not always the same one
 * (the decompressing thread of a compressed layer). The compression is sniffed from the
 * first block. */
struct img_lread_src {
	int (*next)(void *arg, const void **buf, size_t *n);
	void *arg;
};
/* Read the layer src gives (src borrowed until img_lread_free). 0, or -1 with img_errmsg(). */
int img_lread_open_src(const struct img_lread_src *src, struct img_lread **out);
/* Read the layer blob that is the len bytes at off in fd (not closed; read with pread, so
 * that several readers may share fd), checked against blob (borrowed only for the call)
 * as it is read: an archive read back. 0, or -1 with img_errmsg(). */
int img_lread_open_at(int fd, int64_t off, int64_t len, const struct img_digest *blob,
                      struct img_lread **out);
/* Once the records are read: the rest of an img_lread_open_at blob is read and its
 * digest checked (0, or -1 with img_errmsg() when the bytes are not those of blob); 0
 * for the others. */
int img_lread_end(struct img_lread *r);
/* The next record: 1 (rec and e valid until the next call), 0 the end, -1 error
 * (img_errmsg). rec has no content hash (has_content 0, size from the header); e->ae is
 * the raw entry (xattrs, devices). e may be NULL. A file's data not read by
 * img_lread_block is skipped. */
int img_lread_next(struct img_lread *r, struct img_tree_rec *rec, struct img_arcin_entry *e);
/* The next block of the current regular file's data (sparse holes as zeros): 1 a block,
 * 0 its end, -1 error (img_errmsg). */
int img_lread_block(struct img_lread *r, const void **buf, size_t *n);
/* The number of the current entry in the tar, from 1 (for messages). */
int img_lread_entry_number(const struct img_lread *r);
void img_lread_free(struct img_lread *r);

#endif
