/* export: an image's flattened tree as one tar (see export.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>

#include "util.h"
#include "tree.h"
#include "lread.h"
#include "export.h"

/* What the tree does not keep about an inode: where its bytes are (the layer and the
 * number of its record there) and its xattr values. Keyed by the inode's address, an entry
 * is dropped when the inode loses its last name (an address may then be reused). */
struct xattr { char *name; void *val; size_t len; };

struct meta {
	const struct img_tree_inode *ino;
	int layer;
	size_t rec;
	struct xattr *xa;
	size_t nxa;
	const char *first;          /* the name that carries it in the tar */
	struct meta *next;
};

struct exp {
	struct img_tree *tree;
	struct meta **b;
	size_t nb, count;
};

static size_t ptr_hash(const void *p, size_t nb)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (nb - 1);
}

static void meta_clear_xa(struct meta *m)
{
	for (size_t i = 0; i < m->nxa; i++) {
		free(m->xa[i].name);
		free(m->xa[i].val);
	}
	free(m->xa);
	m->xa = NULL;
	m->nxa = 0;
}

static struct meta *meta_get(struct exp *x, const struct img_tree_inode *ino, int create)
{
	struct meta *m;

	for (m = x->b[ptr_hash(ino, x->nb)]; m; m = m->next)
		if (m->ino == ino)
			return m;
	if (!create)
		return NULL;
	if (x->count >= x->nb) {
		size_t nb = x->nb * 2;
		struct meta **b = xcalloc(nb, sizeof(*b));
		for (size_t i = 0; i < x->nb; i++) {
			struct meta *n;
			for (m = x->b[i]; m; m = n) {
				size_t h = ptr_hash(m->ino, nb);
				n = m->next;
				m->next = b[h];
				b[h] = m;
			}
		}
		free(x->b);
		x->b = b;
		x->nb = nb;
	}
	m = xcalloc(1, sizeof(*m));
	m->ino = ino;
	m->layer = -1;
	m->next = x->b[ptr_hash(ino, x->nb)];
	x->b[ptr_hash(ino, x->nb)] = m;
	x->count++;
	return m;
}

static void meta_drop(struct exp *x, const struct img_tree_inode *ino)
{
	struct meta **pp = &x->b[ptr_hash(ino, x->nb)];

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->ino == ino) {
			struct meta *m = *pp;
			*pp = m->next;
			meta_clear_xa(m);
			free(m);
			x->count--;
			return;
		}
	}
}

static void on_removed(void *arg, const struct img_tree_node *node, int last, int layer)
{
	(void)layer;
	if (last)
		meta_drop(arg, node->ino);
}

/* After rec number k of layer i was applied: remember its xattrs (an entry sets them
 * all, as it sets the mode) and, for a new regular file, where its bytes are. */
static void note(struct exp *x, const struct img_tree_rec *r, struct archive_entry *ae,
                 int layer, size_t k)
{
	const struct img_tree_node *n;
	struct meta *m;
	const char *name;
	const void *val;
	size_t len, cap;

	if (r->kind != IMG_TREE_ENTRY || r->type == IMG_ENT_HARDLINK || !r->path[0])
		return;
	n = img_tree_get(x->tree, r->path);
	if (!n)
		return;
	m = meta_get(x, n->ino, 1);
	if (r->type == IMG_ENT_FILE) {
		m->layer = layer;
		m->rec = k;
	}
	meta_clear_xa(m);
	cap = (size_t)archive_entry_xattr_reset(ae);
	if (!cap)
		return;
	m->xa = xcalloc(cap, sizeof(*m->xa));
	while (m->nxa < cap && archive_entry_xattr_next(ae, &name, &val, &len) == ARCHIVE_OK) {
		m->xa[m->nxa].name = xstrdup(name);
		m->xa[m->nxa].val = xmalloc(len ? len : 1);
		memcpy(m->xa[m->nxa].val, val, len);
		m->xa[m->nxa].len = len;
		m->nxa++;
	}
}

static int cmp_xa(const void *a, const void *b)
{
	return strcmp(((const struct xattr *)a)->name, ((const struct xattr *)b)->name);
}

/* The tar header of name for inode ino (link: a hard link to it). */
static struct archive_entry *header(struct exp *x, const char *name,
                                    const struct img_tree_inode *ino, const char *link)
{
	struct archive_entry *e = archive_entry_new();
	struct meta *m = meta_get(x, ino, 0);
	mode_t type;

	if (!e) {
		img_seterr("out of memory");
		return NULL;
	}
	switch (ino->type) {
	case IMG_ENT_DIR: type = AE_IFDIR; break;
	case IMG_ENT_SYMLINK: type = AE_IFLNK; break;
	case IMG_ENT_CHR: type = AE_IFCHR; break;
	case IMG_ENT_BLK: type = AE_IFBLK; break;
	case IMG_ENT_FIFO: type = AE_IFIFO; break;
	default: type = AE_IFREG; break;
	}
	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, ino->mode & 07777);
	archive_entry_set_uid(e, ino->uid);
	archive_entry_set_gid(e, ino->gid);
	archive_entry_set_mtime(e, ino->mtime, 0);
	if (link) {
		archive_entry_copy_hardlink(e, link);
		archive_entry_set_size(e, 0);
		return e;
	}
	if (type == AE_IFLNK)
		archive_entry_copy_symlink(e, ino->link ? ino->link : "");
	if (type == AE_IFCHR || type == AE_IFBLK) {
		archive_entry_set_rdevmajor(e, ino->devmajor);
		archive_entry_set_rdevminor(e, ino->devminor);
	}
	if (type == AE_IFREG)
		archive_entry_set_size(e, ino->size);
	if (m && m->nxa) {
		qsort(m->xa, m->nxa, sizeof(*m->xa), cmp_xa);
		for (size_t i = 0; i < m->nxa; i++)
			archive_entry_xattr_add_entry(e, m->xa[i].name, m->xa[i].val, m->xa[i].len);
	}
	return e;
}

static int put(struct exp *x, struct img_arcout *a, const char *name,
               const struct img_tree_inode *ino, const char *link)
{
	struct archive_entry *e = header(x, name, ino, link);
	int r;

	if (!e)
		return -1;
	r = img_arcout_entry(a, e);
	archive_entry_free(e);
	return r;
}

/* A regular file whose bytes are in layer `layer`, record `rec`, written as `name`. */
struct job {
	int layer;
	size_t rec;
	const struct img_tree_node *node;
};

static int cmp_job(const void *a, const void *b)
{
	const struct job *x = a, *y = b;
	if (x->layer != y->layer)
		return x->layer < y->layer ? -1 : 1;
	return x->rec < y->rec ? -1 : x->rec > y->rec;
}

static int layer_err(struct img_view *v, size_t i)
{
	img_seterr_prefix("layer %s", v->layers[i].blob.str);
	return -1;
}

/* Pass 1: the tree with its side data. */
static int build(struct exp *x, struct img_view *v)
{
	for (size_t i = 0; i < v->nlayers; i++) {
		struct img_lread *r;
		struct img_tree_rec rec;
		struct img_arcin_entry e;
		size_t k = 0;
		int fd = img_view_open_layer(v, i), rc;

		if (fd < 0)
			return -1;
		if (img_lread_open(fd, &r) < 0) {
			close(fd);
			return layer_err(v, i);
		}
		img_tree_layer_begin(x->tree, (int)i);
		while ((rc = img_lread_next(r, &rec, &e)) == 1) {
			if (img_tree_apply(x->tree, &rec) < 0)
				break;
			note(x, &rec, e.ae, (int)i, k++);
		}
		img_tree_layer_end(x->tree);
		img_lread_free(r);
		close(fd);
		if (rc != 0)
			return layer_err(v, i);
	}
	return 0;
}

/* Pass 2: the bytes of each file in jobs (sorted), copied from its layer. */
static int copy_files(struct exp *x, struct img_view *v, struct img_arcout *a,
                      struct job *jobs, size_t nj)
{
	size_t j = 0;

	for (size_t i = 0; i < v->nlayers && j < nj; i++) {
		struct img_lread *r;
		struct img_tree_rec rec;
		size_t k = 0;
		int fd, rc = 1;

		if (jobs[j].layer != (int)i)
			continue;
		if ((fd = img_view_open_layer(v, i)) < 0)
			return -1;
		if (img_lread_open(fd, &r) < 0) {
			close(fd);
			return layer_err(v, i);
		}
		while (j < nj && jobs[j].layer == (int)i && (rc = img_lread_next(r, &rec, NULL)) == 1) {
			const struct img_tree_inode *ino = jobs[j].node->ino;
			const void *buf;
			size_t n;
			int64_t got = 0;
			int b;

			if (k++ != jobs[j].rec)
				continue;
			j++;
			if (put(x, a, jobs[j - 1].node->path, ino, NULL) < 0) {
				rc = -2;
				break;
			}
			while ((b = img_lread_block(r, &buf, &n)) == 1) {
				if (img_arcout_data(a, buf, n) < 0)
					break;
				got += (int64_t)n;
			}
			if (b != 0 || got != ino->size) {
				if (b == 0)
					img_seterr("'%s': size changed between two reads", rec.path);
				rc = b < 0 ? -1 : -2;
				break;
			}
		}
		img_lread_free(r);
		close(fd);
		if (rc == -1)
			return layer_err(v, i);
		if (rc < 0)
			return -1;
		if (j < nj && jobs[j].layer == (int)i) {
			img_seterr("layer %s: changed between two reads", v->layers[i].blob.str);
			return -1;
		}
	}
	return 0;
}

int img_export_write(struct img_view *v, struct img_arcout *a)
{
	struct exp x;
	const struct img_tree_node **names = NULL, **first = NULL;
	struct job *jobs = NULL;
	size_t n, nj = 0;
	int ret = -1;

	memset(&x, 0, sizeof(x));
	x.nb = 1024;
	x.b = xcalloc(x.nb, sizeof(*x.b));
	x.tree = img_tree_new();
	img_tree_set_removed(x.tree, on_removed, &x);
	if (build(&x, v) < 0)
		goto out;
	n = img_tree_sorted(x.tree, &names);
	first = xcalloc(n + 1, sizeof(*first));
	jobs = xcalloc(n + 1, sizeof(*jobs));
	/* every inode's first name in path order carries it; the others link to it */
	for (size_t i = 0; i < n; i++) {
		const struct img_tree_inode *ino = names[i]->ino;
		struct meta *m = meta_get(&x, ino, 1);
		if (m->first)
			continue;
		m->first = names[i]->path;
		first[i] = names[i];
		if (ino->type == IMG_ENT_FILE) {
			if (m->layer < 0) {
				char *e = img_util_escape(names[i]->path);
				img_seterr("'%s': no layer holds its data", e);
				free(e);
				goto out;
			}
			jobs[nj].layer = m->layer;
			jobs[nj].rec = m->rec;
			jobs[nj].node = names[i];
			nj++;
		} else if (put(&x, a, names[i]->path, ino, NULL) < 0) {
			goto out;
		}
	}
	qsort(jobs, nj, sizeof(*jobs), cmp_job);
	if (copy_files(&x, v, a, jobs, nj) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct img_tree_inode *ino = names[i]->ino;
		if (first[i])
			continue;
		if (put(&x, a, names[i]->path, ino, meta_get(&x, ino, 0)->first) < 0)
			goto out;
	}
	if (img_arcout_close(a) < 0)
		goto out;
	ret = 0;
out:
	free(names);
	free(first);
	free(jobs);
	img_tree_free(x.tree);
	for (size_t i = 0; i < x.nb; i++) {
		struct meta *m, *next;
		for (m = x.b[i]; m; m = next) {
			next = m->next;
			meta_clear_xa(m);
			free(m);
		}
	}
	free(x.b);
	return ret;
}
