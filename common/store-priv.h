/* store-priv: what the store's modules share: store.c (layout, locks, index.json), blob.c
 * (blobs/ and .img/tmp) and run.c (.img/run). Private to those: no other file includes it. */
#ifndef IMG_STORE_PRIV_H
#define IMG_STORE_PRIV_H

#include "dset.h"
#include "store.h"

#define IMG_STORE_TMP_DIR ".img/tmp"

struct img_store {
	char *path;
	char *tmpdir;
	int dfd;
	int lockfd;
	int lockmode;              /* 0, IMG_LOCK_SHARED, IMG_LOCK_EXCLUSIVE */
	void (*waiting)(void *);
	void *warg;
	_Atomic int blobs_dirty;   /* blobs/<alg>/ need an fsync before index.json names them
	                              (set by the blob writers of several threads) */
	/* manifest (or index) digest -> config digest, for resolving IDs: cfgs[i] is the
	 * config of cfgkeys.e[i] */
	struct img_dset cfgkeys;
	struct img_digest *cfgs;
	size_t cfgcap;
};

/* Create .img, .img/tmp and blobs/sha256 when missing. 0 or -1. */
int img_store_ensure_dirs(struct img_store *s);
/* mkdirat that accepts an existing directory. 0 or -1. */
int img_store_mkdirat(int dfd, const char *name);
/* Create .img/tmp/<prefix><random> (O_EXCL, oflags added); name gets the store-relative
 * path. fd, or -1 (errno kept: EINVAL when oflags are refused). */
int img_store_tmp_create(struct img_store *s, const char *prefix, int oflags, char *name,
                         size_t len);

#endif
