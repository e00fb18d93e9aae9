/* htab: the hash index every table of common/ and tools/ uses: open addressing over
 * entries the caller keeps in its own array (so an entry's index is stable), each slot
 * holding an entry's hash and index. A zeroed struct img_htab is empty.
 *
 * The caller hashes its keys (img_htab_fnv for bytes; a digest's hex is hash enough)
 * and says how a key matches an entry (eq); with eq NULL equal hashes match, which makes
 * a set of 64-bit hashes. */
#ifndef IMG_HTAB_H
#define IMG_HTAB_H

#include <stddef.h>
#include <stdint.h>

#define IMG_HTAB_NONE ((size_t)-1)

struct img_htab_slot {
	uint64_t hash;
	size_t idx;              /* entry index + 1; 0 is an empty slot */
};

struct img_htab {
	struct img_htab_slot *slot;
	size_t cap;              /* a power of two, at least twice n (0 before the first add) */
	size_t n;
};

/* eq(idx, key, arg): 1 when entry idx of the caller's array has the key. */
typedef int (*img_htab_eq_fn)(size_t idx, const void *key, const void *arg);

/* FNV-1a (64 bits) of n bytes: the byte-string hash. */
uint64_t img_htab_fnv(const void *p, size_t n);
/* The index of the entry with hash h that eq says has key, or IMG_HTAB_NONE. */
size_t img_htab_find(const struct img_htab *t, uint64_t h, img_htab_eq_fn eq,
                     const void *key, const void *arg);
/* Index entry idx under hash h (the caller found it absent). */
void img_htab_add(struct img_htab *t, uint64_t h, size_t idx);
/* Free the slots; the table is empty again. */
void img_htab_clear(struct img_htab *t);

#endif
