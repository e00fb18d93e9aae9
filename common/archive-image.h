/* archive-image: read-only views of one image, from the store or straight from an archive
 * (any dialect: docker-save legacy with symlinked layer.tar, Docker 25+ combined, OCI
 * image-layout archives, several images per archive), for tools that only look (img-layers,
 * img-diff). An archive may be a pipe: its entries are read once; JSON documents are kept
 * in memory (capped), other regular files are spooled to anonymous temp files under
 * $TMPDIR (unlinked at once, so nothing is left behind) and hashed while spooled. */
#ifndef IMG_ARCHIVE_IMAGE_H
#define IMG_ARCHIVE_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "image.h"
#include "store.h"

/* ---- an archive, read whole ---- */

struct img_arcimg;
/* Read every entry of the archive on fd (not closed). 0, or -1 with img_errmsg(). */
int img_arcimg_read(int fd, unsigned max_ratio, struct img_arcimg **out);
void img_arcimg_free(struct img_arcimg *a);
/* For listing only (IMG_ARCIMG_HEAD): JSON documents are read, other entries' bytes pass
 * unread (no digest, no diff_id), and reading stops once index.json, manifest.json and
 * every manifest, index and config they reach are in (an img-save archive: its head).
 * Views of such an archive cannot read layers. */
enum { IMG_ARCIMG_HEAD = 1 };
int img_arcimg_read_flags(int fd, unsigned max_ratio, int flags, struct img_arcimg **out);
/* The images as a JSON array, one object each: names (canonical), tag (a bare tag or
 * null), mediaType and digest of what index.json names (null for a docker-save item),
 * config, platforms ("os/arch[/variant]" of its images), size (the bytes of every blob
 * it reaches, each once, as the descriptors and entries give them). New reference. */
json_t *img_arcimg_summary(struct img_arcimg *a);
/* The number of images the archive holds. */
size_t img_arcimg_count(const struct img_arcimg *a);

/* ---- a view of one image ---- */

struct img_view_layer {
	struct img_digest diff_id;
	struct img_digest blob;     /* digest of the blob as stored (compressed or not) */
	int64_t blob_size;
	int64_t diff_size;          /* uncompressed size when known (archives), else -1 */
	char *media_type;           /* from the manifest, or NULL (a docker-save item) */
	/* private */
	int fd;                     /* archive: spooled file, borrowed from the archive */
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
/* An archive operand "FILE#SEL" (img-layers --archive, img-diff archive:): *file and *sel
 * (NULL when there is no '#', or when arg itself is an existing file), new strings. 0. */
int img_arcimg_operand(const char *arg, char **file, char **sel);
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

/* Open layer i's blob for reading from its start: fd the caller closes, or -1. */
int img_view_open_layer(struct img_view *v, size_t i);
/* Uncompressed size of layer i (reads and decompresses it unless stored uncompressed).
 * 0 or -1. */
int img_view_layer_size(struct img_view *v, size_t i, int64_t *out);

#endif
