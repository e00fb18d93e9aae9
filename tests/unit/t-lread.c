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
	return img_comp_enc_write(arg, buf, n);
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
	w = img_comp_enc_new(IMG_COMP_GZIP, -1, lr_fd_sink, &fd);
	o = img_arcout_new_sink(lr_comp_sink, w, 1000);
	IMG_ASSERT(o != NULL);
	IMG_ASSERT_EQ_INT(img_arcout_dir(o, "d"), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "d/f", "hello\n", 6, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "d/.wh.old", "", 0, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "d/.wh..wh..opq", "", 0, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, ".wh..wh.aufs", "", 0, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "g", "skipped", 7, 0600), 0);
	IMG_ASSERT_EQ_INT(img_arcout_close(o), 0);
	IMG_ASSERT_EQ_INT(img_comp_enc_finish(w), 0);
	img_arcout_free(o);
	img_comp_enc_free(w);
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

/* A layer read back from a part of a file (an archive), checked against its digest. */
TEST(lread_part_of_a_file)
{
	char path[4096];
	struct img_compw *w;
	struct img_arcout *o;
	struct img_lread *r;
	struct img_tree_rec rec;
	struct img_digest d, wrong;
	char *blob, names[64];
	off_t len;
	int fd, rc;

	for (int comp = 0; comp < 2; comp++) {
		snprintf(path, sizeof(path), "%s/l%d", img_test_tmpdir, comp);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		IMG_ASSERT(fd >= 0);
		w = comp ? img_comp_enc_new(IMG_COMP_GZIP, -1, lr_fd_sink, &fd) : NULL;
		o = w ? img_arcout_new_sink(lr_comp_sink, w, 1000) : img_arcout_new_fd(fd, 1000);
		IMG_ASSERT(o != NULL);
		IMG_ASSERT_EQ_INT(img_arcout_buf(o, "a", "hello\n", 6, 0644), 0);
		IMG_ASSERT_EQ_INT(img_arcout_buf(o, "b", "world\n", 6, 0644), 0);
		IMG_ASSERT_EQ_INT(img_arcout_close(o), 0);
		IMG_ASSERT(!w || img_comp_enc_finish(w) == 0);
		img_arcout_free(o);
		img_comp_enc_free(w);
		len = lseek(fd, 0, SEEK_END);
		blob = xmalloc((size_t)len);
		IMG_ASSERT(pread(fd, blob, (size_t)len, 0) == len);
		img_digest_buf(blob, (size_t)len, &d);
		/* the blob between other bytes: 1000 before, a tar header's worth after */
		IMG_ASSERT(ftruncate(fd, 0) == 0);
		{
			char pad[1000];
			memset(pad, 'p', sizeof(pad));
			IMG_ASSERT(pwrite(fd, pad, sizeof(pad), 0) == (ssize_t)sizeof(pad));
			IMG_ASSERT(pwrite(fd, blob, (size_t)len, 1000) == len);
			IMG_ASSERT(pwrite(fd, pad, 512, 1000 + len) == 512);
		}
		IMG_ASSERT_EQ_INT(img_lread_open_at(fd, 1000, len, &d, &r), 0);
		names[0] = '\0';
		while ((rc = img_lread_next(r, &rec, NULL)) == 1)
			strcat(names, rec.path);
		IMG_ASSERT_EQ_INT(rc, 0);
		IMG_ASSERT_EQ_STR(names, "ab");
		IMG_ASSERT_EQ_INT(img_lread_end(r), 0);
		img_lread_free(r);
		/* bytes that are not the blob's: refused once read */
		img_digest_buf("other", 5, &wrong);
		IMG_ASSERT_EQ_INT(img_lread_open_at(fd, 1000, len, &wrong, &r), 0);
		while ((rc = img_lread_next(r, &rec, NULL)) == 1)
			;
		IMG_ASSERT_EQ_INT(rc, 0);
		IMG_ASSERT_EQ_INT(img_lread_end(r), -1);
		IMG_ASSERT(strncmp(img_errmsg(), "the archive changed while it was read", 37) == 0);
		img_lread_free(r);
		/* freed half way: the hashing thread stops */
		IMG_ASSERT_EQ_INT(img_lread_open_at(fd, 1000, len, &d, &r), 0);
		IMG_ASSERT_EQ_INT(img_lread_next(r, &rec, NULL), 1);
		img_seterr("the caller's");
		img_lread_free(r);
		IMG_ASSERT_EQ_STR(img_errmsg(), "the caller's");
		free(blob);
		close(fd);
	}
}
