#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test.h"
#include "io.h"
#include "util.h"

/* Number of entries in dir (without . and ..); the first name goes to first. */
static int count_entries(const char *dir, char *first, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n++ == 0 && first)
			snprintf(first, len, "%s", e->d_name);
	}
	closedir(d);
	return n;
}

static int file_equals(const char *path, const char *want)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = img_io_read_full(fd, buf, sizeof buf);
	close(fd);
	return n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

TEST(io_out_commit)
{
	struct img_out o;
	char *dest = xasprintf("%s/out.tar", img_test_tmpdir);
	char name[256];
	struct stat st;
	mode_t mask = umask(0);

	umask(mask);
	IMG_ASSERT_EQ_INT(img_io_out_open(&o, dest), 0);
	IMG_ASSERT(!o.is_stdout && o.fd >= 0 && (o.anon || o.tmp != NULL));
	IMG_ASSERT_EQ_INT(img_io_out_is_tty(&o), 0);
	IMG_ASSERT_EQ_INT(img_io_write_all(o.fd, "hello\n", 6), 0);
	/* before commit: no destination, and nothing beside it (an unnamed file) or one
	 * temp file (where O_TMPFILE is not supported) */
	IMG_ASSERT(access(dest, F_OK) != 0 && errno == ENOENT);
	if (o.anon) {
		IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, NULL, 0), 0);
	} else {
		IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, name, sizeof name), 1);
		IMG_ASSERT(strncmp(name, "out.tar.", 8) == 0 && strlen(name) == 14);
	}
	IMG_ASSERT_EQ_INT(img_io_out_commit(&o), 0);
	IMG_ASSERT(file_equals(dest, "hello\n"));
	IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, NULL, 0), 1);
	IMG_ASSERT_EQ_INT(stat(dest, &st), 0);
	IMG_ASSERT_EQ_INT(st.st_mode & 07777, 0666 & ~mask);
	img_io_out_abort(&o);     /* harmless after commit */
	IMG_ASSERT(file_equals(dest, "hello\n"));

	/* replacing an existing file */
	IMG_ASSERT_EQ_INT(img_io_out_open(&o, dest), 0);
	IMG_ASSERT_EQ_INT(img_io_write_all(o.fd, "new", 3), 0);
	IMG_ASSERT(file_equals(dest, "hello\n"));
	IMG_ASSERT_EQ_INT(img_io_out_commit(&o), 0);
	IMG_ASSERT(file_equals(dest, "new"));
	IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, NULL, 0), 1);
	free(dest);
}

/* A child that opens dest, writes, and is killed by SIGKILL before commit. */
static int killed_writer(const char *dest)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct img_out o;
		if (img_io_out_open(&o, dest) < 0 || img_io_write_all(o.fd, "partial", 7) < 0)
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -1;
}

TEST(io_out_sigkill_leaves_nothing)
{
	char *dest = xasprintf("%s/out.tar", img_test_tmpdir);
	int fd = open(img_test_tmpdir, O_TMPFILE | O_WRONLY, 0600);

	if (fd < 0) {
		printf("# O_TMPFILE not supported in %s: not tested\n", img_test_tmpdir);
		free(dest);
		return;
	}
	close(fd);
	/* SIGKILL cannot be caught: only an unnamed file leaves no temp file behind */
	IMG_ASSERT_EQ_INT(killed_writer(dest), 0);
	IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, NULL, 0), 0);
	/* over an existing file: the old file stays, alone */
	fd = open(dest, O_WRONLY | O_CREAT | O_EXCL, 0644);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(img_io_write_all(fd, "old", 3), 0);
	close(fd);
	IMG_ASSERT_EQ_INT(killed_writer(dest), 0);
	IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, NULL, 0), 1);
	IMG_ASSERT(file_equals(dest, "old"));
	free(dest);
}

TEST(io_out_abort)
{
	struct img_out o;
	char *dest = xasprintf("%s/x", img_test_tmpdir);

	IMG_ASSERT_EQ_INT(img_io_out_open(&o, dest), 0);
	IMG_ASSERT_EQ_INT(img_io_write_all(o.fd, "partial", 7), 0);
	img_io_out_abort(&o);
	IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, NULL, 0), 0);
	img_io_out_abort(&o);
	free(dest);
}

TEST(io_out_commit_fails)
{
	struct img_out o;
	char *dest = xasprintf("%s/d", img_test_tmpdir);

	/* the destination turned into a directory: rename fails, the temp file goes */
	IMG_ASSERT_EQ_INT(img_io_out_open(&o, dest), 0);
	IMG_ASSERT_EQ_INT(img_io_write_all(o.fd, "abc", 3), 0);
	IMG_ASSERT_EQ_INT(mkdir(dest, 0755), 0);
	IMG_ASSERT_EQ_INT(img_io_out_commit(&o), -1);
	IMG_ASSERT(strstr(img_errmsg(), "d'") != NULL);
	IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, NULL, 0), 1);
	/* and a directory is refused at open */
	IMG_ASSERT_EQ_INT(img_io_out_open(&o, dest), -1);
	IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, NULL, 0), 1);
	free(dest);
	/* a directory that does not exist */
	dest = xasprintf("%s/nodir/x", img_test_tmpdir);
	IMG_ASSERT_EQ_INT(img_io_out_open(&o, dest), -1);
	IMG_ASSERT(strstr(img_errmsg(), "nodir/x") != NULL);
	free(dest);
}

TEST(io_out_dev_full)
{
	struct img_out o;
	int saved;

	/* a device is written in place, never replaced */
	IMG_ASSERT_EQ_INT(img_io_out_open(&o, "/dev/full"), 0);
	IMG_ASSERT(o.tmp == NULL);
	IMG_ASSERT_EQ_INT(img_io_write_all(o.fd, "x", 1), -1);
	IMG_ASSERT_EQ_INT(errno, ENOSPC);
	img_io_out_commit(&o);
	IMG_ASSERT(access("/dev/full", W_OK) == 0);
	{
		struct stat st;
		IMG_ASSERT_EQ_INT(stat("/dev/full", &st), 0);
		IMG_ASSERT(S_ISCHR(st.st_mode));
	}
	IMG_ASSERT_EQ_INT(img_io_out_open(&o, "/dev/null"), 0);
	IMG_ASSERT_EQ_INT(img_io_write_all(o.fd, "x", 1), 0);
	IMG_ASSERT_EQ_INT(img_io_out_commit(&o), 0);

	/* stdout on /dev/full: buffered writes, then commit fails */
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	IMG_ASSERT(saved >= 0);
	{
		int full = open("/dev/full", O_WRONLY);
		IMG_ASSERT(full >= 0);
		dup2(full, STDOUT_FILENO);
		close(full);
	}
	IMG_ASSERT_EQ_INT(img_io_out_open(&o, "-"), 0);
	IMG_ASSERT(o.is_stdout && o.fd == STDOUT_FILENO && o.path == NULL && o.tmp == NULL);
	fputs("data on stdout\n", stdout);
	int r = img_io_out_commit(&o);
	int e = errno;
	__fpurge(stdout);
	clearerr(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	IMG_ASSERT_EQ_INT(r, -1);
	IMG_ASSERT_EQ_INT(e, ENOSPC);
	IMG_ASSERT(strstr(img_errmsg(), "stdout") != NULL);
}

TEST(io_open_in)
{
	char *path = xasprintf("%s/in", img_test_tmpdir);
	char buf[32];
	int fd, saved, in;

	fd = open(path, O_WRONLY | O_CREAT, 0644);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(img_io_write_all(fd, "stdin bytes", 11), 0);
	close(fd);

	fd = img_io_open_in(path);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(img_io_read_full(fd, buf, sizeof buf), 11);
	IMG_ASSERT(memcmp(buf, "stdin bytes", 11) == 0);
	close(fd);

	saved = dup(STDIN_FILENO);
	in = open(path, O_RDONLY);
	IMG_ASSERT(saved >= 0 && in >= 0);
	dup2(in, STDIN_FILENO);
	close(in);
	fd = img_io_open_in("-");
	IMG_ASSERT(fd > STDIN_FILENO);
	IMG_ASSERT_EQ_INT(img_io_read_full(fd, buf, 5), 5);
	close(fd);
	fd = img_io_open_in(NULL);    /* same stdin, same offset */
	IMG_ASSERT(fd > STDIN_FILENO);
	IMG_ASSERT_EQ_INT(img_io_read_full(fd, buf, sizeof buf), 6);
	IMG_ASSERT(memcmp(buf, " bytes", 6) == 0);
	close(fd);
	dup2(saved, STDIN_FILENO);
	close(saved);

	free(path);
	path = xasprintf("%s/missing", img_test_tmpdir);
	errno = 0;
	IMG_ASSERT_EQ_INT(img_io_open_in(path), -1);
	IMG_ASSERT_EQ_INT(errno, ENOENT);
	IMG_ASSERT(strstr(img_errmsg(), "cannot open") && strstr(img_errmsg(), "missing"));
	free(path);
}

TEST(io_write_read_full)
{
	char *path = xasprintf("%s/big", img_test_tmpdir);
	size_t n = 3u << 20;
	char *a = xmalloc(n), *b = xmalloc(n + 100);
	int fd;

	for (size_t i = 0; i < n; i++)
		a[i] = (char)(i * 7);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(img_io_write_all(fd, a, n), 0);
	IMG_ASSERT_EQ_INT(img_io_write_all(fd, a, 0), 0);
	IMG_ASSERT_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
	IMG_ASSERT_EQ_INT(img_io_read_full(fd, b, n + 100), (long long)n);
	IMG_ASSERT(memcmp(a, b, n) == 0);
	IMG_ASSERT_EQ_INT(img_io_read_full(fd, b, 10), 0);
	close(fd);
	IMG_ASSERT_EQ_INT(img_io_read_full(-1, b, 10), -1);
	IMG_ASSERT_EQ_INT(img_io_write_all(-1, a, 10), -1);
	IMG_ASSERT_EQ_INT(errno, EBADF);
	free(a);
	free(b);
	free(path);
}

/* Run fn in a child; return its wait status. */
static int in_child(void (*fn)(const char *), const char *arg)
{
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		fn(arg);
		_exit(99);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static void child_signal(const char *path)
{
	close(open(path, O_WRONLY | O_CREAT, 0644));
	img_io_tmp_register(path);
	raise(SIGTERM);
}

static void child_exit(const char *path)
{
	close(open(path, O_WRONLY | O_CREAT, 0644));
	img_io_tmp_register(path);
	exit(3);
}

static void child_unregistered(const char *path)
{
	close(open(path, O_WRONLY | O_CREAT, 0644));
	img_io_tmp_register(path);
	img_io_tmp_unregister(path);
	raise(SIGINT);
}

/* A grandchild forked after registering exits: the file stays (not its own). */
static void child_fork(const char *path)
{
	pid_t pid;
	int st;

	close(open(path, O_WRONLY | O_CREAT, 0644));
	img_io_tmp_register(path);
	pid = fork();
	if (pid == 0)
		exit(0);
	waitpid(pid, &st, 0);
	exit(access(path, F_OK) == 0 ? 7 : 8);   /* exit: atexit removes it */
}

static void child_out_signal(const char *dest)
{
	struct img_out o;

	if (img_io_out_open(&o, dest) < 0)
		_exit(1);
	img_io_write_all(o.fd, "x", 1);
	raise(SIGHUP);
}

static void child_pipe(const char *path)
{
	int p[2];

	close(open(path, O_WRONLY | O_CREAT, 0644));
	img_io_tmp_register(path);
	if (pipe(p) < 0)
		_exit(2);
	close(p[0]);
	if (write(p[1], "x", 1) < 0)
		_exit(5);
	_exit(4);
}

TEST(io_tmp_cleanup)
{
	char *path = xasprintf("%s/tmpfile", img_test_tmpdir);
	int st;

	st = in_child(child_signal, path);
	IMG_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	IMG_ASSERT(access(path, F_OK) != 0);

	st = in_child(child_exit, path);
	IMG_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	IMG_ASSERT(access(path, F_OK) != 0);

	st = in_child(child_unregistered, path);
	IMG_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
	IMG_ASSERT(access(path, F_OK) == 0);
	unlink(path);

	st = in_child(child_fork, path);
	IMG_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	IMG_ASSERT(access(path, F_OK) != 0);     /* then its owner's exit removed it */

	st = in_child(child_pipe, path);
	IMG_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE);
	IMG_ASSERT(access(path, F_OK) != 0);

	st = in_child(child_out_signal, path);
	IMG_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGHUP);
	IMG_ASSERT_EQ_INT(count_entries(img_test_tmpdir, NULL, 0), 0);
	free(path);
}

static void child_close_full(const char *unused)
{
	int full = open("/dev/full", O_WRONLY);
	(void)unused;
	dup2(full, STDOUT_FILENO);
	close(full);
	fputs("x\n", stdout);
	_exit(img_io_close_stdout() == -1 && strstr(img_errmsg(), "stdout") ? 0 : 1);
}

static void child_close_epipe(const char *unused)
{
	int p[2];
	(void)unused;
	signal(SIGPIPE, SIG_IGN);
	if (pipe(p) < 0)
		_exit(2);
	close(p[0]);
	dup2(p[1], STDOUT_FILENO);
	close(p[1]);
	fputs("x\n", stdout);
	_exit(img_io_close_stdout() == 0 ? 0 : 1);
}

static void child_close_ok(const char *unused)
{
	int null = open("/dev/null", O_WRONLY);
	(void)unused;
	dup2(null, STDOUT_FILENO);
	close(null);
	fputs("x\n", stdout);
	_exit(img_io_close_stdout() == 0 ? 0 : 1);
}

TEST(io_close_stdout)
{
	int st;

	st = in_child(child_close_full, NULL);
	IMG_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = in_child(child_close_epipe, NULL);
	IMG_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = in_child(child_close_ok, NULL);
	IMG_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	IMG_ASSERT_EQ_INT(img_io_is_epipe(EPIPE), 1);
	IMG_ASSERT_EQ_INT(img_io_is_epipe(ENOSPC), 0);
}

TEST(io_fsync_dir)
{
	char *p = xasprintf("%s/none", img_test_tmpdir);

	IMG_ASSERT_EQ_INT(img_io_fsync_dir(img_test_tmpdir), 0);
	IMG_ASSERT_EQ_INT(img_io_fsync_dir(p), -1);
	IMG_ASSERT(strstr(img_errmsg(), "none") != NULL);
	free(p);
}
