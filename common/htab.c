/* htab: open-addressing hash index over the caller's entries (see htab.h). */
#include <stdlib.h>

#include "htab.h"
#include "util.h"

uint64_t img_htab_fnv(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

size_t img_htab_find(const struct img_htab *t, uint64_t h, img_htab_eq_fn eq,
                     const void *key, const void *arg)
{
	size_t mask, i;

	if (!t->cap)
		return IMG_HTAB_NONE;
	mask = t->cap - 1;
	for (i = (size_t)h & mask; t->slot[i].idx; i = (i + 1) & mask)
		if (t->slot[i].hash == h && (!eq || eq(t->slot[i].idx - 1, key, arg)))
			return t->slot[i].idx - 1;
	return IMG_HTAB_NONE;
}

static void put(struct img_htab_slot *slot, size_t cap, uint64_t h, size_t idx1)
{
	size_t i;

	for (i = (size_t)h & (cap - 1); slot[i].idx; i = (i + 1) & (cap - 1))
		;
	slot[i].hash = h;
	slot[i].idx = idx1;
}

void img_htab_add(struct img_htab *t, uint64_t h, size_t idx)
{
	if ((t->n + 1) * 2 > t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct img_htab_slot *ns = xcalloc(ncap, sizeof(*ns));

		for (size_t i = 0; i < t->cap; i++)
			if (t->slot[i].idx)
				put(ns, ncap, t->slot[i].hash, t->slot[i].idx);
		free(t->slot);
		t->slot = ns;
		t->cap = ncap;
	}
	put(t->slot, t->cap, h, idx + 1);
	t->n++;
}

void img_htab_clear(struct img_htab *t)
{
	free(t->slot);
	t->slot = NULL;
	t->cap = t->n = 0;
}
