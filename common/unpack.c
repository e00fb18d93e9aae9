/* unpack: layers written into a directory (see unpack.h): the layer loop, what the
 * layers above hide and is skipped, directory modes and times at the end. Names are
 * written by unpack-put.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>

#include "util.h"
#include "unpack-int.h"

/* ---- skipped entries ---- */

static uint64_t ino_hash(const struct img_tree_inode *ino)
{
	return img_htab_fnv(&ino, sizeof(ino));
}

static int skip_eq(size_t idx, const void *key, const void *arg)
{
	const struct skip *v = arg;
	return v[idx].ino == key;
}

static struct skip *skip_find(struct img_unpack *u, const struct img_tree_inode *ino)
{
	size_t i;

	if (!u->nskips)
		return NULL;
	i = img_htab_find(&u->skipidx, ino_hash(ino), skip_eq, ino, u->skips);
	return i == IMG_HTAB_NONE ? NULL : &u->skips[i];
}

static void skip_names_free(struct skip *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	s->names = NULL;
	s->n = s->cap = 0;
}

static void skips_clear(struct img_unpack *u)
{
	for (size_t i = 0; i < u->nskips; i++)
		skip_names_free(&u->skips[i]);
	free(u->skips);
	u->skips = NULL;
	u->nskips = u->skipcap = 0;
	img_htab_clear(&u->skipidx);
}

/* The tree lost a name: a skipped inode gone (its entry is never written) or a hard
 * link to one replaced. */
static void on_removed(void *arg, const struct img_tree_node *node, int last, int layer)
{
	struct img_unpack *u = arg;
	struct skip *s = skip_find(u, node->ino);

	(void)layer;
	if (!s)
		return;
	if (last) {
		skip_names_free(s);
		s->ino = NULL;      /* its address may come back as another inode */
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->names[i], node->path) == 0) {
			free(s->names[i]);
			memmove(s->names + i, s->names + i + 1, (s->n - i - 1) * sizeof(*s->names));
			s->n--;
			return;
		}
	}
}

struct img_unpack *img_unpack_new(int rootfd, int flags)
{
	struct img_unpack *u = xcalloc(1, sizeof(*u));

	u->root = rootfd;
	u->flags = flags;
	u->tree = img_tree_new();
	img_tree_set_removed(u->tree, on_removed, u);
	for (size_t i = 0; i < sizeof(u->cache) / sizeof(u->cache[0]); i++)
		u->cache[i].fd = -1;
	{
		struct stat st;
		/* a setgid root would give new names its group */
		u->skip_owner = geteuid() == 0 && getegid() == 0 && fstat(rootfd, &st) == 0 &&
		                !(st.st_mode & S_ISGID);
	}
	return u;
}

void img_unpack_free(struct img_unpack *u)
{
	if (!u)
		return;
	img_unpack_put_forget_under(u, "");
	skips_clear(u);
	img_tree_free(u->tree);
	img_tree_read_pathset_free(u->upper);
	img_tree_read_cover_free(u->cover);
	free(u);
}

unsigned long img_unpack_skipped_devices(const struct img_unpack *u)
{
	return u->devs;
}

unsigned long img_unpack_skipped_xattrs(const struct img_unpack *u)
{
	return u->xattrs;
}

/* ---- what the layers above hide ---- */

struct above { struct img_tree_cover *cover; int layer; };

static int cover_add(void *arg, const struct img_tree_rec *r)
{
	struct above *a = arg;

	img_tree_read_cover_add(a->cover, a->layer, r);
	return 0;
}

int img_unpack_read_above(struct img_unpack *u, int layer, int fd)
{
	struct img_pathset *none = img_tree_read_pathset_new();   /* no file's bytes hashed */
	struct above a;
	int rc;

	if (!u->cover)
		u->cover = img_tree_read_cover_new();
	a.cover = u->cover;
	a.layer = layer;
	rc = img_tree_read_scan_layer_sel(fd, none, cover_add, &a);
	img_tree_read_pathset_free(none);
	return rc;
}

/* Entry r, number k of the layer (applied to the tree; had: a name was at its path
 * before, had_dir: a directory)
 * when the layers above hide it: not written, what it replaces removed. A regular file,
 * symlink, device or FIFO becomes a skip (written at the end of the layer if a hard
 * link of this layer that stays needs it); a hard link to a skipped inode joins its
 * names. 1 when so, 0 when r is to be written, -1 on error. */
static int skip_entry(struct img_unpack *u, const struct img_tree_rec *r, size_t k, int had,
                      int had_dir)
{
	const struct img_tree_node *n;
	struct skip *s;

	if (r->type == IMG_ENT_HARDLINK) {
		if (strcmp(r->link, r->path) == 0 || !(n = img_tree_get(u->tree, r->path)) ||
		    !(s = skip_find(u, n->ino)))
			return 0;
		if (had && img_unpack_put_remove(u, r->path) < 0)
			return -1;
		IMG_GROW(s->names, s->n + 1, s->cap);
		s->names[s->n++] = xstrdup(r->path);
		return 1;
	}
	if (!img_tree_read_cover_hides(u->cover, u->layer, r->path, r->type == IMG_ENT_DIR))
		return 0;
	if (r->type == IMG_ENT_DIR) {
		/* a directory merges; anything else there goes */
		if (had && !had_dir && img_unpack_put_remove(u, r->path) < 0)
			return -1;
		return 1;
	}
	/* a layer above links to it: written, for the link */
	if (img_tree_read_cover_linked(u->cover, u->layer, r->path))
		return 0;
	if (had && img_unpack_put_remove(u, r->path) < 0)
		return -1;
	n = img_tree_get(u->tree, r->path);
	IMG_GROW(u->skips, u->nskips + 1, u->skipcap);
	s = &u->skips[u->nskips];
	memset(s, 0, sizeof(*s));
	s->ino = n->ino;
	s->rec = k;
	img_htab_add(&u->skipidx, ino_hash(n->ino), u->nskips++);
	return 1;
}

/* Keep the names of s that stay after the layers above (or that one of them links
 * to): those are written. The count kept. */
static size_t skip_needed(struct img_unpack *u, struct skip *s)
{
	size_t kept = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (img_tree_read_cover_hides(u->cover, u->layer, s->names[i], 0) &&
		    !img_tree_read_cover_linked(u->cover, u->layer, s->names[i]))
			free(s->names[i]);
		else
			s->names[kept++] = s->names[i];
	}
	s->n = kept;
	return kept;
}

/* At the end of the layer on fd (which began at offset start): the skipped entries
 * that hard links of the layer need, read again and written at those links' names
 * (rare: a file the layers above replace, linked by a name they keep). */
static int write_needed(struct img_unpack *u, int fd, off_t start)
{
	struct img_lread *rd;
	struct img_tree_rec r;
	struct img_arcin_entry e;
	size_t *need = NULL, nn = 0, cap = 0, k = 0, j = 0;
	int rc = 0, ret = -1;

	for (size_t i = 0; i < u->nskips; i++) {
		if (u->skips[i].ino && skip_needed(u, &u->skips[i])) {
			IMG_GROW(need, nn + 1, cap);
			need[nn++] = i;
		}
	}
	if (nn == 0)
		return 0;
	if (lseek(fd, start, SEEK_SET) < 0) {
		img_seterr_errno("cannot read the layer again");
		free(need);
		return -1;
	}
	if (img_lread_open(fd, &rd) < 0) {
		free(need);
		return -1;
	}
	while (j < nn && (rc = img_lread_next(rd, &r, &e)) == 1) {
		struct skip *s = &u->skips[need[j]];
		if (k++ != s->rec)
			continue;
		j++;
		if (r.kind != IMG_TREE_ENTRY || r.type != (enum img_ent_type)s->ino->type ||
		    strcmp(r.path, s->ino->origin) != 0) {
			img_seterr("the layer changed between two reads");
			goto out;
		}
		/* the first name gets the entry, the others link to it */
		r.path = s->names[0];
		if (img_unpack_put_entry(u, rd, &r, e.ae, 0) < 0)
			goto out;
		for (size_t i = 1; i < s->n; i++) {
			struct img_tree_rec h;
			memset(&h, 0, sizeof(h));
			h.kind = IMG_TREE_ENTRY;
			h.type = IMG_ENT_HARDLINK;
			h.path = s->names[i];
			h.link = s->names[0];
			if (img_unpack_put_entry(u, NULL, &h, NULL, 0) < 0)
				goto out;
		}
	}
	if (rc < 0)
		goto out;
	if (j < nn) {
		img_seterr("the layer changed between two reads");
		goto out;
	}
	ret = 0;
out:
	img_lread_free(rd);
	free(need);
	return ret;
}

int img_unpack_layer(struct img_unpack *u, int fd)
{
	struct img_lread *rd;
	struct img_tree_rec r;
	struct img_arcin_entry e;
	/* skipping what the layers above hide needs a second read of this one at times */
	off_t start = u->cover ? lseek(fd, 0, SEEK_CUR) : -1;
	int skipping = start >= 0, rc, ret = -1;
	size_t k = 0;

	u->layer = u->nlayers++;
	if (img_lread_open(fd, &rd) < 0)
		return -1;
	img_tree_read_pathset_free(u->upper);
	u->upper = img_tree_read_pathset_new();
	img_tree_layer_begin(u->tree, u->layer);
	while ((rc = img_lread_next(rd, &r, &e)) == 1) {
		int had = 0, had_dir = 0;
		if (r.kind == IMG_TREE_ENTRY && r.path[0]) {
			const struct img_tree_node *old = img_tree_get(u->tree, r.path);
			had = old != NULL;
			had_dir = old && old->ino->type == IMG_ENT_DIR;
		}
		/* the tree first: what it refuses (a hard link to a missing target or to a
		 * directory) is refused before the disk changes */
		if (img_tree_apply(u->tree, &r) < 0)
			goto out;
		if (r.kind == IMG_TREE_WHITEOUT)
			rc = img_unpack_put_whiteout(u, &r);
		else if (r.kind == IMG_TREE_OPAQUE)
			rc = img_unpack_put_opaque(u, &r);
		else if (!skipping || !r.path[0] || (rc = skip_entry(u, &r, k, had, had_dir)) == 0)
			/* with the layers above known, a non-directory replaced was skipped */
			rc = img_unpack_put_entry(u, rd, &r, e.ae, had_dir || (had && !u->cover));
		if (rc < 0)
			goto out;
		if (r.kind != IMG_TREE_WHITEOUT && r.path[0])
			img_tree_read_pathset_add(u->upper, r.path, 1);
		k++;
	}
	if (rc < 0)
		goto out;
	img_lread_free(rd);
	rd = NULL;
	if (skipping && write_needed(u, fd, start) < 0)
		goto out;
	ret = 0;
out:
	skips_clear(u);
	img_tree_layer_end(u->tree);
	img_lread_free(rd);
	return ret;
}

int img_unpack_finish(struct img_unpack *u)
{
	const struct img_tree_node **v;
	const struct img_tree_node *root = img_tree_get(u->tree, "");
	size_t n = img_tree_sorted(u->tree, &v);
	int ret = 0;

	img_unpack_put_forget_under(u, "");
	/* children before their parents: a parent's mode may shut them out */
	for (size_t i = n; i-- > 0 && ret == 0;) {
		const struct img_tree_inode *ino = v[i]->ino;
		struct img_tree_rec r;
		int fd;
		if (ino->type != IMG_ENT_DIR)
			continue;
		/* made here when all written under it was skipped */
		fd = img_unpack_put_open_dir(u, v[i]->path, strlen(v[i]->path), 1);
		if (fd < 0) {
			ret = -1;
			break;
		}
		memset(&r, 0, sizeof(r));
		r.path = v[i]->path;
		r.mode = ino->mode;
		r.mtime = ino->mtime;
		{
			struct timespec ts[2];
			ts[0].tv_sec = ts[1].tv_sec = (time_t)r.mtime;
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
			if (fchmod(fd, img_unpack_put_perm(u, r.mode)) < 0 || futimens(fd, ts) < 0) {
				img_unpack_put_path_err("cannot set mode and times", r.path);
				ret = -1;
			}
		}
		close(fd);
	}
	if (ret == 0 && root && !root->ino->implicit) {
		struct timespec ts[2];
		ts[0].tv_sec = ts[1].tv_sec = (time_t)root->ino->mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (fchmod(u->root, img_unpack_put_perm(u, root->ino->mode)) < 0 || futimens(u->root, ts) < 0) {
			img_unpack_put_path_err("cannot set mode and times", "");
			ret = -1;
		}
	}
	free(v);
	return ret;
}

int img_unpack_view(struct img_view *v, int rootfd, int flags, unsigned long *devs,
                    unsigned long *xattrs)
{
	struct img_unpack *u = img_unpack_new(rootfd, flags);
	int ret = -1;

	/* the layers above the first, headers only: what they hide is not written */
	for (size_t i = 1; i < v->nlayers; i++) {
		int fd = img_view_open_layer(v, i), rc;
		if (fd < 0)
			goto out;
		rc = img_unpack_read_above(u, (int)i, fd);
		close(fd);
		if (rc < 0) {
			img_seterr("layer %s: %s", v->layers[i].blob.str, img_errmsg());
			goto out;
		}
	}
	for (size_t i = 0; i < v->nlayers; i++) {
		int fd = img_view_open_layer(v, i), rc;
		if (fd < 0)
			goto out;
		rc = img_unpack_layer(u, fd);
		close(fd);
		if (rc < 0) {
			img_seterr("layer %s: %s", v->layers[i].blob.str, img_errmsg());
			goto out;
		}
	}
	if (img_unpack_finish(u) < 0)
		goto out;
	ret = 0;
out:
	if (devs)
		*devs = u->devs;
	if (xattrs)
		*xattrs = u->xattrs;
	img_unpack_free(u);
	return ret;
}
