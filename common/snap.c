/* snap: what changed in a directory tree, by snapshots (see snap.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "htab.h"
#include "dirwalk.h"
#include "mklayer.h"
#include "snap.h"

struct snap_ent {
	char *rel;
	struct stat st;
	int seen;               /* found again after */
	int dir_after;          /* ... as a directory */
};

/* A set of paths: the entries (rel strings) of a table. */
struct pathtab {
	char **v;
	size_t n, cap;
	struct img_htab tab;
};

struct img_snap {
	struct snap_ent *v;
	size_t n, cap;
	struct img_htab tab;
};

static int
snap_eq(size_t idx, const void *key, const void *arg)
{
	const struct img_snap *sn = arg;

	return strcmp(sn->v[idx].rel, key) == 0;
}

static size_t
snap_find(const struct img_snap *sn, const char *rel)
{
	return img_htab_find(&sn->tab, img_htab_fnv(rel, strlen(rel)), snap_eq, rel, sn);
}

static int
pt_eq(size_t idx, const void *key, const void *arg)
{
	const struct pathtab *t = arg;

	return strcmp(t->v[idx], key) == 0;
}

static int
pt_has(const struct pathtab *t, const char *rel, size_t n)
{
	char *k = xstrndup(rel, n);
	int r = img_htab_find(&t->tab, img_htab_fnv(k, n), pt_eq, k, t) != IMG_HTAB_NONE;

	free(k);
	return r;
}

/* Add rel and the directories above it. */
static void
pt_add_up(struct pathtab *t, const char *rel)
{
	size_t n = strlen(rel);

	for (;;) {
		if (pt_has(t, rel, n))
			return;       /* and so are the ones above */
		IMG_GROW(t->v, t->n + 1, t->cap);
		t->v[t->n] = xstrndup(rel, n);
		img_htab_add(&t->tab, img_htab_fnv(rel, n), t->n++);
		while (n > 0 && rel[n - 1] != '/')
			n--;
		if (n == 0)
			return;
		n--;            /* the slash */
	}
}

static void
pt_free(struct pathtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	img_htab_clear(&t->tab);
}

static int
take_one(const struct img_dirwalk_entry *e, void *arg)
{
	struct img_snap *sn = arg;

	IMG_GROW(sn->v, sn->n + 1, sn->cap);
	memset(&sn->v[sn->n], 0, sizeof sn->v[sn->n]);
	sn->v[sn->n].rel = xstrdup(e->rel);
	sn->v[sn->n].st = e->st;
	img_htab_add(&sn->tab, img_htab_fnv(e->rel, strlen(e->rel)), sn->n++);
	return 0;
}

struct img_snap *
img_snap_take(const char *root)
{
	struct img_snap *sn = xcalloc(1, sizeof *sn);

	if (img_dirwalk_run(root, take_one, sn) < 0) {
		img_snap_free(sn);
		return NULL;
	}
	return sn;
}

void
img_snap_free(struct img_snap *sn)
{
	if (!sn)
		return;
	for (size_t i = 0; i < sn->n; i++)
		free(sn->v[i].rel);
	free(sn->v);
	img_htab_clear(&sn->tab);
	free(sn);
}

static int
same(const struct stat *a, const struct stat *b)
{
	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT) || a->st_ino != b->st_ino ||
	    a->st_dev != b->st_dev || a->st_mode != b->st_mode || a->st_uid != b->st_uid ||
	    a->st_gid != b->st_gid || a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	    a->st_ctim.tv_nsec != b->st_ctim.tv_nsec || a->st_rdev != b->st_rdev)
		return 0;
	/* a directory's size and mtime move with what it holds */
	return S_ISDIR(a->st_mode) || (a->st_size == b->st_size &&
	                               a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	                               a->st_mtim.tv_nsec == b->st_mtim.tv_nsec);
}

struct diff {
	struct img_snap *sn;
	struct pathtab emit;
	int (*skip)(void *arg, const char *rel, int is_dir);
	void *skip_arg;
};

static int
diff_one(const struct img_dirwalk_entry *e, void *arg)
{
	struct diff *d = arg;
	int is_dir = e->type == IMG_ENT_DIR;
	size_t i;

	if (d->skip && d->skip(d->skip_arg, e->rel, is_dir))
		return is_dir ? 1 : 0;
	i = snap_find(d->sn, e->rel);
	if (i != IMG_HTAB_NONE) {
		d->sn->v[i].seen = 1;
		d->sn->v[i].dir_after = is_dir;
	}
	if (i == IMG_HTAB_NONE || !same(&d->sn->v[i].st, &e->st)) {
		pt_add_up(&d->emit, e->rel);
		/* a new name of an old file: the file comes along (its first name) */
		if (e->type == IMG_ENT_HARDLINK)
			pt_add_up(&d->emit, e->link);
	}
	return 0;
}

static int
skip_unchanged(void *arg, const char *rel, int is_dir)
{
	struct diff *d = arg;

	(void)is_dir;
	return !pt_has(&d->emit, rel, strlen(rel));
}

static int
cmp_walk(const void *a, const void *b)
{
	return img_mklayer_walkcmp(*(const char *const *)a, *(const char *const *)b);
}

int
img_snap_layer(struct img_snap *sn, const char *root, struct img_mklayer *l,
               int (*skip)(void *arg, const char *rel, int is_dir), void *skip_arg)
{
	struct diff d = { .sn = sn, .skip = skip, .skip_arg = skip_arg };
	const char **wh = NULL;
	size_t nwh = 0, whcap = 0;
	int rc = -1;

	for (size_t i = 0; i < sn->n; i++)
		sn->v[i].seen = sn->v[i].dir_after = 0;
	if (img_dirwalk_run(root, diff_one, &d) < 0)
		goto out;
	/* deleted: the names whose directory is still there (a deleted directory is one
	 * whiteout, not one for each name it held) */
	for (size_t i = 0; i < sn->n; i++) {
		const char *rel = sn->v[i].rel, *slash = strrchr(rel, '/');
		if (sn->v[i].seen)
			continue;
		if (slash) {
			char *parent = xstrndup(rel, (size_t)(slash - rel));
			size_t p = snap_find(sn, parent);
			int keep = p != IMG_HTAB_NONE && sn->v[p].seen && sn->v[p].dir_after;
			free(parent);
			if (!keep)
				continue;
			pt_add_up(&d.emit, parent = xstrndup(rel, (size_t)(slash - rel)));
			free(parent);
		}
		IMG_GROW(wh, nwh + 1, whcap);
		wh[nwh++] = rel;
	}
	if (nwh > 1)
		qsort(wh, nwh, sizeof *wh, cmp_walk);
	{
		struct img_mklayer_map m = { .uid = -1, .gid = -1, .mode = -1,
		                             .skip = skip_unchanged, .skip_arg = &d,
		                             .whiteouts = wh, .nwhiteouts = nwh };
		rc = img_mklayer_dir(l, root, &m);
	}
out:
	free(wh);
	pt_free(&d.emit);
	return rc;
}
