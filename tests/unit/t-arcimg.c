/* arcimg and view: an archive read once from a pipe, in any entry order, the files
 * of its layers read while they stream past (nothing written anywhere, $TMPDIR unusable),
 * matched to the image afterwards. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "comp.h"
#include "tree.h"
#include "arcimg.h"
#include "lread.h"

struct mbuf {
	char *p;
	size_t n, cap;
};

static la_ssize_t mbuf_write(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct mbuf *m = arg;

	(void)a;
	IMG_GROW(m->p, m->n + n, m->cap);
	memcpy(m->p + m->n, buf, n);
	m->n += n;
	return (la_ssize_t)n;
}

static int mbuf_sink(void *arg, const void *buf, size_t n)
{
	return mbuf_write(NULL, arg, buf, n) == (la_ssize_t)n ? 0 : -1;
}

/* A tar of n files (names[i] holding data[i], len[i] bytes; len 0: strlen) into m. */
static void tar_of(struct mbuf *m, size_t n, const char *const *names, const char *const *data,
                   const size_t *len)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open2(a, m, NULL, mbuf_write, NULL, NULL);
	for (size_t i = 0; i < n; i++) {
		size_t l = len && len[i] ? len[i] : strlen(data[i]);
		archive_entry_clear(e);
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)l);
		archive_write_header(a, e);
		archive_write_data(a, data[i], l);
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
}

static void gzip_of(struct mbuf *out, const char *buf, size_t n)
{
	struct img_compw *w = img_comp_enc_new(IMG_COMP_GZIP, -1, mbuf_sink, out);

	img_comp_enc_write(w, buf, n);
	img_comp_enc_finish(w);
	img_comp_enc_free(w);
}

/* An fd reading the bytes, from a pipe a child process fills. */
static int piped(const char *buf, size_t n, pid_t *pid)
{
	int p[2];

	if (pipe(p) < 0)
		return -1;
	*pid = fork();
	if (*pid == 0) {
		close(p[0]);
		_exit(write(p[1], buf, n) == (ssize_t)n ? 0 : 1);   /* a pipe: all of it */
	}
	close(p[1]);
	return p[0];
}

struct names { char s[512]; };

static int name_of(void *arg, const struct img_tree_rec *r)
{
	struct names *x = arg;
	size_t l = strlen(x->s);

	snprintf(x->s + l, sizeof(x->s) - l, "%s%s", l ? " " : "", r->path);
	return 0;
}

TEST(arcimg_layers_stream_from_a_pipe)
{
	static const char *const n1[] = { "big", "etc/os" };
	static const char *const n2[] = { "{odd name", "usr/x" };
	static const char *const n3[] = { "a", "b" };
	size_t bigsz = 3 << 20, len1[] = { bigsz, 0 };
	char *bigdata = xmalloc(bigsz);
	const char *d1[] = { bigdata, "linux\n" }, *d2[] = { "brace\n", "x\n" };
	const char *d3[] = { "one\n", "two\n" };
	struct mbuf l1 = { 0 }, l2 = { 0 }, l3 = { 0 }, l3gz = { 0 }, junk = { 0 }, arc = { 0 };
	struct img_digest diff[3], cfgd;
	char *cfg, *man, *cfgname;
	const char *names[6], *data[6];
	size_t lens[6];
	const char *const old_tmp = getenv("TMPDIR");
	char *saved = old_tmp ? xstrdup(old_tmp) : NULL;
	struct img_arcimg *a = NULL;
	struct img_view v;
	pid_t pid;
	int fd, st, r;

	uint32_t x = 7;
	for (size_t i = 0; i < bigsz; i++) {
		x = x * 1103515245u + 12345u;
		bigdata[i] = (char)(x >> 24);
	}
	tar_of(&l1, 2, n1, d1, len1);              /* > 1 MiB, uncompressed: the pipeline */
	tar_of(&l2, 2, n2, d2, NULL);              /* looks like JSON: kept in memory */
	tar_of(&l3, 2, n3, d3, NULL);
	gzip_of(&l3gz, l3.p, l3.n);                /* small, gzip */
	gzip_of(&junk, "not a tar at all\n", 17);  /* a gzip layer that is no tar */
	img_digest_buf(l1.p, l1.n, &diff[0]);
	img_digest_buf(l2.p, l2.n, &diff[1]);
	img_digest_buf(l3.p, l3.n, &diff[2]);
	{
		struct img_digest jd;
		img_digest_buf("not a tar at all\n", 17, &jd);
		cfg = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
		                "\"layers\",\"diff_ids\":[\"%s\",\"%s\",\"%s\",\"%s\"]}}",
		                diff[0].str, diff[1].str, diff[2].str, jd.str);
	}
	img_digest_buf(cfg, strlen(cfg), &cfgd);
	cfgname = xasprintf("%s.json", img_digest_hex(&cfgd));
	man = xasprintf("[{\"Config\":\"%s\",\"RepoTags\":[\"t:1\"],\"Layers\":[\"l1/layer.tar\","
	                "\"l2/layer.tar\",\"l3/layer.tar\",\"junk/layer.tar\"]}]", cfgname);
	/* layers first, the documents that say what they are last */
	names[0] = "l1/layer.tar"; data[0] = l1.p; lens[0] = l1.n;
	names[1] = "l2/layer.tar"; data[1] = l2.p; lens[1] = l2.n;
	names[2] = "l3/layer.tar"; data[2] = l3gz.p; lens[2] = l3gz.n;
	names[3] = "junk/layer.tar"; data[3] = junk.p; lens[3] = junk.n;
	names[4] = cfgname; data[4] = cfg; lens[4] = 0;
	names[5] = "manifest.json"; data[5] = man; lens[5] = 0;
	tar_of(&arc, 6, names, data, lens);

	/* no temp file can be made: nothing needs one */
	setenv("TMPDIR", "/nonexistent/img-test", 1);
	fd = piped(arc.p, arc.n, &pid);
	IMG_ASSERT(fd >= 0);
	r = img_arcimg_read_flags(fd, 100, IMG_ARCIMG_FILES | IMG_ARCIMG_CONTENT, &a);
	close(fd);
	waitpid(pid, &st, 0);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	if (r < 0)
		printf("# %s\n", img_errmsg());
	IMG_ASSERT_EQ_INT(r, 0);
	IMG_ASSERT_EQ_INT(img_view_from_archive(a, NULL, NULL, &v), 0);
	IMG_ASSERT_EQ_INT(v.nlayers, 4);
	for (size_t i = 0; i < 4; i++) {
		static const char *const want[] = { "big etc/os", "{odd name usr/x", "a b", "" };
		const struct img_tree_layer *l;
		const char *err;
		struct names got = { "" };
		IMG_ASSERT_EQ_INT(img_view_layer_records(&v, i, &l, &err), 1);
		IMG_ASSERT_EQ_INT(img_tree_read_layer_each(l, name_of, &got), 0);
		IMG_ASSERT_EQ_STR(got.s, want[i]);
		if (i < 3)
			IMG_ASSERT(err == NULL);
		else
			IMG_ASSERT_EQ_STR(err, "not a tar archive");
		IMG_ASSERT_EQ_INT(img_view_open_layer(&v, i), -1);
	}
	{
		const struct img_tree_layer *l;
		const char *err;
		struct img_digest bd;
		img_view_layer_records(&v, 0, &l, &err);
		img_digest_buf(bigdata, bigsz, &bd);
		IMG_ASSERT(img_digest_eq(&img_tree_read_layer_rec((struct img_tree_layer *)l, 0)->content,
		                         &bd));
		IMG_ASSERT_EQ_INT(img_tree_read_layer_rec((struct img_tree_layer *)l, 0)->size, bigsz);
	}
	img_view_release(&v);
	img_arcimg_free(a);

	/* read for digests only: no layer's files */
	fd = piped(arc.p, arc.n, &pid);
	r = img_arcimg_read(fd, 100, &a);
	close(fd);
	waitpid(pid, &st, 0);
	IMG_ASSERT_EQ_INT(r, 0);
	IMG_ASSERT_EQ_INT(img_view_from_archive(a, "t:1", NULL, &v), 0);
	{
		const struct img_tree_layer *l;
		const char *err;
		IMG_ASSERT_EQ_INT(img_view_layer_records(&v, 0, &l, &err), -1);
	}
	img_view_release(&v);
	img_arcimg_free(a);

	/* the reader fails half way (a truncated archive): the layer begun is abandoned */
	fd = piped(arc.p, l1.n / 2, &pid);
	r = img_arcimg_read_flags(fd, 100, IMG_ARCIMG_FILES, &a);
	close(fd);
	waitpid(pid, &st, 0);
	IMG_ASSERT_EQ_INT(r, -1);

	free(bigdata);
	free(cfg);
	free(man);
	free(cfgname);
	free(l1.p);
	free(l2.p);
	free(l3.p);
	free(l3gz.p);
	free(junk.p);
	free(arc.p);
}

static int collect_job(struct img_view *v, size_t i, struct names *got)
{
	struct img_tree_part part;
	int fd, r;

	if (img_view_layer_blob(v, i, &fd, &part) < 0)
		return -1;
	r = img_tree_read_scan_part(fd, &part, NULL, name_of, got);
	close(fd);
	return r;
}

/* A docker-save archive of one image, tagged t:1, of two layers: l1.tar (l1 as it is)
 * and l2.tar.gz (l2gz, the gzip of l2). */
static void two_layer_archive(struct mbuf *arc, const struct mbuf *l1, const struct mbuf *l2,
                              const struct mbuf *l2gz)
{
	struct img_digest diff[2], cd;
	char *cfg, *man, *cfgname;
	const char *names[4], *data[4];
	size_t lens[4];

	img_digest_buf(l1->p, l1->n, &diff[0]);
	img_digest_buf(l2->p, l2->n, &diff[1]);
	cfg = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
	                "\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}", diff[0].str, diff[1].str);
	img_digest_buf(cfg, strlen(cfg), &cd);
	cfgname = xasprintf("%s.json", img_digest_hex(&cd));
	man = xasprintf("[{\"Config\":\"%s\",\"RepoTags\":[\"t:1\"],\"Layers\":[\"l1.tar\","
	                "\"l2.tar.gz\"]}]", cfgname);
	names[0] = "l1.tar"; data[0] = l1->p; lens[0] = l1->n;
	names[1] = "l2.tar.gz"; data[1] = l2gz->p; lens[1] = l2gz->n;
	names[2] = cfgname; data[2] = cfg; lens[2] = 0;
	names[3] = "manifest.json"; data[3] = man; lens[3] = 0;
	tar_of(arc, 4, names, data, lens);
	free(cfg);
	free(man);
	free(cfgname);
}

TEST(arcimg_layers_read_back_from_a_file)
{
	static const char *const n1[] = { "big", "etc/os" };
	static const char *const n2[] = { "usr/x" };
	size_t bigsz = 2 << 20, len1[] = { bigsz, 0 };
	char *bigdata = xmalloc(bigsz);
	const char *d1[] = { bigdata, "linux\n" }, *d2[] = { "x\n" };
	struct mbuf l1 = { 0 }, l2 = { 0 }, l2gz = { 0 }, arc = { 0 }, arcgz = { 0 };
	char *path = xasprintf("%s/a.tar", img_test_tmpdir);
	struct img_arcimg *a = NULL;
	struct img_view v;
	const struct img_tree_layer *l;
	const char *err;
	struct names got = { "" };
	int fd;

	memset(bigdata, 'b', bigsz);
	tar_of(&l1, 2, n1, d1, len1);
	tar_of(&l2, 1, n2, d2, NULL);
	gzip_of(&l2gz, l2.p, l2.n);
	two_layer_archive(&arc, &l1, &l2, &l2gz);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	IMG_ASSERT(fd >= 0 && write(fd, arc.p, arc.n) == (ssize_t)arc.n);
	close(fd);

	/* an uncompressed archive in a file: its layers read back when asked for */
	fd = open(path, O_RDONLY);
	IMG_ASSERT_EQ_INT(img_arcimg_read_flags(fd, 100, IMG_ARCIMG_FILES, &a), 0);
	close(fd);   /* the archive keeps its own */
	IMG_ASSERT_EQ_INT(img_view_from_archive(a, NULL, NULL, &v), 0);
	for (size_t i = 0; i < 2; i++) {
		IMG_ASSERT_EQ_INT(img_view_layer_records(&v, i, &l, &err), 0);
		got.s[0] = '\0';
		IMG_ASSERT_EQ_INT(collect_job(&v, i, &got), 0);
		IMG_ASSERT_EQ_STR(got.s, i == 0 ? "big etc/os" : "usr/x");
	}
	/* the file changed since: the bytes read back are refused */
	fd = open(path, O_WRONLY);
	IMG_ASSERT(fd >= 0 && pwrite(fd, "c", 1, (off_t)(arc.n / 2)) == 1);
	close(fd);
	got.s[0] = '\0';
	IMG_ASSERT_EQ_INT(collect_job(&v, 0, &got), -1);
	IMG_ASSERT(strncmp(img_errmsg(), "the archive changed while it was read", 37) == 0);
	IMG_ASSERT_EQ_INT(collect_job(&v, 1, &got), 0);   /* not that one */
	img_view_release(&v);
	img_arcimg_free(a);

	/* a compressed archive in a file: read as it streams, as from a pipe */
	gzip_of(&arcgz, arc.p, arc.n);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	IMG_ASSERT(fd >= 0 && write(fd, arcgz.p, arcgz.n) == (ssize_t)arcgz.n);
	lseek(fd, 0, SEEK_SET);
	IMG_ASSERT_EQ_INT(img_arcimg_read_flags(fd, 100, IMG_ARCIMG_FILES, &a), 0);
	close(fd);
	IMG_ASSERT_EQ_INT(img_view_from_archive(a, NULL, NULL, &v), 0);
	IMG_ASSERT_EQ_INT(img_view_layer_records(&v, 0, &l, &err), 1);
	got.s[0] = '\0';
	IMG_ASSERT_EQ_INT(img_tree_read_layer_each(l, name_of, &got), 0);
	IMG_ASSERT_EQ_STR(got.s, "big etc/os");
	IMG_ASSERT(img_tree_read_layer_rec((struct img_tree_layer *)l, 0)->has_content == 0);
	IMG_ASSERT_EQ_INT(collect_job(&v, 0, &got), -1);
	img_view_release(&v);
	img_arcimg_free(a);

	free(bigdata);
	free(path);
	free(l1.p);
	free(l2.p);
	free(l2gz.p);
	free(arc.p);
	free(arcgz.p);
}

TEST(arcimg_big_compressed_layer_fed_from_a_file)
{
	/* in an uncompressed archive file, a big gzip layer is taken as it streams past,
	 * inflated once (for its diff_id and its records); a big plain one is read back */
	static const char *const n1[] = { "big" }, *const n2[] = { "rnd" };
	size_t sz = 2 << 20, len[] = { sz };
	char *big = xmalloc(sz), *rnd = xmalloc(sz);
	const char *d1[] = { big }, *d2[] = { rnd };
	struct mbuf l1 = { 0 }, l2 = { 0 }, l2gz = { 0 }, arc = { 0 };
	char *path = xasprintf("%s/b.tar", img_test_tmpdir);
	struct img_arcimg *a = NULL;
	struct img_view v;
	const struct img_tree_layer *l;
	const char *err;
	struct names got = { "" };
	uint32_t x = 2463534242u;
	int fd;

	memset(big, 'b', sz);
	for (size_t i = 0; i < sz; i++) {   /* incompressible: its gzip is over 1 MiB */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		rnd[i] = (char)x;
	}
	tar_of(&l1, 1, n1, d1, len);
	tar_of(&l2, 1, n2, d2, len);
	gzip_of(&l2gz, l2.p, l2.n);
	IMG_ASSERT(l2gz.n > (1u << 20));
	two_layer_archive(&arc, &l1, &l2, &l2gz);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	IMG_ASSERT(fd >= 0 && write(fd, arc.p, arc.n) == (ssize_t)arc.n);
	lseek(fd, 0, SEEK_SET);
	IMG_ASSERT_EQ_INT(img_arcimg_read_flags(fd, 100, IMG_ARCIMG_FILES, &a), 0);
	close(fd);
	IMG_ASSERT_EQ_INT(img_view_from_archive(a, NULL, NULL, &v), 0);
	IMG_ASSERT_EQ_INT(img_view_layer_records(&v, 0, &l, &err), 0);   /* read back */
	IMG_ASSERT_EQ_INT(collect_job(&v, 0, &got), 0);
	IMG_ASSERT_EQ_STR(got.s, "big");
	IMG_ASSERT_EQ_INT(img_view_layer_records(&v, 1, &l, &err), 1);   /* fed */
	IMG_ASSERT(err == NULL);
	got.s[0] = '\0';
	IMG_ASSERT_EQ_INT(img_tree_read_layer_each(l, name_of, &got), 0);
	IMG_ASSERT_EQ_STR(got.s, "rnd");
	img_view_release(&v);
	img_arcimg_free(a);

	free(big);
	free(rnd);
	free(path);
	free(l1.p);
	free(l2.p);
	free(l2gz.p);
	free(arc.p);
}
