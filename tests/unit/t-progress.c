#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "io.h"
#include "progress.h"
#include "util.h"

/* Run work() with stderr sent to a file; its text into buf. */
static void capture_stderr(void (*work)(void), char *buf, size_t len)
{
	char *path = xasprintf("%s/stderr", img_test_tmpdir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644), saved;
	ssize_t n;

	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	work();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = img_io_read_full(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	free(path);
}

TEST(progress_parse)
{
	enum img_progress_mode m;

	IMG_ASSERT_EQ_INT(img_progress_parse("auto", &m), 0);
	IMG_ASSERT_EQ_INT(m, IMG_PROGRESS_AUTO);
	IMG_ASSERT_EQ_INT(img_progress_parse("tty", &m), 0);
	IMG_ASSERT_EQ_INT(m, IMG_PROGRESS_TTY);
	IMG_ASSERT_EQ_INT(img_progress_parse("plain", &m), 0);
	IMG_ASSERT_EQ_INT(m, IMG_PROGRESS_PLAIN);
	IMG_ASSERT_EQ_INT(img_progress_parse("none", &m), 0);
	IMG_ASSERT_EQ_INT(m, IMG_PROGRESS_NONE);
	IMG_ASSERT_EQ_INT(img_progress_parse("bar", &m), -1);
	IMG_ASSERT(strstr(img_errmsg(), "bar") != NULL);
	IMG_ASSERT_EQ_INT(img_progress_parse("", &m), -1);
}

static void work_none(void)
{
	struct img_progress *p = img_progress_new(IMG_PROGRESS_NONE, "x", 100);
	for (int i = 0; i < 1000; i++)
		img_progress_add(p, 1 << 20);
	img_progress_done(p);
	img_progress_done(NULL);
	img_progress_add(NULL, 1);
	img_progress_set_total(NULL, 1);
}

static void work_plain(void)
{
	struct img_progress *p = img_progress_new(IMG_PROGRESS_PLAIN, "layer", 0);
	img_progress_set_total(p, 2000000);
	for (int i = 0; i < 2000; i++)
		img_progress_add(p, 1000);
	img_progress_done(p);
}

static void work_tty(void)
{
	struct img_progress *p = img_progress_new(IMG_PROGRESS_TTY, "import", 750000000);
	struct timespec ts = { 0, 110 * 1000 * 1000 };   /* > 0.1 s: each add prints, under any load */
	for (int i = 0; i < 5; i++) {
		img_progress_add(p, 2u << 20);     /* > 1 MiB: the clock is read */
		nanosleep(&ts, NULL);
	}
	img_progress_done(p);
}

TEST(progress_output)
{
	char buf[4096];

	capture_stderr(work_none, buf, sizeof buf);
	IMG_ASSERT_EQ_STR(buf, "");

	/* plain: no periodic line within 5 s, one final line */
	capture_stderr(work_plain, buf, sizeof buf);
	IMG_ASSERT(strncmp(buf, "layer: 2MB / 2MB  (100%)", 24) == 0);
	IMG_ASSERT(strchr(buf, '\n') == buf + strlen(buf) - 1);
	IMG_ASSERT(strstr(buf, "done") != NULL);

	/* tty: lines rewritten with \r, at most every 0.1 s, a newline at the end */
	capture_stderr(work_tty, buf, sizeof buf);
	IMG_ASSERT(buf[0] == '\r');
	IMG_ASSERT(strstr(buf, "import 10.5MB / 750MB  (1%)") != NULL);
	IMG_ASSERT(strstr(buf, "/s") != NULL);
	/* unfinished work (10.5MB of 750MB): no "done"; the bar is cleared for what follows */
	IMG_ASSERT(strstr(buf, "done") == NULL);
	IMG_ASSERT(strlen(buf) > 4 && strcmp(buf + strlen(buf) - 4, "\r\033[K") == 0);
	{
		int lines = 0;
		for (char *c = buf; *c; c++)
			lines += *c == '\r';
		IMG_ASSERT(lines >= 2 && lines <= 6);   /* updates (>= 0.1 s apart) + the clear */
	}
}

TEST(progress_shown)
{
	struct img_progress *p = img_progress_new(IMG_PROGRESS_NONE, "x", 1);
	IMG_ASSERT(!img_progress_shown(p));
	img_progress_done(p);
	IMG_ASSERT(!img_progress_shown(NULL));
}
