/* arcload: the images of an archive read by arcread.h, verified as img-load loads
 * them (img(7) ARCHIVE RULES and DELTA ARCHIVES): index.json's entries (an index of which
 * the archive holds only some platforms: the host's; --platform: that one), then each
 * manifest.json item not already among them (an OCI manifest built for it, always the
 * same way); every blob, manifest, config and diff_id checked, the blobs used marked. */
#ifndef IMG_ARCLOAD_H
#define IMG_ARCLOAD_H

#include <jansson.h>
#include "digest.h"
#include "image.h"
#include "delta.h"
#include "arcread.h"

struct img_store;

/* An entry's blob is used by an image (set in img_arcread_ent.user). */
enum { IMG_ARCLOAD_USED = 1, IMG_ARCLOAD_IN_STORE = 2 };
/* Flags of the delta's left-out layers (img_delta.set). */
enum { IMG_ARCLOAD_LO_USED = 1, IMG_ARCLOAD_LO_IN_STORE = 2, IMG_ARCLOAD_LO_MISSING = 4 };

struct img_arcload_image {
	json_t *desc;                /* descriptor for index.json (owned) */
	struct img_digest top;
	char **names;                /* canonical */
	size_t nnames, names_cap;
	int has_config, config_host;
	int is_image;                /* a manifest with an image config below it: not an artifact */
	struct img_digest config;
	struct img_digest *configs;  /* the configs of every manifest below it, any platform: a
	                                manifest.json item with one of them names this image */
	size_t nconfigs, configs_cap;
	json_t *layers;              /* for --json (owned) */
	char *bare;                  /* a bare tag that named nothing (no --base-name), or NULL */
	char *synth;                 /* manifest built (legacy archives), or NULL */
	size_t synthlen;
};

struct img_arcload {
	/* what the caller sets */
	const struct img_platform *platform;  /* --platform, or NULL */
	const char *base;            /* --base-name (canonical repository), or NULL */
	const char *tag;             /* -t (canonical), or NULL */
	int allow_missing;           /* --check --allow-missing */
	struct img_store *store;     /* where left-out layers must be; NULL: --check */
	/* a notice for the user (a partial index: the platforms loaded and left out) */
	void (*notice)(void *arg, const char *msg);
	void *notice_arg;
	/* what img_arcload_resolve finds */
	struct img_arcload_image *imgs;
	size_t nimgs;
	struct img_delta delta;      /* flags: IMG_ARCLOAD_LO_* */
	/* private */
	struct img_arcread *r;
	struct img_arcread_top top;
	struct img_platform host;
	size_t imgs_cap;
};

/* The images of the archive r (borrowed), verified; the entries they use marked. Then,
 * for a delta archive, every layer it left out in L->store (or, without a store, left out
 * only with allow_missing). 0, or -1 with img_errmsg(). */
int img_arcload_resolve(struct img_arcload *L, struct img_arcread *r);
/* Free what resolve found (not the caller's fields). */
void img_arcload_release(struct img_arcload *L);

#endif
