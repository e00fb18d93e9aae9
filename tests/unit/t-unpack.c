/* Unit tests of common/unpack.c and common/bundle.c: tiny:2 into a directory; users. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "util.h"
#include "store.h"
#include "archive-image.h"
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
	IMG_ASSERT_EQ_INT(img_remove_at(root, "usr"), 0);
	IMG_ASSERT(fstatat(root, "usr", &a, AT_SYMLINK_NOFOLLOW) < 0);
	IMG_ASSERT_EQ_INT(img_remove_at(root, "usr"), 0);   /* missing: fine */
	close(root);
	free(dir);
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
