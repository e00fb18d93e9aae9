/* archive-priv: what archive-image.c (reading an archive: entries, links, the images it
 * holds) and view.c (one image's view) share. Private to those two files. */
#ifndef IMG_ARCHIVE_PRIV_H
#define IMG_ARCHIVE_PRIV_H

#include <jansson.h>
#include "digest.h"
#include "dset.h"
#include "delta.h"
#include "archive-image.h"

struct arc_ent {
	char *path;                 /* cleaned */
	char *target;               /* symlink or hard link: cleaned archive path, else NULL */
	int is_dir;                 /* a directory: listed, holds nothing */
	int escapes;                /* a symlink whose target leaves the archive */
	int is_hard;                /* a hard link: its target is an earlier entry */
	char *buf;                  /* in memory (JSON), or NULL */
	size_t len;
	int fd;                     /* spooled, or -1 */
	int64_t size;
	struct img_digest sha256;   /* of the bytes as stored */
	int has_diff;               /* diff_id known (uncompressed: == sha256) */
	struct img_digest diff_id;
	uint64_t diff_size;
	char *diff_err;             /* why the diff_id is unknown */
};

enum { ITEM_DOCKER, ITEM_OCI };
struct arc_item {
	int kind;
	json_t *json;               /* borrowed from a->manifest_json / a->index_json */
	char **names;               /* canonical, NULL-terminated */
	char *bare;                 /* a bare tag of index.json (ref.name "v1"), or NULL */
	struct img_digest *configs; /* ITEM_OCI: the configs of its manifests */
	size_t nconfigs;
};

struct img_arcimg {
	struct arc_ent *ents;
	size_t n, cap;
	size_t *sorted;             /* indexes of ents sorted by path (after reading) */
	unsigned max_ratio;
	size_t mem;
	json_t *manifest_json;
	json_t *index_json;
	struct img_delta delta;     /* the layers a delta archive left out (img(7)) */
	struct arc_item *items;
	size_t nitems;
	/* IMG_ARCIMG_HEAD: the documents index.json reaches, read so far or still needed */
	int head;
	struct img_dset docs;       /* flags: DOC_SEEN (ent in doc_ent), DOC_NEEDED, DOC_DONE */
	size_t *doc_ent;
	size_t needed;
	int have_index, have_manifest_json;
};

enum { DOC_SEEN = 1, DOC_NEEDED = 2, DOC_DONE = 4 };

/* The entry named path (an archive key), or NULL. */
struct arc_ent *img_arcimg_find(struct img_arcimg *a, const char *path);
/* Follow links inside the archive to the regular file path names. NULL with img_errmsg(). */
struct arc_ent *img_arcimg_resolve(struct img_arcimg *a, const char *path);
/* A path from manifest.json (what: "config", "layer"), cleaned and resolved. NULL or entry. */
struct arc_ent *img_arcimg_resolve_key(struct img_arcimg *a, const char *path, const char *what);
/* The entry of blob d, its bytes hashed to d. NULL with img_errmsg(). */
struct arc_ent *img_arcimg_blob(struct img_arcimg *a, const struct img_digest *d);
/* A small blob (manifest, index, config) in memory, of size bytes unless size < 0. 0 or -1. */
int img_arcimg_blob_mem(struct img_arcimg *a, const struct img_digest *d, int64_t size,
                        const char **buf, size_t *len);
/* An entry named after a digest ("blobs/sha256/<hex>") holds those bytes. 0 or -1. */
int img_arcimg_check_named(const struct arc_ent *e);
/* Move an in-memory entry to a spool file (a layer that looked like JSON). 0 or -1. */
int img_arcimg_spool(struct arc_ent *e);
/* names with name added (a copy) unless there; NULL-terminated, new array. */
char **img_arcimg_names_add(char **names, const char *name);

#endif
