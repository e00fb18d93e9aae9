/* tree: an in-memory flattened filesystem (formats.md §5): path -> entry with metadata and
 * content sha256, built by a forward merge of layers (whiteouts, opaque directories, hard
 * links by inode identity, a directory replaced by a file and back, implicit parents).
 * Nothing is extracted: memory grows with the number of paths, not with the bytes (about
 * 200 bytes a path and its length; common/tree.c says where they go). tree.c is the tree,
 * tree-read.c the reading of layers into records and the sets of paths. */
#ifndef IMG_TREE_H
#define IMG_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "digest.h"
#include "arcin.h"

/* What one layer entry says (a record): a normal entry, a whiteout of path, or an
 * opaque marker of the directory path. */
enum img_tree_kind { IMG_TREE_ENTRY = 0, IMG_TREE_WHITEOUT, IMG_TREE_OPAQUE };

struct img_tree_rec {
	enum img_tree_kind kind;
	const char *path;          /* cleaned, "" is the root; for whiteout/opaque: the target */
	enum img_ent_type type;
	mode_t mode;               /* permission bits incl. setuid/setgid/sticky */
	int64_t uid, gid, size, mtime;
	const char *link;          /* symlink target, or hard link target path; else NULL */
	unsigned devmajor, devminor;
	int has_xattrs;
	struct img_digest xattrs;  /* sha256 over the sorted "name\0value" pairs */
	int has_content;
	struct img_digest content; /* sha256 of a regular file's bytes */
};

/* An inode: what several hard-linked names share (and a tree and its clones, until one
 * of them changes it). Read only for callers. */
struct img_tree_inode {
	int64_t uid, gid, size, mtime;
	const unsigned char *content; /* 32 bytes: sha256 of a regular file's bytes; NULL: none */
	const char *link;          /* symlink target or NULL */
	const unsigned char *xattrs; /* 32 bytes: sha256 over the sorted pairs; NULL: none */
	const char *origin;        /* the path it was first created at */
	mode_t mode;
	unsigned devmajor, devminor;
	int layer;                 /* the layer that created it */
	unsigned nlink;            /* names in the tree */
	/* private */
	unsigned refs, trees;
	unsigned char type;        /* an enum img_ent_type, never IMG_ENT_HARDLINK */
	unsigned char has_content; /* content is there */
	unsigned char implicit;    /* a parent directory nobody listed */
};

/* A name in the tree. Read only for callers. */
struct img_tree_node {
	const char *path;          /* "" for the root */
	struct img_tree_inode *ino;
	int layer;                 /* the layer that last created or listed this name */
	/* private */
	unsigned gen;
	struct img_tree_node *parent, *child, *next, *prev, *hnext;
};

struct img_tree;

/* Called when a name disappears (deleted, replaced, hidden by an opaque dir):
 * node is still intact during the call; last is 1 when its inode loses its last name. */
typedef void (*img_tree_removed_fn)(void *arg, const struct img_tree_node *node, int last,
                                    int layer);

/* A new tree holding only the root directory (mode 0755, uid/gid 0, mtime 0). Never NULL.
 * A tree and its clones share their paths' bytes and their unchanged inodes: use them
 * from one thread at a time. */
struct img_tree *img_tree_new(void);
void img_tree_free(struct img_tree *t);
/* A copy (inode sharing between hard links kept): its names are its own, its inodes
 * shared with t until either tree changes one. Never NULL. */
struct img_tree *img_tree_clone(const struct img_tree *t);
void img_tree_set_removed(struct img_tree *t, img_tree_removed_fn fn, void *arg);

/* Apply a layer: begin, one apply per record in tar order, end.
 * img_tree_apply: 0, or -1 with img_errmsg() (a hard link to a missing target or to a
 * directory, a path under a non-directory is replaced as docker does). */
void img_tree_layer_begin(struct img_tree *t, int layer);
int img_tree_apply(struct img_tree *t, const struct img_tree_rec *r);
void img_tree_layer_end(struct img_tree *t);

/* The node at path ("" root), or NULL. */
const struct img_tree_node *img_tree_get(const struct img_tree *t, const char *path);
/* Number of names (root excluded). */
size_t img_tree_count(const struct img_tree *t);
/* All names but the root sorted by path (strcmp). *out is a new array the caller frees;
 * the nodes stay owned by the tree. Returns the count. */
size_t img_tree_sorted(const struct img_tree *t, const struct img_tree_node ***out);

/* Read a layer blob from fd (any compression libarchive reads) and call fn for each
 * record in order: whiteouts and opaque markers classified, AUFS metadata skipped,
 * regular files hashed as they stream. fn returns 0 to go on, -1 to stop.
 * 0, or -1 with img_errmsg(). */
typedef int (*img_tree_rec_fn)(void *arg, const struct img_tree_rec *r);
int img_tree_read_scan_layer(int fd, img_tree_rec_fn fn, void *arg);

/* Read a layer like img_tree_read_scan_layer, but hash a regular file's bytes only when its
 * path is in hash (NULL: every file); the data of the other files is skipped and their
 * records have has_content 0 (size from the header). */
struct img_pathset;
int img_tree_read_scan_layer_sel(int fd, const struct img_pathset *hash, img_tree_rec_fn fn,
                                 void *arg);
/* The same from a layer reader already open (lread.h; not freed). */
struct img_lread;
int img_tree_read_scan_lread(struct img_lread *a, const struct img_pathset *hash, img_tree_rec_fn fn,
                             void *arg);

/* ---- a set of paths ---- */
struct img_pathset *img_tree_read_pathset_new(void);
void img_tree_read_pathset_free(struct img_pathset *s);
/* Add path; with parents, every parent directory of it too ("a/b/c": "a", "a/b"; never
 * the root). Returns 1 when path was new, 0 when it was there already. */
int img_tree_read_pathset_add(struct img_pathset *s, const char *path, int parents);
int img_tree_read_pathset_has(const struct img_pathset *s, const char *path);
size_t img_tree_read_pathset_count(const struct img_pathset *s);

/* ---- what the layers above a layer hide (img-unpack) ----
 *
 * The records of the layers above, noted in any order, each with its layer number; then
 * for an entry of a lower layer, whether those layers leave anything of it (formats.md
 * §5.4-5.6): a path a later layer whites out, or puts a non-directory at, is gone with
 * all under it; an opaque directory hides what lower layers put under it; a directory
 * at a path, listed or implied by a name under it, replaces a non-directory there.
 * About one path set entry and four numbers per path. */
struct img_tree_cover;
struct img_tree_cover *img_tree_read_cover_new(void);
void img_tree_read_cover_free(struct img_tree_cover *c);
/* Note record r of layer number layer. */
void img_tree_read_cover_add(struct img_tree_cover *c, int layer, const struct img_tree_rec *r);
/* 1 when what an entry of layer number layer puts at path (a directory when dir) is
 * gone once the layers above it noted in c are applied; else 0. Never for the root. */
int img_tree_read_cover_hides(const struct img_tree_cover *c, int layer, const char *path, int dir);
/* 1 when a layer above layer number layer has a hard link to path. */
int img_tree_read_cover_linked(const struct img_tree_cover *c, int layer, const char *path);

/* ---- layers read ahead into memory, several at once ---- */

/* The records of one layer (paths and metadata; no file data). */
struct img_tree_layer;
void img_tree_read_layer_free(struct img_tree_layer *l);
size_t img_tree_read_layer_count(const struct img_tree_layer *l);
/* Record i of l (NULL past the end), valid until the next call for l. */
const struct img_tree_rec *img_tree_read_layer_rec(struct img_tree_layer *l, size_t i);
/* Call fn for each record of l in order (the record valid for the call), as
 * img_tree_read_scan_layer does while it reads: 0, or -1 when fn stopped. */
int img_tree_read_layer_each(const struct img_tree_layer *l, img_tree_rec_fn fn, void *arg);
/* Add to s what applying l can change in a tree below it, for a caller that compares
 * two trees built on the same lower layers: the path of each entry and each opaque
 * directory, and each hard link target, all with their parents (not whiteout targets:
 * a whiteout only deletes). */
void img_tree_read_layer_paths(const struct img_tree_layer *l, struct img_pathset *s);
/* Apply every record of l as layer number layer (begin, apply, end). 0, or -1 with
 * img_errmsg() (see img_tree_apply). */
int img_tree_read_apply_layer(struct img_tree *t, int layer, const struct img_tree_layer *l);

/* One layer to read: fd (not closed), hash (as in img_tree_read_scan_layer_sel); on return
 * out holds the records (the caller frees it), or err a message (the caller frees it). */
struct img_tree_job {
	int fd;
	const struct img_pathset *hash;
	struct img_tree_layer *out;
	char *err;
};
/* Read n layers, up to threads of them at once (0: one per online CPU). A gzip, zstd or
 * xz layer is decompressed in a thread of its own, beside the one that parses it.
 * 0 when every job succeeded, else -1 (the jobs that failed have err set). */
int img_tree_read_layers(struct img_tree_job *jobs, size_t n, unsigned threads);

/* A layer blob that is a part of a file (an archive read back): the len bytes at off,
 * which must hash to *blob (borrowed), read by lread.h's img_lread_open_at. */
struct img_tree_part {
	const struct img_digest *blob;
	int64_t off, len;
};
/* img_tree_read_layers, job i reading the part parts[i] of its fd when parts[i].blob is
 * set (parts NULL: none). */
int img_tree_read_parts(struct img_tree_job *jobs, const struct img_tree_part *parts, size_t n,
                        unsigned threads);
/* img_tree_read_scan_layer_sel of the part of fd (part NULL, or part->blob NULL: all of fd). */
int img_tree_read_scan_part(int fd, const struct img_tree_part *part, const struct img_pathset *hash,
                            img_tree_rec_fn fn, void *arg);

/* ---- a layer read as its bytes stream past (from a pipe: nothing spooled) ---- */

/* Read the layer src gives (lread.h) into records; hash: every regular file's sha256
 * (else none: the data is skipped). *out: the records read (all of them, or those before
 * the failure), never NULL; *err: why the layer could not be read to its end, or NULL.
 * The caller frees both. */
struct img_lread_src;
void img_tree_read_layer_read(const struct img_lread_src *src, int hash, struct img_tree_layer **out,
                              char **err);

/* A reader of layers from bytes the caller writes, one layer after the other: each is
 * read by img_tree_read_layer_read on a thread of its own (an img_pool task taking an
 * img_ring) while it is written, so that only the ring and the records take memory.
 * begin, write..., end; the writes of one layer come from one thread at a time, not
 * always the caller's. A new feed (hash as img_tree_read_layer_read), or NULL with
 * img_errmsg() when no thread can be started. */
struct img_tree_feed;
struct img_tree_feed *img_tree_read_feed_new(int hash);
/* A new layer: its bytes as stored (any compression lread reads) follow. A layer begun
 * and not ended is abandoned first. */
void img_tree_read_feed_begin(struct img_tree_feed *f);
/* n more bytes of the layer (an img_sink_fn, f its arg): 0 (-1 may come once the layer
 * was abandoned). Bytes that are not a layer are taken all the same (and not read). */
int img_tree_read_feed_write(void *f, const void *buf, size_t n);
/* The layer's end: wait for its reader; *out and *err as img_tree_read_layer_read's. */
void img_tree_read_feed_end(struct img_tree_feed *f, struct img_tree_layer **out, char **err);
/* Abandon the layer begun, if any (its reader stops; img_errmsg() unchanged). */
void img_tree_read_feed_abort(struct img_tree_feed *f);
/* Abandon the layer begun and free f. NULL-safe. */
void img_tree_read_feed_free(struct img_tree_feed *f);

/* For a tree built with img_tree_read_scan_layer_sel: add to more the path where each regular
 * file named in want was created, when its content was not hashed (a hard link in a
 * lower layer to a file outside want). Returns the number of paths added to more. */
size_t img_tree_read_unhashed(const struct img_tree *t, const struct img_pathset *want,
                              struct img_pathset *more);

/* The content digest of an inode with has_content, as "sha256:<hex>", into out. */
void img_tree_inode_content(const struct img_tree_inode *ino, struct img_digest *out);

/* Short type name: "file", "dir", "symlink", "hardlink", "char", "block", "fifo", "other". */
const char *img_tree_type_name(enum img_ent_type t);

#endif
