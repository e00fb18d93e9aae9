/* Unit tests of common/unpack.c and common/bundle.c: tiny:2 into a directory; what the
 * layers above hide is not written; users. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include "test.h"
#include "util.h"
#include "store.h"
#include "arcimg.h"
#include "unpack.h"
#include "bundle.h"

TEST(unpack_tiny2)
{
	char *dir = img_test_fixture("peers/tiny-oci-layout");
	struct img_store *s;
	struct img_view v;
	struct stat a, b;
	int root = open(img_test_tmpdir, O_RDONLY | O_DIRECTORY);
	unsigned long devs = 1, xattrs = 1;

	IMG_ASSERT(root >= 0);
	IMG_ASSERT_EQ_INT(img_store_open(dir, 0, &s), 0);
	IMG_ASSERT_EQ_INT(img_view_from_store(s, "tiny:2", NULL, &v), 0);
	IMG_ASSERT_EQ_INT(img_unpack_view(&v, root, 0, &devs, &xattrs), 0);
	img_view_release(&v);
	img_store_close(s);
	IMG_ASSERT_EQ_INT(devs, 0);
	/* the opaque opt/old: only what layer 2 put there */
	IMG_ASSERT(fstatat(root, "opt/old/z.txt", &a, 0) == 0);
	IMG_ASSERT(fstatat(root, "opt/old/x.txt", &a, 0) < 0);
	IMG_ASSERT(fstatat(root, "usr/share/tiny/b.txt", &a, 0) < 0);
	IMG_ASSERT(fstatat(root, "usr/share/tiny/c.txt", &a, 0) == 0);
	IMG_ASSERT(fstatat(root, "usr/share/tiny/c-link.txt", &b, 0) == 0);
	IMG_ASSERT_EQ_INT(a.st_ino, b.st_ino);
	IMG_ASSERT(fstatat(root, "tmp", &a, AT_SYMLINK_NOFOLLOW) == 0);
	IMG_ASSERT_EQ_INT(a.st_mode & 07777, 01777);
	IMG_ASSERT(fstatat(root, "bin/sh", &a, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(a.st_mode));
	/* everything goes again, 0555 directories too */
	IMG_ASSERT_EQ_INT(fchmodat(root, "usr/share", 0555, 0), 0);
	IMG_ASSERT_EQ_INT(img_unpack_put_remove_at(root, "usr"), 0);
	IMG_ASSERT(fstatat(root, "usr", &a, AT_SYMLINK_NOFOLLOW) < 0);
	IMG_ASSERT_EQ_INT(img_unpack_put_remove_at(root, "usr"), 0);   /* missing: fine */
	close(root);
	free(dir);
}

/* A layer in the test directory from "TYPE PATH [DATA]" lines: f a file (DATA, or BIG
 * for 1 MiB), d a directory, l a hard link to DATA, s a symlink to DATA. Open fd or -1. */
#define BIG_BYTES (1 << 20)
static int layer(const char *name, int gzip, const char *const *spec)
{
	char path[4096];
	struct archive *a = archive_write_new();
	char *big = calloc(1, BIG_BYTES);
	int fd, ok = 1;

	snprintf(path, sizeof(path), "%s/%s", img_test_tmpdir, name);
	archive_write_set_format_pax_restricted(a);
	if (gzip)
		archive_write_add_filter_gzip(a);
	if (!big || archive_write_open_filename(a, path) != ARCHIVE_OK)
		ok = 0;
	for (size_t i = 0; ok && spec[i]; i++) {
		struct archive_entry *e = archive_entry_new();
		char t = spec[i][0], p[256];
		const char *data = strchr(spec[i] + 2, ' ');
		size_t len = data ? (size_t)(data - spec[i] - 2) : strlen(spec[i] + 2);
		size_t n = 0;
		snprintf(p, sizeof(p), "%.*s", (int)len, spec[i] + 2);
		data = data ? data + 1 : "";
		archive_entry_set_pathname(e, p);
		archive_entry_set_mtime(e, 1000, 0);
		archive_entry_set_filetype(e, t == 'd' ? AE_IFDIR : t == 's' ? AE_IFLNK : AE_IFREG);
		archive_entry_set_perm(e, t == 'd' ? 0755 : 0644);
		if (t == 'l')
			archive_entry_set_hardlink(e, data);
		else if (t == 's')
			archive_entry_set_symlink(e, data);
		else if (t == 'f')
			n = strcmp(data, "BIG") == 0 ? BIG_BYTES : strlen(data);
		archive_entry_set_size(e, (la_int64_t)n);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    (n && archive_write_data(a, strcmp(data, "BIG") == 0 ? big : data, n) != (la_ssize_t)n))
			ok = 0;
		archive_entry_free(e);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		ok = 0;
	archive_write_free(a);
	free(big);
	fd = ok ? open(path, O_RDONLY) : -1;
	return fd;
}

/* Unpack the layers into dir under the test directory, in a child process that may write
 * no file of 64 KiB or more; with above, the layers above each one read first. The exit
 * status: 0 when it went through. */
static int unpack_small(const int *fds, int n, const char *dir, int above)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		char path[4096];
		struct rlimit rl = { 65536, 65536 };
		struct img_unpack *u;
		int root, rc = 0;
		snprintf(path, sizeof(path), "%s/%s", img_test_tmpdir, dir);
		signal(SIGXFSZ, SIG_IGN);   /* a write past the limit fails (EFBIG) */
		if (mkdir(path, 0755) < 0 || (root = open(path, O_RDONLY | O_DIRECTORY)) < 0 ||
		    setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(3);
		u = img_unpack_new(root, 0);
		for (int i = 1; above && i < n && rc == 0; i++)
			rc = img_unpack_read_above(u, i, fds[i]);
		for (int i = 0; i < n && rc == 0; i++)
			rc = lseek(fds[i], 0, SEEK_SET) < 0 ? -1 : img_unpack_layer(u, fds[i]);
		if (rc == 0)
			rc = img_unpack_finish(u);
		if (rc < 0 && above)
			printf("# %s\n", img_errmsg());
		fflush(stdout);
		img_unpack_free(u);
		_exit(rc == 0 ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int has(int root, const char *path, const char *text, int nlink)
{
	char buf[256];
	struct stat st;
	int fd = openat(root, path, O_RDONLY | O_NOFOLLOW);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd < 0 || n < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		printf("# %s: missing or not a file\n", path);
		return 0;
	}
	close(fd);
	buf[n] = '\0';
	if (strcmp(buf, text) != 0 || (nlink && st.st_nlink != (nlink_t)nlink)) {
		printf("# %s: \"%s\" with %lu names\n", path, buf, (unsigned long)st.st_nlink);
		return 0;
	}
	return 1;
}

TEST(unpack_skips_what_layers_above_hide)
{
	static const char *const l0[] = {
		"d etc", "f etc/a BIG",               /* replaced above */
		"f etc/h1 linked", "l etc/h2 etc/h1", /* h1 replaced above, h2 stays */
		"f etc/p p0", "l etc/q etc/p", "l etc/r etc/q",   /* p and q replaced, r stays */
		"d gone", "f gone/x BIG",             /* whited out above */
		"d opq", "f opq/x BIG",               /* under an opaque directory above */
		"d keep", "f keep/f2 f2",             /* replaced above, after a link to it */
		"d s", "f s/child c", "f s BIG",      /* a directory replaced by a file, in turn
		                                       * replaced by a directory above */
		"s link etc/a",                       /* a symlink replaced above */
		NULL };
	static const char *const l1[] = {
		"f etc/a new a", "f etc/h1 other", "f etc/p p1", "f etc/q q1", "f .wh.gone",
		"l l1g keep/f2", "f s/z z", "f imp/a/f BIG", "f link file", NULL };
	static const char *const l2[] = {
		"f opq/.wh..wh..opq", "f opq/y y", "f keep/f2 f2 new", "f imp/a/.wh.f", NULL };
	int fds[3], root;
	struct stat st;
	char path[4096];

	fds[0] = layer("l0", 1, l0);
	fds[1] = layer("l1", 0, l1);
	fds[2] = layer("l2", 1, l2);
	IMG_ASSERT(fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0);
	/* every file of 1 MiB is hidden: with the layers above read, none is written */
	IMG_ASSERT_EQ_INT(unpack_small(fds, 3, "without", 0), 1);
	IMG_ASSERT_EQ_INT(unpack_small(fds, 3, "d", 1), 0);
	snprintf(path, sizeof(path), "%s/d", img_test_tmpdir);
	root = open(path, O_RDONLY | O_DIRECTORY);
	IMG_ASSERT(root >= 0);
	IMG_ASSERT(has(root, "etc/a", "new a", 1));
	IMG_ASSERT(has(root, "etc/h1", "other", 1));
	/* a hard link that stays keeps the bytes of the file it linked to */
	IMG_ASSERT(has(root, "etc/h2", "linked", 1));
	IMG_ASSERT(has(root, "etc/p", "p1", 1));
	IMG_ASSERT(has(root, "etc/q", "q1", 1));
	IMG_ASSERT(has(root, "etc/r", "p0", 1));
	IMG_ASSERT(has(root, "keep/f2", "f2 new", 1));
	IMG_ASSERT(has(root, "l1g", "f2", 1));
	IMG_ASSERT(has(root, "link", "file", 1));
	IMG_ASSERT(has(root, "s/z", "z", 1));
	IMG_ASSERT(has(root, "opq/y", "y", 1));
	IMG_ASSERT(fstatat(root, "gone", &st, AT_SYMLINK_NOFOLLOW) < 0);
	IMG_ASSERT(fstatat(root, "opq/x", &st, AT_SYMLINK_NOFOLLOW) < 0);
	IMG_ASSERT(fstatat(root, "s/child", &st, AT_SYMLINK_NOFOLLOW) < 0);
	/* a directory only a skipped name implied: made at the end, as the tree has it */
	IMG_ASSERT(fstatat(root, "imp/a", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode));
	IMG_ASSERT_EQ_INT(st.st_mode & 07777, 0755);
	IMG_ASSERT(fstatat(root, "imp/a/f", &st, AT_SYMLINK_NOFOLLOW) < 0);
	close(root);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

static int put(int root, const char *path, const char *text)
{
	int fd = openat(root, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

TEST(bundle_user)
{
	int root = open(img_test_tmpdir, O_RDONLY | O_DIRECTORY);
	unsigned uid, gid, *gids;
	size_t n;
	char *home;

	IMG_ASSERT(root >= 0);
	/* no /etc at all: numbers only, root's home is / */
	IMG_ASSERT_EQ_INT(img_bundle_user(root, "5:6", &uid, &gid, &gids, &n, &home), 0);
	IMG_ASSERT(uid == 5 && gid == 6 && n == 0);
	IMG_ASSERT_EQ_STR(home, "/");
	free(home);
	IMG_ASSERT_EQ_INT(img_bundle_user(root, "app", &uid, &gid, &gids, &n, &home), -1);
	IMG_ASSERT(strstr(img_errmsg(), "unknown user 'app'") != NULL);
	mkdirat(root, "etc", 0755);
	mkdirat(root, "data", 0755);
	IMG_ASSERT_EQ_INT(put(root, "data/passwd", "# users\nroot:x:0:0::/root:/bin/sh\napp:x:1000:100::/home/app:/bin/sh\n"), 0);
	/* an absolute symlink resolves inside the rootfs */
	IMG_ASSERT_EQ_INT(symlinkat("/data/passwd", root, "etc/passwd"), 0);
	IMG_ASSERT_EQ_INT(put(root, "etc/group", "users:x:100:\nstaff:x:50:app,x\nwheel:x:10:root\n"), 0);
	IMG_ASSERT_EQ_INT(img_bundle_user(root, "app", &uid, &gid, &gids, &n, &home), 0);
	IMG_ASSERT(uid == 1000 && gid == 100 && n == 1 && gids[0] == 50);
	IMG_ASSERT_EQ_STR(home, "/home/app");
	free(gids);
	free(home);
	IMG_ASSERT_EQ_INT(img_bundle_user(root, "1000:wheel", &uid, &gid, &gids, &n, &home), 0);
	IMG_ASSERT(uid == 1000 && gid == 10 && n == 0);
	free(home);
	IMG_ASSERT_EQ_INT(img_bundle_user(root, "app:nogroup", &uid, &gid, &gids, &n, &home), -1);
	IMG_ASSERT(strstr(img_errmsg(), "unknown group 'nogroup'") != NULL);
	IMG_ASSERT_EQ_INT(img_bundle_user(root, "", &uid, &gid, &gids, &n, &home), 0);
	IMG_ASSERT(uid == 0 && gid == 0 && n == 1 && gids[0] == 10);
	IMG_ASSERT_EQ_STR(home, "/root");
	free(gids);
	free(home);
	close(root);
}
