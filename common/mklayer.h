/* mklayer: a new layer blob written into the store from entries, a directory tree (as
 * it is, or an overlay upper directory whose whiteouts become ".wh." entries), or an
 * archive: a clean, deterministic tar (arcout) hashed for its diff_id and compressed on a
 * second thread into the store's blob writer. Every path is checked once: no duplicate,
 * nothing under a symlink or a file, hard links only to earlier files. */
#ifndef IMG_MKLAYER_H
#define IMG_MKLAYER_H

#include <stdint.h>
#include <sys/types.h>
#include "arcin.h"
#include "digest.h"
#include "layer.h"
#include "progress.h"
#include "store.h"

struct archive_entry;
struct img_mklayer;

struct img_mklayer_opts {
	enum img_comp comp;
	int level;                      /* -1: the default */
	int64_t clamp;                  /* mtimes newer than this become it; -1: none */
	enum img_progress_mode progress;
	const char *label;              /* progress label */
	uint64_t total;                 /* expected input bytes for progress, 0 unknown */
	/* told of an entry left out (unsupported type); may be NULL */
	void (*skipped)(void *arg, const char *path);
	void *skipped_arg;
};

/* Begin a layer in store s. NULL with img_errmsg(). */
struct img_mklayer *img_mklayer_begin(struct img_store *s, const struct img_mklayer_opts *o);

/* One entry (path cleaned, relative, no trailing slash); a FILE's size bytes follow with
 * img_mklayer_data. src (may be NULL) gives xattrs and device numbers. 0 or -1. */
int img_mklayer_entry(struct img_mklayer *l, const char *path, enum img_ent_type type,
                      mode_t perm, int64_t uid, int64_t gid, int64_t mtime, int64_t size,
                      const char *link, struct archive_entry *src);
int img_mklayer_data(struct img_mklayer *l, const void *buf, size_t n);
/* 1 when path was written already (as anything), else 0. */
int img_mklayer_has(struct img_mklayer *l, const char *path);

/* How a tree or an archive is written. */
struct img_mklayer_map {
	const char *prefix;    /* put before every path ("usr/share"), NULL or "" for none */
	int64_t uid, gid;      /* -1: as found */
	int mode;              /* permission bits for everything, -1: as found */
	int overlay;           /* an overlay upper dir: char devices 0/0 become ".wh.NAME",
	                        * a directory with trusted.overlay.opaque=y gets ".wh..wh..opq",
	                        * trusted.overlay.* xattrs are dropped */
	/* 1: leave rel out (a directory with all it holds); NULL keeps all */
	int (*skip)(void *arg, const char *rel, int is_dir);
	void *skip_arg;
	/* img_mklayer_dir: names deleted below dir (rel, in the walk's order: see
	 * img_mklayer_walkcmp), written as ".wh.NAME" where the name would stand */
	const char *const *whiteouts;
	size_t nwhiteouts;
};

/* The order of img_dirwalk_run for two paths below one root: <0, 0, >0. */
int img_mklayer_walkcmp(const char *a, const char *b);

/* What the directory dir holds (not dir itself). 0 or -1. */
int img_mklayer_dir(struct img_mklayer *l, const char *dir, const struct img_mklayer_map *m);
/* One file, directory (with what it holds) or symlink src, written as dest. 0 or -1. */
int img_mklayer_path(struct img_mklayer *l, const char *src, const char *dest,
                     const struct img_mklayer_map *m);
/* The entries of an archive read from fd (any tar dialect and compression; whiteout
 * entries checked). 0 or -1. */
int img_mklayer_archive(struct img_mklayer *l, int fd, const struct img_mklayer_map *m);

/* End the tar, flush and commit the blob: its digest and size, the diff_id.
 * 0 or -1. Free the writer with img_mklayer_free either way. */
int img_mklayer_finish(struct img_mklayer *l, struct img_digest *blob, int64_t *blob_size,
                       struct img_digest *diff_id);
/* Number of entries written so far. */
uint64_t img_mklayer_count(const struct img_mklayer *l);
/* Abort (when not finished) and free. NULL is fine. */
void img_mklayer_free(struct img_mklayer *l);

#endif
