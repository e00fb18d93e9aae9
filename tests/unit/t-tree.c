/* Unit tests of common/tree.c: the layer merge rules (formats.md §5). */
#include <stdlib.h>
#include <string.h>
#include "test.h"
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
	struct img_digest d;

	if (!n || n->ino->type != IMG_ENT_FILE || !n->ino->has_content)
		return 0;
	img_digest_buf(content, strlen(content), &d);
	return img_digest_eq(&d, &n->ino->content);
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
