/* Unit tests of common/run.c: the store's run area. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "image.h"
#include "store.h"
#include "run.h"

static int fills;

static int fill_ok(void *arg, int rootfd)
{
	(void)arg;
	fills++;
	return mkdirat(rootfd, "etc", 0755);
}

static int fill_fail(void *arg, int rootfd)
{
	(void)arg;
	(void)rootfd;
	img_seterr("no");
	return -1;
}

static int keep_none(void *arg, const struct img_digest *m)
{
	(void)arg;
	(void)m;
	return 0;
}

TEST(run_names)
{
	IMG_ASSERT(img_run_name_valid("a"));
	IMG_ASSERT(img_run_name_valid("web-1.2_x"));
	IMG_ASSERT(!img_run_name_valid(""));
	IMG_ASSERT(!img_run_name_valid("-a"));
	IMG_ASSERT(!img_run_name_valid(".."));
	IMG_ASSERT(!img_run_name_valid("a/b"));
	IMG_ASSERT(!img_run_name_valid("a b"));
}

TEST(run_area)
{
	char *dir = xasprintf("%s/store", img_test_tmpdir), *root, *cdir, **names;
	struct img_store *s;
	struct img_digest m;
	struct stat st;
	json_t *desc, *back;
	size_t n, removed;
	int made, lockfd;

	IMG_ASSERT_EQ_INT(img_store_open(dir, IMG_STORE_CREATE, &s), 0);
	img_digest_buf("m", 1, &m);
	fills = 0;
	IMG_ASSERT_EQ_INT(img_run_image(s, &m, fill_fail, NULL, &made, &root), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "no");
	IMG_ASSERT_EQ_INT(img_run_image(s, &m, fill_ok, NULL, &made, &root), 0);
	IMG_ASSERT_EQ_INT(made, 1);
	IMG_ASSERT(stat(root, &st) == 0 && S_ISDIR(st.st_mode));
	free(root);
	/* the second time it is there */
	IMG_ASSERT_EQ_INT(img_run_image(s, &m, fill_ok, NULL, &made, &root), 0);
	IMG_ASSERT_EQ_INT(made, 0);
	IMG_ASSERT_EQ_INT(fills, 1);
	free(root);
	desc = img_image_desc_new("application/vnd.oci.image.manifest.v1+json", &m, 1);
	IMG_ASSERT_EQ_INT(img_run_container_new(s, "c1", desc, &cdir, &lockfd), 0);
	IMG_ASSERT_EQ_INT(img_run_container_new(s, "c1", desc, &root, &made) < 0, 1);
	IMG_ASSERT(root == NULL);
	IMG_ASSERT(strstr(img_errmsg(), "container 'c1' exists") != NULL);
	IMG_ASSERT_EQ_INT(img_run_containers(s, &names, &n), 0);
	IMG_ASSERT_EQ_INT(n, 1);
	IMG_ASSERT_EQ_STR(names[0], "c1");
	free(names[0]);
	free(names);
	back = img_run_container_image(s, "c1");
	IMG_ASSERT(back && json_equal(back, desc));
	json_decref(back);
	/* held: neither pruned nor reclaimed */
	IMG_ASSERT_EQ_INT(img_run_prune_containers(s, 0, &removed), 0);
	IMG_ASSERT_EQ_INT(removed, 0);
	IMG_ASSERT_EQ_INT(img_run_container_reclaim(s, "c1"), -1);
	close(lockfd);
	/* let go, and runc does not know it: it goes */
	IMG_ASSERT_EQ_INT(img_run_prune_containers(s, 1, &removed), 0);
	IMG_ASSERT_EQ_INT(removed, 1);
	IMG_ASSERT_EQ_INT(img_run_container_exists(s, "c1"), 1);
	IMG_ASSERT_EQ_INT(img_run_prune_containers(s, 0, &removed), 0);
	IMG_ASSERT_EQ_INT(removed, 1);
	IMG_ASSERT_EQ_INT(img_run_container_exists(s, "c1"), 0);
	IMG_ASSERT_EQ_INT(img_run_prune_images(s, keep_none, NULL, &removed), 0);
	IMG_ASSERT_EQ_INT(removed, 1);
	free(cdir);
	json_decref(desc);
	img_store_close(s);
	free(dir);
}

TEST(run_spawn_failed_exec)
{
	const char *bad[] = { "/nonexistent/prog", NULL };
	const char *ok[] = { "/bin/sh", "-c", "exit 3", NULL };
	pid_t pid;

	/* the child says nothing itself: the parent gets the reason */
	IMG_ASSERT_EQ_INT(img_run_spawn(bad, -1, -1), -1);
	IMG_ASSERT(strstr(img_errmsg(), "cannot run /nonexistent/prog: ") == img_errmsg());
	IMG_ASSERT(strstr(img_errmsg(), "No such file") != NULL);
	pid = img_run_spawn(ok, -1, -1);
	IMG_ASSERT(pid > 0);
	IMG_ASSERT_EQ_INT(img_run_wait(pid), 3);
}
