/* arcin / arcout: name cleaning, hostile archives, compressions, deterministic writing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "layer.h"
#include "arcin.h"
#include "arcout.h"

struct abuf {
	unsigned char *p;
	size_t n, cap;
};

static int abuf_sink(void *arg, const void *buf, size_t n)
{
	struct abuf *m = arg;
	if (m->n + n > m->cap) {
		m->cap = (m->n + n) * 2 + 4096;
		m->p = xrealloc(m->p, m->cap);
	}
	memcpy(m->p + m->n, buf, n);
	m->n += n;
	return 0;
}

static int fail_sink(void *arg, const void *buf, size_t n)
{
	(void)arg; (void)buf; (void)n;
	img_seterr("sink refused");
	errno = ENOSPC;
	return -1;
}

static char *tmp(const char *name)
{
	return xasprintf("%s/%s", img_test_tmpdir, name);
}

static int save(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, buf, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -1;
}

/* Write a tar with one entry of the given raw name (and hard link target) to path. */
static int tar_with(const char *path, const char *name, int type, const char *link)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct img_arcout *o = img_arcout_new_fd(fd, 0);
	struct archive_entry *e = archive_entry_new();
	int r;
	archive_entry_copy_pathname(e, "ok");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 0);
	r = img_arcout_entry(o, e);
	archive_entry_clear(e);
	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, (mode_t)type);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 0);
	if (link && type == AE_IFREG)
		archive_entry_copy_hardlink(e, link);
	else if (link)
		archive_entry_copy_symlink(e, link);
	if (r == 0)
		r = img_arcout_entry(o, e);
	if (r == 0)
		r = img_arcout_close(o);
	archive_entry_free(e);
	img_arcout_free(o);
	close(fd);
	return r;
}

/* Read all entries of path; returns the count, or -1 at the first error. */
static int read_all(const char *path, int flags, const char *want_filter)
{
	int fd = open(path, O_RDONLY), n = 0, r;
	struct img_arcin *a;
	struct img_arcin_entry e;
	if (fd < 0)
		return -2;
	if (img_arcin_open_fd(fd, flags, &a) < 0) {
		close(fd);
		return -1;
	}
	while ((r = img_arcin_next(a, &e)) == 1) {
		const void *b;
		size_t bn;
		int64_t got = 0;
		n++;
		while ((r = img_arcin_block(a, &b, &bn)) == 1)
			got += (int64_t)bn;
		if (r < 0)
			break;
		if (e.type == IMG_ENT_FILE && got != e.size) {
			img_seterr("size mismatch");
			r = -1;
			break;
		}
	}
	if (r == 0 && want_filter && strcmp(img_arcin_filter(a), want_filter) != 0) {
		img_seterr("filter %s", img_arcin_filter(a));
		r = -1;
	}
	img_arcin_free(a);
	close(fd);
	return r < 0 ? -1 : n;
}

TEST(arc_path_clean)
{
	static const struct { const char *in; int flags; const char *out; } t[] = {
		{ "a/b", 0, "a/b" },
		{ "./a/b/", 0, "a/b" },
		{ "a//b/./c", 0, "a/b/c" },
		{ "./", 0, "" },
		{ ".", 0, "" },
		{ "", 0, "" },
		{ "a/...", 0, "a/..." },
		{ "..a/b..", 0, "..a/b.." },
		{ "/x", IMG_ARCIN_STRIP_ABS, "x" },
		{ "///x/./y/", IMG_ARCIN_STRIP_ABS, "x/y" },
		{ "/", IMG_ARCIN_STRIP_ABS, "" },
		{ "../x", 0, NULL },
		{ "a/../../x", 0, NULL },
		{ "a/..", 0, NULL },
		{ "a/../b", 0, NULL },
		{ "..", 0, NULL },
		{ "/x", 0, NULL },
		{ "/../x", IMG_ARCIN_STRIP_ABS, NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char *out = (char *)"unset";
		int r = img_arcin_path_clean(t[i].in, t[i].flags, &out);
		if ((r == 0) != (t[i].out != NULL))
			printf("# case '%s'\n", t[i].in);
		if (t[i].out) {
			IMG_ASSERT_EQ_INT(r, 0);
			IMG_ASSERT_EQ_STR(out, t[i].out);
		} else {
			IMG_ASSERT_EQ_INT(r, -1);
			IMG_ASSERT(out == NULL);
			IMG_ASSERT(strstr(img_errmsg(), t[i].in) != NULL);
		}
		free(out);
	}
}

TEST(arc_hostile_names)
{
	char *p = tmp("t.tar");
	IMG_ASSERT_EQ_INT(tar_with(p, "../evil", AE_IFREG, NULL), 0);
	IMG_ASSERT_EQ_INT(read_all(p, 0, NULL), -1);
	IMG_ASSERT(strstr(img_errmsg(), "'../evil'") != NULL);
	IMG_ASSERT_EQ_INT(read_all(p, IMG_ARCIN_STRIP_ABS, NULL), -1);

	IMG_ASSERT_EQ_INT(tar_with(p, "a/../../evil", AE_IFDIR, NULL), 0);
	IMG_ASSERT_EQ_INT(read_all(p, IMG_ARCIN_STRIP_ABS, NULL), -1);

	IMG_ASSERT_EQ_INT(tar_with(p, "/etc/passwd", AE_IFREG, NULL), 0);
	IMG_ASSERT_EQ_INT(read_all(p, 0, NULL), -1);
	IMG_ASSERT(strstr(img_errmsg(), "absolute") != NULL);
	IMG_ASSERT_EQ_INT(read_all(p, IMG_ARCIN_STRIP_ABS, NULL), 2);

	/* hard link targets are cleaned the same way */
	IMG_ASSERT_EQ_INT(tar_with(p, "x", AE_IFREG, "../../etc/shadow"), 0);
	IMG_ASSERT_EQ_INT(read_all(p, IMG_ARCIN_STRIP_ABS, NULL), -1);
	IMG_ASSERT(strstr(img_errmsg(), "..") != NULL);
	IMG_ASSERT_EQ_INT(tar_with(p, "x", AE_IFREG, "/ok"), 0);
	IMG_ASSERT_EQ_INT(read_all(p, 0, NULL), -1);
	IMG_ASSERT_EQ_INT(read_all(p, IMG_ARCIN_STRIP_ABS, NULL), 2);
	IMG_ASSERT_EQ_INT(tar_with(p, "x", AE_IFREG, "./"), 0);
	IMG_ASSERT_EQ_INT(read_all(p, IMG_ARCIN_STRIP_ABS, NULL), -1);

	/* symlink targets are kept verbatim, even escaping ones */
	IMG_ASSERT_EQ_INT(tar_with(p, "./l", AE_IFLNK, "../../etc/shadow"), 0);
	int fd = open(p, O_RDONLY);
	struct img_arcin *a;
	struct img_arcin_entry e;
	IMG_ASSERT_EQ_INT(img_arcin_open_fd(fd, 0, &a), 0);
	IMG_ASSERT_EQ_INT(img_arcin_next(a, &e), 1);
	IMG_ASSERT_EQ_INT(img_arcin_next(a, &e), 1);
	IMG_ASSERT_EQ_STR(e.path, "l");
	IMG_ASSERT_EQ_INT(e.type, IMG_ENT_SYMLINK);
	IMG_ASSERT_EQ_STR(e.link, "../../etc/shadow");
	IMG_ASSERT_EQ_INT(img_arcin_next(a, &e), 0);
	IMG_ASSERT_EQ_INT(img_arcin_next(a, &e), 0);
	img_arcin_free(a);
	close(fd);
	free(p);
}

TEST(arc_read_peer)
{
	char *tp = img_test_fixture("peers/src/tiny-rootfs.tar");
	char *bp = img_test_fixture("peers/tiny-oci-layout/blobs/sha256/2d0d77dbd6ed0a292c7048a6e0b228f6ead8f17ba05cd9df4cbcad302908cb9a");
	char *l2 = img_test_fixture("peers/src/tiny-layer2.tar");
	int fd = open(tp, O_RDONLY);
	struct img_arcin *a;
	struct img_arcin_entry e;
	int n = 0, seen_busybox = 0, seen_sh = 0, seen_tmp = 0, r;

	if (fd < 0)
		printf("# cannot open %s\n", tp);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(img_arcin_open_fd(fd, 0, &a), 0);
	while ((r = img_arcin_next(a, &e)) == 1) {
		n++;
		IMG_ASSERT(strncmp(e.path, "./", 2) != 0);
		IMG_ASSERT(e.path[0] == '\0' || e.path[strlen(e.path) - 1] != '/');
		if (strcmp(e.path, "bin/busybox") == 0) {
			struct img_hash *h = img_digest_hash_new(IMG_SHA256);
			char buf[1000];
			ssize_t k;
			int64_t tot = 0;
			seen_busybox = 1;
			IMG_ASSERT_EQ_INT(e.type, IMG_ENT_FILE);
			IMG_ASSERT(e.mode & 0111);
			while ((k = img_arcin_read(a, buf, sizeof buf)) > 0) {
				img_digest_hash_update(h, buf, (size_t)k);
				tot += k;
			}
			IMG_ASSERT_EQ_INT(k, 0);
			IMG_ASSERT_EQ_INT(tot, e.size);
			img_digest_hash_free(h);
		}
		if (strcmp(e.path, "bin/sh") == 0) {
			seen_sh = 1;
			IMG_ASSERT_EQ_INT(e.type, IMG_ENT_SYMLINK);
			IMG_ASSERT(e.link && e.link[0]);
		}
		if (strcmp(e.path, "tmp") == 0) {
			seen_tmp = 1;
			IMG_ASSERT_EQ_INT(e.type, IMG_ENT_DIR);
			IMG_ASSERT_EQ_INT(e.mode, 01777);
		}
	}
	IMG_ASSERT_EQ_INT(r, 0);
	IMG_ASSERT_EQ_STR(img_arcin_filter(a), "none");
	IMG_ASSERT(img_arcin_offset(a) > 0);
	img_arcin_free(a);
	close(fd);
	IMG_ASSERT(seen_busybox && seen_sh && seen_tmp);

	/* the same layer through gzip: same entry count, filter gzip */
	IMG_ASSERT_EQ_INT(read_all(bp, 0, "gzip"), n);

	/* layer 2: whiteouts and a hard link with a cleaned target */
	fd = open(l2, O_RDONLY);
	IMG_ASSERT_EQ_INT(img_arcin_open_fd(fd, 0, &a), 0);
	int seen_link = 0, seen_wh = 0;
	while ((r = img_arcin_next(a, &e)) == 1) {
		if (e.type == IMG_ENT_HARDLINK) {
			seen_link = 1;
			IMG_ASSERT_EQ_STR(e.path, "usr/share/tiny/c-link.txt");
			IMG_ASSERT_EQ_STR(e.link, "usr/share/tiny/c.txt");
		}
		char *t;
		if (img_layer_whiteout(e.path, &t) > 0)
			seen_wh++;
		free(t);
	}
	IMG_ASSERT_EQ_INT(r, 0);
	img_arcin_free(a);
	close(fd);
	IMG_ASSERT(seen_link);
	IMG_ASSERT_EQ_INT(seen_wh, 2);
	free(tp);
	free(bp);
	free(l2);
}

TEST(arc_compressions)
{
	char *tp = img_test_fixture("peers/src/tiny-rootfs.tar");
	char *d = tmp("");
	static const struct { const char *cmd, *ext, *filter; } t[] = {
		{ "gzip -c", "gz", "gzip" },
		{ "zstd -q -c", "zst", "zstd" },
		{ "xz -c", "xz", "xz" },
		{ "bzip2 -c", "bz2", "bzip2" },
	};
	int n = read_all(tp, 0, "none");
	IMG_ASSERT(n > 10);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char *out = xasprintf("%s/l.tar.%s", d, t[i].ext);
		char *cmd = xasprintf("%s '%s' > '%s'", t[i].cmd, tp, out);
		IMG_ASSERT_EQ_INT(system(cmd), 0);
		int got = read_all(out, 0, t[i].filter);
		if (got != n)
			printf("# %s: %s\n", t[i].ext, img_errmsg());
		IMG_ASSERT_EQ_INT(got, n);
		/* truncated in the middle */
		free(cmd);
		cmd = xasprintf("head -c 300000 '%s' > '%s.cut'", out, out);
		IMG_ASSERT_EQ_INT(system(cmd), 0);
		char *cut = xasprintf("%s.cut", out);
		IMG_ASSERT_EQ_INT(read_all(cut, 0, NULL), -1);
		if (!strstr(img_errmsg(), "truncated"))
			printf("# %s: %s\n", t[i].ext, img_errmsg());
		IMG_ASSERT(strstr(img_errmsg(), "truncated archive") != NULL);
		free(cut);
		free(cmd);
		free(out);
	}
	free(tp);
	free(d);
}

TEST(arc_not_tar)
{
	char *p = tmp("x");
	char junk[4096];
	memset(junk, 'x', sizeof junk);
	IMG_ASSERT_EQ_INT(save(p, junk, sizeof junk), 0);
	IMG_ASSERT_EQ_INT(read_all(p, 0, NULL), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive");
	IMG_ASSERT_EQ_INT(save(p, "hello\n", 6), 0);
	IMG_ASSERT_EQ_INT(read_all(p, 0, NULL), -1);
	IMG_ASSERT(strstr(img_errmsg(), "not a tar archive") != NULL);
	IMG_ASSERT_EQ_INT(save(p, "", 0), 0);
	IMG_ASSERT_EQ_INT(read_all(p, 0, NULL), -1);
	IMG_ASSERT(strstr(img_errmsg(), "not a tar archive") != NULL);
	/* gzip of junk */
	char *cmd = xasprintf("gzip -c < '%s' > '%s.gz'", p, p);
	IMG_ASSERT_EQ_INT(save(p, junk, sizeof junk), 0);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	char *gz = xasprintf("%s.gz", p);
	IMG_ASSERT_EQ_INT(read_all(gz, 0, NULL), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive");
	/* a directory */
	IMG_ASSERT_EQ_INT(read_all(img_test_tmpdir, 0, NULL), -1);
	/* an empty but valid tar (two zero blocks) has no entries */
	char zero[1024] = { 0 };
	IMG_ASSERT_EQ_INT(save(p, zero, sizeof zero), 0);
	IMG_ASSERT_EQ_INT(read_all(p, 0, NULL), 0);
	free(cmd);
	free(gz);
	free(p);
}

TEST(arc_truncated_tar)
{
	char *tp = img_test_fixture("peers/src/tiny-rootfs.tar");
	char *p = tmp("cut.tar");
	/* cut inside bin/busybox's data */
	char *cmd = xasprintf("head -c 200000 '%s' > '%s'", tp, p);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	IMG_ASSERT_EQ_INT(read_all(p, 0, NULL), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "truncated archive");
	/* cut inside a header */
	free(cmd);
	cmd = xasprintf("head -c 700 '%s' > '%s'", tp, p);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	IMG_ASSERT_EQ_INT(read_all(p, 0, NULL), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "truncated archive");
	free(cmd);
	free(tp);
	free(p);
}

TEST(arc_raw)
{
	char *p = tmp("d");
	char *cmd = xasprintf("printf 'hello raw world' | gzip -c > '%s'", p);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	int fd = open(p, O_RDONLY);
	struct img_arcin *a;
	struct img_arcin_entry e;
	char buf[100];
	IMG_ASSERT_EQ_INT(img_arcin_open_fd(fd, IMG_ARCIN_RAW, &a), 0);
	IMG_ASSERT_EQ_INT(img_arcin_next(a, &e), 1);
	IMG_ASSERT_EQ_STR(e.path, "data");
	ssize_t k = img_arcin_read(a, buf, sizeof buf);
	IMG_ASSERT_EQ_INT(k, 15);
	IMG_ASSERT(memcmp(buf, "hello raw world", 15) == 0);
	IMG_ASSERT_EQ_INT(img_arcin_read(a, buf, sizeof buf), 0);
	IMG_ASSERT_EQ_STR(img_arcin_filter(a), "gzip");
	IMG_ASSERT_EQ_INT(img_arcin_next(a, &e), 0);
	img_arcin_free(a);
	close(fd);
	free(cmd);
	free(p);
}

/* helper-written archive */
static int write_sample(struct img_arcout *o)
{
	char longname[300];
	memset(longname, 'n', sizeof longname);
	memcpy(longname, "dir/", 4);
	longname[sizeof longname - 1] = 0;
	if (img_arcout_dir(o, "dir") < 0 ||
	    img_arcout_buf(o, "dir/hello.txt", "hello\n", 6, 0644) < 0 ||
	    img_arcout_file(o, "blobs/sha256/abc", 3, 0444) < 0 ||
	    img_arcout_data(o, "a", 1) < 0 || img_arcout_data(o, "bc", 2) < 0 ||
	    img_arcout_buf(o, longname, "x", 1, 0644) < 0 ||
	    img_arcout_buf(o, "dir/caf\xc3\xa9", "", 0, 0644) < 0)
		return -1;
	return img_arcout_close(o);
}

TEST(arcout_deterministic)
{
	struct abuf a = { 0 }, b = { 0 };
	struct img_arcout *o = img_arcout_new_sink(abuf_sink, &a, 1700000000);
	IMG_ASSERT(o != NULL);
	IMG_ASSERT_EQ_INT(write_sample(o), 0);
	IMG_ASSERT_EQ_INT(img_arcout_bytes(o), a.n);
	img_arcout_free(o);
	o = img_arcout_new_sink(abuf_sink, &b, 1700000000);
	IMG_ASSERT_EQ_INT(write_sample(o), 0);
	img_arcout_free(o);
	IMG_ASSERT_EQ_INT(a.n, b.n);
	IMG_ASSERT(memcmp(a.p, b.p, a.n) == 0);
	IMG_ASSERT_EQ_INT(a.n % 512, 0);
	/* ustar headers unless needed: the first header is plain ustar */
	IMG_ASSERT(memcmp(a.p + 257, "ustar\0" "00", 8) == 0);
	IMG_ASSERT(a.p[156] == '5');

	/* the same through an fd */
	char *p = tmp("o.tar");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	o = img_arcout_new_fd(fd, 1700000000);
	IMG_ASSERT_EQ_INT(write_sample(o), 0);
	img_arcout_free(o);
	close(fd);

	/* tar(1) lists it with owner 0/0 and the given mtime */
	char *cmd = xasprintf("TZ=UTC tar --numeric-owner -tvf '%s' > '%s.lst'", p, p);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	free(cmd);
	char *lst = xasprintf("%s.lst", p);
	FILE *f = fopen(lst, "r");
	char line[1024];
	int lines = 0;
	IMG_ASSERT(f != NULL);
	while (fgets(line, sizeof line, f)) {
		lines++;
		if (!strstr(line, " 0/0 ") || !strstr(line, "2023-11-14 22:13"))
			printf("# %s", line);
		IMG_ASSERT(strstr(line, " 0/0 ") != NULL);
		IMG_ASSERT(strstr(line, "2023-11-14 22:13") != NULL);
		if (lines == 1)
			IMG_ASSERT(strncmp(line, "drwxr-xr-x ", 11) == 0);
		if (lines == 3)
			IMG_ASSERT(strncmp(line, "-r--r--r-- ", 11) == 0);
	}
	fclose(f);
	IMG_ASSERT_EQ_INT(lines, 5);
	free(lst);

	/* read back with arcin: same bytes through the fd */
	fd = open(p, O_RDONLY);
	struct img_arcin *in;
	struct img_arcin_entry e;
	IMG_ASSERT_EQ_INT(img_arcin_open_fd(fd, 0, &in), 0);
	IMG_ASSERT_EQ_INT(img_arcin_next(in, &e), 1);
	IMG_ASSERT_EQ_STR(e.path, "dir");
	IMG_ASSERT_EQ_INT(e.type, IMG_ENT_DIR);
	IMG_ASSERT_EQ_INT(e.mode, 0755);
	IMG_ASSERT_EQ_INT(e.mtime, 1700000000);
	IMG_ASSERT_EQ_INT(img_arcin_next(in, &e), 1);
	IMG_ASSERT_EQ_INT(img_arcin_next(in, &e), 1);
	IMG_ASSERT_EQ_STR(e.path, "blobs/sha256/abc");
	IMG_ASSERT_EQ_INT(e.size, 3);
	char buf[10];
	IMG_ASSERT_EQ_INT(img_arcin_read(in, buf, 10), 3);
	IMG_ASSERT(memcmp(buf, "abc", 3) == 0);
	IMG_ASSERT_EQ_INT(img_arcin_next(in, &e), 1);
	IMG_ASSERT_EQ_INT(strlen(e.path), 299);
	IMG_ASSERT_EQ_INT(img_arcin_next(in, &e), 1);
	IMG_ASSERT_EQ_STR(e.path, "dir/caf\xc3\xa9");
	IMG_ASSERT_EQ_INT(img_arcin_next(in, &e), 0);
	img_arcin_free(in);
	close(fd);

	size_t n = a.n;
	struct img_digest d1, d2;
	img_digest_buf(a.p, n, &d1);
	fd = open(p, O_RDONLY);
	unsigned char *fb = xmalloc(n + 1);
	IMG_ASSERT_EQ_INT(read(fd, fb, n + 1), (ssize_t)n);
	close(fd);
	img_digest_buf(fb, n, &d2);
	IMG_ASSERT_EQ_STR(d1.str, d2.str);
	free(fb);
	free(p);
	free(a.p);
	free(b.p);
}

TEST(arcout_errors)
{
	struct abuf a = { 0 };
	struct img_arcout *o = img_arcout_new_sink(abuf_sink, &a, 0);
	/* short data */
	IMG_ASSERT_EQ_INT(img_arcout_file(o, "f", 10, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_data(o, "abc", 3), 0);
	IMG_ASSERT_EQ_INT(img_arcout_close(o), -1);
	IMG_ASSERT(strstr(img_errmsg(), "missing") != NULL);
	img_arcout_free(o);
	/* too much data */
	o = img_arcout_new_sink(abuf_sink, &a, 0);
	IMG_ASSERT_EQ_INT(img_arcout_file(o, "f", 2, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_data(o, "abc", 3), -1);
	img_arcout_free(o);
	/* a failing sink: its message comes back */
	o = img_arcout_new_sink(fail_sink, NULL, 0);
	IMG_ASSERT(o != NULL);
	int r = img_arcout_buf(o, "f", "abc", 3, 0644);
	if (r == 0)
		r = img_arcout_close(o);
	IMG_ASSERT_EQ_INT(r, -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "sink refused");
	img_arcout_free(o);
	/* /dev/full: ENOSPC */
	int fd = open("/dev/full", O_WRONLY);
	IMG_ASSERT(fd >= 0);
	o = img_arcout_new_fd(fd, 0);
	r = img_arcout_buf(o, "f", "abc", 3, 0644);
	if (r == 0)
		r = img_arcout_close(o);
	IMG_ASSERT_EQ_INT(r, -1);
	IMG_ASSERT_EQ_INT(errno, ENOSPC);
	img_arcout_free(o);
	close(fd);
	/* an aborted writer writes nothing more when freed (no end-of-archive blocks) */
	o = img_arcout_new_sink(abuf_sink, &a, 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "f", "abc", 3, 0644), 0);
	size_t before = a.n;
	img_arcout_free(o);
	IMG_ASSERT_EQ_INT(a.n, before);
	free(a.p);
}

/* An entry copied from one archive to another keeps its attributes. */
TEST(arcout_entry_copy)
{
	char *tp = img_test_fixture("peers/src/tiny-layer2.tar");
	int fd = open(tp, O_RDONLY);
	struct abuf out = { 0 };
	struct img_arcin *in;
	struct img_arcin_entry e;
	struct img_arcout *o = img_arcout_new_sink(abuf_sink, &out, 0);
	int r;
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(img_arcin_open_fd(fd, 0, &in), 0);
	while ((r = img_arcin_next(in, &e)) == 1) {
		const void *b;
		size_t n;
		IMG_ASSERT_EQ_INT(img_arcout_entry(o, e.ae), 0);
		while ((r = img_arcin_block(in, &b, &n)) == 1)
			IMG_ASSERT_EQ_INT(img_arcout_data(o, b, n), 0);
		IMG_ASSERT_EQ_INT(r, 0);
	}
	IMG_ASSERT_EQ_INT(r, 0);
	IMG_ASSERT_EQ_INT(img_arcout_close(o), 0);
	img_arcout_free(o);
	img_arcin_free(in);
	close(fd);
	char *p = tmp("copy.tar");
	IMG_ASSERT_EQ_INT(save(p, out.p, out.n), 0);
	char *cmd = xasprintf("cd '%s' && TZ=UTC tar --numeric-owner -tvf '%s' | sed 's|\\./||' > a && "
	                      "TZ=UTC tar --numeric-owner -tvf '%s' | sed 's|\\./||' > b && diff a b",
	                      img_test_tmpdir, tp, p);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	free(cmd);
	free(p);
	free(tp);
	free(out.p);
}

static int mem_has(const struct abuf *m, const char *s)
{
	return memmem(m->p, m->n, s, strlen(s)) != NULL;
}

/* UTF-8 names (pax, from Python's tarfile) keep their bytes through arcin and arcout;
 * arcout writes them as plain pax records, and only invalid UTF-8 as hdrcharset=BINARY. */
TEST(arcout_utf8_names)
{
	char *p = tmp("u.tar");
	char *cmd = xasprintf("python3 -c \"import tarfile,io\n"
	                      "t=tarfile.open('%s','w',format=tarfile.PAX_FORMAT)\n"
	                      "i=tarfile.TarInfo('caf\\u00e9/na\\u00efve.txt'); i.size=2; t.addfile(i,io.BytesIO(b'hi'))\n"
	                      "i=tarfile.TarInfo('lnk'); i.type=tarfile.SYMTYPE; i.linkname='t\\u00e4rget'; t.addfile(i)\n"
	                      "t.close()\"", p);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	free(cmd);
	int fd = open(p, O_RDONLY);
	struct img_arcin *in;
	struct img_arcin_entry e;
	struct abuf out = { 0 };
	struct img_arcout *o = img_arcout_new_sink(abuf_sink, &out, 0);
	IMG_ASSERT_EQ_INT(img_arcin_open_fd(fd, 0, &in), 0);
	IMG_ASSERT_EQ_INT(img_arcin_next(in, &e), 1);
	IMG_ASSERT_EQ_STR(e.path, "caf\xc3\xa9/na\xc3\xafve.txt");
	IMG_ASSERT_EQ_INT(img_arcout_entry(o, e.ae), 0);
	IMG_ASSERT_EQ_INT(img_arcout_data(o, "hi", 2), 0);
	IMG_ASSERT_EQ_INT(img_arcin_next(in, &e), 1);
	IMG_ASSERT_EQ_STR(e.link, "t\xc3\xa4rget");
	IMG_ASSERT_EQ_INT(img_arcout_entry(o, e.ae), 0);
	IMG_ASSERT_EQ_INT(img_arcin_next(in, &e), 0);
	img_arcin_free(in);
	close(fd);
	IMG_ASSERT_EQ_INT(img_arcout_close(o), 0);
	img_arcout_free(o);
	IMG_ASSERT(mem_has(&out, "path=caf\xc3\xa9/na\xc3\xafve.txt\n"));
	IMG_ASSERT(mem_has(&out, "linkpath=t\xc3\xa4rget\n"));
	IMG_ASSERT(!mem_has(&out, "hdrcharset"));
	free(out.p);

	/* not UTF-8: kept as bytes, marked BINARY */
	memset(&out, 0, sizeof out);
	o = img_arcout_new_sink(abuf_sink, &out, 0);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "bad\xff\xfe", "", 0, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_close(o), 0);
	img_arcout_free(o);
	IMG_ASSERT(mem_has(&out, "hdrcharset=BINARY"));
	IMG_ASSERT(mem_has(&out, "bad\xff\xfe"));
	free(out.p);
	free(p);
}

/* GNU sparse members come out with their holes as zeros. */
TEST(arc_sparse)
{
	char *cmd = xasprintf("cd '%s' && printf 'head' > s && truncate -s 300000 s && "
	                      "printf 'tail' >> s && tar -S -cf s.tar s", img_test_tmpdir);
	IMG_ASSERT_EQ_INT(system(cmd), 0);
	free(cmd);
	char *p = tmp("s.tar");
	int fd = open(p, O_RDONLY);
	struct img_arcin *a;
	struct img_arcin_entry e;
	const void *b;
	size_t n;
	int64_t tot = 0;
	unsigned char *all = xcalloc(1, 300004);
	int r;
	IMG_ASSERT_EQ_INT(img_arcin_open_fd(fd, 0, &a), 0);
	IMG_ASSERT_EQ_INT(img_arcin_next(a, &e), 1);
	IMG_ASSERT_EQ_INT(e.size, 300004);
	while ((r = img_arcin_block(a, &b, &n)) == 1) {
		IMG_ASSERT(tot + (int64_t)n <= 300004);
		memcpy(all + tot, b, n);
		tot += (int64_t)n;
	}
	IMG_ASSERT_EQ_INT(r, 0);
	IMG_ASSERT_EQ_INT(tot, 300004);
	IMG_ASSERT(memcmp(all, "head", 4) == 0);
	IMG_ASSERT(memcmp(all + 300000, "tail", 4) == 0);
	for (size_t i = 4; i < 300000; i++)
		if (all[i]) { IMG_ASSERT(all[i] == 0); }
	img_arcin_free(a);
	close(fd);
	free(all);
	free(p);
}
