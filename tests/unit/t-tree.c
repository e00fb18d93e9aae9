/* Unit tests of common/tree.c: the layer merge rules (formats.md §5). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"
#include "layer.h"
#include "arcout.h"
#include "util.h"
#include "digest.h"
#include "tree.h"

static struct img_tree_rec rec(enum img_tree_kind k, const char *path, enum img_ent_type type)
{
	struct img_tree_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = k;
	r.path = path;
	r.type = type;
	r.mode = type == IMG_ENT_DIR ? 0755 : 0644;
	return r;
}

static int add_dir(struct img_tree *t, const char *path)
{
	struct img_tree_rec r = rec(IMG_TREE_ENTRY, path, IMG_ENT_DIR);
	return img_tree_apply(t, &r);
}

static int add_file(struct img_tree *t, const char *path, const char *content)
{
	struct img_tree_rec r = rec(IMG_TREE_ENTRY, path, IMG_ENT_FILE);
	r.size = (int64_t)strlen(content);
	r.has_content = 1;
	img_digest_buf(content, strlen(content), &r.content);
	return img_tree_apply(t, &r);
}

static int add_link(struct img_tree *t, const char *path, const char *target)
{
	struct img_tree_rec r = rec(IMG_TREE_ENTRY, path, IMG_ENT_HARDLINK);
	r.link = target;
	return img_tree_apply(t, &r);
}

static int whiteout(struct img_tree *t, const char *path)
{
	struct img_tree_rec r = rec(IMG_TREE_WHITEOUT, path, IMG_ENT_OTHER);
	return img_tree_apply(t, &r);
}

static int opaque(struct img_tree *t, const char *path)
{
	struct img_tree_rec r = rec(IMG_TREE_OPAQUE, path, IMG_ENT_DIR);
	return img_tree_apply(t, &r);
}

static int has_content(const struct img_tree *t, const char *path, const char *content)
{
	const struct img_tree_node *n = img_tree_get(t, path);
	struct img_digest d, c;

	if (!n || n->ino->type != IMG_ENT_FILE || !n->ino->has_content)
		return 0;
	img_digest_buf(content, strlen(content), &d);
	img_tree_inode_content(n->ino, &c);
	return img_digest_eq(&d, &c);
}

/* "a b c" of the sorted names */
static char *names(const struct img_tree *t)
{
	const struct img_tree_node **v;
	size_t n = img_tree_sorted(t, &v);
	char *s = xstrdup("");

	for (size_t i = 0; i < n; i++) {
		char *x = xasprintf("%s%s%s", s, i ? " " : "", v[i]->path);
		free(s);
		s = x;
	}
	free(v);
	return s;
}

#define NAMES_EQ(t, want) do { char *_s = names(t); int _ok = strcmp(_s, want) == 0; \
	if (!_ok) printf("# names: \"%s\", expected \"%s\"\n", _s, want); \
	free(_s); \
	IMG_ASSERT(_ok); } while (0)

TEST(tree_implicit_parents)
{
	struct img_tree *t = img_tree_new();
	const struct img_tree_node *n;

	img_tree_layer_begin(t, 0);
	IMG_ASSERT_EQ_INT(add_file(t, "a/b/c.txt", "x"), 0);
	img_tree_layer_end(t);
	NAMES_EQ(t, "a a/b a/b/c.txt");
	n = img_tree_get(t, "a/b");
	IMG_ASSERT(n && n->ino->type == IMG_ENT_DIR && n->ino->implicit);
	IMG_ASSERT_EQ_INT(n->ino->mode, 0755);
	IMG_ASSERT_EQ_INT(img_tree_count(t), 3);
	img_tree_free(t);
}

TEST(tree_whiteout)
{
	struct img_tree *t = img_tree_new();

	img_tree_layer_begin(t, 0);
	add_dir(t, "d");
	add_file(t, "d/x", "1");
	add_dir(t, "d/sub");
	add_file(t, "d/sub/y", "2");
	add_file(t, "keep", "k");
	img_tree_layer_end(t);
	img_tree_layer_begin(t, 1);
	IMG_ASSERT_EQ_INT(whiteout(t, "d/sub"), 0);   /* whole subtree */
	IMG_ASSERT_EQ_INT(whiteout(t, "nothing"), 0); /* hides nothing: fine */
	/* a whiteout never removes what its own layer added, even when it comes later */
	add_file(t, "d/new", "n");
	IMG_ASSERT_EQ_INT(whiteout(t, "d/new"), 0);
	img_tree_layer_end(t);
	NAMES_EQ(t, "d d/new d/x keep");
	img_tree_layer_begin(t, 2);
	whiteout(t, "d/new");
	img_tree_layer_end(t);
	NAMES_EQ(t, "d d/x keep");
	img_tree_free(t);
}

TEST(tree_opaque_same_layer)
{
	struct img_tree *t = img_tree_new();
	const struct img_tree_node *n;

	img_tree_layer_begin(t, 0);
	add_dir(t, "opt");
	add_dir(t, "opt/old");
	add_file(t, "opt/old/x.txt", "x");
	add_dir(t, "opt/old/sub");
	add_file(t, "opt/old/sub/a", "a");
	img_tree_layer_end(t);
	img_tree_layer_begin(t, 1);
	/* entries before the marker in the same layer survive it, the lower ones do not */
	add_file(t, "opt/old/z.txt", "z");
	add_file(t, "opt/old/sub/b", "b");
	IMG_ASSERT_EQ_INT(opaque(t, "opt/old"), 0);
	add_file(t, "opt/old/w.txt", "w");
	img_tree_layer_end(t);
	NAMES_EQ(t, "opt opt/old opt/old/sub opt/old/sub/b opt/old/w.txt opt/old/z.txt");
	n = img_tree_get(t, "opt/old");
	IMG_ASSERT(n && n->ino->type == IMG_ENT_DIR);
	/* opaque on a directory that did not exist creates it */
	img_tree_layer_begin(t, 2);
	opaque(t, "new/dir");
	img_tree_layer_end(t);
	IMG_ASSERT(img_tree_get(t, "new/dir") != NULL);
	img_tree_free(t);
}

TEST(tree_hardlink_target_replaced)
{
	struct img_tree *t = img_tree_new();
	const struct img_tree_node *a, *b;

	img_tree_layer_begin(t, 0);
	add_file(t, "c.txt", "old");
	IMG_ASSERT_EQ_INT(add_link(t, "c-link.txt", "c.txt"), 0);
	a = img_tree_get(t, "c.txt");
	b = img_tree_get(t, "c-link.txt");
	IMG_ASSERT(a && b && a->ino == b->ino);
	IMG_ASSERT_EQ_INT(a->ino->nlink, 2);
	img_tree_layer_end(t);
	/* a later layer replaces the target: the link keeps the old inode and content */
	img_tree_layer_begin(t, 1);
	add_file(t, "c.txt", "new");
	img_tree_layer_end(t);
	IMG_ASSERT(has_content(t, "c.txt", "new"));
	IMG_ASSERT(has_content(t, "c-link.txt", "old"));
	b = img_tree_get(t, "c-link.txt");
	IMG_ASSERT_EQ_INT(b->ino->nlink, 1);
	IMG_ASSERT_EQ_STR(b->ino->origin, "c.txt");
	/* a link across layers resolves in the tree so far; whiting out the target keeps it */
	img_tree_layer_begin(t, 2);
	IMG_ASSERT_EQ_INT(add_link(t, "d", "c.txt"), 0);
	whiteout(t, "c.txt");
	img_tree_layer_end(t);
	IMG_ASSERT(has_content(t, "d", "new"));
	img_tree_layer_begin(t, 3);
	whiteout(t, "c.txt");
	img_tree_layer_end(t);
	NAMES_EQ(t, "c-link.txt d");
	IMG_ASSERT(has_content(t, "d", "new"));
	/* a link to a missing target or a directory is an error */
	img_tree_layer_begin(t, 4);
	IMG_ASSERT_EQ_INT(add_link(t, "e", "missing"), -1);
	add_dir(t, "dir");
	IMG_ASSERT_EQ_INT(add_link(t, "f", "dir"), -1);
	img_tree_layer_end(t);
	img_tree_free(t);
}

TEST(tree_dir_file_dir)
{
	struct img_tree *t = img_tree_new();
	const struct img_tree_node *n;

	img_tree_layer_begin(t, 0);
	add_dir(t, "x");
	add_file(t, "x/a", "a");
	add_file(t, "x/b", "b");
	img_tree_layer_end(t);
	img_tree_layer_begin(t, 1);
	add_file(t, "x", "now a file");    /* replaces the whole directory */
	img_tree_layer_end(t);
	NAMES_EQ(t, "x");
	IMG_ASSERT(has_content(t, "x", "now a file"));
	img_tree_layer_begin(t, 2);
	add_dir(t, "x");                    /* and back: empty, the old children stay gone */
	add_file(t, "x/c", "c");
	img_tree_layer_end(t);
	NAMES_EQ(t, "x x/c");
	n = img_tree_get(t, "x");
	IMG_ASSERT(n && n->ino->type == IMG_ENT_DIR && n->layer == 2);
	/* a file in the way of a parent is replaced by an implicit directory */
	img_tree_layer_begin(t, 3);
	add_file(t, "f", "f");
	img_tree_layer_end(t);
	img_tree_layer_begin(t, 4);
	add_file(t, "f/g", "g");
	img_tree_layer_end(t);
	NAMES_EQ(t, "f f/g x x/c");
	img_tree_free(t);
}

static uint64_t removed_bytes[8];
static void on_removed(void *arg, const struct img_tree_node *n, int last, int layer)
{
	(void)arg; (void)layer;
	if (last && n->ino->type == IMG_ENT_FILE)
		removed_bytes[n->ino->layer] += (uint64_t)n->ino->size;
}

TEST(tree_clone_and_removed)
{
	struct img_tree *t = img_tree_new(), *c;

	memset(removed_bytes, 0, sizeof(removed_bytes));
	img_tree_set_removed(t, on_removed, NULL);
	img_tree_layer_begin(t, 0);
	add_file(t, "a", "12345");
	add_link(t, "b", "a");
	add_file(t, "c", "123");
	img_tree_layer_end(t);
	c = img_tree_clone(t);
	img_tree_layer_begin(t, 1);
	whiteout(t, "a");                    /* b still holds the inode: nothing wasted yet */
	add_file(t, "c", "x");
	img_tree_layer_end(t);
	IMG_ASSERT_EQ_INT(removed_bytes[0], 3);
	img_tree_layer_begin(t, 2);
	whiteout(t, "b");
	img_tree_layer_end(t);
	IMG_ASSERT_EQ_INT(removed_bytes[0], 8);
	/* the clone is independent and keeps its hard link */
	NAMES_EQ(c, "a b c");
	IMG_ASSERT(img_tree_get(c, "a")->ino == img_tree_get(c, "b")->ino);
	IMG_ASSERT_EQ_INT(img_tree_get(c, "a")->ino->nlink, 2);
	NAMES_EQ(t, "c");
	img_tree_free(c);
	img_tree_free(t);
}

/* ---- reading layers ---- */

static int fd_sink(void *arg, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(*(int *)arg, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int comp_sink(void *arg, const void *buf, size_t n)
{
	return img_comp_enc_write(arg, buf, n);
}

#define BIG_SIZE (3 * 1024 * 1024 + 7)

static unsigned char *big_data(void)
{
	unsigned char *b = malloc(BIG_SIZE);
	uint32_t x = 12345;
	for (size_t i = 0; i < BIG_SIZE; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 24);
	}
	return b;
}

/* A layer (dir/, dir/hello.txt, dir/big of BIG_SIZE random bytes, a whiteout of old)
 * compressed with c, in the test directory under name. Open fd or -1. */
static int make_layer(enum img_comp c, const char *name, size_t cut)
{
	char path[4096];
	int fd;
	struct img_compw *w = NULL;
	struct img_arcout *o;
	unsigned char *big = big_data();

	snprintf(path, sizeof(path), "%s/%s", img_test_tmpdir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	if (c == IMG_COMP_NONE) {
		o = img_arcout_new_fd(fd, 1000);
	} else {
		w = img_comp_enc_new(c, -1, fd_sink, &fd);
		o = img_arcout_new_sink(comp_sink, w, 1000);
	}
	if (!o || img_arcout_dir(o, "dir") < 0 ||
	    img_arcout_buf(o, "dir/hello.txt", "hello\n", 6, 0644) < 0 ||
	    img_arcout_file(o, "dir/big", BIG_SIZE, 0644) < 0 ||
	    img_arcout_data(o, big, BIG_SIZE) < 0 ||
	    img_arcout_buf(o, ".wh.old", "", 0, 0644) < 0 || img_arcout_close(o) < 0 ||
	    (w && img_comp_enc_finish(w) < 0)) {
		close(fd);
		fd = -1;
	}
	img_arcout_free(o);
	img_comp_enc_free(w);
	free(big);
	if (fd >= 0 && cut && ftruncate(fd, (off_t)cut) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		lseek(fd, 0, SEEK_SET);
	return fd;
}

TEST(tree_pathset)
{
	struct img_pathset *s = img_tree_read_pathset_new();
	char buf[32];

	IMG_ASSERT_EQ_INT(img_tree_read_pathset_add(s, "a/b/c", 1), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_pathset_add(s, "a/b/c", 1), 0);
	IMG_ASSERT(img_tree_read_pathset_has(s, "a") && img_tree_read_pathset_has(s, "a/b") && img_tree_read_pathset_has(s, "a/b/c"));
	IMG_ASSERT(!img_tree_read_pathset_has(s, "") && !img_tree_read_pathset_has(s, "a/b/c/d") && !img_tree_read_pathset_has(s, "b"));
	IMG_ASSERT_EQ_INT(img_tree_read_pathset_add(s, "x/y", 0), 1);
	IMG_ASSERT(!img_tree_read_pathset_has(s, "x"));
	for (int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "f%d", i);
		img_tree_read_pathset_add(s, buf, 1);
	}
	IMG_ASSERT_EQ_INT(img_tree_read_pathset_count(s), 1004);
	IMG_ASSERT(img_tree_read_pathset_has(s, "f999") && img_tree_read_pathset_has(s, "a/b"));
	img_tree_read_pathset_free(s);
}

struct seen { int files, hashed, whiteouts; struct img_digest big; int64_t big_size; int big_hashed; };

static int see(void *arg, const struct img_tree_rec *r)
{
	struct seen *s = arg;

	if (r->kind == IMG_TREE_WHITEOUT && strcmp(r->path, "old") == 0)
		s->whiteouts++;
	if (r->kind == IMG_TREE_ENTRY && r->type == IMG_ENT_FILE) {
		s->files++;
		s->hashed += r->has_content;
		if (strcmp(r->path, "dir/big") == 0) {
			s->big = r->content;
			s->big_size = r->size;
			s->big_hashed = r->has_content;
		}
	}
	return 0;
}

TEST(tree_scan_layer_selected_hashes)
{
	static const enum img_comp comps[] = { IMG_COMP_GZIP, IMG_COMP_ZSTD, IMG_COMP_NONE };
	unsigned char *big = big_data();
	struct img_digest want;
	struct img_pathset *only_hello = img_tree_read_pathset_new(), *only_big = img_tree_read_pathset_new();

	img_digest_buf(big, BIG_SIZE, &want);
	free(big);
	img_tree_read_pathset_add(only_hello, "dir/hello.txt", 1);
	img_tree_read_pathset_add(only_big, "dir/big", 1);
	for (size_t i = 0; i < 3; i++) {
		struct seen s;
		int fd = make_layer(comps[i], "l", 0);
		IMG_ASSERT(fd >= 0);
		memset(&s, 0, sizeof(s));
		IMG_ASSERT_EQ_INT(img_tree_read_scan_layer(fd, see, &s), 0);
		IMG_ASSERT_EQ_INT(s.files, 2);
		IMG_ASSERT_EQ_INT(s.hashed, 2);
		IMG_ASSERT_EQ_INT(s.whiteouts, 1);
		IMG_ASSERT(img_digest_eq(&s.big, &want));
		IMG_ASSERT_EQ_INT(s.big_size, BIG_SIZE);
		/* the big file skipped: no hash, the size from its header */
		memset(&s, 0, sizeof(s));
		lseek(fd, 0, SEEK_SET);
		IMG_ASSERT_EQ_INT(img_tree_read_scan_layer_sel(fd, only_hello, see, &s), 0);
		IMG_ASSERT_EQ_INT(s.files, 2);
		IMG_ASSERT_EQ_INT(s.hashed, 1);
		IMG_ASSERT_EQ_INT(s.big_hashed, 0);
		IMG_ASSERT_EQ_INT(s.big_size, BIG_SIZE);
		IMG_ASSERT_EQ_INT(s.whiteouts, 1);
		memset(&s, 0, sizeof(s));
		lseek(fd, 0, SEEK_SET);
		IMG_ASSERT_EQ_INT(img_tree_read_scan_layer_sel(fd, only_big, see, &s), 0);
		IMG_ASSERT_EQ_INT(s.hashed, 1);
		IMG_ASSERT(img_digest_eq(&s.big, &want));
		close(fd);
	}
	img_tree_read_pathset_free(only_hello);
	img_tree_read_pathset_free(only_big);
}

TEST(tree_scan_layer_truncated_and_garbage)
{
	static const enum img_comp comps[] = { IMG_COMP_GZIP, IMG_COMP_ZSTD, IMG_COMP_NONE };
	struct seen s;
	int fd;

	for (size_t i = 0; i < 3; i++) {
		fd = make_layer(comps[i], "cut", 100000);
		IMG_ASSERT(fd >= 0);
		memset(&s, 0, sizeof(s));
		IMG_ASSERT_EQ_INT(img_tree_read_scan_layer(fd, see, &s), -1);
		IMG_ASSERT_EQ_STR(img_errmsg(), "truncated archive");
		/* skipping the data does not hide the end */
		lseek(fd, 0, SEEK_SET);
		struct img_pathset *none = img_tree_read_pathset_new();
		int r = img_tree_read_scan_layer_sel(fd, none, see, &s);
		img_tree_read_pathset_free(none);
		IMG_ASSERT_EQ_INT(r, -1);
		IMG_ASSERT_EQ_STR(img_errmsg(), "truncated archive");
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY);
	IMG_ASSERT_EQ_INT(img_tree_read_scan_layer(fd, see, &s), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "not a tar archive (empty input)");
	close(fd);
}

TEST(tree_read_layers_parallel)
{
	struct img_tree_job jobs[4];
	struct img_tree *t = img_tree_new();
	struct img_pathset *want = img_tree_read_pathset_new(), *more = img_tree_read_pathset_new();
	int fds[4];

	fds[0] = make_layer(IMG_COMP_GZIP, "a", 0);
	fds[1] = make_layer(IMG_COMP_ZSTD, "b", 0);
	fds[2] = make_layer(IMG_COMP_NONE, "c", 0);
	fds[3] = make_layer(IMG_COMP_GZIP, "d", 3000);
	for (int i = 0; i < 4; i++) {
		IMG_ASSERT(fds[i] >= 0);
		jobs[i].fd = fds[i];
		jobs[i].hash = i == 1 ? want : NULL;
	}
	img_tree_read_pathset_add(want, "dir/hello.txt", 1);
	IMG_ASSERT_EQ_INT(img_tree_read_layers(jobs, 4, 3), -1);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	IMG_ASSERT(jobs[3].err && !jobs[3].out);
	IMG_ASSERT_EQ_STR(jobs[3].err, "truncated archive");
	for (int i = 0; i < 3; i++) {
		IMG_ASSERT(jobs[i].out && !jobs[i].err);
		IMG_ASSERT_EQ_INT(img_tree_read_layer_count(jobs[i].out), 4);
		IMG_ASSERT_EQ_STR(img_tree_read_layer_rec(jobs[i].out, 2)->path, "dir/big");
		IMG_ASSERT_EQ_INT(img_tree_read_layer_rec(jobs[i].out, 2)->has_content, i != 1);
	}
	/* what a layer touches: entries with parents, not whiteout targets */
	img_tree_read_layer_paths(jobs[0].out, more);
	IMG_ASSERT(img_tree_read_pathset_has(more, "dir") && img_tree_read_pathset_has(more, "dir/big") &&
	           !img_tree_read_pathset_has(more, "old"));
	IMG_ASSERT_EQ_INT(img_tree_read_apply_layer(t, 0, jobs[1].out), 0);
	IMG_ASSERT(img_tree_get(t, "dir/big") && !img_tree_get(t, "dir/big")->ino->has_content);
	/* dir/big was wanted but skipped: where its data lies is reported, once */
	img_tree_read_pathset_add(want, "dir/big", 1);
	img_tree_read_pathset_free(more);
	more = img_tree_read_pathset_new();
	IMG_ASSERT_EQ_INT(img_tree_read_unhashed(t, want, more), 1);
	IMG_ASSERT(img_tree_read_pathset_has(more, "dir/big"));
	IMG_ASSERT_EQ_INT(img_tree_read_unhashed(t, want, more), 0);
	for (int i = 0; i < 4; i++) {
		img_tree_read_layer_free(jobs[i].out);
		free(jobs[i].err);
	}
	img_tree_read_pathset_free(want);
	img_tree_read_pathset_free(more);
	img_tree_free(t);
}

/* ---- a layer read as its bytes are written ---- */

/* The whole file on fd, from its start. */
static unsigned char *slurp(int fd, size_t *n)
{
	size_t cap = 1 << 16;
	unsigned char *b = xmalloc(cap);
	ssize_t k;

	*n = 0;
	lseek(fd, 0, SEEK_SET);
	while ((k = read(fd, b + *n, cap - *n)) > 0) {
		*n += (size_t)k;
		if (*n == cap)
			b = xrealloc(b, cap *= 2);
	}
	return b;
}

/* Write buf to the feed in pieces of step bytes (the last one shorter). */
static int feed_all(struct img_tree_feed *f, const unsigned char *buf, size_t n, size_t step)
{
	for (size_t o = 0; o < n; o += step)
		if (img_tree_read_feed_write(f, buf + o, n - o < step ? n - o : step) < 0)
			return -1;
	return 0;
}

TEST(tree_feed_layers)
{
	static const enum img_comp comps[] = { IMG_COMP_GZIP, IMG_COMP_ZSTD, IMG_COMP_NONE };
	static const size_t steps[] = { 1 << 20, 4093, 9 << 20 };
	unsigned char *big = big_data();
	struct img_digest want;
	struct img_tree_feed *f = img_tree_read_feed_new(1), *g = img_tree_read_feed_new(0);
	struct img_tree_layer *l;
	char *err;

	IMG_ASSERT(f && g);
	img_digest_buf(big, BIG_SIZE, &want);
	free(big);
	/* one feed, layer after layer: every compression, written in small and big pieces */
	for (size_t i = 0; i < 3; i++) {
		size_t n;
		int fd = make_layer(comps[i], "l", 0);
		unsigned char *b;
		struct seen s;
		IMG_ASSERT(fd >= 0);
		b = slurp(fd, &n);
		close(fd);
		img_tree_read_feed_begin(f);
		IMG_ASSERT_EQ_INT(feed_all(f, b, n, steps[i]), 0);
		img_tree_read_feed_end(f, &l, &err);
		IMG_ASSERT(l && !err);
		memset(&s, 0, sizeof(s));
		IMG_ASSERT_EQ_INT(img_tree_read_layer_each(l, see, &s), 0);
		IMG_ASSERT_EQ_INT(s.files, 2);
		IMG_ASSERT_EQ_INT(s.hashed, 2);
		IMG_ASSERT_EQ_INT(s.whiteouts, 1);
		IMG_ASSERT(img_digest_eq(&s.big, &want));
		IMG_ASSERT_EQ_INT(s.big_size, BIG_SIZE);
		img_tree_read_layer_free(l);
		/* without hashes: the data skipped, sizes from the headers */
		img_tree_read_feed_begin(g);
		IMG_ASSERT_EQ_INT(feed_all(g, b, n, 65536), 0);
		img_tree_read_feed_end(g, &l, &err);
		IMG_ASSERT(l && !err);
		memset(&s, 0, sizeof(s));
		IMG_ASSERT_EQ_INT(img_tree_read_layer_each(l, see, &s), 0);
		IMG_ASSERT_EQ_INT(s.files, 2);
		IMG_ASSERT_EQ_INT(s.hashed, 0);
		IMG_ASSERT_EQ_INT(s.big_size, BIG_SIZE);
		img_tree_read_layer_free(l);
		free(b);
	}
	img_tree_read_feed_free(f);
	img_tree_read_feed_free(g);
}

TEST(tree_feed_not_layers)
{
	struct img_tree_feed *f = img_tree_read_feed_new(1);
	unsigned char *junk = xcalloc(1, 6 << 20), *b;
	struct img_tree_layer *l;
	struct seen s;
	size_t n;
	char *err;
	int fd;

	IMG_ASSERT(f);
	/* bytes that are no layer (more than the ring holds): taken all the same */
	memcpy(junk, "{\"not\": \"a tar\"}", 16);
	img_tree_read_feed_begin(f);
	IMG_ASSERT_EQ_INT(feed_all(f, junk, 6 << 20, 1 << 20), 0);
	img_tree_read_feed_end(f, &l, &err);
	IMG_ASSERT(l && err);
	IMG_ASSERT_EQ_STR(err, "not a tar archive");
	IMG_ASSERT_EQ_INT(img_tree_read_layer_count(l), 0);
	img_tree_read_layer_free(l);
	free(err);
	/* nothing at all */
	img_tree_read_feed_begin(f);
	img_tree_read_feed_end(f, &l, &err);
	IMG_ASSERT_EQ_STR(err, "not a tar archive (empty input)");
	img_tree_read_layer_free(l);
	free(err);
	/* a truncated layer: the records before the end, and why */
	fd = make_layer(IMG_COMP_GZIP, "cut", 100000);
	IMG_ASSERT(fd >= 0);
	b = slurp(fd, &n);
	close(fd);
	img_tree_read_feed_begin(f);
	IMG_ASSERT_EQ_INT(feed_all(f, b, n, 1000), 0);
	img_tree_read_feed_end(f, &l, &err);
	IMG_ASSERT_EQ_STR(err, "truncated archive");
	memset(&s, 0, sizeof(s));
	IMG_ASSERT_EQ_INT(img_tree_read_layer_each(l, see, &s), 0);
	IMG_ASSERT_EQ_INT(s.files, 1);   /* dir/hello.txt; dir/big is cut */
	img_tree_read_layer_free(l);
	free(err);
	/* a layer followed by more bytes than its tar holds: they are taken, not read */
	fd = make_layer(IMG_COMP_NONE, "l", 0);
	IMG_ASSERT(fd >= 0);
	free(b);
	b = slurp(fd, &n);
	close(fd);
	img_tree_read_feed_begin(f);
	IMG_ASSERT_EQ_INT(feed_all(f, b, n, 1 << 20), 0);
	IMG_ASSERT_EQ_INT(feed_all(f, junk, 6 << 20, 1 << 20), 0);
	img_tree_read_feed_end(f, &l, &err);
	IMG_ASSERT(!err);
	IMG_ASSERT_EQ_INT(img_tree_read_layer_count(l), 4);
	img_tree_read_layer_free(l);
	/* a layer abandoned half way (its writer failed), then one freed while begun */
	img_tree_read_feed_begin(f);
	IMG_ASSERT_EQ_INT(feed_all(f, b, n / 2, 4096), 0);
	img_seterr("the caller's");
	img_tree_read_feed_abort(f);
	IMG_ASSERT_EQ_STR(img_errmsg(), "the caller's");
	img_tree_read_feed_begin(f);
	IMG_ASSERT_EQ_INT(feed_all(f, b, n / 3, 4096), 0);
	img_tree_read_feed_free(f);
	free(b);
	free(junk);
}

TEST(tree_cover)
{
	struct img_tree_cover *c = img_tree_read_cover_new();
	struct img_tree_rec r;

	/* layer 1: a file over etc/a, a directory usr/lib (implies usr), a hard link to
	 * etc/h; layer 2: a whiteout of var/x, an opaque opt, a symlink at srv */
	r = rec(IMG_TREE_ENTRY, "etc/a", IMG_ENT_FILE);
	img_tree_read_cover_add(c, 1, &r);
	r = rec(IMG_TREE_ENTRY, "usr/lib", IMG_ENT_DIR);
	img_tree_read_cover_add(c, 1, &r);
	r = rec(IMG_TREE_ENTRY, "bin/l", IMG_ENT_HARDLINK);
	r.link = "etc/h";
	img_tree_read_cover_add(c, 1, &r);
	r = rec(IMG_TREE_WHITEOUT, "var/x", IMG_ENT_OTHER);
	img_tree_read_cover_add(c, 2, &r);
	r = rec(IMG_TREE_OPAQUE, "opt", IMG_ENT_DIR);
	img_tree_read_cover_add(c, 2, &r);
	r = rec(IMG_TREE_ENTRY, "srv", IMG_ENT_SYMLINK);
	img_tree_read_cover_add(c, 2, &r);

	/* a file replaced, by a layer above only */
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "etc/a", 0), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 1, "etc/a", 0), 0);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "etc/b", 0), 0);
	/* what a non-directory replaces goes with all under it; a directory is merged */
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "etc/a/x", 1), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "etc", 1), 0);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "usr/lib", 1), 0);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "usr/lib", 0), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "usr", 0), 1);     /* implied */
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "usr/lib/x", 0), 0);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "bin/l", 1), 1);
	/* a whiteout hides the name and what is under it, not its parent */
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 1, "var/x", 0), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 1, "var/x/y", 0), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 1, "var", 0), 0);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 2, "var/x", 0), 0);
	/* an opaque directory hides what is under it, not itself */
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 1, "opt/a", 0), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 1, "opt/a/b", 1), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 1, "opt", 1), 0);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 1, "opt", 0), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 1, "srv/www/index.html", 0), 1);
	/* hard link targets */
	IMG_ASSERT_EQ_INT(img_tree_read_cover_linked(c, 0, "etc/h"), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_linked(c, 1, "etc/h"), 0);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_linked(c, 0, "bin/l"), 0);
	/* the root: never hidden; an opaque root hides all of a layer below */
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "", 1), 0);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 0, "home", 1), 0);
	r = rec(IMG_TREE_OPAQUE, "", IMG_ENT_DIR);
	img_tree_read_cover_add(c, 3, &r);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 2, "home", 1), 1);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 2, "", 1), 0);
	IMG_ASSERT_EQ_INT(img_tree_read_cover_hides(c, 3, "home", 1), 0);
	img_tree_read_cover_free(c);
}
