/* inject: an LD_PRELOAD shim that makes chosen libc calls fail on demand, for tests of
 * the failure paths (style.md §10). Build: make BUILD=DIR DIR/inject.so.
 *
 * IMG_INJECT holds rules separated by ',':   CALL:ACTION[:OPT]...
 *   CALL    write pwrite writev read fsync fdatasync rename renameat renameat2 linkat
 *           unlink unlinkat
 *           ("rename" also matches renameat and renameat2; "write" also pwrite and writev;
 *            "fsync" also fdatasync; "unlink" also unlinkat)
 *   ACTION  an errno name (ENOSPC, EIO, EXDEV, ...) or number: the call fails with it;
 *           PAUSE: the call sleeps (sleep=S seconds, default 30) and then proceeds,
 *           so that a test can signal the process at a known point;
 *           SHORT: read/write transfer fewer bytes than asked (half, or max=K), which
 *           a correct caller must loop over.
 *   OPT     N        act from the Nth matching call on (1-based; default 1)
 *           once     act on the Nth matching call only; later calls pass
 *           fd=nostd fds other than 0, 1, 2 (default for write-like calls)
 *           fd=any   every fd (default for read)
 *           fd=reg   regular files only
 *           fd=fifo  pipes only (a dup of stdin reading a pipe, say)
 *           fd=K     only fd K
 *           bytes=B  read/write: let B bytes through (summed over matching calls); the
 *                    call that crosses B transfers what is left (a short count) and
 *                    later calls act
 *           path=S   rename/renameat/linkat: only when the new name contains S;
 *                    unlink/unlinkat: when the name contains S
 *           sleep=S  seconds for PAUSE
 *           max=K    bytes per call for SHORT (default: half of what was asked, at least 1)
 * Examples: IMG_INJECT=write:ENOSPC:3   IMG_INJECT=read:EIO:fd=0:bytes=100000
 *           IMG_INJECT=rename:EXDEV:path=index.json   IMG_INJECT=write:PAUSE:2:sleep=20
 * IMG_INJECT_LOG=FILE appends one line per action taken ("write fd=5: ENOSPC"), so a test
 * can check that the failure was injected at all.
 * Unknown calls, actions or options: the shim prints one line and exits 2 (a typo must not
 * make a test pass silently). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum call { C_WRITE, C_PWRITE, C_WRITEV, C_READ, C_FSYNC, C_FDATASYNC, C_RENAME,
            C_RENAMEAT, C_RENAMEAT2, C_LINKAT, C_UNLINK, C_UNLINKAT, C_NCALLS };
static const char *const call_names[C_NCALLS] = {
	"write", "pwrite", "writev", "read", "fsync", "fdatasync", "rename",
	"renameat", "renameat2", "linkat", "unlink", "unlinkat",
};

enum { FD_DEFAULT, FD_ANY, FD_NOSTD, FD_REG, FD_FIFO, FD_NUM };
#define PAUSE_ACTION (-1)
#define SHORT_ACTION (-2)
#define MAX_RULES 8

struct rule {
	unsigned calls;        /* bit set of enum call */
	int err;               /* errno, or PAUSE_ACTION */
	unsigned long nth;     /* act from this matching call */
	int once;
	int fdmode, fdnum;
	long long bytes;       /* -1: not byte-limited */
	char path[256];
	unsigned sleep_s;
	long long max;         /* SHORT: bytes per call, 0 = half */
	/* state */
	unsigned long count;
	long long passed;
	int fired;
	int logged;
};

static struct rule rules[MAX_RULES];
static int nrules;
static int inited;
static char logpath[4096];

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_read)(int, void *, size_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int (*real_linkat)(int, const char *, int, const char *, int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);

static const struct { const char *name; int val; } errnos[] = {
	{ "EACCES", EACCES }, { "EAGAIN", EAGAIN }, { "EBADF", EBADF }, { "EBUSY", EBUSY },
	{ "EDQUOT", EDQUOT }, { "EEXIST", EEXIST }, { "EFBIG", EFBIG }, { "EINTR", EINTR },
	{ "EINVAL", EINVAL }, { "EIO", EIO }, { "EISDIR", EISDIR }, { "EMLINK", EMLINK },
	{ "ENOENT", ENOENT }, { "ENOMEM", ENOMEM }, { "ENOSPC", ENOSPC },
	{ "ENOTDIR", ENOTDIR }, { "EPERM", EPERM }, { "EPIPE", EPIPE }, { "EROFS", EROFS },
	{ "ETIMEDOUT", ETIMEDOUT }, { "EXDEV", EXDEV },
};

/* Raw output that never goes through the wrappers. */
static void say(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = syscall(SYS_write, fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void die(const char *what, const char *arg)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "inject: %s: '%s'\n", what, arg);
	say(2, buf);
	_exit(2);
}

static void logf_(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int fd, e = errno;

	if (!logpath[0])
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fd = (int)syscall(SYS_openat, AT_FDCWD, logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		say(fd, buf);
		syscall(SYS_close, fd);
	}
	errno = e;
}

static const char *errname(int e)
{
	size_t i;
	if (e == PAUSE_ACTION)
		return "PAUSE";
	if (e == SHORT_ACTION)
		return "SHORT";
	for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].val == e)
			return errnos[i].name;
	return "errno";
}

static int parse_num(const char *s, long long *out)
{
	char *end;
	long long v;

	if (!*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

static void parse_rule(char *txt)
{
	struct rule *r;
	char *save = NULL, *tok;
	size_t i;
	long long v;

	if (nrules == MAX_RULES)
		die("too many rules", txt);
	r = &rules[nrules++];
	memset(r, 0, sizeof(*r));
	r->nth = 1;
	r->bytes = -1;
	r->sleep_s = 30;
	tok = strtok_r(txt, ":", &save);
	if (!tok)
		die("empty rule", txt);
	if (strcmp(tok, "write") == 0)
		r->calls = 1u << C_WRITE | 1u << C_PWRITE | 1u << C_WRITEV;
	else if (strcmp(tok, "fsync") == 0)
		r->calls = 1u << C_FSYNC | 1u << C_FDATASYNC;
	else if (strcmp(tok, "rename") == 0)
		r->calls = 1u << C_RENAME | 1u << C_RENAMEAT | 1u << C_RENAMEAT2;
	else if (strcmp(tok, "unlink") == 0)
		r->calls = 1u << C_UNLINK | 1u << C_UNLINKAT;
	else {
		for (i = 0; i < C_NCALLS; i++)
			if (strcmp(tok, call_names[i]) == 0)
				r->calls = 1u << i;
		if (!r->calls)
			die("unknown call", tok);
	}
	tok = strtok_r(NULL, ":", &save);
	if (!tok)
		die("no action", txt);
	if (strcmp(tok, "PAUSE") == 0)
		r->err = PAUSE_ACTION;
	else if (strcmp(tok, "SHORT") == 0)
		r->err = SHORT_ACTION;
	else if (parse_num(tok, &v) == 0 && v > 0 && v < 4096)
		r->err = (int)v;
	else {
		for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
			if (strcmp(tok, errnos[i].name) == 0)
				r->err = errnos[i].val;
		if (!r->err)
			die("unknown errno", tok);
	}
	while ((tok = strtok_r(NULL, ":", &save))) {
		if (parse_num(tok, &v) == 0 && v > 0)
			r->nth = (unsigned long)v;
		else if (strcmp(tok, "once") == 0)
			r->once = 1;
		else if (strcmp(tok, "fd=any") == 0)
			r->fdmode = FD_ANY;
		else if (strcmp(tok, "fd=nostd") == 0)
			r->fdmode = FD_NOSTD;
		else if (strcmp(tok, "fd=reg") == 0)
			r->fdmode = FD_REG;
		else if (strcmp(tok, "fd=fifo") == 0)
			r->fdmode = FD_FIFO;
		else if (strncmp(tok, "fd=", 3) == 0 && parse_num(tok + 3, &v) == 0 && v < 1 << 20) {
			r->fdmode = FD_NUM;
			r->fdnum = (int)v;
		} else if (strncmp(tok, "bytes=", 6) == 0 && parse_num(tok + 6, &v) == 0)
			r->bytes = v;
		else if (strncmp(tok, "sleep=", 6) == 0 && parse_num(tok + 6, &v) == 0 && v < 100000)
			r->sleep_s = (unsigned)v;
		else if (strncmp(tok, "max=", 4) == 0 && parse_num(tok + 4, &v) == 0 && v > 0)
			r->max = v;
		else if (strncmp(tok, "path=", 5) == 0 && strlen(tok + 5) < sizeof(r->path))
			strcpy(r->path, tok + 5);
		else
			die("unknown option", tok);
	}
	if (r->err == SHORT_ACTION && (r->calls & (1u << C_WRITEV)))
		r->calls &= ~(1u << C_WRITEV);   /* writev short counts: not simulated */
	if (r->err == SHORT_ACTION && !(r->calls & (1u << C_READ | 1u << C_WRITE | 1u << C_PWRITE)))
		die("SHORT is for read and write", txt);
	if (r->fdmode == FD_DEFAULT)
		r->fdmode = (r->calls & (1u << C_READ)) ? FD_ANY : FD_NOSTD;
}

static void *next_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p)
		die("no such symbol", name);
	return p;
}

static void init(void)
{
	const char *spec, *lp;
	char *copy, *save = NULL, *tok;

	if (inited)
		return;
	real_write = (ssize_t (*)(int, const void *, size_t))next_sym("write");
	real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))next_sym("pwrite");
	real_writev = (ssize_t (*)(int, const struct iovec *, int))next_sym("writev");
	real_read = (ssize_t (*)(int, void *, size_t))next_sym("read");
	real_fsync = (int (*)(int))next_sym("fsync");
	real_fdatasync = (int (*)(int))next_sym("fdatasync");
	real_rename = (int (*)(const char *, const char *))next_sym("rename");
	real_renameat = (int (*)(int, const char *, int, const char *))next_sym("renameat");
	real_renameat2 = (int (*)(int, const char *, int, const char *, unsigned))next_sym("renameat2");
	real_linkat = (int (*)(int, const char *, int, const char *, int))next_sym("linkat");
	real_unlink = (int (*)(const char *))next_sym("unlink");
	real_unlinkat = (int (*)(int, const char *, int))next_sym("unlinkat");
	lp = getenv("IMG_INJECT_LOG");
	if (lp && strlen(lp) < sizeof(logpath))
		strcpy(logpath, lp);
	spec = getenv("IMG_INJECT");
	if (spec && *spec) {
		copy = strdup(spec);
		if (!copy)
			die("out of memory", spec);
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			parse_rule(tok);
		free(copy);
	}
	inited = 1;
}

__attribute__((constructor)) static void inject_ctor(void)
{
	init();
}

static int fd_matches(const struct rule *r, int fd)
{
	struct stat st;

	switch (r->fdmode) {
	case FD_ANY:   return 1;
	case FD_NOSTD: return fd > 2;
	case FD_NUM:   return fd == r->fdnum;
	case FD_REG:   return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	case FD_FIFO:  return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
	default:       return 0;
	}
}

static void do_pause(const struct rule *r)
{
	struct timespec ts = { (time_t)r->sleep_s, 0 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Decide for one call. Returns 0 to let it through (with *limit the number of bytes
 * it may transfer, for byte-limited rules), or -1 with errno set to fail it. */
static int decide(enum call c, int fd, const char *path, size_t *limit)
{
	int i;

	if (!inited)
		init();
	for (i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];
		unsigned long n;

		if (!(r->calls & (1u << c)))
			continue;
		if (fd != -1 && !fd_matches(r, fd))
			continue;
		if (r->path[0] && (!path || !strstr(path, r->path)))
			continue;
		if (r->once && r->fired)
			continue;
		if (r->bytes >= 0 && limit) {
			long long left;
			left = r->bytes - __atomic_load_n(&r->passed, __ATOMIC_SEQ_CST);
			if (left > 0) {
				if ((long long)*limit > left)
					*limit = (size_t)left;
				__atomic_add_fetch(&r->passed, (long long)*limit, __ATOMIC_SEQ_CST);
				continue;
			}
			if (*limit == 0)
				continue;
		}
		n = __atomic_add_fetch(&r->count, 1, __ATOMIC_SEQ_CST);
		if (n < r->nth)
			continue;
		if (r->once && __atomic_exchange_n(&r->fired, 1, __ATOMIC_SEQ_CST))
			continue;
		r->fired = 1;
		if (r->err == SHORT_ACTION) {
			size_t k;
			if (!limit || *limit <= 1)
				continue;
			k = r->max > 0 ? (size_t)r->max : *limit / 2;
			if (k < *limit)
				*limit = k;
			if (!__atomic_exchange_n(&r->logged, 1, __ATOMIC_SEQ_CST))
				logf_("%s fd=%d: SHORT (first)\n", call_names[c], fd);
			continue;
		}
		logf_("%s fd=%d%s%s: %s\n", call_names[c], fd, path ? " " : "", path ? path : "",
		      errname(r->err));
		if (r->err == PAUSE_ACTION) {
			do_pause(r);
			continue;
		}
		errno = r->err;
		return -1;
	}
	return 0;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	size_t lim = n;
	if (decide(C_WRITE, fd, NULL, &lim) < 0)
		return -1;
	return real_write(fd, buf, lim);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	size_t lim = n;
	if (decide(C_PWRITE, fd, NULL, &lim) < 0)
		return -1;
	return real_pwrite(fd, buf, lim, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	size_t total = 0, lim;
	int i;

	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	lim = total;
	if (decide(C_WRITEV, fd, NULL, &lim) < 0)
		return -1;
	if (lim < total) {
		/* short: write the first lim bytes only */
		struct iovec v[64];
		int k = 0;
		size_t left = lim;
		for (i = 0; i < cnt && k < 64 && left > 0; i++, k++) {
			v[k] = iov[i];
			if (v[k].iov_len > left)
				v[k].iov_len = left;
			left -= v[k].iov_len;
		}
		return real_writev(fd, v, k);
	}
	return real_writev(fd, iov, cnt);
}

ssize_t read(int fd, void *buf, size_t n)
{
	size_t lim = n;
	if (decide(C_READ, fd, NULL, &lim) < 0)
		return -1;
	return real_read(fd, buf, lim);
}

int fsync(int fd)
{
	if (decide(C_FSYNC, fd, NULL, NULL) < 0)
		return -1;
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	if (decide(C_FDATASYNC, fd, NULL, NULL) < 0)
		return -1;
	return real_fdatasync(fd);
}

int rename(const char *from, const char *to)
{
	if (decide(C_RENAME, -1, to, NULL) < 0)
		return -1;
	return real_rename(from, to);
}

int renameat(int dfd1, const char *from, int dfd2, const char *to)
{
	if (decide(C_RENAMEAT, -1, to, NULL) < 0)
		return -1;
	return real_renameat(dfd1, from, dfd2, to);
}

int renameat2(int dfd1, const char *from, int dfd2, const char *to, unsigned flags)
{
	if (decide(C_RENAMEAT2, -1, to, NULL) < 0)
		return -1;
	return real_renameat2(dfd1, from, dfd2, to, flags);
}

int linkat(int dfd1, const char *from, int dfd2, const char *to, int flags)
{
	if (decide(C_LINKAT, -1, to, NULL) < 0)
		return -1;
	return real_linkat(dfd1, from, dfd2, to, flags);
}

int unlink(const char *path)
{
	if (decide(C_UNLINK, -1, path, NULL) < 0)
		return -1;
	return real_unlink(path);
}

int unlinkat(int dfd, const char *path, int flags)
{
	if (decide(C_UNLINKAT, -1, path, NULL) < 0)
		return -1;
	return real_unlinkat(dfd, path, flags);
}
