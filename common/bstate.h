/* bstate: an image as a build makes it, step by step: its config document, its layers,
 * its manifest in the store (written after each step, so that each step's image is
 * cached), and its root filesystem unpacked in the run area. */
#ifndef IMG_BSTATE_H
#define IMG_BSTATE_H

#include <stdint.h>
#include <jansson.h>
#include "digest.h"
#include "store.h"

/* An image so far: its config document, its layers, its manifest in the store. */
struct img_bstate {
	json_t *config;
	json_t *layers;
	struct img_digest manifest;
	int64_t mlen;
};

void img_bstate_release(struct img_bstate *st);
/* dst becomes a deep copy of src. */
void img_bstate_copy(struct img_bstate *dst, const struct img_bstate *src);
/* The config's "config" object (made when missing; borrowed). */
json_t *img_bstate_cfg(struct img_bstate *st);
/* Write st's config and manifest into s; st->manifest becomes the manifest's. 0 or -1. */
int img_bstate_write(struct img_store *s, struct img_bstate *st);
/* The image of manifest m read into st: 1, or 0 when it or a blob it needs is missing. */
int img_bstate_read(struct img_store *s, const struct img_digest *m, struct img_bstate *st);
/* A step's history entry (created, created_by; empty_layer when layer is NULL), the layer
 * (descriptor, taken) and its diff_id added; "created" set; st written. 0 or -1. */
int img_bstate_commit(struct img_store *s, struct img_bstate *st, const char *created,
                      const char *created_by, json_t *layer, const struct img_digest *diff_id);
/* The path of st's root filesystem unpacked in the run area (made when missing; caller
 * frees), or NULL. */
char *img_bstate_unpacked(struct img_store *s, struct img_bstate *st);

/* st's root filesystem unpacked into the empty directory rootfd (borrowed). 0 or -1. */
int img_bstate_unpack_into(struct img_store *s, struct img_bstate *st, int rootfd);

/* "K=V" arrays (build arguments): the value of k or NULL; set k to v. */
const char *img_bstate_kv_get(json_t *arr, const char *k);
void img_bstate_kv_set(json_t *arr, const char *k, const char *v);

#endif
