/* mark: what the images of a store reach (img-gc, img-rm).
 *
 * Marking walks from descriptors (index.json entries) through nested indexes, manifests,
 * configs, layers and subjects (img_store_walk, tolerant of missing blobs) and adds each
 * digest it meets to a set. A manifest or index that is present but cannot be read makes
 * the result unsafe: what it references is unknown, so nothing may be deleted on its
 * account. A zeroed struct img_mark is ready to use. */
#ifndef IMG_MARK_H
#define IMG_MARK_H

#include <stddef.h>
#include <jansson.h>
#include "dset.h"
#include "image.h"
#include "store.h"

/* Flag of set entries: a manifest or index already descended into. Other bits (from
 * IMG_MARK_USER up) are free for the caller. */
enum { IMG_MARK_EXPANDED = 1, IMG_MARK_USER = 0x100 };

struct img_mark {
	struct img_dset set;     /* every digest reached, in walk order */
	int unsafe;              /* a present manifest or index could not be read */
	char *why;               /* the first reason it is unsafe (owned) */
	int no_probe;            /* set by the caller: do not read manifests and indexes
	                          * to tell absent from damaged (unsafe then stays 0) */
	/* Optional, set by the caller: called for every descriptor the walk meets (again
	 * when met again) before it is descended into; idx is its entry in set, isnew whether
	 * this is the first meeting. 0 to go on, -1 to stop the marking (it returns -1). */
	int (*visit)(struct img_mark *m, struct img_store *s, const struct img_desc *d,
	             size_t idx, int isnew);
	void *arg;               /* for visit */
};

/* Mark from one descriptor. 0, or -1 with img_errmsg() when the walk failed. */
int img_mark_desc(struct img_mark *m, struct img_store *s, const struct img_desc *d);
/* Mark from the entries of an index document for which pick(entry, arg) is true (every
 * entry when pick is NULL). No manifests array, or an entry that is not a descriptor,
 * makes the result unsafe. 0, or -1 with img_errmsg() when a walk failed. */
int img_mark_index(struct img_mark *m, struct img_store *s, json_t *index,
                   int (*pick)(json_t *entry, void *arg), void *arg);
/* Mark from the image of each container in the store's run area (run.h): a kept
 * container's image is live. A container whose image file cannot be read makes the
 * result unsafe. 0, or -1 with img_errmsg() when a walk failed. */
int img_mark_containers(struct img_mark *m, struct img_store *s);
/* Free the set and why; the caller's settings (no_probe, visit, arg) are kept. */
void img_mark_clear(struct img_mark *m);

#endif
