/* dset: a hash set of digests in insertion order (see dset.h). */
#include <stdlib.h>
#include <string.h>

#include "dset.h"
#include "util.h"

/* The hex of a digest is uniformly distributed already: its first 16 digits will do. */
static uint64_t dhash(const struct img_digest *d)
{
	const char *h = img_digest_hex(d);
	uint64_t v = 0;
	int i;

	for (i = 0; i < 16 && h[i]; i++)
		v = v * 16 + (uint64_t)(h[i] <= '9' ? h[i] - '0' : h[i] - 'a' + 10);
	return v ^ (uint64_t)d->alg;
}

static int deq(size_t idx, const void *key, const void *arg)
{
	const struct img_dset *s = arg;

	return strcmp(s->e[idx].d.str, ((const struct img_digest *)key)->str) == 0;
}

struct img_dset_entry *img_dset_find(const struct img_dset *s, const struct img_digest *d)
{
	size_t i = img_htab_find(&s->tab, dhash(d), deq, d, s);

	return i == IMG_HTAB_NONE ? NULL : &s->e[i];
}

struct img_dset_entry *img_dset_add(struct img_dset *s, const struct img_digest *d, int *isnew)
{
	uint64_t h = dhash(d);
	size_t i = img_htab_find(&s->tab, h, deq, d, s);

	if (isnew)
		*isnew = i == IMG_HTAB_NONE;
	if (i != IMG_HTAB_NONE)
		return &s->e[i];
	IMG_GROW(s->e, s->n + 1, s->cap);
	memset(&s->e[s->n], 0, sizeof(s->e[s->n]));
	s->e[s->n].d = *d;
	img_htab_add(&s->tab, h, s->n);
	s->tabcap = s->tab.cap;
	return &s->e[s->n++];
}

void img_dset_clear(struct img_dset *s)
{
	free(s->e);
	img_htab_clear(&s->tab);
	memset(s, 0, sizeof(*s));
}
