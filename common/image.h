/* image: media types, descriptors, manifests, indexes, configs, platforms (formats.md §2). */
#ifndef IMG_IMAGE_H
#define IMG_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "digest.h"

#define IMG_MT_OCI_MANIFEST   "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_INDEX      "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_CONFIG     "application/vnd.oci.image.config.v1+json"
#define IMG_MT_OCI_LAYER      "application/vnd.oci.image.layer.v1.tar"
#define IMG_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define IMG_MT_DOCKER_LAYER      "application/vnd.docker.image.rootfs.diff.tar"
#define IMG_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define IMG_ANN_REF_NAME  "org.opencontainers.image.ref.name"
#define IMG_ANN_CTR_NAME  "io.containerd.image.name"

#define IMG_MAX_INDEX_DEPTH 8

enum img_kind {
	IMG_KIND_OTHER = 0,   /* unknown: opaque leaf, kept */
	IMG_KIND_MANIFEST,    /* OCI or docker schema 2 manifest */
	IMG_KIND_INDEX,       /* OCI index or docker manifest list */
	IMG_KIND_CONFIG,      /* OCI or docker image config */
	IMG_KIND_LAYER,       /* any layer type, incl. non-distributable */
};
enum img_kind img_image_mt_kind(const char *media_type);

struct img_platform {
	char os[32];
	char arch[32];
	char variant[32];
	char osversion[64];
};
/* "os/arch[/variant]" or "arch" (os linux), normalized per formats.md §2.3. 0 or -1. */
int img_image_platform_parse(const char *s, struct img_platform *p);
void img_image_platform_host(struct img_platform *p);
/* "linux/amd64" or "linux/arm/v7" into buf. */
const char *img_image_platform_format(const struct img_platform *p, char *buf, size_t len);
/* 1 if have (normalized from an index entry or config) satisfies want. */
int img_image_platform_match(const struct img_platform *want, const struct img_platform *have);
/* From a JSON object with architecture/os/variant/os.version. 0, or -1 if absent/invalid. */
int img_image_platform_from_json(json_t *obj, struct img_platform *p);

/* A descriptor. json points at the object it was parsed from (borrowed, not owned). */
struct img_desc {
	const char *media_type;
	struct img_digest digest;
	int64_t size;
	json_t *json;
	int has_platform;
	struct img_platform platform;
};
/* Validate and fill a descriptor from obj (mediaType, digest, size required). 0 or -1. */
int img_image_desc_parse(json_t *obj, struct img_desc *d);
/* Build a new descriptor object {mediaType, digest, size}. New reference. */
json_t *img_image_desc_new(const char *media_type, const struct img_digest *d, int64_t size);
/* An annotation value of a descriptor, or NULL. */
const char *img_image_desc_annotation(const struct img_desc *d, const char *key);

/* An index entry that is never "the image" of a platform (the one rule, img(7)):
 * an attestation (vnd.docker.reference.type attestation-manifest, or platform
 * unknown/unknown), an artifact (artifactType), or a referrer (io.containerd.manifest.subject). */
int img_image_desc_not_image(const struct img_desc *d);
/* How well index entry d serves want: 0 not at all (not a manifest or index, not an image,
 * another platform), 1 no platform given, 2 a compatible platform (img_image_platform_match),
 * 3 the same os/arch/variant. */
int img_image_platform_rank(const struct img_desc *d, const struct img_platform *want);

/* A parsed manifest or index. Owns root; descriptors point into it. */
struct img_doc {
	json_t *root;
	enum img_kind kind;          /* IMG_KIND_MANIFEST or IMG_KIND_INDEX */
	const char *media_type;      /* as written, or inferred */
	struct img_desc config;      /* manifest only */
	size_t n;                    /* layers (manifest) or manifests (index) */
	struct img_desc *items;
	int has_subject;
	struct img_desc subject;
};
/* Parse a manifest or index strictly (formats.md §2.7): size cap, schemaVersion 2,
 * mediaType consistent with expect_mt (the descriptor's type; NULL = infer),
 * never both manifests and config/layers. 0 or -1 with img_errmsg(). */
int img_image_doc_parse(const void *buf, size_t len, const char *expect_mt, struct img_doc *doc);
void img_image_doc_release(struct img_doc *doc);

/* The top document of an OCI image layout (a store's index.json, an archive's): an
 * object, schemaVersion 2, mediaType absent or the OCI index's, a manifests array, no
 * config or layers. Its entries are not looked at. 0 or -1 with img_errmsg() ("what is
 * wrong", for the caller to prefix with the file). */
int img_image_layout_index(json_t *j);

/* The one platform selection, for every program: the entry of index idx that is the image
 * for want, the best img_image_platform_rank, the first among equals; entries for which
 * usable(arg, d) is 0 (an archive lacking their blobs) are passed over. Its position,
 * or -1 when none serves. */
long img_image_index_pick(const struct img_doc *idx, const struct img_platform *want,
                          int (*usable)(void *arg, const struct img_desc *d), void *arg);

/* The keys of a docker-save manifest.json item, for img_json_fold_keys (Jib before 2.3
 * wrote them lowercase). */
extern const char *const img_manifest_json_keys[];

/* A parsed image config. Owns root. */
struct img_config {
	json_t *root;
	struct img_platform platform;
	const char *created;         /* or NULL */
	size_t ndiff;
	struct img_digest *diff_ids;
	json_t *history;             /* array or NULL (borrowed from root) */
	json_t *config;              /* the "config" object or NULL (borrowed) */
};
/* Parse strictly: rootfs.type "layers", diff_ids valid digests. 0 or -1. */
int img_image_config_parse(const void *buf, size_t len, struct img_config *c);
void img_image_config_release(struct img_config *c);

/* ChainID of diff_ids[0..n) (formats.md §2.6). */
void img_image_chain_id(const struct img_digest *diff_ids, size_t n, struct img_digest *out);

#endif
