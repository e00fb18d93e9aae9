/* dset: a hash set of digests in insertion order (see dset.h). */
#include <stdlib.h>
#include <string.h>

#include "dset.h"
#include "util.h"

/* The hex of a digest is uniformly distributed already: its first 16 digits will do. */
static size_t dhash(const struct img_digest *d)
{
	const char *h = img_digest_hex(d);
	size_t v = 0;
	int i;

	for (i = 0; i < 16 && h[i]; i++)
		v = v * 16 + (size_t)(h[i] <= '9' ? h[i] - '0' : h[i] - 'a' + 10);
	return v ^ (size_t)d->alg;
}

/* The slot that holds d, or the empty slot where it would go. tabcap > 0. */
static size_t *slot_of(const struct img_dset *s, const struct img_digest *d)
{
	size_t mask = s->tabcap - 1, i = dhash(d) & mask;

	for (;; i = (i + 1) & mask) {
		size_t k = s->tab[i];
		if (!k || strcmp(s->e[k - 1].d.str, d->str) == 0)
			return &s->tab[i];
	}
}

struct img_dset_entry *img_dset_find(const struct img_dset *s, const struct img_digest *d)
{
	size_t *slot;

	if (!s->tabcap)
		return NULL;
	slot = slot_of(s, d);
	return *slot ? &s->e[*slot - 1] : NULL;
}

struct img_dset_entry *img_dset_add(struct img_dset *s, const struct img_digest *d, int *isnew)
{
	size_t *slot;

	if ((s->n + 1) * 2 > s->tabcap) {
		size_t i, ncap = s->tabcap ? s->tabcap * 2 : 64;

		free(s->tab);
		s->tab = xcalloc(ncap, sizeof(*s->tab));
		s->tabcap = ncap;
		for (i = 0; i < s->n; i++)
			*slot_of(s, &s->e[i].d) = i + 1;
	}
	slot = slot_of(s, d);
	if (*slot) {
		if (isnew)
			*isnew = 0;
		return &s->e[*slot - 1];
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 32;
		s->e = xreallocarray(s->e, s->cap, sizeof(*s->e));
	}
	memset(&s->e[s->n], 0, sizeof(s->e[s->n]));
	s->e[s->n].d = *d;
	*slot = ++s->n;
	if (isnew)
		*isnew = 1;
	return &s->e[s->n - 1];
}

void img_dset_clear(struct img_dset *s)
{
	free(s->e);
	free(s->tab);
	memset(s, 0, sizeof(*s));
}
