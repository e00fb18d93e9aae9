/* arcin: what it says about input that is not a tar archive. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"
#include "util.h"
#include "arcin.h"

/* Open fd and read its first entry: 1, 0 (no entries) or -1 (img_errmsg). */
static int first_entry(int fd)
{
	struct img_arcin *a;
	struct img_arcin_entry e;
	int r;

	if (img_arcin_open_fd(fd, 0, &a) < 0)
		return -1;
	r = img_arcin_next(a, &e);
	img_arcin_free(a);
	return r;
}

static int from_file(const char *data, size_t n)
{
	char *p = xasprintf("%s/in", img_test_tmpdir);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644), r = -2;

	if (fd >= 0 && write(fd, data, n) == (ssize_t)n && lseek(fd, 0, SEEK_SET) == 0)
		r = first_entry(fd);
	if (fd >= 0)
		close(fd);
	free(p);
	return r;
}

/* Through a pipe, as stdin would be (n small enough for the pipe buffer). */
static int from_pipe(const char *data, size_t n)
{
	int p[2], r = -2;

	if (pipe(p) < 0)
		return -2;
	if (write(p[1], data, n) == (ssize_t)n) {
		close(p[1]);
		p[1] = -1;
		r = first_entry(p[0]);
	}
	if (p[1] >= 0)
		close(p[1]);
	close(p[0]);
	return r;
}

TEST(arcin_text_is_not_empty)
{
	static const char text[] = "this is not a tar archive, just text\n";
	char spaces[600];

	IMG_ASSERT_EQ_INT(from_file(text, strlen(text)), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive");
	IMG_ASSERT_EQ_INT(from_pipe(text, strlen(text)), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive");
	IMG_ASSERT_EQ_INT(from_file("x", 1), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive");
	IMG_ASSERT_EQ_INT(from_pipe("\n", 1), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive");
	memset(spaces, ' ', sizeof spaces);
	IMG_ASSERT_EQ_INT(from_file(spaces, sizeof spaces), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive");
	/* a gzip stream of nothing: the input is not empty, its content is */
	IMG_ASSERT_EQ_INT(from_file("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00"
	                            "\x00\x00\x00\x00\x00\x00", 20), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive");
}

TEST(arcin_empty_input)
{
	IMG_ASSERT_EQ_INT(from_file("", 0), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive (empty input)");
	IMG_ASSERT_EQ_INT(from_pipe("", 0), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive (empty input)");
}

/* A read error is neither empty input nor a format problem. */
TEST(arcin_read_error_not_empty)
{
	int fd = open(img_test_tmpdir, O_RDONLY | O_DIRECTORY);

	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(first_entry(fd), -1);
	close(fd);
	IMG_ASSERT(strstr(img_errmsg(), "empty input") == NULL);
	IMG_ASSERT(strstr(img_errmsg(), strerror(EISDIR)) != NULL);
}
