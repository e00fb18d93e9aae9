/* Unit tests of common/lread.c: records and data blocks of a layer. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"
#include "layer.h"
#include "arcout.h"
#include "util.h"
#include "lread.h"

static int lr_fd_sink(void *arg, const void *buf, size_t n)
{
	return write(*(int *)arg, buf, n) == (ssize_t)n ? 0 : -1;
}

static int lr_comp_sink(void *arg, const void *buf, size_t n)
{
	return img_compw_write(arg, buf, n);
}

TEST(lread_records_and_blocks)
{
	char path[4096];
	struct img_compw *w;
	struct img_arcout *o;
	struct img_lread *r;
	struct img_tree_rec rec;
	struct img_arcin_entry e;
	const void *buf;
	size_t n, got = 0;
	char kinds[64] = "";
	int fd, rc;

	snprintf(path, sizeof(path), "%s/l.tar.gz", img_test_tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	IMG_ASSERT(fd >= 0);
	w = img_compw_new(IMG_COMP_GZIP, -1, lr_fd_sink, &fd);
	o = img_arcout_new_sink(lr_comp_sink, w, 1000);
	IMG_ASSERT(o != NULL);
	IMG_ASSERT_EQ_INT(img_arcout_dir(o, "d"), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "d/f", "hello\n", 6, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "d/.wh.old", "", 0, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "d/.wh..wh..opq", "", 0, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, ".wh..wh.aufs", "", 0, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "g", "skipped", 7, 0600), 0);
	IMG_ASSERT_EQ_INT(img_arcout_close(o), 0);
	IMG_ASSERT_EQ_INT(img_compw_finish(w), 0);
	img_arcout_free(o);
	img_compw_free(w);
	lseek(fd, 0, SEEK_SET);
	IMG_ASSERT_EQ_INT(img_lread_open(fd, &r), 0);
	while ((rc = img_lread_next(r, &rec, &e)) == 1) {
		char k = rec.kind == IMG_TREE_WHITEOUT ? 'w' : rec.kind == IMG_TREE_OPAQUE ? 'o' :
		         rec.type == IMG_ENT_DIR ? 'd' : 'f';
		size_t l = strlen(kinds);
		snprintf(kinds + l, sizeof(kinds) - l, "%c:%s ", k, rec.path);
		IMG_ASSERT(e.ae != NULL);
		if (strcmp(rec.path, "d/f") == 0) {
			IMG_ASSERT_EQ_INT(rec.size, 6);
			while ((rc = img_lread_block(r, &buf, &n)) == 1) {
				IMG_ASSERT(got + n <= 6 && memcmp(buf, "hello\n" + got, n) == 0);
				got += n;
			}
			IMG_ASSERT_EQ_INT(rc, 0);
		}
	}
	IMG_ASSERT_EQ_INT(rc, 0);
	IMG_ASSERT_EQ_INT(got, 6);
	IMG_ASSERT_EQ_STR(kinds, "d:d f:d/f w:d/old o:d f:g ");
	IMG_ASSERT_EQ_INT(img_lread_entry_number(r), 6);
	img_lread_free(r);
	close(fd);
}
