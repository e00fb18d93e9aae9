/* snap: what changed between two snapshots of a tree, as a layer. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "util.h"
#include "store.h"
#include "mklayer.h"
#include "snap.h"

static void
put(const char *root, const char *rel, const char *text)
{
	char *p = xasprintf("%s/%s", root, rel);
	FILE *fp = fopen(p, "w");

	IMG_ASSERT(fp);
	fputs(text, fp);
	fclose(fp);
	free(p);
}

static void
mk(const char *root, const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);

	IMG_ASSERT_EQ_INT(mkdir(p, 0755), 0);
	free(p);
}

static int
skip_proc(void *arg, const char *rel, int is_dir)
{
	(void)arg;
	return is_dir && !strcmp(rel, "proc");
}

TEST(snap_changed_added_deleted)
{
	struct img_store *s = img_test_store();
	struct img_mklayer_opts lo = { .comp = IMG_COMP_NONE, .level = -1, .clamp = 100,
	                               .progress = IMG_PROGRESS_NONE };
	char *root = xasprintf("%s/r", img_test_tmpdir), *p;
	struct img_snap *sn;
	struct img_mklayer *l;
	struct img_digest blob, diff;
	int64_t size;

	IMG_ASSERT(s);
	IMG_ASSERT_EQ_INT(mkdir(root, 0755), 0);
	mk(root, "etc");
	mk(root, "old");
	mk(root, "same");
	put(root, "etc/keep", "k\n");
	put(root, "etc/edit", "e\n");
	put(root, "etc/gone", "g\n");
	put(root, "old/x", "x\n");
	put(root, "same/y", "y\n");
	sn = img_snap_take(root);
	IMG_ASSERT(sn);
	usleep(20000);         /* a later ctime */
	put(root, "etc/edit", "E\n");
	p = xasprintf("%s/etc/gone", root);
	IMG_ASSERT_EQ_INT(unlink(p), 0);
	free(p);
	p = xasprintf("%s/old/x", root);
	IMG_ASSERT_EQ_INT(unlink(p), 0);
	free(p);
	p = xasprintf("%s/old", root);
	IMG_ASSERT_EQ_INT(rmdir(p), 0);
	free(p);
	mk(root, "new");
	put(root, "new/z", "z\n");
	mk(root, "proc");
	l = img_mklayer_begin(s, &lo);
	IMG_ASSERT(l);
	IMG_ASSERT_EQ_INT(img_snap_layer(sn, root, l, skip_proc, NULL), 0);
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, "etc"), 1);
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, "etc/edit"), 1);
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, "etc/.wh.gone"), 1);
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, "etc/keep"), 0);
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, ".wh.old"), 1);
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, "old/.wh.x"), 0);   /* one whiteout for a directory */
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, "new/z"), 1);
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, "same"), 0);
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, "proc"), 0);
	/* etc etc/edit etc/.wh.gone new new/z .wh.old */
	IMG_ASSERT_EQ_INT(img_mklayer_count(l), 6);
	IMG_ASSERT_EQ_INT(img_mklayer_finish(l, &blob, &size, &diff), 0);
	img_mklayer_free(l);
	img_snap_free(sn);
	img_store_close(s);
	free(root);
}

TEST(snap_walk_order)
{
	IMG_ASSERT(img_mklayer_walkcmp("a", "a/x") < 0);
	IMG_ASSERT(img_mklayer_walkcmp("a/x", "a-b") < 0);
	IMG_ASSERT(img_mklayer_walkcmp("a-b", "a") > 0);
	IMG_ASSERT(img_mklayer_walkcmp("etc/tiny-release", "etc/tiny") > 0);
	IMG_ASSERT_EQ_INT(img_mklayer_walkcmp("a/b", "a/b"), 0);
}
