/* Shared pieces of the fuzz targets: a private directory, in-memory files, and the two
 * archive readers driven as the programs drive them. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img.h"
#include "arcimg.h"
#include "tree.h"
#include "fuzz.h"

static char dir[4096];

static void dir_remove(void)
{
	if (dir[0])
		fuzz_rmtree(dir);
}

const char *fuzz_dir(void)
{
	const char *base = getenv("FUZZ_TMPDIR");
	struct stat st;

	if (dir[0])
		return dir;
	/* tmpfs when there is one: img-load fsyncs every blob it commits */
	if (!base || !*base)
		base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
		       access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/img-fuzz.XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	atexit(dir_remove);
	/* whatever the code under test makes in $TMPDIR goes there too */
	setenv("TMPDIR", dir, 1);
	return dir;
}

int fuzz_memfd(const void *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (img_io_write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), r;

	if (fd < 0)
		return -1;
	r = img_io_write_all(fd, data, size);
	if (close(fd) < 0)
		r = -1;
	return r;
}

uint8_t *fuzz_tar_fixup(const uint8_t *data, size_t size)
{
	uint8_t *b = xmalloc(size + 1);
	size_t off = 0;

	memcpy(b, data, size);
	if (size % 512)
		return b;
	while (off + 512 <= size) {
		uint8_t *h = b + off;
		unsigned sum = 0;
		uint64_t len = 0;
		if (memcmp(h + 257, "ustar", 5) != 0)
			break;
		memset(h + 148, ' ', 8);
		for (int i = 0; i < 512; i++)
			sum += h[i];
		snprintf((char *)h + 148, 8, "%06o", sum & 0777777);
		h[155] = ' ';
		if (h[124] & 0x80) {         /* base-256 */
			for (int i = 1; i < 12; i++)
				len = len << 8 | h[124 + i];
		} else {
			for (int i = 0; i < 12 && h[124 + i] >= '0' && h[124 + i] <= '7'; i++)
				len = len << 3 | (uint64_t)(h[124 + i] - '0');
		}
		/* only these types carry data blocks */
		if (h[156] != '\0' && !memchr("07xgLKS", h[156], 7))
			len = 0;
		if (len > size)
			break;
		off += 512 + (size_t)(len + 511) / 512 * 512;
	}
	return b;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	remove(p);
	return 0;
}

void fuzz_rmtree(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int fuzz_buf_sink(void *arg, const void *buf, size_t n)
{
	struct fuzz_buf *b = arg;

	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, buf, n);
	b->n += n;
	return 0;
}

int fuzz_close_stdout(void)
{
	fflush(stdout);
	clearerr(stdout);
	return 0;
}

static void run_load(int argc, char **argv)
{
	optind = 0;   /* getopt starts over */
	img_load_main(argc, argv);
}

void fuzz_img_load(const char *path, const char *platform, int load)
{
	char prog[] = "img-load", q[] = "-q", ck[] = "--check", S[] = "-S", P[] = "--platform";
	char *store = xasprintf("%s/store", fuzz_dir()), *file = xstrdup(path);
	char *plat = platform ? xstrdup(platform) : NULL;
	char *check[] = { prog, q, ck, file, NULL };
	char *checkp[] = { prog, q, ck, P, plat, file, NULL };
	char *real[] = { prog, q, S, store, file, NULL };

	run_load(4, check);
	if (plat)
		run_load(6, checkp);
	if (load) {
		run_load(5, real);
		fuzz_rmtree(store);
	}
	free(store);
	free(file);
	free(plat);
}

/* ---- arcimg, as img-layers --archive and img-diff read it ---- */

static int apply_rec(void *arg, const struct img_tree_rec *r)
{
	return img_tree_apply(arg, r);
}

static void read_view(struct img_view *v)
{
	struct img_tree *t = img_tree_new(), *u = img_tree_new();
	struct img_tree_job *jobs = xcalloc(v->nlayers + 1, sizeof(*jobs));
	struct img_tree_part *parts = xcalloc(v->nlayers + 1, sizeof(*parts));
	size_t n = 0;
	int64_t size;

	/* img-layers: sizes, then each layer's records into a tree as they come (read as the
	 * archive streamed, or read back from it); img-diff: the layers read back read ahead
	 * together, then applied */
	for (size_t i = 0; i < v->nlayers; i++) {
		const struct img_tree_layer *l;
		const char *err;
		int fd;
		(void)img_view_layer_size(v, i, &size);
		img_tree_layer_begin(t, (int)i);
		switch (img_view_layer_records(v, i, &l, &err)) {
		case 1:
			(void)img_tree_read_layer_each(l, apply_rec, t);
			if (!err)
				(void)img_tree_read_apply_layer(u, (int)i, l);
			break;
		case 0:
			if (img_view_layer_blob(v, i, &fd, &parts[n]) == 0) {
				(void)img_tree_read_scan_part(fd, &parts[n], NULL, apply_rec, t);
				jobs[n++].fd = fd;
			}
			break;
		}
		img_tree_layer_end(t);
	}
	if (n && img_tree_read_parts(jobs, parts, n, 2) == 0)
		for (size_t i = 0; i < n; i++)
			(void)img_tree_read_apply_layer(u, (int)i, jobs[i].out);
	for (size_t i = 0; i < n; i++) {
		close(jobs[i].fd);
		img_tree_read_layer_free(jobs[i].out);
		free(jobs[i].err);
	}
	free(jobs);
	free(parts);
	img_tree_free(t);
	img_tree_free(u);
}

void fuzz_arcimg(int fd)
{
	static const char *const names[] = { "tiny:1", "tiny:2", "example/app" };
	struct img_arcimg *a;
	struct img_platform arm;
	struct img_view v;

	if (img_arcimg_read_flags(fd, 100, IMG_ARCIMG_FILES | IMG_ARCIMG_CONTENT, &a) < 0)
		return;
	if (img_view_from_archive(a, NULL, NULL, &v) == 0) {
		read_view(&v);
		img_view_release(&v);
	}
	if (img_image_platform_parse("linux/arm64", &arm) == 0 &&
	    img_view_from_archive(a, NULL, &arm, &v) == 0)
		img_view_release(&v);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (img_view_from_archive(a, names[i], NULL, &v) == 0) {
			if (img_arcimg_count(a) > 1)
				read_view(&v);
			img_view_release(&v);
		}
	img_arcimg_free(a);
}
