/* arcread: the one reader of image archives (docker-save legacy and Docker 25+, OCI layout
 * tars, containerd exports, jib, delta archives: img(7) ARCHIVE RULES), used by img-load
 * (arcload.h) and by the tools that only look (arcimg.h). It reads the archive
 * once, from a pipe or a file, in any entry order: each regular file is hashed while it
 * streams past (blob digest, sniffed compression, diff_id and uncompressed size in one
 * pass; big entries through a pipeline of threads on img_ring and img_pool), small JSON
 * documents are kept in memory (capped), and the bytes of the others go to the sink the
 * caller chooses (a store temp blob, a layer reader, or nothing: digests only). Directories,
 * symbolic and hard links are kept in a table sorted by name once the archive has ended;
 * links are resolved there, as archive keys, never through the file system, by one rule. */
#ifndef IMG_ARCREAD_H
#define IMG_ARCREAD_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "digest.h"
#include "comp.h"
#include "arcin.h"

#define IMG_ARCREAD_MAX_ENTRIES 200000
#define IMG_ARCREAD_LINK_HOPS   8

struct img_arcread_ent {
	char *path;                 /* cleaned archive key (arcin.h) */
	size_t seq;                 /* its place in the archive */
	enum img_ent_type type;     /* IMG_ENT_FILE, _DIR, _SYMLINK or _HARDLINK */
	char *link;                 /* a symlink's target (verbatim), a hard link's (cleaned) */
	struct img_arcread_ent *alias;  /* a hard link: the entry it names (never a hard link) */
	int64_t size;
	int64_t off;                /* where its bytes lie in the input (an uncompressed
	                               archive, the entry not sparse: img_arcin_data_offset),
	                               or -1 */
	int hashed;                 /* blob (and comp) known: the bytes were read */
	struct img_digest blob;     /* sha256 of the bytes as stored */
	enum img_comp comp;         /* sniffed from the first bytes (when sink->open runs, from
	                               the first block only: a hint) */
	int diff_ok;                /* diff_id known (uncompressed: == blob), else diff_err */
	struct img_digest diff;
	uint64_t diff_size;
	char *diff_err;             /* why the diff_id is unknown, or NULL */
	char *mem;                  /* the bytes in memory (NUL-terminated), or NULL */
	size_t memlen;
	void *out;                  /* the sink's writer (sink->open), or NULL */
	char *shown;                /* path as messages name it: img_arcread_shown() */
	unsigned user;              /* the caller's flags (arcload.h: IMG_ARCLOAD_USED) */
};

/* Where the bytes of an entry not kept in memory go. open and done run on the reading
 * thread, write on a pipeline thread for a big entry. */
struct img_arcread_sink {
	/* A writer for e's bytes in *w (NULL: they are hashed only); big: they come in
	 * 1 MiB slots (O_DIRECT may pay). 0 or -1 with img_errmsg(). */
	int (*open)(void *arg, struct img_arcread_ent *e, int big, void **w);
	int (*write)(void *w, const void *buf, size_t n);
	/* e's bytes are all in and hashed, to e->out (a writer open gave): 0 or -1. It may
	 * drop the writer (e->out = NULL). */
	int (*done)(void *arg, struct img_arcread_ent *e);
	void (*drop)(void *w);      /* throw a writer away (img_arcread_free) */
	void *arg;
	int plain;                  /* write gets a big entry's bytes decompressed (those of
	                               its diff_id, up to a decompression failure), a small
	                               one's as stored: a writer that reads layers takes both
	                               and inflates nothing twice */
};

enum {
	IMG_ARCREAD_VIEW = 1,       /* messages as the tools that only look give them: an
	                               entry named 'path' (not path), a layer's expansion
	                               "exceeds N times its compressed size" */
	IMG_ARCREAD_PASS = 2,       /* listing: bytes not kept in memory pass unread */
};

struct img_progress;
struct img_arcread;

struct img_arcread_opts {
	unsigned max_ratio;         /* diff_id: refuse past this expansion (after
	                               IMG_LAYER_BOMB_MIN) */
	int flags;                  /* IMG_ARCREAD_* */
	size_t small;               /* files up to this size kept in memory, JSON or not */
	const struct img_arcread_sink *sink;   /* NULL: digests only */
	struct img_progress *progress;         /* compressed bytes read, or NULL */
	/* After each regular file: 1 stops reading (the rest is not needed), 0 goes on. */
	int (*after)(void *arg, struct img_arcread *r, struct img_arcread_ent *e);
	void *after_arg;
};

/* Read the archive on fd (not closed) to its end (or until o->after says stop), then
 * sort its entries, refusing duplicate names (but directories) and hard links that do not
 * name an earlier entry. o (and its sink) is borrowed until img_arcread_free. 0 with *out
 * (img_arcread_free drops the writers still in entries), or -1 with img_errmsg(). */
int img_arcread_read(int fd, const struct img_arcread_opts *o, struct img_arcread **out);
void img_arcread_free(struct img_arcread *r);

/* The entries in archive order (while o->after runs too). */
size_t img_arcread_count(const struct img_arcread *r);
struct img_arcread_ent *img_arcread_ent(struct img_arcread *r, size_t seq);
/* The entry named path (a hard link as such), or NULL; once the archive is read (the
 * table is sorted): NULL while o->after runs. */
struct img_arcread_ent *img_arcread_find(struct img_arcread *r, const char *path);
/* The entry named path, a hard link taken as the entry it names; NULL if none. */
struct img_arcread_ent *img_arcread_get(struct img_arcread *r, const char *path);

/* Why a name does not resolve to a regular file. */
enum img_arcread_why {
	IMG_ARCREAD_OK, IMG_ARCREAD_MISSING, IMG_ARCREAD_DIR, IMG_ARCREAD_LOOP,
	IMG_ARCREAD_ABSOLUTE, IMG_ARCREAD_ESCAPES,
};
/* Follow symbolic and hard links from path: the regular file it names, or NULL with *why
 * (a target joined to its link's directory, "." and ".." folded, never above the archive's
 * root; an absolute or empty target, or more than IMG_ARCREAD_LINK_HOPS links, refused). */
struct img_arcread_ent *img_arcread_resolve(struct img_arcread *r, const char *path,
                                            enum img_arcread_why *why);
/* why in words: "not in the archive", "a directory, not a file", ... */
const char *img_arcread_why_str(enum img_arcread_why why);
/* A path of manifest.json (what: "config", "layer"; len: its length, NUL refused) as an
 * archive key: cleaned as entry names are; "..", absolute paths and the root refused.
 * 0 with *clean (caller frees), or -1 with img_errmsg(). */
int img_arcread_key(const char *raw, size_t len, const char *what, char **clean);
/* The regular file a path of manifest.json names (v: the JSON string): img_arcread_key,
 * then img_arcread_resolve. NULL with img_errmsg() ("WHAT PATH: why"). */
struct img_arcread_ent *img_arcread_key_resolve(struct img_arcread *r, json_t *v,
                                                const char *what);
/* dir(path) + "/" + link, "." and ".." folded; NULL when it leaves the root or link is
 * absolute or empty. New string. */
char *img_arcread_link_join(const char *path, const char *link);

/* The configs of the image manifests reachable from descriptor json d (an index.json
 * entry), each once, appended to *cfgs (n, cap: IMG_GROW's): the documents kept in
 * memory, links followed; what is missing or unreadable passed over, indexes nested at
 * most IMG_MAX_INDEX_DEPTH. A manifest.json item whose config is among them names that
 * entry's image (img(7) ARCHIVE RULES). */
void img_arcread_configs(struct img_arcread *r, json_t *d, struct img_digest **cfgs,
                         size_t *n, size_t *cap);

/* e->path escaped and cut for messages (borrowed from e). */
const char *img_arcread_shown(struct img_arcread_ent *e);

/* The archive's top documents (img(7) ARCHIVE RULES), the same for every program that
 * reads an archive: index.json and manifest.json, each a regular file (not a link) parsed
 * within IMG_JSON_MAX_ARCHIVE; oci-layout's version, when there is one. */
struct img_arcread_top {
	json_t *index;      /* index.json, an image layout's (img_image_layout_index), or NULL */
	json_t *manifests;  /* its manifests (borrowed), or NULL: no index.json, or "manifests":
	                       null beside a manifest.json (Docker 25+, untagged images) */
	json_t *mjson;      /* manifest.json, or NULL: an array of objects whose keys are folded
	                       (img_manifest_json_keys), each with a string Config, an array of
	                       strings Layers and, when present, an array RepoTags of name:tag
	                       strings (img_ref_normalize takes each) */
};
/* Read the top documents of archive r (once read). 0 with *t (img_arcread_top_release),
 * or -1 with img_errmsg() ("not an image archive ..." when it has neither). */
int img_arcread_top(struct img_arcread *r, struct img_arcread_top *t);
void img_arcread_top_release(struct img_arcread_top *t);

#endif
