/* dirwalk: a sorted, symlink-safe directory walk with hard link detection (dirwalk.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirwalk.h"
#include "htab.h"
#include "util.h"

/* First names of multiply-linked inodes, found by (dev, ino). */
struct inode_link { dev_t dev; ino_t ino; char *path; };

struct walk {
	const char *root;
	img_dirwalk_fn fn;
	void *arg;
	struct inode_link *links;
	size_t nlinks, linkcap;
	struct img_htab linktab;
};

static int link_eq(size_t idx, const void *key, const void *arg)
{
	const struct inode_link *l = &((const struct walk *)arg)->links[idx];
	const struct stat *st = key;

	return l->ino == st->st_ino && l->dev == st->st_dev;
}

/* The first name seen of st's inode, or NULL after recording path as its first name. */
static const char *link_find_or_add(struct walk *w, const struct stat *st, const char *path)
{
	uint64_t key[2] = { (uint64_t)st->st_dev, (uint64_t)st->st_ino };
	uint64_t h = img_htab_fnv(key, sizeof(key));
	size_t i = img_htab_find(&w->linktab, h, link_eq, st, w);

	if (i != IMG_HTAB_NONE)
		return w->links[i].path;
	IMG_GROW(w->links, w->nlinks + 1, w->linkcap);
	w->links[w->nlinks].dev = st->st_dev;
	w->links[w->nlinks].ino = st->st_ino;
	w->links[w->nlinks].path = xstrdup(path);
	img_htab_add(&w->linktab, h, w->nlinks++);
	return NULL;
}

static void links_free(struct walk *w)
{
	for (size_t i = 0; i < w->nlinks; i++)
		free(w->links[i].path);
	free(w->links);
	img_htab_clear(&w->linktab);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walk *w, int dfd, const char *rel);

static enum img_ent_type type_of(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:  return IMG_ENT_FILE;
	case S_IFDIR:  return IMG_ENT_DIR;
	case S_IFLNK:  return IMG_ENT_SYMLINK;
	case S_IFCHR:  return IMG_ENT_CHR;
	case S_IFBLK:  return IMG_ENT_BLK;
	case S_IFIFO:  return IMG_ENT_FIFO;
	default:       return IMG_ENT_OTHER;
	}
}

/* One directory entry: name in dfd, rel its path below the root. */
static int walk_one(struct walk *w, int dfd, const char *name, const char *rel)
{
	struct img_dirwalk_entry e = { .rel = rel, .dfd = dfd, .name = name, .fd = -1 };
	char *full, *target = NULL;
	int rc = -1, r;

	e.full = full = xasprintf("%s/%s", w->root, rel);
	if (fstatat(dfd, name, &e.st, AT_SYMLINK_NOFOLLOW) < 0) {
		img_seterr_errno("cannot stat '%s'", full);
		goto out;
	}
	e.type = type_of(e.st.st_mode);
	if (e.type == IMG_ENT_FILE || e.type == IMG_ENT_DIR) {
		e.fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
		              (e.type == IMG_ENT_DIR ? O_DIRECTORY : 0));
		if (e.fd < 0) {
			img_seterr_errno("cannot open '%s'", full);
			goto out;
		}
		if (fstat(e.fd, &e.st) < 0) {
			img_seterr_errno("cannot stat '%s'", full);
			goto out;
		}
		if (type_of(e.st.st_mode) != e.type) {
			img_seterr("'%s' changed while being read", full);
			goto out;
		}
	} else if (e.type == IMG_ENT_SYMLINK) {
		size_t cap = (size_t)e.st.st_size + 2;
		ssize_t n;

		if (cap < 64)
			cap = 64;
		target = xmalloc(cap);
		n = readlinkat(dfd, name, target, cap);
		if (n < 0 || (size_t)n >= cap) {
			if (n < 0)
				img_seterr_errno("cannot read link '%s'", full);
			else
				img_seterr("'%s' changed while being read", full);
			goto out;
		}
		target[n] = '\0';
		e.link = target;
	}
	if (e.type != IMG_ENT_DIR && e.type != IMG_ENT_OTHER && e.st.st_nlink > 1) {
		const char *first = link_find_or_add(w, &e.st, rel);

		if (first) {
			e.type = IMG_ENT_HARDLINK;
			e.link = first;
		}
	}
	if ((r = w->fn(&e, w->arg)) < 0)
		goto out;
	if (e.type == IMG_ENT_DIR && r == 0) {
		int sub = e.fd;

		e.fd = -1;
		if (walk_dir(w, sub, rel) < 0)
			goto out;
	}
	rc = 0;
out:
	if (e.fd >= 0)
		close(e.fd);
	free(target);
	free(full);
	return rc;
}

/* Walk an open directory (dfd is consumed) whose path below the root is rel ("" for
 * the root). */
static int walk_dir(struct walk *w, int dfd, const char *rel)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;

	if (!d) {
		img_seterr_errno("cannot read directory '%s/%s'", w->root, rel);
		close(dfd);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		IMG_GROW(names, n + 1, cap);
		names[n++] = xstrdup(de->d_name);
		errno = 0;
	}
	if (errno) {
		img_seterr_errno("cannot read directory '%s%s%s'", w->root, *rel ? "/" : "", rel);
		goto out;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char *sub = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
		int r = walk_one(w, dirfd(d), names[i], sub);

		free(sub);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int img_dirwalk_run(const char *root, img_dirwalk_fn fn, void *arg)
{
	struct walk w = { .root = root, .fn = fn, .arg = arg };
	int fd, rc;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		img_seterr_errno("cannot open '%s'", root);
		return -1;
	}
	rc = walk_dir(&w, fd, "");
	links_free(&w);
	return rc;
}
