/* view: a read-only view of one image, from the store or from an archive (arcimg.h):
 * its config, layers (diff_ids, blobs, sizes), names, the bytes of its manifest and
 * config, and its layers' blobs (the store) or files (an archive). */
#ifndef IMG_VIEW_H
#define IMG_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "image.h"
#include "store.h"

struct img_arcimg;
struct img_tree_layer;
struct img_tree_part;

/* ---- a view of one image ---- */

struct img_view_layer {
	struct img_digest diff_id;
	struct img_digest blob;     /* digest of the blob as stored (compressed or not) */
	int64_t blob_size;
	int64_t diff_size;          /* uncompressed size when known (archives), else -1 */
	char *media_type;           /* from the manifest, or NULL (a docker-save item) */
	/* private: an archive's (img_view_layer_records, img_view_layer_blob) */
	const struct img_tree_layer *records;   /* borrowed from the archive, or NULL */
	const char *records_err;
	int64_t off;                /* without records: where the blob lies in the archive */
};

struct img_view {
	char *name;                 /* canonical name, or what was typed, or NULL */
	struct img_config config;
	struct img_digest config_digest;
	int has_manifest;
	struct img_digest manifest_digest;
	size_t nlayers;             /* == config.ndiff */
	struct img_view_layer *layers;
	char **names;               /* every name of the image (canonical), NULL-terminated */
	int has_top;                /* the index entry (an index or the manifest) named: */
	struct img_digest top;      /* what docker's RepoDigests give */
	/* private */
	struct img_store *store;    /* borrowed */
	struct img_arcimg *arc;     /* borrowed */
	const char *cfg_buf;        /* archive: the config's bytes, borrowed from arc */
	size_t cfg_len;
};

/* The image the user named in the store (name, name@digest, ID or digest prefix),
 * the manifest for platform (NULL = host) when it is an index. 0 or -1 (img_errmsg). */
int img_view_from_store(struct img_store *s, const char *what,
                        const struct img_platform *platform, struct img_view *v);
/* One image of an archive: name picks it (a reference, normalized; a bare tag of an OCI
 * layout's ref.name; a digest or digest prefix of its manifest or config), else the
 * archive must hold exactly one image (artifacts and attestations are not images). Digests of every blob used are verified, and each layer's
 * diff_id against the config. The view borrows from a (free it after the view). */
int img_view_from_archive(struct img_arcimg *a, const char *name,
                          const struct img_platform *platform, struct img_view *v);
void img_view_release(struct img_view *v);

/* The bytes of the image's manifest (has_manifest) or config, verified, unchanged.
 * *buf the caller frees. 0 or -1. */
int img_view_manifest_bytes(struct img_view *v, char **buf, size_t *len);
int img_view_config_bytes(struct img_view *v, char **buf, size_t *len);

/* Open layer i's blob (a view of the store) for reading from its start: fd the caller
 * closes, or -1 (an archive's: img_view_layer_records, img_view_layer_blob). */
int img_view_open_layer(struct img_view *v, size_t i);
/* The files of layer i: 1 when they were read while the archive streamed
 * (IMG_ARCIMG_FILES), with *l (tree.h; borrowed from the archive) holding all of the
 * layer's records, or those before the failure *err says (else *err NULL); 0 when its
 * blob is to be read (a view of the store, or of an archive in a regular file:
 * img_view_layer_blob); -1 with img_errmsg() for an archive read without its layers' files. */
int img_view_layer_records(const struct img_view *v, size_t i, const struct img_tree_layer **l,
                           const char **err);
/* The blob of layer i to read (when img_view_layer_records said 0): *fd (the caller
 * closes it) and *part (tree.h; part->blob NULL: all of *fd, a blob of the store; else the
 * part of an archive in a regular file that holds it). 0, or -1 with img_errmsg(). */
int img_view_layer_blob(struct img_view *v, size_t i, int *fd, struct img_tree_part *part);
/* Uncompressed size of layer i (reads and decompresses it unless stored uncompressed).
 * 0 or -1. */
int img_view_layer_size(struct img_view *v, size_t i, int64_t *out);

#endif
