/* arcin: streaming archive reader over libarchive: any tar dialect, any outer compression
 * (gzip, zstd, xz, bzip2) sniffed from the bytes. Entry names are cleaned and checked. */
#ifndef IMG_ARCIN_H
#define IMG_ARCIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct archive;
struct archive_entry;

enum img_ent_type {
	IMG_ENT_FILE, IMG_ENT_DIR, IMG_ENT_SYMLINK, IMG_ENT_HARDLINK,
	IMG_ENT_CHR, IMG_ENT_BLK, IMG_ENT_FIFO, IMG_ENT_OTHER,
};

struct img_arcin_entry {
	const char *path;        /* cleaned: no "./" or "/" prefix, no trailing "/", never ".." */
	enum img_ent_type type;
	int64_t size;
	const char *link;        /* symlink target (verbatim) or cleaned hard link target */
	mode_t mode;             /* permission bits incl. setuid/setgid/sticky */
	int64_t uid, gid;
	int64_t mtime;
	struct archive_entry *ae;  /* the raw entry (xattrs, devices, names), borrowed */
};

enum {
	IMG_ARCIN_STRIP_ABS = 1,   /* a leading "/" is stripped (layers) instead of refused */
	IMG_ARCIN_RAW = 2,         /* no tar: one entry "data" with the decompressed stream */
};

/* Clean an archive member name: strip "./" segments and a trailing "/"; refuse NUL, ".."
 * components and (without STRIP_ABS) absolute names. Empty result means the root (".").
 * 0 with *out a new string (caller frees), or -1 with img_errmsg(). */
int img_arcin_path_clean(const char *in, int flags, char **out);

/* Fill e from the libarchive header ae just read: the name and a hard link's target cleaned
 * with flags (as img_arcin_path_clean), a symlink's target verbatim. *path and *link get the
 * cleaned strings (new, the caller frees them; e points into them). n, the entry's number,
 * is for messages. 0, or -1 with img_errmsg(). For readers built on libarchive directly. */
int img_arcin_entry_from(struct archive_entry *ae, int flags, int n, char **path, char **link,
                         struct img_arcin_entry *e);

struct img_arcin;
/* Read from fd (not closed by img_arcin_free). 0 or -1. */
int img_arcin_open_fd(int fd, int flags, struct img_arcin **out);
/* A libarchive reader for tar (raw: for one stream of bytes, IMG_ARCIN_RAW) with every
 * decompressor img reads, each in process (one that would run an external program is
 * refused). NULL with img_errmsg(); the caller frees it with archive_read_free. */
struct archive *img_arcin_la_new(int raw);
/* The one line for a failure of libarchive reader a (arcin's and lread's): "truncated
 * archive"; why itself when given (a failure of the caller's own, reported through a);
 * "not a tar archive" (" (empty input)" when empty) when no entry was read yet (first);
 * "cannot read archive: ..." for a system error, else "invalid archive: ...". */
void img_arcin_seterr_from(struct archive *a, const char *why, int first, int empty);
/* 1 an entry (valid until the next call), 0 end of archive, -1 error (img_errmsg). */
int img_arcin_next(struct img_arcin *a, struct img_arcin_entry *e);
/* Data of the current entry. Bytes read, 0 at its end, -1 error. */
ssize_t img_arcin_read(struct img_arcin *a, void *buf, size_t n);
/* Zero-copy: the next block of the current entry's data. 1 a block, 0 end, -1 error. */
int img_arcin_block(struct img_arcin *a, const void **buf, size_t *n);
/* The outer compression libarchive found ("gzip", "zstd", "none", ...). */
const char *img_arcin_filter(struct img_arcin *a);
/* Compressed bytes consumed so far (for progress). */
int64_t img_arcin_offset(struct img_arcin *a);
/* Where the data of entry e (just given by img_arcin_next) lie in the input, counted from
 * where fd was when the reader was opened: for an archive not compressed and an entry
 * stored whole (not sparse); else -1. */
int64_t img_arcin_data_offset(struct img_arcin *a, const struct img_arcin_entry *e);
void img_arcin_free(struct img_arcin *a);

/* Sparse-aware reading of the current libarchive entry's data blocks, holes given back as
 * zeros up to the entry's size: the part of img_arcin_block that other readers built on
 * libarchive share. begin for each entry (size: a regular file's size, else 0). next:
 * 1 a block, 0 the entry's end, -1 invalid data (img_errmsg names path), -2 libarchive
 * failed (its own error text says why). */
struct img_blocks {
	const unsigned char *blk;
	size_t blk_n;
	int64_t blk_off, pos, size;
	int have_blk, data_eof;
};
void img_arcin_blocks_begin(struct img_blocks *b, int64_t size);
int img_arcin_blocks_next(struct img_blocks *b, struct archive *a, const char *path,
                          const void **buf, size_t *n);

#endif
