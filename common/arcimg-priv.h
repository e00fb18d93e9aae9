/* arcimg-priv: what arcimg.c (reading an archive: entries, links, the images it
 * holds) and view.c (one image's view) share. Private to those two files. */
#ifndef IMG_ARCIMG_PRIV_H
#define IMG_ARCIMG_PRIV_H

#include <jansson.h>
#include "digest.h"
#include "dset.h"
#include "delta.h"
#include "arcread.h"
#include "arcimg.h"

enum { ITEM_DOCKER, ITEM_OCI };
struct arc_item {
	int kind;
	json_t *json;               /* borrowed from a->top */
	char **names;               /* canonical, NULL-terminated */
	char *bare;                 /* a bare tag of index.json (ref.name "v1"), or NULL */
	struct img_digest *configs; /* ITEM_OCI: the configs of its manifests */
	size_t nconfigs, configs_cap;
};

struct img_arcimg {
	struct img_arcread *r;
	struct img_arcread_opts ro;
	struct img_arcread_sink sink;
	int files, content;         /* IMG_ARCIMG_FILES, IMG_ARCIMG_CONTENT */
	struct img_tree_feed *feed; /* the layers' reader (files) */
	int fd;                     /* files: the archive, a regular file, to read layers back
	                               from (its own descriptor), or -1 */
	int64_t base;               /* where the archive starts in fd */
	struct img_arcread_top top; /* index.json, manifest.json */
	struct img_delta delta;     /* the layers a delta archive left out (img(7)) */
	struct arc_item *items;
	size_t nitems;
	/* IMG_ARCIMG_HEAD: the documents index.json reaches, read so far or still needed */
	int head;
	struct img_dset docs;       /* flags: DOC_SEEN (ent in doc_ent), DOC_NEEDED, DOC_DONE */
	size_t *doc_ent;            /* the entry (its seq) of each document seen */
	size_t needed;
	int have_index, have_manifest_json;
};

enum { DOC_SEEN = 1, DOC_NEEDED = 2, DOC_DONE = 4 };

/* Follow links inside the archive to the regular file path names. NULL with img_errmsg(). */
struct img_arcread_ent *img_arcimg_resolve(struct img_arcimg *a, const char *path);
/* The entry of blob d, its bytes hashed to d. NULL with img_errmsg(). */
struct img_arcread_ent *img_arcimg_blob(struct img_arcimg *a, const struct img_digest *d);
/* A small blob (manifest, index, config) in memory, of size bytes unless size < 0. 0 or -1. */
int img_arcimg_blob_mem(struct img_arcimg *a, const struct img_digest *d, int64_t size,
                        const char **buf, size_t *len);
/* An entry named after a digest ("blobs/sha256/<hex>") holds those bytes. 0 or -1. */
int img_arcimg_check_named(const struct img_arcread_ent *e);
/* Regular file e as a layer (IMG_ARCIMG_FILES): 1 with its records in *l (borrowed from
 * e: read while the archive streamed, or now from memory) and *err (NULL, or why they end
 * before the layer's end); 0 with *off, where its bytes lie in a->fd, to be read back; or
 * -1 with img_errmsg() (the archive was read without its layers' files). */
struct img_tree_layer;
int img_arcimg_layer(struct img_arcimg *a, struct img_arcread_ent *e,
                     const struct img_tree_layer **l, const char **err, int64_t *off);
/* names with name added (a copy) unless there; NULL-terminated, new array. */
char **img_arcimg_names_add(char **names, const char *name);

#endif
