/* copy: a build's COPY and ADD (see copy.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "image.h"
#include "layer.h"
#include "dirwalk.h"
#include "copy.h"

void
img_copy_release(struct img_copy *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].rel);
	}
	free(p->v);
	free(p->dest);
	free(p->root);
}

/* Clean a path lexically below / ("/a/../b/" -> "b"; ".." stays at the top). */
char *
img_copy_clean(const char *p)
{
	return img_util_path_fold(p, 0);
}

struct hashw { const struct img_ignore *ig; const char *base; struct img_hash *h; char *buf; };

static int
hash_one(const struct img_dirwalk_entry *e, void *arg)
{
	struct hashw *w = arg;
	char *line;

	if (w->ig) {
		char *rel = *w->base ? xasprintf("%s/%s", w->base, e->rel) : xstrdup(e->rel);
		int ign = img_dockerfile_ignore_match(w->ig, rel);
		free(rel);
		if (ign)
			return e->type == IMG_ENT_DIR ? 1 : 0;
	}
	line = xasprintf("%s\n%d %o %lld %s\n", e->rel, (int)e->type, (unsigned)e->st.st_mode,
	                 (long long)e->st.st_size, e->link ? e->link : "");
	img_digest_hash_update(w->h, line, strlen(line) + 1);
	free(line);
	if (e->type == IMG_ENT_FILE) {
		ssize_t n;
		while ((n = read(e->fd, w->buf, 1 << 16)) > 0)
			img_digest_hash_update(w->h, w->buf, (size_t)n);
		if (n < 0) {
			img_seterr_errno("cannot read '%s'", img_util_shown(e->full));
			return -1;
		}
	}
	return 0;
}

int
img_copy_hash(const struct img_copy *p, struct img_digest *out)
{
	struct hashw w = { .ig = p->from_ctx ? p->ig : NULL, .h = img_digest_hash_new(IMG_SHA256), .buf = xmalloc(1 << 16) };
	int rc = 0;

	for (size_t i = 0; i < p->n && rc == 0; i++) {
		struct stat st;
		char *line;
		if (lstat(p->v[i].path, &st) < 0) {
			rc = -1;
			img_seterr_errno("'%s'", p->v[i].rel);
			break;
		}
		line = xasprintf("src %s %o %lld\n", p->v[i].rel, (unsigned)st.st_mode,
		                 (long long)st.st_size);
		img_digest_hash_update(w.h, line, strlen(line) + 1);
		free(line);
		if (S_ISDIR(st.st_mode)) {
			w.base = p->v[i].rel;
			rc = img_dirwalk_run(p->v[i].path, hash_one, &w);
		} else if (S_ISREG(st.st_mode)) {
			int fd = open(p->v[i].path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			ssize_t n;
			if (fd < 0) {
				img_seterr_errno("cannot open '%s'", p->v[i].rel);
				rc = -1;
				break;
			}
			while ((n = read(fd, w.buf, 1 << 16)) > 0)
				img_digest_hash_update(w.h, w.buf, (size_t)n);
			close(fd);
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096];
			ssize_t n = readlink(p->v[i].path, t, sizeof t);
			if (n > 0)
				img_digest_hash_update(w.h, t, (size_t)n);
		}
	}
	img_digest_hash_final(w.h, out);
	img_digest_hash_free(w.h);
	free(w.buf);
	return rc;
}

/* An archive ADD extracts: compressed data, or a tar header. */
int
img_copy_is_archive(const char *path)
{
	unsigned char buf[512];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0)
		return 0;
	if (img_comp_sniff(buf, (size_t)n) != IMG_COMP_NONE)
		return 1;
	return n == 512 && !memcmp(buf + 257, "ustar", 5);
}

struct ctxskip { const struct img_ignore *ig; const char *base; };

static int
skip_ignored(void *arg, const char *rel, int is_dir)
{
	struct ctxskip *cs = arg;
	char *p = *cs->base ? xasprintf("%s/%s", cs->base, rel) : xstrdup(rel);
	int ign = img_dockerfile_ignore_match(cs->ig, p);

	if (ign && is_dir && img_dockerfile_ignore_may_reinclude(cs->ig, p))
		ign = 0;
	free(p);
	return ign;
}

/* The directories above path (not path), as the image so far has them, else root's 0755. */
static int
put_parents(struct img_mklayer *l, const char *lower, const char *path, int64_t now)
{
	char *p = xstrdup(path), *s;
	int rc = 0;

	if (!*p) {
		free(p);
		return 0;
	}
	/* path itself is written by the caller: only what is above it here */
	for (s = strchr(p, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
		struct stat st;
		char *full;
		*s = '\0';
		if (!img_mklayer_has(l, p)) {
			full = xasprintf("%s/%s", lower, p);
			if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
				rc = img_mklayer_entry(l, p, IMG_ENT_DIR, st.st_mode, st.st_uid, st.st_gid,
				                       st.st_mtime, 0, NULL, NULL);
			else
				rc = img_mklayer_entry(l, p, IMG_ENT_DIR, 0755, 0, 0, now, 0, NULL, NULL);
			free(full);
		}
		*s = '/';
	}
	free(p);
	return rc;
}

int
img_copy_layer(const struct img_copy *p, struct img_store *s, const struct img_mklayer_opts *lo,
               const char *lower, json_t **layer, struct img_digest *diff_id)
{
	struct img_mklayer *l;
	struct img_digest blob;
	int64_t bsize;
	int rc = -1;
	int64_t now = lo->clamp >= 0 ? lo->clamp : (int64_t)time(NULL);

	if (!(l = img_mklayer_begin(s, lo)))
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const struct img_copy_src *sv = &p->v[i];
		struct ctxskip cs = { p->ig, sv->rel };
		struct img_mklayer_map m = { .uid = p->uid, .gid = p->gid, .mode = p->mode,
		                             .skip = p->from_ctx && p->ig && p->ig->n ? skip_ignored : NULL,
		                             .skip_arg = &cs };
		struct stat st;
		char *target;
		const char *base = strrchr(sv->rel, '/');

		base = base ? base + 1 : sv->rel;
		if (lstat(sv->path, &st) < 0) {
			img_seterr_errno("'%s'", sv->rel);
			goto out;
		}
		if (sv->archive || S_ISDIR(st.st_mode)) {
			/* what it holds goes into dest */
			target = xstrdup(p->dest);
			if (*target && put_parents(l, lower, target, now) < 0) {
				free(target);
				goto out;
			}
			if (*target && !img_mklayer_has(l, target)) {
				if (S_ISDIR(st.st_mode) ? img_mklayer_entry(l, target, IMG_ENT_DIR,
				        p->mode >= 0 ? (mode_t)p->mode : st.st_mode,
				        p->uid >= 0 ? p->uid : st.st_uid, p->gid >= 0 ? p->gid : st.st_gid,
				        st.st_mtime, 0, NULL, NULL) < 0
				    : img_mklayer_entry(l, target, IMG_ENT_DIR, 0755, 0, 0, now, 0,
				                        NULL, NULL) < 0) {
					free(target);
					goto out;
				}
			}
			m.prefix = target;
			if (sv->archive) {
				int fd = open(sv->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
				struct img_mklayer_map ma = { .prefix = target, .uid = -1, .gid = -1,
				                              .mode = -1 };
				int r = fd < 0 ? -1 : img_mklayer_archive(l, fd, &ma);
				if (fd < 0)
					img_seterr_errno("cannot open '%s'", sv->rel);
				else
					close(fd);
				if (r < 0) {
					free(target);
					goto out;
				}
			} else if (img_mklayer_dir(l, sv->path, &m) < 0) {
				free(target);
				goto out;
			}
			free(target);
			continue;
		}
		target = p->destdir ? (*p->dest ? xasprintf("%s/%s", p->dest, base) : xstrdup(base))
		                    : xstrdup(p->dest);
		if (put_parents(l, lower, target, now) < 0 ||
		    img_mklayer_path(l, sv->path, target, &m) < 0) {
			free(target);
			goto out;
		}
		free(target);
	}
	if (img_mklayer_finish(l, &blob, &bsize, diff_id) < 0)
		goto out;
	*layer = img_image_desc_new(img_comp_media_type(lo->comp), &blob, bsize);
	rc = 0;
out:
	img_mklayer_free(l);
	return rc;
}

