/* run: the store's run area (see run.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "io.h"
#include "json.h"
#include "store-priv.h"
#include "unpack.h"
#include "run.h"

#define RUN_DIR     ".img/run"
#define IMAGES_DIR  ".img/run/images"
#define CONT_DIR    ".img/run/containers"
#define CACHE_DIR   ".img/run/cache"

int img_run_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 128 || !((name[0] >= 'a' && name[0] <= 'z') ||
	    (name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= '0' && name[0] <= '9')))
		return 0;
	for (size_t i = 1; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* .img/run and sub (made when missing, 0700: setuid files of images are below). */
static int run_dir(struct img_store *s, const char *sub)
{
	int dfd = s->dfd;

	if (mkdirat(dfd, ".img", 0755) < 0 && errno != EEXIST)
		goto fail;
	if (mkdirat(dfd, RUN_DIR, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (mkdirat(dfd, sub, 0700) < 0 && errno != EEXIST)
		goto fail;
	return 0;
fail:
	img_seterr_errno("cannot make the run area in '%s'", img_store_path(s));
	return -1;
}

/* The absolute path of rel in the store. */
static char *abs_path(struct img_store *s, const char *rel)
{
	char real[PATH_MAX];

	if (!realpath(img_store_path(s), real))
		return xasprintf("%s/%s", img_store_path(s), rel);
	return xasprintf("%s/%s", real, rel);
}

/* Temp directories of hex left by a run that died (the caller holds hex's lock). */
static void remove_stale(int dfd, const char *hex)
{
	int fd = openat(dfd, IMAGES_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *prefix = xasprintf(".tmp-%s-", hex);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		free(prefix);
		return;
	}
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			(void)img_unpack_put_remove_at(dirfd(d), de->d_name);
	closedir(d);
	free(prefix);
}

int img_run_image(struct img_store *s, const struct img_digest *m,
                  int (*fill)(void *arg, int rootfd), void *arg, int *made,
                  char **rootfs)
{
	int dfd = s->dfd, lfd = -1, ret = -1, tfd = -1, rfd = -1;
	const char *hex = img_digest_hex(m);
	char *lock = xasprintf(IMAGES_DIR "/%s.lock", hex);
	char *final = xasprintf(IMAGES_DIR "/%s", hex);
	char *tmp = xasprintf(IMAGES_DIR "/.tmp-%s-%ld", hex, (long)getpid());
	struct stat st;

	*made = 0;
	*rootfs = NULL;
	if (run_dir(s, IMAGES_DIR) < 0)
		goto out;
	lfd = openat(dfd, lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
		img_seterr_errno("cannot lock '%s'", lock);
		goto out;
	}
	if (fstatat(dfd, final, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		ret = 0;
		goto out;
	}
	remove_stale(dfd, hex);
	if (mkdirat(dfd, tmp, 0700) < 0 ||
	    (tfd = openat(dfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    mkdirat(tfd, "rootfs", 0755) < 0 ||
	    (rfd = openat(tfd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		img_seterr_errno("cannot make '%s'", tmp);
		goto out;
	}
	if (fill(arg, rfd) < 0) {
		(void)img_unpack_put_remove_at(dfd, tmp);
		goto out;
	}
	if (renameat(dfd, tmp, dfd, final) < 0) {
		img_seterr_errno("cannot rename '%s'", tmp);
		(void)img_unpack_put_remove_at(dfd, tmp);
		goto out;
	}
	*made = 1;
	ret = 0;
out:
	if (ret == 0) {
		char *d = abs_path(s, final);
		*rootfs = xasprintf("%s/rootfs", d);
		free(d);
	}
	if (rfd >= 0)
		close(rfd);
	if (tfd >= 0)
		close(tfd);
	if (lfd >= 0)
		close(lfd);
	free(lock);
	free(final);
	free(tmp);
	return ret;
}

char *img_run_find_runc(void)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL, *found = NULL;

	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	copy = xstrdup(path);
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/runc", *d ? d : ".");
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(copy);
	return found;
}

int img_run_runc_knows(const char *name)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char *p = geteuid() == 0 || !xdg ? xasprintf("/run/runc/%s", name)
	                                 : xasprintf("%s/runc/%s", xdg, name);
	struct stat st;
	int r = stat(p, &st) == 0;

	free(p);
	return r;
}

/* Open (make) and lock a container's lock file: fd, or -1 (errno EWOULDBLOCK when
 * another process holds it and !wait). */
static int container_lock(struct img_store *s, const char *name, int create)
{
	char *rel = xasprintf(CONT_DIR "/%s/lock", name);
	int fd = openat(s->dfd, rel, O_RDWR | O_NOFOLLOW | O_CLOEXEC |
	                (create ? O_CREAT : 0), 0600);

	free(rel);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int en = errno;
		close(fd);
		errno = en;
		return -1;
	}
	return fd;
}

int img_run_prune_containers(struct img_store *s, int dry_run, size_t *removed)
{
	char **names;
	size_t n;
	int ret = 0;

	*removed = 0;
	if (img_run_containers(s, &names, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int fd = container_lock(s, names[i], 1);
		if (fd >= 0 && !img_run_runc_knows(names[i])) {
			if (dry_run || img_run_container_remove(s, names[i]) == 0)
				(*removed)++;
			else
				ret = -1;
		}
		if (fd >= 0)
			close(fd);
		free(names[i]);
	}
	free(names);
	return ret;
}

int img_run_container_reclaim(struct img_store *s, const char *name)
{
	int fd;

	if (!img_run_container_exists(s, name))
		return 0;
	fd = container_lock(s, name, 1);
	if (fd < 0 || img_run_runc_knows(name)) {
		if (fd >= 0)
			close(fd);
		img_seterr("container '%s' exists", name);
		return -1;
	}
	fd = img_run_container_remove(s, name) < 0 ? (close(fd), -1) : (close(fd), 0);
	return fd;
}

int img_run_container_new(struct img_store *s, const char *name, json_t *desc,
                          char **dir, int *lockfd)
{
	int dfd = s->dfd, fd;
	char *rel = xasprintf(CONT_DIR "/%s", name), *file, *text;
	int ret = -1;

	*dir = NULL;
	if (run_dir(s, CONT_DIR) < 0)
		goto out;
	if (mkdirat(dfd, rel, 0700) < 0) {
		int en = errno;
		if (en == EEXIST)
			img_seterr("container '%s' exists", name);
		else
			img_seterr_errno("cannot make '%s'", rel);
		errno = en;
		goto out;
	}
	file = xasprintf("%s/image", rel);
	text = img_json_dump(desc, NULL);
	fd = openat(dfd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || img_io_write_all(fd, text, strlen(text)) < 0 || close(fd) < 0) {
		img_seterr_errno("cannot write '%s'", file);
		free(file);
		free(text);
		(void)img_unpack_put_remove_at(dfd, rel);
		goto out;
	}
	free(file);
	free(text);
	if ((*lockfd = container_lock(s, name, 1)) < 0) {
		img_seterr_errno("cannot lock container '%s'", name);
		(void)img_unpack_put_remove_at(dfd, rel);
		goto out;
	}
	*dir = abs_path(s, rel);
	ret = 0;
out:
	free(rel);
	return ret;
}

int img_run_container_exists(struct img_store *s, const char *name)
{
	char *rel = xasprintf(CONT_DIR "/%s", name);
	struct stat st;
	int r = fstatat(s->dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;

	free(rel);
	return r;
}

int img_run_container_remove(struct img_store *s, const char *name)
{
	char *rel = xasprintf(CONT_DIR "/%s", name);
	char *mnt = abs_path(s, rel), *root = xasprintf("%s/rootfs", mnt);
	int ret;

	/* a container's rootfs may be an overlay mount: detach it first (never remove
	 * through a mount what belongs to the image below) */
	while (umount2(root, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		;
	ret = img_unpack_put_remove_at(s->dfd, rel);
	free(rel);
	free(mnt);
	free(root);
	return ret;
}

int img_run_containers(struct img_store *s, char ***names, size_t *n)
{
	int fd = openat(s->dfd, CONT_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		img_seterr_errno("cannot read the run area");
		return -1;
	}
	if (!(d = fdopendir(fd))) {
		close(fd);
		img_seterr_errno("cannot read the run area");
		return -1;
	}
	while ((de = readdir(d))) {
		if (!img_run_name_valid(de->d_name))
			continue;
		IMG_GROW(*names, *n + 1, cap);
		(*names)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	return 0;
}

json_t *img_run_container_image(struct img_store *s, const char *name)
{
	char *rel = xasprintf(CONT_DIR "/%s/image", name);
	int fd = openat(s->dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	json_t *j;

	if (fd < 0) {
		img_seterr_errno("container '%s': cannot read its image", name);
		free(rel);
		return NULL;
	}
	j = img_json_parse_fd(fd, IMG_JSON_MAX_BLOB);
	close(fd);
	if (!j)
		img_seterr_prefix("container '%s': image", name);
	free(rel);
	return j;
}

int img_run_prune_images(struct img_store *s,
                         int (*keep)(void *arg, const struct img_digest *m), void *arg,
                         size_t *removed)
{
	int fd = openat(s->dfd, IMAGES_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int ret = 0;

	*removed = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		struct img_digest m;
		char *ds = xasprintf("sha256:%s", de->d_name);
		if (img_digest_parse(ds, &m) == 0 && !keep(arg, &m)) {
			char *lock = xasprintf("%s.lock", de->d_name);
			if (img_unpack_put_remove_at(dirfd(d), de->d_name) < 0)
				ret = -1;
			else
				(*removed)++;
			unlinkat(dirfd(d), lock, 0);
			free(lock);
		}
		free(ds);
	}
	closedir(d);
	return ret;
}

/* ---- running runc ---- */

int img_run_overlay(const char *lower, const char *dir)
{
	char *opts, *target = xasprintf("%s/rootfs", dir);
	int r;

	if (strpbrk(lower, ",:") || strpbrk(dir, ",:")) {
		free(target);
		errno = EINVAL;
		return -1;
	}
	opts = xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, dir, dir);
	r = mount("overlay", target, "overlay", 0, opts);
	free(opts);
	free(target);
	return r;
}


static volatile sig_atomic_t got_signal, kill_now;
static volatile pid_t child;

static void on_signal(int sig)
{
	if (child > 0)
		kill(child, sig);
	if (!got_signal)
		alarm(5);
	got_signal = sig;
}

static void on_alarm(int sig)
{
	(void)sig;
	kill_now = 1;
}

pid_t img_run_spawn(const char *const *argv, int in, int out)
{
	int fds[2], en = 0;
	pid_t pid;
	ssize_t n;

	/* the child tells a failed exec through a pipe that a successful one closes */
	if (pipe2(fds, O_CLOEXEC) < 0) {
		img_seterr_errno("cannot run %s", argv[0]);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		close(fds[0]);
		if (in >= 0 && in != 0)
			dup2(in, 0);
		if (out >= 0) {
			dup2(out, 1);
			dup2(out, 2);
		}
		execv(argv[0], (char *const *)argv);
		en = errno;
		(void)!write(fds[1], &en, sizeof en);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		en = errno;
		close(fds[0]);
		errno = en;
		img_seterr_errno("cannot run %s", argv[0]);
		return -1;
	}
	do
		n = read(fds[0], &en, sizeof en);
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n == (ssize_t)sizeof en) {
		(void)img_run_wait(pid);
		errno = en;
		img_seterr_errno("cannot run %s", argv[0]);
		return -1;
	}
	return pid;
}

int img_run_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int img_run_runc(const char *runc, const char *dir, const char *name, int keep, int in, int out)
{
	const char *argv[8];
	int n = 0, st;
	struct sigaction sa;

	argv[n++] = runc;
	argv[n++] = "run";
	if (keep)
		argv[n++] = "--keep";
	argv[n++] = "--bundle";
	argv[n++] = dir;
	argv[n++] = name;
	argv[n] = NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	child = img_run_spawn(argv, in, out);
	if (child < 0) {
		child = 0;
		return -1;
	}
	for (;;) {
		pid_t r = waitpid(child, &st, 0);
		if (r == child)
			break;
		if (r < 0 && errno != EINTR) {
			st = 1 << 8;
			break;
		}
		if (kill_now) {
			const char *kargv[] = { runc, "kill", name, "KILL", NULL };
			pid_t k;
			kill_now = 0;
			k = img_run_spawn(kargv, -1, -1);
			if (k > 0)
				(void)img_run_wait(k);
		}
	}
	alarm(0);
	child = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}


/* ---- the build cache ---- */

int img_run_build_cache_get(struct img_store *s, const struct img_digest *key,
                            struct img_digest *out)
{
	char *rel = xasprintf(CACHE_DIR "/%s", img_digest_hex(key));
	char buf[160];
	int fd = openat(s->dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
	ssize_t n;

	free(rel);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	if (img_digest_parse(buf, out) == 0)
		rc = 1;
	return rc;
}

int img_run_build_cache_put(struct img_store *s, const struct img_digest *key,
                            const struct img_digest *m)
{
	char *rel, *tmp, *line;
	int fd, rc = -1;

	if (run_dir(s, CACHE_DIR) < 0)
		return -1;
	rel = xasprintf(CACHE_DIR "/%s", img_digest_hex(key));
	tmp = xasprintf(CACHE_DIR "/.tmp-%s-%ld", img_digest_hex(key), (long)getpid());
	line = xasprintf("%s\n", m->str);
	fd = openat(s->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int w = img_io_write_all(fd, line, strlen(line));
		if (close(fd) < 0 || w < 0 || renameat(s->dfd, tmp, s->dfd, rel) < 0) {
			(void)unlinkat(s->dfd, tmp, 0);
			fd = -1;
		}
	}
	if (fd < 0) {
		img_seterr_errno("cannot write the build cache in '%s'", img_store_path(s));
		goto out;
	}
	rc = 0;
out:
	free(line);
	free(tmp);
	free(rel);
	return rc;
}
