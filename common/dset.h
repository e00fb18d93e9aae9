/* dset: a hash set of digests, kept in insertion order, with a flags word per entry.
 *
 * A zeroed struct img_dset is an empty set. Entries live in one array (s->e[0 .. s->n-1],
 * in the order they were added); img_dset_add may move it, so an entry pointer or the
 * array is valid only until the next add. An entry's index never changes. */
#ifndef IMG_DSET_H
#define IMG_DSET_H

#include <stddef.h>
#include "digest.h"
#include "htab.h"

struct img_dset_entry {
	struct img_digest d;
	unsigned flags;          /* free for the owner of the set (zero when added) */
};

struct img_dset {
	struct img_dset_entry *e;
	size_t n, cap;
	struct img_htab tab;
	size_t tabcap;           /* tab.cap (at least twice n), for checks */
};

/* The entry for d, added (flags 0) when absent; *isnew (may be NULL) says which. */
struct img_dset_entry *img_dset_add(struct img_dset *s, const struct img_digest *d, int *isnew);
/* The entry for d, or NULL. */
struct img_dset_entry *img_dset_find(const struct img_dset *s, const struct img_digest *d);
/* Free everything; the set is empty again (and reusable). */
void img_dset_clear(struct img_dset *s);

#endif
