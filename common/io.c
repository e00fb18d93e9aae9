/* io: '-' handling, full writes, atomic output files, temp-file cleanup on signals. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "util.h"

/* ---- temp files removed on a signal or at exit ---- */

/* A fixed table so the signal handler only reads pointers and calls unlink(2).
 * A slot is published by storing its pointer last and retired by clearing it first. */
#define TMP_SLOTS 256
static char *volatile tmp_slots[TMP_SLOTS];
static volatile pid_t tmp_pids[TMP_SLOTS];   /* the registering process: a forked child
						 leaves its parent's files alone */
static int tmp_installed;

/* SIGPIPE too: a writer into a closed pipe dies from it like anyone else, but clean. */
static const int cleanup_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };

static void tmp_remove_all(void)
{
	pid_t self = getpid();

	for (size_t i = 0; i < TMP_SLOTS; i++) {
		char *p = tmp_slots[i];
		if (p && tmp_pids[i] == self)
			unlink(p);
	}
}

static void tmp_signal(int sig)
{
	int saved = errno;

	tmp_remove_all();
	signal(sig, SIG_DFL);
	errno = saved;
	raise(sig);
}

static void tmp_atexit(void)
{
	tmp_remove_all();
	for (size_t i = 0; i < TMP_SLOTS; i++) {
		char *p = tmp_slots[i];
		tmp_slots[i] = NULL;
		free(p);
	}
}

static void tmp_install(void)
{
	if (tmp_installed)
		return;
	tmp_installed = 1;
	atexit(tmp_atexit);
	for (size_t i = 0; i < sizeof(cleanup_signals) / sizeof(cleanup_signals[0]); i++) {
		struct sigaction sa, old;
		/* keep a signal ignored when it was ignored (nohup) */
		if (sigaction(cleanup_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = tmp_signal;
		sigemptyset(&sa.sa_mask);
		for (size_t j = 0; j < sizeof(cleanup_signals) / sizeof(cleanup_signals[0]); j++)
			sigaddset(&sa.sa_mask, cleanup_signals[j]);
		sa.sa_flags = SA_RESETHAND;
		sigaction(cleanup_signals[i], &sa, NULL);
	}
}

/* Block the cleanup signals while the table changes. */
static void tmp_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(cleanup_signals) / sizeof(cleanup_signals[0]); i++)
		sigaddset(&set, cleanup_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

void img_io_tmp_register(const char *path)
{
	sigset_t old;
	char *copy;

	if (!path)
		return;
	tmp_install();
	copy = xstrdup(path);
	tmp_block(&old);
	for (size_t i = 0; i < TMP_SLOTS; i++) {
		if (!tmp_slots[i]) {
			tmp_pids[i] = getpid();
			tmp_slots[i] = copy;
			copy = NULL;
			break;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* table full: the file is not removed on a signal (the store's gc still finds it) */
	free(copy);
}

void img_io_tmp_unregister(const char *path)
{
	sigset_t old;
	char *found = NULL;

	if (!path)
		return;
	tmp_block(&old);
	for (size_t i = 0; i < TMP_SLOTS; i++) {
		char *p = tmp_slots[i];
		if (p && strcmp(p, path) == 0) {
			tmp_slots[i] = NULL;
			found = p;
			break;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(found);
}

/* ---- plain I/O ---- */

int img_io_open_in(const char *path)
{
	int fd;

	if (!path || strcmp(path, "-") == 0) {
		fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			img_seterr_errno("cannot open stdin");
		return fd;
	}
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int e = errno;
		errno = e;
		img_seterr_errno("cannot open '%s'", img_util_shown(path));
		errno = e;
	}
	return fd;
}

int img_io_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t img_io_read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* ---- atomic outputs ---- */

static mode_t file_mode(void)
{
	static int done;
	static mode_t mode;

	if (!done) {
		mode_t mask = umask(0);
		umask(mask);
		mode = 0666 & ~mask;
		done = 1;
	}
	return mode;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

int img_io_out_open(struct img_out *o, const char *path)
{
	struct stat st;
	char *q;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (!path || strcmp(path, "-") == 0) {
		o->fd = STDOUT_FILENO;
		o->is_stdout = 1;
		return 0;
	}
	q = img_util_escape_cut(path);
	if (*path == '\0') {
		img_seterr("cannot create '': empty file name");
		goto fail;
	}
	/* An existing non-regular destination (/dev/null, a fifo, a terminal) is written
	 * in place: there is nothing to replace atomically, and it must not be replaced. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode)) {
			errno = EISDIR;
			img_seterr_errno("cannot create '%s'", q);
			goto fail;
		}
		do
			o->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		while (o->fd < 0 && errno == EINTR);
		if (o->fd < 0) {
			img_seterr_errno("cannot open '%s'", q);
			goto fail;
		}
		o->path = xstrdup(path);
		free(q);
		return 0;
	}
#ifdef O_TMPFILE
	/* Unnamed until commit; linked into place through /proc/self/fd. */
	if (access("/proc/self/fd", X_OK) == 0) {
		char *dir = dir_of(path);
		do
			o->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		while (o->fd < 0 && errno == EINTR);
		free(dir);
		if (o->fd >= 0) {
			o->anon = 1;
			goto opened;
		}
		/* not supported here (EOPNOTSUPP, EISDIR...): a named temp file says why not */
	}
#endif
	o->tmp = xasprintf("%s.XXXXXX", path);
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0) {
		img_seterr_errno("cannot create a temporary file beside '%s'", q);
		free(o->tmp);
		o->tmp = NULL;
		goto fail;
	}
	img_io_tmp_register(o->tmp);
opened:
	if (fchmod(o->fd, file_mode()) < 0) {
		img_seterr_errno("cannot set the mode of '%s'", q);
		img_io_out_abort(o);
		goto fail;
	}
	o->path = xstrdup(path);
	free(q);
	return 0;
fail:
	free(q);
	return -1;
}

int img_io_out_chmod(struct img_out *o, mode_t mode)
{
	if (o->is_stdout || (!o->tmp && !o->anon))
		return 0;
	if (fchmod(o->fd, mode) < 0) {
		char *q = img_util_escape_cut(o->path);
		img_seterr_errno("cannot set the mode of '%s'", q);
		free(q);
		return -1;
	}
	return 0;
}

int img_io_out_is_tty(const struct img_out *o)
{
	return o->is_stdout && isatty(o->fd);
}

/* A name beside path that does not exist yet: "<path>.XXXXXX". Caller frees. */
static char *sibling_name(const char *path)
{
	static const char chars[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	static unsigned long counter;
	unsigned char r[6];
	char suffix[7];

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		unsigned long x = (unsigned long)getpid() * 2654435761u ^ (unsigned long)time(NULL) ^
			++counter * 40503u;
		for (size_t i = 0; i < sizeof(r); i++) {
			r[i] = (unsigned char)(x >> 24);
			x = x * 6364136223846793005ul + 1442695040888963407ul;
		}
	}
	for (size_t i = 0; i < sizeof(r); i++)
		suffix[i] = chars[r[i] % (sizeof(chars) - 1)];
	suffix[sizeof(r)] = '\0';
	return xasprintf("%s.%s", path, suffix);
}

/* Give the unnamed file fd the name o->path. 0 or -1 (img_errmsg set; nothing left). */
static int link_anon(struct img_out *o, int fd, const char *q)
{
	char proc[64], *tmp = NULL;
	int tries, e;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, o->path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EEXIST) {
		img_seterr_errno("cannot create '%s'", q);
		return -1;
	}
	/* FILE exists: link a temp name beside it, then rename that over FILE. The name is
	 * registered first, so that a signal between the two calls removes it. */
	for (tries = 0; tries < 100; tries++) {
		tmp = sibling_name(o->path);
		img_io_tmp_register(tmp);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
			break;
		e = errno;
		img_io_tmp_unregister(tmp);
		free(tmp);
		tmp = NULL;
		if (e != EEXIST) {
			errno = e;
			break;
		}
	}
	if (!tmp) {
		if (tries == 100)
			errno = EEXIST;
		img_seterr_errno("cannot create a temporary file beside '%s'", q);
		return -1;
	}
	if (rename(tmp, o->path) < 0) {
		e = errno;
		unlink(tmp);
		img_io_tmp_unregister(tmp);
		free(tmp);
		errno = e;
		img_seterr_errno("cannot rename into '%s'", q);
		return -1;
	}
	img_io_tmp_unregister(tmp);
	free(tmp);
	return 0;
}

int img_io_out_commit(struct img_out *o)
{
	char *q, *dir;
	int fd;

	if (o->is_stdout) {
		if (fflush(stdout) != 0 || ferror(stdout)) {
			int e = errno;
			img_seterr_errno("write error on stdout");
			errno = e;
			return -1;
		}
		return 0;
	}
	if (o->fd < 0) {
		img_seterr("output already closed");
		return -1;
	}
	q = img_util_escape_cut(o->path);
	fd = o->fd;
	o->fd = -1;
	if (!o->tmp && !o->anon) {
		/* written in place (a device or fifo): just close */
		if (close(fd) < 0 && errno != EINTR) {
			img_seterr_errno("cannot write '%s'", q);
			goto fail;
		}
		goto done;
	}
	if (fsync(fd) < 0 && errno != EINVAL) {
		img_seterr_errno("cannot write '%s'", q);
		close(fd);
		goto fail;
	}
	if (o->anon) {
		/* The bytes are on disk (fsync): the file is named while still open. */
		int r = link_anon(o, fd, q);
		close(fd);
		if (r < 0)
			goto fail;
		o->anon = 0;
		goto linked;
	}
	if (close(fd) < 0 && errno != EINTR) {
		img_seterr_errno("cannot write '%s'", q);
		goto fail;
	}
	if (rename(o->tmp, o->path) < 0) {
		img_seterr_errno("cannot rename into '%s'", q);
		goto fail;
	}
	img_io_tmp_unregister(o->tmp);
	free(o->tmp);
	o->tmp = NULL;
linked:
	/* The file is in place: the run has succeeded. Syncing the directory only makes the
	 * rename durable across a power loss; its failure cannot be undone into "no file",
	 * so it is not turned into a failed run that leaves the file behind. */
	dir = dir_of(o->path);
	(void)img_io_fsync_dir(dir);
	free(dir);
done:
	free(q);
	free(o->path);
	o->path = NULL;
	return 0;
fail:
	free(q);
	img_io_out_abort(o);
	return -1;
}

void img_io_out_abort(struct img_out *o)
{
	if (o->is_stdout) {
		o->fd = -1;
		return;
	}
	if (o->fd >= 0) {
		close(o->fd);      /* an unnamed file goes with its last descriptor */
		o->fd = -1;
	}
	o->anon = 0;
	if (o->tmp) {
		int e = errno;
		unlink(o->tmp);
		img_io_tmp_unregister(o->tmp);
		free(o->tmp);
		o->tmp = NULL;
		errno = e;
	}
	free(o->path);
	o->path = NULL;
}

int img_io_fsync_dir(const char *dir)
{
	int fd, r;

	do
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		img_seterr_errno("cannot open directory '%s'", img_util_shown(dir));
		return -1;
	}
	r = fsync(fd);
	/* some file systems cannot fsync a directory: that is not a failure */
	if (r < 0 && (errno == EINVAL || errno == EBADF || errno == EROFS))
		r = 0;
	if (r < 0) {
		img_seterr_errno("cannot sync directory '%s'", img_util_shown(dir));
	}
	close(fd);
	return r;
}

int img_io_close_stdout(void)
{
	int pending = __fpending(stdout) != 0;
	int prev_fail = ferror(stdout) != 0;
	int e = 0;

	errno = 0;
	if (fflush(stdout) != 0)
		e = errno;
	if (fclose(stdout) != 0 && !e)
		e = errno;
	if (img_io_is_epipe(e))
		return 0;
	if (prev_fail || (e && (pending || e != EBADF))) {
		if (e) {
			errno = e;
			img_seterr_errno("write error on stdout");
		} else {
			img_seterr("write error on stdout");
		}
		return -1;
	}
	return 0;
}

int img_io_is_epipe(int err)
{
	return err == EPIPE;
}
