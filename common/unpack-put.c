/* unpack-put: names written beneath the directory without following a link (see
 * unpack.h): resolving, removing, attributes, entries, whiteouts, opaque directories. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <archive.h>
#include <archive_entry.h>

#include "util.h"
#include "io.h"
#include "unpack-int.h"

void img_unpack_put_path_err(const char *what, const char *path)
{
	int en = errno;
	char *e = img_util_escape(path[0] ? path : ".");
	img_seterr("'%s': %s: %s", e, what, strerror(en));
	free(e);
	errno = en;
}

/* ---- removing ---- */

static int rm_rec(int pfd, const char *name, int depth)
{
	DIR *d;
	struct dirent *de;
	int fd, ret = 0;

	if (unlinkat(pfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth > 4096) {
		errno = ELOOP;
		return -1;
	}
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	(void)fchmod(fd, 0700);   /* a 0555 directory of a layer still empties */
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rm_rec(dirfd(d), de->d_name, depth + 1) < 0) {
			ret = -1;
			break;
		}
	}
	closedir(d);
	if (ret == 0 && unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		ret = -1;
	return ret;
}

int img_unpack_put_remove_at(int dirfd, const char *name)
{
	if (rm_rec(dirfd, name, 0) < 0) {
		img_unpack_put_path_err("cannot remove", name);
		return -1;
	}
	return 0;
}

/* Cached parents that are path or under it: they are going away ("" all of them). */
void img_unpack_put_forget_under(struct img_unpack *u, const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof(u->cache) / sizeof(u->cache[0]); i++) {
		char *c = u->cache[i].path;
		if (c && strncmp(c, path, n) == 0 && (c[n] == '\0' || c[n] == '/' || n == 0)) {
			close(u->cache[i].fd);
			u->cache[i].fd = -1;
			free(c);
			u->cache[i].path = NULL;
		}
	}
}

static int remove_path(struct img_unpack *u, int pfd, const char *name, const char *path)
{
	img_unpack_put_forget_under(u, path);
	if (rm_rec(pfd, name, 0) < 0) {
		img_unpack_put_path_err("cannot remove", path);
		return -1;
	}
	return 0;
}

/* ---- resolving ---- */

/* The directory path[0..len), opened (a new fd). With create, a missing component is
 * made (0700 until the end) and one that is not a directory (a file, a symlink) is
 * replaced by one. -1 with errno (and img_errmsg) when it cannot be. */
int img_unpack_put_open_dir(struct img_unpack *u, const char *path, size_t len, int create)
{
	char *buf = xstrndup(path, len);
	int cur = -1;
	size_t i = 0;

	if (len == 0) {
		free(buf);
		cur = openat(u->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cur < 0)
			img_unpack_put_path_err("cannot open", "");
		return cur;
	}
	if (!u->no_openat2) {
		struct open_how how;
		memset(&how, 0, sizeof(how));
		how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
		              RESOLVE_NO_XDEV;
		cur = (int)syscall(SYS_openat2, u->root, buf, &how, sizeof(how));
		if (cur >= 0) {
			free(buf);
			return cur;
		}
		if (errno == ENOSYS || errno == EPERM)
			u->no_openat2 = 1;
	}
	/* component by component */
	while (i < len) {
		size_t j = i;
		int base = cur < 0 ? u->root : cur, fd;
		while (j < len && buf[j] != '/')
			j++;
		buf[j] = '\0';
		fd = openat(base, buf + i, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && create && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)) {
			if (errno != ENOENT && unlinkat(base, buf + i, 0) < 0) {
				img_unpack_put_path_err("cannot replace with a directory", buf);
				goto fail;
			}
			if (mkdirat(base, buf + i, 0700) < 0) {
				img_unpack_put_path_err("cannot create directory", buf);
				goto fail;
			}
			fd = openat(base, buf + i, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			img_unpack_put_path_err("cannot open directory", buf);
			goto fail;
		}
		if (cur >= 0)
			close(cur);
		cur = fd;
		if (j < len)
			buf[j] = '/';
		i = j + 1;
	}
	free(buf);
	return cur;
fail:
	if (cur >= 0)
		close(cur);
	free(buf);
	return -1;
}

/* The parent directory of path (borrowed fd: the cache), made when missing; *name gets
 * the last component. */
static int parent_fd(struct img_unpack *u, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;

	*name = slash ? slash + 1 : path;
	if (len == 0)
		return u->root;
	const size_t nc = sizeof(u->cache) / sizeof(u->cache[0]);
	size_t slot;
	int fd;

	for (size_t i = 0; i < nc; i++)
		if (u->cache[i].path && u->cache[i].len == len && memcmp(u->cache[i].path, path, len) == 0)
			return u->cache[i].fd;
	fd = img_unpack_put_open_dir(u, path, len, 1);
	if (fd < 0)
		return -1;
	slot = u->next++ % nc;
	if (u->cache[slot].path) {
		close(u->cache[slot].fd);
		free(u->cache[slot].path);
	}
	u->cache[slot].path = xstrndup(path, len);
	u->cache[slot].len = len;
	u->cache[slot].fd = fd;
	return fd;
}

/* ---- attributes ---- */

static int set_xattrs(struct img_unpack *u, int fd, struct archive_entry *ae, const char *path)
{
	const char *name;
	const void *val;
	size_t len;

	if (!ae || archive_entry_xattr_reset(ae) == 0)
		return 0;
	while (archive_entry_xattr_next(ae, &name, &val, &len) == ARCHIVE_OK) {
		if (!(u->flags & IMG_UNPACK_OWNERS) && strncmp(name, "user.", 5) != 0) {
			u->xattrs++;
			continue;
		}
		if (fsetxattr(fd, name, val, len, 0) < 0) {
			if (errno == ENOTSUP || errno == EPERM || errno == EINVAL || errno == EACCES) {
				u->xattrs++;
				continue;
			}
			img_unpack_put_path_err("cannot set an xattr", path);
			return -1;
		}
		u->xattrs_set++;
	}
	return 0;
}

/* A directory listed again keeps only the xattrs of its last entry (as its mode). */
static void clear_xattrs(struct img_unpack *u, int fd)
{
	char buf[8192];
	ssize_t n = flistxattr(fd, buf, sizeof(buf));

	for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1) {
		if (!(u->flags & IMG_UNPACK_OWNERS) && strncmp(buf + i, "user.", 5) != 0)
			continue;
		(void)fremovexattr(fd, buf + i);
	}
}

mode_t img_unpack_put_perm(const struct img_unpack *u, mode_t mode)
{
	mode &= 07777;
	return u->flags & IMG_UNPACK_OWNERS ? mode : mode & ~(mode_t)06000;
}

/* 1 when the owner of a name must be set: as root, unless the name is new (fresh) and
 * already has the owner 0:0 the entry asks for. */
static int need_chown(const struct img_unpack *u, const struct img_tree_rec *r, int fresh)
{
	return (u->flags & IMG_UNPACK_OWNERS) &&
	       !(fresh && u->skip_owner && r->uid == 0 && r->gid == 0);
}

/* owner, xattrs, mode, mtime through fd (formats.md §5.5: chown can clear setuid) */
static int fd_attrs(struct img_unpack *u, int fd, const struct img_tree_rec *r,
                    struct archive_entry *ae, int mode_time, int fresh)
{
	struct timespec ts[2];

	if (need_chown(u, r, fresh) && fchown(fd, (uid_t)r->uid, (gid_t)r->gid) < 0) {
		img_unpack_put_path_err("cannot change owner", r->path);
		return -1;
	}
	if (set_xattrs(u, fd, ae, r->path) < 0)
		return -1;
	if (!mode_time)
		return 0;
	if (fchmod(fd, img_unpack_put_perm(u, r->mode)) < 0) {
		img_unpack_put_path_err("cannot change mode", r->path);
		return -1;
	}
	ts[0].tv_sec = ts[1].tv_sec = (time_t)r->mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (futimens(fd, ts) < 0) {
		img_unpack_put_path_err("cannot set times", r->path);
		return -1;
	}
	return 0;
}

/* A name just made by mknodat/symlinkat: owner and times without following it; a mode
 * unless it is a symlink. */
static int at_attrs(struct img_unpack *u, int pfd, const char *name,
                    const struct img_tree_rec *r, int symlink)
{
	struct timespec ts[2];

	if (need_chown(u, r, 1) &&
	    fchownat(pfd, name, (uid_t)r->uid, (gid_t)r->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		img_unpack_put_path_err("cannot change owner", r->path);
		return -1;
	}
	/* a FIFO or device we made this instant, in a directory only we write */
	if (!symlink && fchmodat(pfd, name, img_unpack_put_perm(u, r->mode), 0) < 0) {
		img_unpack_put_path_err("cannot change mode", r->path);
		return -1;
	}
	ts[0].tv_sec = ts[1].tv_sec = (time_t)r->mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) {
		img_unpack_put_path_err("cannot set times", r->path);
		return -1;
	}
	return 0;
}

/* ---- entries ---- */

/* The data and attributes of a regular file just created (fresh) or emptied as fd
 * (closed here). */
static int fill_file(struct img_unpack *u, struct img_lread *rd, int fd,
                     const struct img_tree_rec *r, struct archive_entry *ae, int fresh)
{
	const void *buf;
	size_t n;
	int b;

	while ((b = img_lread_block(rd, &buf, &n)) == 1) {
		if (img_io_write_all(fd, buf, n) < 0) {
			img_unpack_put_path_err("cannot write", r->path);
			close(fd);
			return -1;
		}
	}
	if (b < 0 || fd_attrs(u, fd, r, ae, 1, fresh) < 0) {
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		img_unpack_put_path_err("cannot write", r->path);
		return -1;
	}
	return 0;
}

static int new_file(int pfd, const char *name)
{
	return openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* A regular file of a lower layer (st, one name only) that this entry replaces, opened
 * emptied, its xattrs gone: the same inode rewritten costs less than a name removed and
 * made again (on ext4 a new inode skips those freed lately, one by one). -1 when it
 * cannot be (the caller then removes it); a file with other names is never emptied. */
static int reuse_file(struct img_unpack *u, int pfd, const char *name, const struct stat *st)
{
	struct stat now;
	int fd;

	if (!S_ISREG(st->st_mode) || st->st_nlink != 1)
		return -1;
	fd = openat(pfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || now.st_nlink != 1 ||
	    now.st_ino != st->st_ino || now.st_dev != st->st_dev || ftruncate(fd, 0) < 0 ||
	    fchmod(fd, 0600) < 0) {
		close(fd);
		return -1;
	}
	clear_xattrs(u, fd);
	return fd;
}

/* A directory just made: owner and xattrs (its mode and time come at the end); opened
 * only when there is one to set. */
static int new_dir_attrs(struct img_unpack *u, int pfd, const char *name,
                         const struct img_tree_rec *r, struct archive_entry *ae)
{
	int fd, rc;

	if (!need_chown(u, r, 1) && (!ae || archive_entry_xattr_count(ae) == 0))
		return 0;
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		img_unpack_put_path_err("cannot open directory", r->path);
		return -1;
	}
	rc = fd_attrs(u, fd, r, ae, 0, 1);
	close(fd);
	return rc;
}

static int put_hardlink(struct img_unpack *u, int pfd, const char *name,
                        const struct img_tree_rec *r)
{
	const char *slash = strrchr(r->link, '/');
	const char *tname = slash ? slash + 1 : r->link;
	int tfd = slash ? img_unpack_put_open_dir(u, r->link, (size_t)(slash - r->link), 0) : u->root;
	int rc;

	if (tfd < 0)
		return -1;
	rc = linkat(tfd, tname, pfd, name, 0);
	if (rc < 0)
		img_unpack_put_path_err("cannot make a hard link", r->path);
	if (tfd != u->root)
		close(tfd);
	return rc;
}

/* A new regular file at path, made beneath the root in one call (openat2 with O_EXCL
 * never follows a symlink), or -1 (the caller then goes the longer way). */
static int new_file_beneath(struct img_unpack *u, const char *path)
{
	struct open_how how;
	int fd;

	if (u->no_openat2)
		return -1;
	memset(&how, 0, sizeof(how));
	how.flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	how.mode = 0600;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
	fd = (int)syscall(SYS_openat2, u->root, path, &how, sizeof(how));
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		u->no_openat2 = 1;
	return fd;
}

/* Directories that merge: the attributes of r on the directory name (st: what it is);
 * its mode and time come at the end. Opened only when something changes. */
static int merge_dir(struct img_unpack *u, int pfd, const char *name, const struct stat *st,
                     const struct img_tree_rec *r, struct archive_entry *ae)
{
	int fd, rc;

	if (!((u->flags & IMG_UNPACK_OWNERS) &&
	      ((int64_t)st->st_uid != r->uid || (int64_t)st->st_gid != r->gid)) &&
	    !u->xattrs_set && (!ae || archive_entry_xattr_count(ae) == 0))
		return 0;   /* the owner it has, no xattr to drop or set */
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		img_unpack_put_path_err("cannot open directory", r->path);
		return -1;
	}
	clear_xattrs(u, fd);
	rc = fd_attrs(u, fd, r, ae, 0, 0);
	close(fd);
	return rc;
}

/* Write entry r (there: the tree had a name at its path, so no new name is tried first). */
int img_unpack_put_entry(struct img_unpack *u, struct img_lread *rd, const struct img_tree_rec *r,
                         struct archive_entry *ae, int there)
{
	const char *name;
	struct stat st;
	int pfd, fd;

	if (!r->path[0]) {
		/* the root: its attributes, if a directory; never replaced */
		return r->type == IMG_ENT_DIR ? fd_attrs(u, u->root, r, ae, 0, 0) : 0;
	}
	if (r->type == IMG_ENT_HARDLINK && strcmp(r->link, r->path) == 0)
		return 0;
	/* most names are new: no look-up first, nor a parent opened */
	if (r->type == IMG_ENT_FILE && !there && (fd = new_file_beneath(u, r->path)) >= 0)
		return fill_file(u, rd, fd, r, ae, 1);
	if ((pfd = parent_fd(u, r->path, &name)) < 0)
		return -1;
	if (r->type == IMG_ENT_FILE && !there) {
		if ((fd = new_file(pfd, name)) >= 0)
			return fill_file(u, rd, fd, r, ae, 1);
		if (errno != EEXIST) {
			img_unpack_put_path_err("cannot create", r->path);
			return -1;
		}
	} else if (r->type == IMG_ENT_DIR && !there) {
		if (mkdirat(pfd, name, 0700) == 0)
			return new_dir_attrs(u, pfd, name, r, ae);
		if (errno != EEXIST) {
			img_unpack_put_path_err("cannot create directory", r->path);
			return -1;
		}
	}
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode) && r->type == IMG_ENT_DIR)
			return merge_dir(u, pfd, name, &st, r, ae);
		if (r->type == IMG_ENT_FILE && (fd = reuse_file(u, pfd, name, &st)) >= 0)
			return fill_file(u, rd, fd, r, ae, 0);
		if (remove_path(u, pfd, name, r->path) < 0)
			return -1;
	} else if (errno != ENOENT) {
		img_unpack_put_path_err("cannot look up", r->path);
		return -1;
	}
	switch (r->type) {
	case IMG_ENT_FILE:
		if ((fd = new_file(pfd, name)) < 0) {
			img_unpack_put_path_err("cannot create", r->path);
			return -1;
		}
		return fill_file(u, rd, fd, r, ae, 1);
	case IMG_ENT_DIR:
		if (mkdirat(pfd, name, 0700) < 0) {
			img_unpack_put_path_err("cannot create directory", r->path);
			return -1;
		}
		return new_dir_attrs(u, pfd, name, r, ae);
	case IMG_ENT_SYMLINK:
		if (symlinkat(r->link ? r->link : "", pfd, name) < 0) {
			img_unpack_put_path_err("cannot create symlink", r->path);
			return -1;
		}
		return at_attrs(u, pfd, name, r, 1);
	case IMG_ENT_HARDLINK:
		return put_hardlink(u, pfd, name, r);
	case IMG_ENT_CHR:
	case IMG_ENT_BLK:
		if (!(u->flags & IMG_UNPACK_OWNERS)) {
			u->devs++;
			return 0;
		}
		if (mknodat(pfd, name, (r->type == IMG_ENT_CHR ? S_IFCHR : S_IFBLK) | 0600,
		            makedev(r->devmajor, r->devminor)) < 0) {
			img_unpack_put_path_err("cannot create device", r->path);
			return -1;
		}
		return at_attrs(u, pfd, name, r, 0);
	case IMG_ENT_FIFO:
		if (mkfifoat(pfd, name, 0600) < 0) {
			img_unpack_put_path_err("cannot create FIFO", r->path);
			return -1;
		}
		return at_attrs(u, pfd, name, r, 0);
	default:
		return 0;
	}
}

/* Remove path if it is there; nothing when its parent is not a directory. */
int img_unpack_put_remove(struct img_unpack *u, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	int pfd, rc;

	pfd = slash ? img_unpack_put_open_dir(u, path, (size_t)(slash - path), 0) : u->root;
	if (pfd < 0)
		return 0;
	rc = remove_path(u, pfd, name, path);
	if (pfd != u->root)
		close(pfd);
	return rc;
}

int img_unpack_put_whiteout(struct img_unpack *u, const struct img_tree_rec *r)
{
	/* never what this layer wrote */
	if (img_tree_read_pathset_has(u->upper, r->path))
		return 0;
	return img_unpack_put_remove(u, r->path);
}

/* Remove what is under the directory fd (at path) that this layer did not write. */
static int purge(struct img_unpack *u, int fd, const char *path, int depth)
{
	DIR *d;
	struct dirent *de;
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		img_unpack_put_path_err("cannot read directory", path);
		return -1;
	}
	while ((de = readdir(d)) && ret == 0) {
		char *child;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		child = path[0] ? xasprintf("%s/%s", path, de->d_name) : xstrdup(de->d_name);
		if (!img_tree_read_pathset_has(u->upper, child)) {
			ret = remove_path(u, fd, de->d_name, child);
		} else if (de->d_type == DT_DIR && depth < 4096) {
			int cfd = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				ret = purge(u, cfd, child, depth + 1);
				close(cfd);
			}
		}
		free(child);
	}
	closedir(d);
	return ret;
}

int img_unpack_put_opaque(struct img_unpack *u, const struct img_tree_rec *r)
{
	int fd = img_unpack_put_open_dir(u, r->path, strlen(r->path), 1), rc;

	if (fd < 0)
		return -1;
	rc = purge(u, fd, r->path, 0);
	close(fd);
	return rc;
}

