/* mklayer: a directory written under a prefix with owners and modes mapped. */
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

TEST(mklayer_dir_prefix_and_duplicates)
{
	struct img_store *s = img_test_store();
	struct img_mklayer_opts lo = { .comp = IMG_COMP_NONE, .level = -1, .clamp = 100,
	                               .progress = IMG_PROGRESS_NONE };
	struct img_mklayer_map m = { .prefix = "opt/x", .uid = 5, .gid = 6, .mode = 0600 };
	struct img_mklayer *l;
	struct img_digest blob, diff;
	int64_t size;
	char *dir = xasprintf("%s/d", img_test_tmpdir), *f = xasprintf("%s/d/a", img_test_tmpdir);
	FILE *fp;

	IMG_ASSERT(s);
	IMG_ASSERT_EQ_INT(mkdir(dir, 0755), 0);
	fp = fopen(f, "w");
	IMG_ASSERT(fp);
	fputs("a\n", fp);
	fclose(fp);
	l = img_mklayer_begin(s, &lo);
	IMG_ASSERT(l);
	IMG_ASSERT_EQ_INT(img_mklayer_entry(l, "opt", IMG_ENT_DIR, 0755, 0, 0, 0, 0, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(img_mklayer_entry(l, "opt/x", IMG_ENT_DIR, 0755, 0, 0, 0, 0, NULL, NULL), 0);
	IMG_ASSERT_EQ_INT(img_mklayer_dir(l, dir, &m), 0);
	IMG_ASSERT_EQ_INT(img_mklayer_has(l, "opt/x/a"), 1);
	IMG_ASSERT_EQ_INT(img_mklayer_count(l), 3);
	/* a name twice is refused */
	IMG_ASSERT_EQ_INT(img_mklayer_entry(l, "opt/x/a", IMG_ENT_FILE, 0644, 0, 0, 0, 0, NULL, NULL), -1);
	IMG_ASSERT(strstr(img_errmsg(), "duplicate entry") != NULL);
	IMG_ASSERT_EQ_INT(img_mklayer_finish(l, &blob, &size, &diff), 0);
	IMG_ASSERT(img_digest_eq(&blob, &diff));   /* uncompressed: the same bytes */
	img_mklayer_free(l);
	img_store_close(s);
	free(dir);
	free(f);
}
