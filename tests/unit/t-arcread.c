/* arcread and arcload: entries hashed as they stream (in memory, to a sink, through
 * the pipeline threads), link rules, and the images of every archive dialect found in
 * either entry order. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "json.h"
#include "comp.h"
#include "image.h"
#include "arcread.h"
#include "arcload.h"

/* One entry of a test archive: type 'f' file, 'd' directory, 's' symlink, 'h' hard link
 * (data: the target). */
struct tent {
	const char *name;
	char type;
	const char *data;
	size_t len;                /* of data for 'f' (0: strlen) */
};

/* A tar of the entries, in the order given (reversed with rev), into a new temp file:
 * its fd, open for reading from the start. */
static int mktar(const struct tent *t, size_t n, int rev)
{
	char *path = xasprintf("%s/a%d.tar", img_test_tmpdir, rand());
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int fd;

	archive_write_set_format_pax_restricted(a);
	archive_write_open_filename(a, path);
	for (size_t k = 0; k < n; k++) {
		const struct tent *x = &t[rev ? n - 1 - k : k];
		size_t len = x->type == 'f' ? (x->len ? x->len : strlen(x->data)) : 0;
		archive_entry_clear(e);
		archive_entry_set_pathname(e, x->name);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_filetype(e, x->type == 'd' ? AE_IFDIR : x->type == 's' ? AE_IFLNK
		                                                                        : AE_IFREG);
		if (x->type == 's')
			archive_entry_set_symlink(e, x->data);
		if (x->type == 'h')
			archive_entry_set_hardlink(e, x->data);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_write_header(a, e);
		if (len)
			archive_write_data(a, x->data, len);
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	fd = open(path, O_RDONLY);
	free(path);
	return fd;
}

/* A layer: a tar of one file, name=data. *len its size; the caller frees it. */
static char *mklayer(const char *name, const char *data, size_t *len)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t cap = 64 << 10, used = 0;
	char *buf = xcalloc(1, cap);

	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open_memory(a, buf, cap, &used);
	archive_entry_set_pathname(e, name);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)strlen(data));
	archive_write_header(a, e);
	archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	*len = used;
	return buf;
}

static struct img_arcread *read_tar(int fd, const struct img_arcread_opts *o)
{
	struct img_arcread *r = NULL;

	if (img_arcread_read(fd, o, &r) < 0) {
		printf("# %s\n", img_errmsg());
		return NULL;
	}
	return r;
}

/* ---- the bytes of an entry, to a sink ---- */

struct got {
	char *buf;
	size_t n, cap;
	int opened, done, big;
};

static int g_open(void *arg, struct img_arcread_ent *e, int big, void **w)
{
	struct got *g = arg;

	(void)e;
	g->opened++;
	g->big += big;
	*w = g;
	return 0;
}

static int g_write(void *w, const void *buf, size_t n)
{
	struct got *g = w;

	IMG_GROW(g->buf, g->n + n, g->cap);
	memcpy(g->buf + g->n, buf, n);
	g->n += n;
	return 0;
}

static int g_done(void *arg, struct img_arcread_ent *e)
{
	struct got *g = arg;

	g->done++;
	e->out = NULL;   /* nothing to drop */
	return 0;
}

static int gz_sink(void *arg, const void *buf, size_t n)
{
	return g_write(arg, buf, n);
}

TEST(arcread_sinks)
{
	/* a 3 MiB gzip layer (the pipeline threads), a JSON document and a small file */
	size_t big = 3 << 20;
	char *plain = xmalloc(big);
	struct got gz = { 0 }, g = { 0 };
	struct img_compw *cw = img_comp_enc_new(IMG_COMP_GZIP, -1, gz_sink, &gz);
	struct img_digest want_blob, want_diff;
	struct img_arcread_sink sink = { g_open, g_write, g_done, NULL, &g, 0 };
	struct img_arcread_opts o = { .max_ratio = 100000, .sink = &sink };
	struct img_arcread *r;
	struct img_arcread_ent *e;
	int fd;

	uint32_t x = 2463534242u;
	for (size_t i = 0; i < big; i++) {   /* incompressible: the gzip blob is > 1 MiB */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		plain[i] = (char)x;
	}
	IMG_ASSERT(cw && img_comp_enc_write(cw, plain, big) == 0 && img_comp_enc_finish(cw) == 0);
	img_comp_enc_free(cw);
	img_digest_buf(gz.buf, gz.n, &want_blob);
	img_digest_buf(plain, big, &want_diff);
	struct tent t[] = {
		{ "layer.gz", 'f', gz.buf, gz.n },
		{ "doc.json", 'f', " {\"a\": 1}", 0 },
		{ "small", 'f', "hello", 0 },
	};
	fd = mktar(t, 3, 0);
	IMG_ASSERT(fd >= 0);
	r = read_tar(fd, &o);
	close(fd);
	IMG_ASSERT(r);
	IMG_ASSERT_EQ_INT(img_arcread_count(r), 3);
	e = img_arcread_get(r, "layer.gz");
	IMG_ASSERT(e && e->hashed && !e->mem);
	IMG_ASSERT_EQ_INT(e->comp, IMG_COMP_GZIP);
	IMG_ASSERT(img_digest_eq(&e->blob, &want_blob));
	IMG_ASSERT(e->diff_ok && img_digest_eq(&e->diff, &want_diff));
	IMG_ASSERT_EQ_INT(e->diff_size, big);
	/* the sink had every byte, once, in order */
	IMG_ASSERT_EQ_INT(g.big, 1);
	IMG_ASSERT_EQ_INT(g.n, gz.n + 5);
	IMG_ASSERT(memcmp(g.buf, gz.buf, gz.n) == 0);
	e = img_arcread_get(r, "doc.json");
	IMG_ASSERT(e && e->mem && strcmp(e->mem, " {\"a\": 1}") == 0);
	IMG_ASSERT(e->diff_ok && img_digest_eq(&e->diff, &e->blob));
	e = img_arcread_get(r, "small");   /* not JSON, small = 0: to the sink */
	IMG_ASSERT(e && !e->mem && memcmp(g.buf + gz.n, "hello", 5) == 0);
	IMG_ASSERT_EQ_INT(g.opened, 2);
	IMG_ASSERT_EQ_INT(g.done, 2);
	img_arcread_free(r);

	/* a plain sink: the big gzip layer's bytes decompressed (the digests as before),
	 * the small file's as stored */
	sink.plain = 1;
	free(g.buf);
	memset(&g, 0, sizeof g);
	fd = mktar(t, 3, 0);
	r = read_tar(fd, &o);
	close(fd);
	IMG_ASSERT(r);
	e = img_arcread_get(r, "layer.gz");
	IMG_ASSERT(img_digest_eq(&e->blob, &want_blob));
	IMG_ASSERT(e->diff_ok && img_digest_eq(&e->diff, &want_diff));
	IMG_ASSERT_EQ_INT(g.big, 1);
	IMG_ASSERT_EQ_INT(g.n, big + 5);
	IMG_ASSERT(memcmp(g.buf, plain, big) == 0 && memcmp(g.buf + big, "hello", 5) == 0);
	img_arcread_free(r);
	/* and a big uncompressed one as stored */
	struct tent u[] = { { "layer", 'f', plain, big } };
	g.n = 0;
	fd = mktar(u, 1, 0);
	r = read_tar(fd, &o);
	close(fd);
	IMG_ASSERT(r);
	IMG_ASSERT(img_digest_eq(&img_arcread_get(r, "layer")->diff, &want_diff));
	IMG_ASSERT_EQ_INT(g.big, 2);
	IMG_ASSERT(g.n == big && memcmp(g.buf, plain, big) == 0);
	img_arcread_free(r);
	sink.plain = 0;

	/* small: kept in memory, whatever it holds; no sink: digests only */
	o.small = 64;
	o.sink = NULL;
	fd = mktar(t, 3, 1);
	r = read_tar(fd, &o);
	close(fd);
	IMG_ASSERT(r);
	e = img_arcread_get(r, "small");
	IMG_ASSERT(e && e->mem && e->memlen == 5 && e->seq == 0);
	IMG_ASSERT(img_digest_eq(&img_arcread_get(r, "layer.gz")->diff, &want_diff));
	img_arcread_free(r);

	free(plain);
	free(gz.buf);
	free(g.buf);
}

static int refuse_open(void *arg, struct img_arcread_ent *e, int big, void **w)
{
	(void)arg;
	(void)e;
	(void)big;
	(void)w;
	img_seterr("no room");
	return -1;
}

TEST(arcread_sink_open_fails)
{
	/* a big entry (the pipeline's) and a small one: the sink's failure is the entry's */
	size_t big = (1 << 20) + 1;
	char *data = xmalloc(big);
	const struct img_arcread_sink sink = { refuse_open, g_write, g_done, NULL, NULL, 0 };
	struct img_arcread_opts o = { .sink = &sink };
	struct img_arcread *r = NULL;
	int fd;

	memset(data, 'x', big);
	for (int k = 0; k < 2; k++) {
		struct tent t[] = { { "blob", 'f', data, k ? 5 : big } };
		fd = mktar(t, 1, 0);
		IMG_ASSERT(fd >= 0);
		IMG_ASSERT_EQ_INT(img_arcread_read(fd, &o, &r), -1);
		close(fd);
		IMG_ASSERT(r == NULL);
		IMG_ASSERT_EQ_STR(img_errmsg(), "blob: no room");
	}
	free(data);
}

TEST(arcread_pass_and_stop)
{
	struct tent t[] = {
		{ "index.json", 'f', "{}", 0 },
		{ "blob", 'f', "not json at all", 0 },
		{ "late.json", 'f', "[1]", 0 },
	};
	struct img_arcread_opts o = { .flags = IMG_ARCREAD_PASS };
	struct img_arcread *r;
	int fd = mktar(t, 3, 0);

	r = read_tar(fd, &o);
	close(fd);
	IMG_ASSERT(r);
	IMG_ASSERT(!img_arcread_get(r, "blob")->hashed);
	IMG_ASSERT_EQ_STR(img_arcread_get(r, "blob")->diff_err, "not read (listing only)");
	IMG_ASSERT(img_arcread_get(r, "late.json")->mem);
	img_arcread_free(r);
}

static int stop_at_blob(void *arg, struct img_arcread *r, struct img_arcread_ent *e)
{
	(void)arg;
	(void)r;
	return strcmp(e->path, "blob") == 0;
}

TEST(arcread_after_stops)
{
	struct tent t[] = {
		{ "a.json", 'f', "{}", 0 },
		{ "blob", 'f', "x", 0 },
		{ "b.json", 'f', "[1]", 0 },
	};
	struct img_arcread_opts o = { .after = stop_at_blob };
	struct img_arcread *r;
	int fd = mktar(t, 3, 0);

	r = read_tar(fd, &o);
	close(fd);
	IMG_ASSERT(r);
	IMG_ASSERT_EQ_INT(img_arcread_count(r), 2);
	IMG_ASSERT(!img_arcread_get(r, "b.json"));
	img_arcread_free(r);
}

/* ---- names and links ---- */

TEST(arcread_links)
{
	struct tent t[] = {
		{ "d", 'd', NULL, 0 },
		{ "d/file", 'f', "F", 0 },
		{ "d/rel", 's', "file", 0 },
		{ "up", 's', "d/../d/./rel", 0 },
		{ "hard", 'h', "d/file", 0 },
		{ "hard2", 'h', "hard", 0 },
		{ "abs", 's', "/etc/passwd", 0 },
		{ "out", 's', "../x", 0 },
		{ "loop1", 's', "loop2", 0 },
		{ "loop2", 's', "loop1", 0 },
		{ "todir", 's', "d", 0 },
		{ "gone", 's', "nothing", 0 },
	};
	struct img_arcread_opts o = { 0 };
	struct img_arcread *r;
	struct img_arcread_ent *f, *e;
	enum img_arcread_why why;
	int fd = mktar(t, sizeof t / sizeof *t, 0);

	r = read_tar(fd, &o);
	close(fd);
	IMG_ASSERT(r);
	f = img_arcread_get(r, "d/file");
	IMG_ASSERT(f && f->type == IMG_ENT_FILE);
	IMG_ASSERT(img_arcread_resolve(r, "d/rel", &why) == f && why == IMG_ARCREAD_OK);
	IMG_ASSERT(img_arcread_resolve(r, "up", &why) == f);
	/* a hard link is an alias of its target, a link to a hard link too */
	e = img_arcread_find(r, "hard2");
	IMG_ASSERT(e && e->type == IMG_ENT_HARDLINK && e->alias == f);
	IMG_ASSERT(img_arcread_get(r, "hard2") == f);
	IMG_ASSERT(!img_arcread_resolve(r, "abs", &why) && why == IMG_ARCREAD_ABSOLUTE);
	IMG_ASSERT(!img_arcread_resolve(r, "out", &why) && why == IMG_ARCREAD_ESCAPES);
	IMG_ASSERT(!img_arcread_resolve(r, "loop1", &why) && why == IMG_ARCREAD_LOOP);
	IMG_ASSERT(!img_arcread_resolve(r, "todir", &why) && why == IMG_ARCREAD_DIR);
	IMG_ASSERT(!img_arcread_resolve(r, "gone", &why) && why == IMG_ARCREAD_MISSING);
	IMG_ASSERT(!img_arcread_resolve(r, "nowhere", &why) && why == IMG_ARCREAD_MISSING);
	img_arcread_free(r);

	char *s = img_arcread_link_join("a/b/c", "../x");
	IMG_ASSERT_EQ_STR(s, "a/x");
	free(s);
	IMG_ASSERT(!img_arcread_link_join("a", "../x"));
	IMG_ASSERT(!img_arcread_link_join("a/b", ""));
	IMG_ASSERT(img_arcread_key("./x//y", 6, "layer", &s) == 0);
	IMG_ASSERT_EQ_STR(s, "x/y");
	free(s);
	IMG_ASSERT(img_arcread_key("../x", 4, "layer", &s) < 0);
	IMG_ASSERT(strstr(img_errmsg(), "manifest.json: layer: path '../x' contains '..'"));
	IMG_ASSERT(img_arcread_key("./", 2, "config", &s) < 0);
	IMG_ASSERT_EQ_STR(img_errmsg(), "manifest.json: config './' names the root");
	IMG_ASSERT(img_arcread_key("a\0b", 3, "layer", &s) < 0);
}

TEST(arcread_refusals)
{
	struct {
		struct tent t[3];
		size_t n;
		int flags;
		const char *msg;
	} c[] = {
		{ { { "x", 'f', "1", 0 }, { "x", 'f', "2", 0 } }, 2, 0, "x: duplicate entry" },
		{ { { "x", 'f', "1", 0 }, { "x", 'f', "2", 0 } }, 2, IMG_ARCREAD_VIEW,
		  "'x': duplicate entry" },
		{ { { "d", 'd', NULL, 0 }, { "d", 'd', NULL, 0 }, { "d/f", 'f', "1", 0 } }, 3, 0, NULL },
		{ { { "h", 'h', "f", 0 }, { "f", 'f', "1", 0 } }, 2, 0,
		  "hard link 'h': target 'f' comes later in the archive" },
		{ { { "h", 'h', "h", 0 } }, 1, 0, "hard link 'h': target 'h' is the link itself" },
		{ { { "d", 'd', NULL, 0 }, { "h", 'h', "d", 0 } }, 2, 0,
		  "hard link 'h': target 'd' is not a file in the archive" },
	};

	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		struct img_arcread_opts o = { .flags = c[i].flags };
		struct img_arcread *r = NULL;
		int fd = mktar(c[i].t, c[i].n, 0), rc;

		rc = img_arcread_read(fd, &o, &r);
		close(fd);
		if (!c[i].msg) {
			IMG_ASSERT(rc == 0 && r);
			img_arcread_free(r);
			continue;
		}
		IMG_ASSERT(rc < 0 && !r);
		IMG_ASSERT_EQ_STR(img_errmsg(), c[i].msg);
	}
}

/* ---- every dialect, in both entry orders ---- */

struct img_fixture {
	char *layer, *config, *manifest;
	size_t layer_len;
	struct img_digest l, c, m;
};

static void fixture(struct img_fixture *f, const char *os_arch)
{
	char os[16], arch[16];

	sscanf(os_arch, "%15[^/]/%15s", os, arch);
	f->layer = mklayer("hello.txt", os_arch, &f->layer_len);
	img_digest_buf(f->layer, f->layer_len, &f->l);
	f->config = xasprintf("{\"architecture\":\"%s\",\"os\":\"%s\",\"rootfs\":{\"type\":"
	                      "\"layers\",\"diff_ids\":[\"%s\"]}}", arch, os, f->l.str);
	img_digest_buf(f->config, strlen(f->config), &f->c);
	f->manifest = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
	                        "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
	                        "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
	                        "\"size\":%zu}]}", IMG_MT_OCI_MANIFEST, IMG_MT_OCI_CONFIG,
	                        f->c.str, strlen(f->config), IMG_MT_OCI_LAYER, f->l.str,
	                        f->layer_len);
	img_digest_buf(f->manifest, strlen(f->manifest), &f->m);
}

static void fixture_free(struct img_fixture *f)
{
	free(f->layer);
	free(f->config);
	free(f->manifest);
}

static char *bp(const struct img_digest *d)
{
	return img_digest_blobpath(d);
}

/* Load (as --check does) the archive of t in both orders: the images must be the same.
 * Returns the first order's result in L (release it). 0 or -1. */
static int load_both(struct tent *t, size_t n, struct img_arcload *L, const char *name,
                     const struct img_digest *config)
{
	for (int rev = 0; rev < 2; rev++) {
		struct img_arcread_opts o = { .small = 64 << 10 };
		struct img_arcload l = { 0 };
		struct img_arcread *r;
		int fd = mktar(t, n, rev);

		r = read_tar(fd, &o);
		close(fd);
		if (!r)
			return -1;
		if (img_arcload_resolve(&l, r) < 0) {
			printf("# rev %d: %s\n", rev, img_errmsg());
			img_arcread_free(r);
			return -1;
		}
		if (l.nimgs != 1 || !l.imgs[0].has_config ||
		    !img_digest_eq(&l.imgs[0].config, config) ||
		    (name && (l.imgs[0].nnames != 1 || strcmp(l.imgs[0].names[0], name)))) {
			printf("# rev %d: %zu images, names %s\n", rev, l.nimgs,
			       l.nimgs && l.imgs[0].nnames ? l.imgs[0].names[0] : "-");
			img_arcload_release(&l);
			img_arcread_free(r);
			return -1;
		}
		/* the blobs used are marked */
		int used = 0;
		for (size_t i = 0; i < img_arcread_count(r); i++)
			used += !!(img_arcread_ent(r, i)->user & IMG_ARCLOAD_USED);
		if (used < 2) {
			printf("# rev %d: %d entries used\n", rev, used);
			img_arcload_release(&l);
			img_arcread_free(r);
			return -1;
		}
		if (rev == 0)
			*L = l;
		else
			img_arcload_release(&l);
		img_arcread_free(r);
	}
	return 0;
}

TEST(arcload_dialects)
{
	struct img_fixture f;
	struct img_arcload L;
	char *mj, *ij, *pm = NULL, *pc = NULL, *pl = NULL;

	fixture(&f, "linux/amd64");
	pm = bp(&f.m);
	pc = bp(&f.c);
	pl = bp(&f.l);

	/* docker save, legacy: <id>/layer.tar behind a symlink, <id>.json config */
	mj = xasprintf("[{\"Config\":\"c.json\",\"RepoTags\":[\"a/b:1\"],"
	               "\"Layers\":[\"./l1/layer.tar\"]}]");
	{
		struct tent t[] = {
			{ "c.json", 'f', f.config, 0 },
			{ "l0", 'd', NULL, 0 },
			{ "l0/layer.tar", 'f', f.layer, f.layer_len },
			{ "l1", 'd', NULL, 0 },
			{ "l1/layer.tar", 's', "../l0/layer.tar", 0 },
			{ "manifest.json", 'f', mj, 0 },
		};
		IMG_ASSERT(load_both(t, 6, &L, "docker.io/a/b:1", &f.c) == 0);
		IMG_ASSERT(L.imgs[0].synth != NULL);   /* an OCI manifest made for it */
		img_arcload_release(&L);
	}
	free(mj);

	/* jib: lower-case keys */
	mj = xasprintf("[{\"config\":\"c.json\",\"repoTags\":[\"a/b:2\"],\"layers\":[\"l.tar\"]}]");
	{
		struct tent t[] = {
			{ "c.json", 'f', f.config, 0 },
			{ "l.tar", 'f', f.layer, f.layer_len },
			{ "manifest.json", 'f', mj, 0 },
		};
		IMG_ASSERT(load_both(t, 3, &L, "docker.io/a/b:2", &f.c) == 0);
		img_arcload_release(&L);
	}
	free(mj);

	/* an OCI layout tar: the name in ref.name */
	ij = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":"
	               "\"%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":"
	               "\"quay.io/x/y:3\"}}]}", IMG_MT_OCI_MANIFEST, f.m.str, strlen(f.manifest));
	{
		struct tent t[] = {
			{ "oci-layout", 'f', "{\"imageLayoutVersion\":\"1.0.0\"}", 0 },
			{ "index.json", 'f', ij, 0 },
			{ pm, 'f', f.manifest, 0 },
			{ pc, 'f', f.config, 0 },
			{ pl, 'f', f.layer, f.layer_len },
		};
		IMG_ASSERT(load_both(t, 5, &L, "quay.io/x/y:3", &f.c) == 0);
		IMG_ASSERT(img_digest_eq(&L.imgs[0].top, &f.m) && !L.imgs[0].synth);
		img_arcload_release(&L);
	}
	free(ij);

	/* Docker 25+: "manifests": null, manifest.json names blobs/ paths */
	ij = xstrdup("{\"schemaVersion\":2,\"manifests\":null}");
	mj = xasprintf("[{\"Config\":\"%s\",\"RepoTags\":null,\"Layers\":[\"%s\"]}]", pc, pl);
	{
		struct tent t[] = {
			{ "index.json", 'f', ij, 0 },
			{ "manifest.json", 'f', mj, 0 },
			{ pc, 'f', f.config, 0 },
			{ pl, 'f', f.layer, f.layer_len },
		};
		IMG_ASSERT(load_both(t, 4, &L, NULL, &f.c) == 0);
		IMG_ASSERT_EQ_INT(L.imgs[0].nnames, 0);
		img_arcload_release(&L);
	}
	free(ij);
	free(mj);

	/* a delta archive: the layer left out, declared with its size (--allow-missing) */
	ij = xasprintf("{\"schemaVersion\":2,\"annotations\":{\"org.img.delta.missing\":\"%s=%zu\"},"
	               "\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
	               f.l.str, f.layer_len, IMG_MT_OCI_MANIFEST, f.m.str, strlen(f.manifest));
	{
		struct tent t[] = {
			{ "index.json", 'f', ij, 0 },
			{ pm, 'f', f.manifest, 0 },
			{ pc, 'f', f.config, 0 },
		};
		struct img_arcread_opts o = { 0 };
		struct img_arcload l = { 0 };
		struct img_arcread *r;
		int fd = mktar(t, 3, 1);
		r = read_tar(fd, &o);
		close(fd);
		IMG_ASSERT(r);
		IMG_ASSERT(img_arcload_resolve(&l, r) < 0);
		IMG_ASSERT(strstr(img_errmsg(), "--allow-missing accepts that"));
		img_arcload_release(&l);
		l = (struct img_arcload){ .allow_missing = 1 };
		IMG_ASSERT(img_arcload_resolve(&l, r) == 0);
		IMG_ASSERT_EQ_INT(l.nimgs, 1);
		IMG_ASSERT(json_is_true(json_object_get(json_array_get(l.imgs[0].layers, 0),
		                                        "leftOut")));
		img_arcload_release(&l);
		img_arcread_free(r);
	}
	free(ij);
	free(pm);
	free(pc);
	free(pl);
	fixture_free(&f);
}

static void notice(void *arg, const char *msg)
{
	char **out = arg;

	free(*out);
	*out = xstrdup(msg);
}

/* A containerd export of one platform: the index names two, the archive holds one. */
TEST(arcload_partial_index)
{
	struct img_fixture a, b;
	char *idx, *ij, *pi, *pm, *pc, *pl, *said = NULL;
	struct img_digest di;

	fixture(&a, "linux/amd64");
	fixture(&b, "linux/s390x");
	idx = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
	                "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
	                "{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
	                "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
	                "{\"os\":\"linux\",\"architecture\":\"s390x\"}}]}", IMG_MT_OCI_INDEX,
	                IMG_MT_OCI_MANIFEST, a.m.str, strlen(a.manifest),
	                IMG_MT_OCI_MANIFEST, b.m.str, strlen(b.manifest));
	img_digest_buf(idx, strlen(idx), &di);
	ij = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":"
	               "\"%s\",\"size\":%zu,\"annotations\":{\"io.containerd.image.name\":"
	               "\"docker.io/library/t:1\"}}]}", IMG_MT_OCI_INDEX, di.str, strlen(idx));
	pi = bp(&di);
	{
		/* the host's platform is the one present, whatever the host: amd64 or s390x */
		struct img_platform host;
		struct img_fixture *h;
		img_image_platform_host(&host);
		h = strcmp(host.arch, "s390x") == 0 ? &b : &a;
		pm = bp(&h->m);
		pc = bp(&h->c);
		pl = bp(&h->l);
		struct tent t[] = {
			{ "index.json", 'f', ij, 0 },
			{ pi, 'f', idx, 0 },
			{ pm, 'f', h->manifest, 0 },
			{ pc, 'f', h->config, 0 },
			{ pl, 'f', h->layer, h->layer_len },
		};
		for (int rev = 0; rev < 2; rev++) {
			struct img_arcread_opts o = { 0 };
			struct img_arcload l = { .notice = notice, .notice_arg = &said };
			struct img_arcread *r;
			int fd = mktar(t, 5, rev);
			r = read_tar(fd, &o);
			close(fd);
			IMG_ASSERT(r);
			if (img_arcload_resolve(&l, r) < 0)
				printf("# %s\n", img_errmsg());
			IMG_ASSERT_EQ_INT(l.nimgs, 1);
			IMG_ASSERT(img_digest_eq(&l.imgs[0].top, &h->m));
			IMG_ASSERT_EQ_STR(l.imgs[0].names[0], "docker.io/library/t:1");
			IMG_ASSERT(said && strstr(said, "left out, not in the archive: linux/"));
			img_arcload_release(&l);
			img_arcread_free(r);
		}
		free(pm);
		free(pc);
		free(pl);
	}
	free(said);
	free(pi);
	free(idx);
	free(ij);
	fixture_free(&a);
	fixture_free(&b);
}
