/* arcload: the images of an archive, verified as img-load loads them
 * (arcload.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "digest.h"
#include "json.h"
#include "ref.h"
#include "image.h"
#include "store.h"
#include "delta.h"
#include "arcread.h"
#include "arcload.h"


/* The entry named path, a hard link taken as the entry it names; a directory is none. */
static struct img_arcread_ent *find(struct img_arcload *L, const char *path)
{
	struct img_arcread_ent *e = img_arcread_get(L->r, path);

	return e && e->type != IMG_ENT_DIR ? e : NULL;
}

static int is_link(const struct img_arcread_ent *e)
{
	return e->type == IMG_ENT_SYMLINK;
}

static int add_name(struct img_arcload_image *im, const char *canon)
{
	for (size_t i = 0; i < im->nnames; i++)
		if (!strcmp(im->names[i], canon))
			return 0;
	IMG_GROW(im->names, im->nnames + 1, im->names_cap);
	im->names[im->nnames++] = xstrdup(canon);
	return 0;
}

static struct img_arcload_image *new_image(struct img_arcload *L)
{
	IMG_GROW(L->imgs, L->nimgs + 1, L->imgs_cap);
	struct img_arcload_image *im = &L->imgs[L->nimgs++];
	memset(im, 0, sizeof *im);
	return im;
}

static struct img_arcload_image *image_by_top(struct img_arcload *L, const struct img_digest *d)
{
	for (size_t i = 0; i < L->nimgs; i++)
		if (img_digest_eq(&L->imgs[i].top, d))
			return &L->imgs[i];
	return NULL;
}

/* An absent layer d that a delta archive declares left out (img(7), DELTA ARCHIVES): 1
 * when declared with d's size (with mark, whether the store has it is recorded for
 * delta_check), 0 when not declared, -1 when declared with another size. */
static int left_out(struct img_arcload *L, const struct img_desc *d, int mark)
{
	int64_t size, have = -1;
	struct img_dset_entry *e = img_delta_find(&L->delta, &d->digest, &size);
	int r;

	if (!e)
		return 0;
	if (size != d->size)
		return img_fail("%s: left out with size %lld, but the descriptor says %lld",
		            d->digest.str, (long long)size, (long long)d->size);
	if (!mark || (e->flags & IMG_ARCLOAD_LO_USED))
		return 1;
	e->flags |= IMG_ARCLOAD_LO_USED;
	if (L->store) {
		if ((r = img_blob_has(L->store, &d->digest, &have)) < 0)
			return -1;
		e->flags |= r > 0 && have == d->size ? IMG_ARCLOAD_LO_IN_STORE : IMG_ARCLOAD_LO_MISSING;
	}
	return 1;
}

/* The archive entry of a descriptor: present, a regular file, right size and digest.
 * *foreign set (and NULL returned, no error) for an absent layer that has urls (1) or
 * that a delta archive left out (2). */
static struct img_arcread_ent *blob_ent(struct img_arcload *L, const struct img_desc *d,
                                        int mark, int *foreign)
{
	char *path = img_digest_blobpath(&d->digest);
	struct img_arcread_ent *e = find(L, path);
	int lo = 0;

	if (foreign)
		*foreign = 0;
	if (!e) {
		json_t *urls = json_object_get(d->json, "urls");
		if (foreign && img_image_mt_kind(d->media_type) == IMG_KIND_LAYER &&
		    json_is_array(urls) && json_array_size(urls) > 0) {
			*foreign = 1;
		} else if (foreign && img_image_mt_kind(d->media_type) == IMG_KIND_LAYER &&
		           (lo = left_out(L, d, mark)) != 0) {
			*foreign = lo > 0 ? 2 : 0;
		} else {
			img_fail("%s: missing from the archive (referenced as %s)", path,
			     d->media_type);
		}
	} else if (is_link(e)) {
		img_fail("%s: is a symbolic link", path);
		e = NULL;
	} else if (d->digest.alg != IMG_SHA256) {
		img_fail("%s: unsupported digest algorithm", path);
		e = NULL;
	} else if (e->size != d->size) {
		img_fail("%s: size %lld, but the descriptor says %lld", path, (long long)e->size,
		     (long long)d->size);
		e = NULL;
	} else if (!img_digest_eq(&e->blob, &d->digest)) {
		img_fail("%s: digest mismatch (got %s)", path, e->blob.str);
		e = NULL;
	} else if (mark) {
		e->user |= IMG_ARCLOAD_USED;
	}
	free(path);
	return e;
}

static int parse_doc(struct img_arcread_ent *e, const struct img_desc *d, struct img_doc *doc)
{
	if (e->size > (int64_t)IMG_JSON_MAX_BLOB)
		return img_fail("%s: larger than %u bytes", img_arcread_shown(e), IMG_JSON_MAX_BLOB);
	if (!e->mem)
		return img_fail("%s: too much metadata in the archive", img_arcread_shown(e));
	if (img_image_doc_parse(e->mem, e->memlen, d->media_type, doc) < 0)
		return img_fail("%s: %s", img_arcread_shown(e), img_errmsg());
	return 0;
}

static int parse_config(struct img_arcread_ent *e, struct img_config *c)
{
	if (e->size > (int64_t)IMG_JSON_MAX_BLOB)
		return img_fail("%s: larger than %u bytes", img_arcread_shown(e), IMG_JSON_MAX_BLOB);
	if (!e->mem)
		return img_fail("%s: too much metadata in the archive", img_arcread_shown(e));
	if (img_image_config_parse(e->mem, e->memlen, c) < 0)
		return img_fail("%s: %s", img_arcread_shown(e), img_errmsg());
	return 0;
}

static json_t *layer_json(const char *mt, const struct img_digest *d, int64_t size,
                          const struct img_digest *diff)
{
	json_t *j = json_object();
	json_object_set_new(j, "mediaType", json_string(mt));
	json_object_set_new(j, "digest", json_string(d->str));
	json_object_set_new(j, "size", json_integer(size));
	if (diff)
		json_object_set_new(j, "diff_id", json_string(diff->str));
	return j;
}

/* Verify a manifest's config and layers (diff_ids against the config). */
static int verify_manifest(struct img_arcload *L, struct img_arcload_image *im,
                           struct img_doc *m, int host)
{
	struct img_config c = { 0 };
	struct img_arcread_ent *ce;
	int all_layers = 1, rc = -1, foreign;
	json_t *layers = json_array();

	if (!(ce = blob_ent(L, &m->config, 1, NULL)))
		goto out;
	for (size_t i = 0; i < m->n; i++)
		if (img_image_mt_kind(m->items[i].media_type) != IMG_KIND_LAYER)
			all_layers = 0;
	if (img_image_mt_kind(m->config.media_type) == IMG_KIND_CONFIG) {
		if (parse_config(ce, &c) < 0)
			goto out;
		im->is_image = 1;
		if (all_layers && c.ndiff != m->n) {
			img_fail("%s: %zu diff_ids for %zu layers", img_arcread_shown(ce), c.ndiff, m->n);
			goto out;
		}
	} else {
		all_layers = 0;   /* an artifact: its blobs are checked, nothing more */
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct img_desc *ld = &m->items[i];
		struct img_arcread_ent *le = blob_ent(L, ld, 1, &foreign);
		if (!le && !foreign)
			goto out;
		if (le && all_layers) {
			if (!le->diff_ok) {
				img_fail("%s: %s", img_arcread_shown(le), le->diff_err ? le->diff_err : "no diff_id");
				goto out;
			}
			if (!img_digest_eq(&le->diff, &c.diff_ids[i])) {
				img_fail("%s: diff_id mismatch (got %s, the config says %s)", img_arcread_shown(le),
				     le->diff.str, c.diff_ids[i].str);
				goto out;
			}
		}
		json_array_append_new(layers, layer_json(ld->media_type, &ld->digest, ld->size,
		                                         all_layers ? &c.diff_ids[i] : NULL));
		if (foreign == 2)
			json_object_set_new(json_array_get(layers, i), "leftOut", json_true());
	}
	if (!im->has_config || (host && !im->config_host)) {
		im->has_config = 1;
		im->config_host = host;
		im->config = m->config.digest;
		json_decref(im->layers);
		im->layers = json_incref(layers);
	}
	rc = 0;
out:
	json_decref(layers);
	img_image_config_release(&c);
	return rc;
}

/* Is everything d names in the archive, with the sizes it says (nothing recorded)? A foreign
 * layer (absent, with urls) counts as there. */
static int complete(struct img_arcload *L, const struct img_desc *d, int depth)
{
	char *path = img_digest_blobpath(&d->digest);
	struct img_arcread_ent *e = find(L, path);
	enum img_kind k = img_image_mt_kind(d->media_type);
	struct img_doc doc;
	int ok = 1;

	free(path);
	if (!e) {
		json_t *urls = json_object_get(d->json, "urls");
		int64_t lsize;
		return k == IMG_KIND_LAYER && ((json_is_array(urls) && json_array_size(urls) > 0) ||
		       (img_delta_find(&L->delta, &d->digest, &lsize) && lsize == d->size));
	}
	if (is_link(e) || e->size != d->size)
		return 0;
	if (k != IMG_KIND_MANIFEST && k != IMG_KIND_INDEX)
		return 1;
	if (depth > IMG_MAX_INDEX_DEPTH || !e->mem ||
	    img_image_doc_parse(e->mem, e->memlen, d->media_type, &doc) < 0)
		return 0;
	if (doc.kind == IMG_KIND_MANIFEST)
		ok = complete(L, &doc.config, depth + 1);
	for (size_t i = 0; i < doc.n && ok; i++)
		ok = complete(L, &doc.items[i], depth + 1);
	img_image_doc_release(&doc);
	return ok;
}

static int complete_cb(void *arg, const struct img_desc *d)
{
	return complete(arg, d, 1);
}

/* An index of which the archive holds only some platforms (a containerd export of one
 * platform): the entry for the host that is complete, in *chosen (a new descriptor object);
 * the platforms left out are said on stderr. 0, or 1 when d is no such index. */
static int partial_index(struct img_arcload *L, const struct img_desc *d, const char *name,
                         json_t **chosen)
{
	struct img_doc doc;
	struct img_arcread_ent *e;
	long pi;
	char *out = NULL, *t;

	if (img_image_mt_kind(d->media_type) != IMG_KIND_INDEX || complete(L, d, 0))
		return 1;
	if (!(e = blob_ent(L, d, 0, NULL)) || !e->mem ||
	    img_image_doc_parse(e->mem, e->memlen, d->media_type, &doc) < 0)
		return 1;
	pi = img_image_index_pick(&doc, &L->host, complete_cb, L);
	if (pi >= 0) {
		for (size_t i = 0; i < doc.n; i++) {
			const struct img_desc *c = &doc.items[i];
			char pb[128];
			if (!c->has_platform || img_image_desc_not_image(c) || complete(L, c, 1))
				continue;
			img_image_platform_format(&c->platform, pb, sizeof pb);
			t = xasprintf("%s%s%s", out ? out : "", out ? ", " : "", pb);
			free(out);
			out = t;
		}
		char picked[128];
		img_image_platform_format(&doc.items[pi].platform, picked, sizeof picked);
		t = xasprintf("%s: loading %s only; left out, not in the archive: %s",
		              name ? name : d->digest.str, picked, out ? out : "(none)");
		if (L->notice)
			L->notice(L->notice_arg, t);
		free(t);
		free(out);
		*chosen = json_deep_copy(doc.items[pi].json);
	}
	img_image_doc_release(&doc);
	return pi >= 0 ? 0 : 1;
}

/* d is an index blob below depth others (0: named by index.json itself): refused past
 * IMG_MAX_INDEX_DEPTH nested index blobs, as the store counts them. */
static int index_too_deep(const struct img_desc *d, int depth)
{
	if (depth < IMG_MAX_INDEX_DEPTH)
		return 0;
	return img_fail("%s: indexes nested more than %d deep", d->digest.str, IMG_MAX_INDEX_DEPTH);
}

/* Verify everything reachable from d (a manifest, an index or anything else). depth:
 * the index blobs above d (0 for a descriptor of index.json). */
static int verify_desc(struct img_arcload *L, struct img_arcload_image *im,
                       const struct img_desc *d, int depth, int host)
{
	struct img_doc doc = { 0 };
	struct img_arcread_ent *e;
	int rc = -1;
	enum img_kind k = img_image_mt_kind(d->media_type);

	if (k == IMG_KIND_INDEX && index_too_deep(d, depth) < 0)
		return -1;
	if (!(e = blob_ent(L, d, 1, NULL)))
		return -1;
	if (k != IMG_KIND_MANIFEST && k != IMG_KIND_INDEX)
		return 0;
	if (parse_doc(e, d, &doc) < 0)
		return -1;
	if (doc.kind == IMG_KIND_MANIFEST) {
		rc = verify_manifest(L, im, &doc, host);
	} else {
		rc = 0;
		for (size_t i = 0; i < doc.n && rc == 0; i++) {
			const struct img_desc *c = &doc.items[i];
			int h = c->has_platform && img_image_platform_match(&L->host, &c->platform);
			if (verify_desc(L, im, c, depth + 1, h) < 0) {
				char pb[128];
				if (c->has_platform && img_image_mt_kind(c->media_type) == IMG_KIND_MANIFEST &&
				    strstr(img_errmsg(), ": missing"))
					img_fail("%s (platform %s; --platform P loads one platform)",
					     img_errmsg(), img_image_platform_format(&c->platform, pb, sizeof pb));
				rc = -1;
			}
		}
	}
	img_image_doc_release(&doc);
	return rc;
}

/* With --platform: the manifest under d that matches (first match), copied into *out
 * (a new descriptor object). depth as for verify_desc. 0 found, 1 none, -1 error. */
static int select_platform(struct img_arcload *L, const struct img_desc *d, int depth, json_t **out)
{
	struct img_doc doc = { 0 };
	struct img_arcread_ent *e;
	int rc = 1;
	enum img_kind k = img_image_mt_kind(d->media_type);

	if (k == IMG_KIND_MANIFEST) {
		struct img_platform p;
		if (d->has_platform) {
			p = d->platform;
		} else {
			/* read it from the config */
			struct img_config c = { 0 };
			struct img_arcread_ent *ce;
			if (!(e = blob_ent(L, d, 0, NULL)) || parse_doc(e, d, &doc) < 0)
				return -1;
			ce = blob_ent(L, &doc.config, 0, NULL);
			if (!ce || img_image_mt_kind(doc.config.media_type) != IMG_KIND_CONFIG ||
			    parse_config(ce, &c) < 0) {
				img_image_doc_release(&doc);
				return ce ? 1 : -1;
			}
			p = c.platform;
			img_image_config_release(&c);
			img_image_doc_release(&doc);
		}
		if (!img_image_platform_match(L->platform, &p))
			return 1;
		*out = json_deep_copy(d->json);
		return 0;
	}
	if (k != IMG_KIND_INDEX)
		return 1;
	if (index_too_deep(d, depth) < 0)
		return -1;
	if (!(e = blob_ent(L, d, 0, NULL)) || parse_doc(e, d, &doc) < 0)
		return -1;
	long pi = img_image_index_pick(&doc, L->platform, NULL, NULL);
	if (pi >= 0)
		rc = select_platform(L, &doc.items[pi], depth + 1, out);
	img_image_doc_release(&doc);
	return rc;
}

/* A clean descriptor for index.json: mediaType, digest, size (and platform). */
static json_t *store_desc(const struct img_desc *d)
{
	json_t *j = img_image_desc_new(d->media_type, &d->digest, d->size);
	json_t *p = json_object_get(d->json, "platform");
	json_t *at = json_object_get(d->json, "artifactType");
	if (json_is_object(p))
		json_object_set_new(j, "platform", json_deep_copy(p));
	if (json_is_string(at))
		json_object_set_new(j, "artifactType", json_deep_copy(at));
	return j;
}

/* Canonical name of an archive index.json entry (img_ref_archive_name), or NULL (no name);
 * a bare tag that names nothing is kept for the message. */
static char *entry_name(struct img_arcload *L, const struct img_desc *d, const char **bare,
                        int *bad)
{
	const char *ctr = img_image_desc_annotation(d, IMG_ANN_CTR_NAME);
	const char *rn = img_image_desc_annotation(d, IMG_ANN_REF_NAME);
	char *c;

	*bad = 0;
	if (img_ref_archive_name(ctr, rn, L->base, &c, bare) < 0) {
		char *esc = img_util_escape_cut(ctr ? ctr : rn);
		img_fail("index.json: invalid image name '%s': %s", esc, img_errmsg());
		free(esc);
		*bad = 1;
		return NULL;
	}
	return c;
}

/* A new image for d, verified (depth and host as for verify_desc); the configs below
 * it recorded for the manifest.json rule (img_arcread_configs). NULL with the error
 * recorded. */
static struct img_arcload_image *image_new_verified(struct img_arcload *L,
                                                   const struct img_desc *d, int depth,
                                                   int host)
{
	struct img_arcload_image *im = new_image(L);

	im->top = d->digest;
	im->desc = store_desc(d);
	if (verify_desc(L, im, d, depth, host) < 0)
		return NULL;
	img_arcread_configs(L->r, d->json, &im->configs, &im->nconfigs, &im->configs_cap);
	return im;
}

/* The image of a manifest picked out of an index (chosen: its descriptor, consumed),
 * verified. depth as for verify_desc. NULL with the error recorded. */
static struct img_arcload_image *image_of_chosen(struct img_arcload *L, json_t *chosen, int depth)
{
	struct img_desc cd;
	struct img_arcload_image *im = NULL;

	if (img_image_desc_parse(chosen, &cd) < 0)
		img_fail("%s", img_errmsg());
	else if (!(im = image_by_top(L, &cd.digest)))
		im = image_new_verified(L, &cd, depth, 1);
	json_decref(chosen);
	return im;
}

/* index.json: each entry an image (or, of an index the archive holds in part, the
 * platform picked), named by its annotations. */
static int load_oci(struct img_arcload *L)
{
	json_t *mans = L->top.manifests, *v;
	size_t i;

	if (!mans)
		return 0;
	if (img_delta_from_index(L->top.index, &L->delta) < 0)
		return img_fail("index.json: %s", img_errmsg());
	json_array_foreach(mans, i, v) {
		struct img_desc d;
		json_t *chosen = NULL;
		int bad;

		if (img_image_desc_parse(v, &d) < 0) {
			img_fail("index.json: manifests[%zu]: %s", i, img_errmsg());
			return -1;
		}
		const char *bare;
		char *name = entry_name(L, &d, &bare, &bad);
		if (bad)
			return -1;
		struct img_arcload_image *im;
		if (L->platform) {
			int r = select_platform(L, &d, 0, &chosen);
			if (r < 0) {
				free(name);
				return -1;
			}
			if (r > 0) {
				free(name);
				continue;
			}
			if (!(im = image_of_chosen(L, chosen, 0))) {
				free(name);
				return -1;
			}
		} else if (partial_index(L, &d, name, &chosen) == 0) {
			if (!(im = image_of_chosen(L, chosen, 1))) {
				free(name);
				return -1;
			}
		} else {
			int host = !d.has_platform || img_image_platform_match(&L->host, &d.platform);
			if (!(im = image_by_top(L, &d.digest)) &&
			    !(im = image_new_verified(L, &d, 0, host))) {
				free(name);
				return -1;
			}
		}
		if (name)
			add_name(im, name);
		else if (bare && !im->bare)
			im->bare = xstrdup(bare);
		free(name);
	}
	return 0;
}

static const char *legacy_layer_type(struct img_arcread_ent *le)
{
	switch (le->comp) {
	case IMG_COMP_NONE: return IMG_MT_OCI_LAYER;
	case IMG_COMP_GZIP: return IMG_MT_OCI_LAYER_GZIP;
	case IMG_COMP_ZSTD: return IMG_MT_OCI_LAYER_ZSTD;
	default: return NULL;
	}
}

/* manifest.json: names for images already found through index.json, and an OCI manifest
 * built (always the same way) for every other item. */
static int load_docker(struct img_arcload *L)
{
	struct img_config c = { 0 };
	json_t *man = NULL, *item;
	int rc = -1;
	size_t i;

	json_array_foreach(L->top.mjson, i, item) {
		json_t *layers = json_object_get(item, "Layers"), *v, *tags = NULL;
		struct img_arcread_ent *ce;
		struct img_arcload_image *im = NULL;
		size_t j;

		(void)img_json_arr(item, "RepoTags", &tags);   /* arrays of strings: arcread_top */
		if (!(ce = img_arcread_key_resolve(L->r, json_object_get(item, "Config"), "config")))
			goto out;
		if (L->platform) {
			/* another platform's image is not loaded, whoever names it */
			struct img_config pc = { 0 };
			int match;
			if (parse_config(ce, &pc) < 0)
				goto out;
			match = img_image_platform_match(L->platform, &pc.platform);
			img_image_config_release(&pc);
			if (!match)
				continue;
		}
		/* already loaded through index.json (the config of any of its platforms)? */
		for (size_t k = 0; k < L->nimgs && !im; k++)
			for (size_t c2 = 0; c2 < L->imgs[k].nconfigs && !im; c2++)
				if (img_digest_eq(&L->imgs[k].configs[c2], &ce->blob))
					im = &L->imgs[k];
		if (!im) {
			if (parse_config(ce, &c) < 0)
				goto out;
			if (c.ndiff != json_array_size(layers)) {
				img_fail("%s: %zu diff_ids, but manifest.json lists %zu layers", img_arcread_shown(ce),
				     c.ndiff, json_array_size(layers));
				goto out;
			}
			man = json_object();
			json_t *mlayers = json_array(), *jl = json_array();
			json_object_set_new(man, "schemaVersion", json_integer(2));
			json_object_set_new(man, "mediaType", json_string(IMG_MT_OCI_MANIFEST));
			json_object_set_new(man, "config",
			                    img_image_desc_new(IMG_MT_OCI_CONFIG, &ce->blob, ce->size));
			json_object_set_new(man, "layers", mlayers);
			json_array_foreach(layers, j, v) {
				struct img_arcread_ent *le = img_arcread_key_resolve(L->r, v, "layer");
				const char *mt;
				if (!le) {
					json_decref(jl);
					goto out;
				}
				if (!le->diff_ok) {
					img_fail("%s: %s", img_arcread_shown(le), le->diff_err ? le->diff_err : "no diff_id");
					json_decref(jl);
					goto out;
				}
				if (!img_digest_eq(&le->diff, &c.diff_ids[j])) {
					img_fail("%s: diff_id mismatch (got %s, the config says %s)", img_arcread_shown(le),
					     le->diff.str, c.diff_ids[j].str);
					json_decref(jl);
					goto out;
				}
				if (!(mt = legacy_layer_type(le))) {
					img_fail("%s: %s-compressed layers are not supported (recompress it "
					     "with gzip or zstd, or leave it uncompressed)", img_arcread_shown(le),
					     img_comp_name(le->comp));
					json_decref(jl);
					goto out;
				}
				le->user |= IMG_ARCLOAD_USED;
				json_array_append_new(mlayers, img_image_desc_new(mt, &le->blob, le->size));
				json_array_append_new(jl, layer_json(mt, &le->blob, le->size, &le->diff));
			}
			ce->user |= IMG_ARCLOAD_USED;
			size_t len;
			char *buf = img_json_dump(man, &len);
			struct img_digest md;
			img_digest_buf(buf, len, &md);
			im = image_by_top(L, &md);
			if (im) {
				free(buf);
				json_decref(jl);
			} else {
				im = new_image(L);
				im->top = md;
				im->synth = buf;
				im->is_image = 1;
				im->synthlen = len;
				im->desc = img_image_desc_new(IMG_MT_OCI_MANIFEST, &md, (int64_t)len);
				im->has_config = 1;
				im->config = ce->blob;
				IMG_GROW(im->configs, 1, im->configs_cap);
				im->configs[0] = ce->blob;
				im->nconfigs = 1;
				im->layers = jl;
			}
			json_decref(man);
			man = NULL;
			img_image_config_release(&c);
			memset(&c, 0, sizeof c);
		}
		json_array_foreach(tags, j, v) {   /* each a name:tag: arcread_top */
			char *canon = img_ref_normalize(json_string_value(v));
			if (canon)
				add_name(im, canon);
			free(canon);
		}
	}
	rc = 0;
out:
	json_decref(man);
	img_image_config_release(&c);
	return rc;
}

/* A delta archive: every layer it left out is in the store with its size; with --check,
 * left out at all only with --allow-missing. 0, or -1 naming them all. */
static int delta_check(struct img_arcload *L)
{
	char *list = img_delta_list(&L->delta, L->store ? IMG_ARCLOAD_LO_MISSING
	                                                  : IMG_ARCLOAD_LO_USED);
	int rc = 0;

	if (*list && L->store)
		rc = img_fail("a delta archive; left out of it and not in the store: %s", list);
	else if (*list && !L->allow_missing)
		rc = img_fail("a delta archive; left out of it (--allow-missing accepts that): %s", list);
	free(list);
	return rc;
}


int img_arcload_resolve(struct img_arcload *L, struct img_arcread *r)
{
	L->r = r;
	img_image_platform_host(&L->host);
	if (img_arcread_top(r, &L->top) < 0 || load_oci(L) < 0 || load_docker(L) < 0)
		return -1;
	if (L->platform && L->nimgs == 0) {
		char buf[128];
		return img_fail("no image for platform %s in the archive",
		            img_image_platform_format(L->platform, buf, sizeof buf));
	}
	if (L->nimgs == 0)
		return img_fail("the archive holds no image");
	if (L->tag) {
		if (L->nimgs != 1)
			return img_fail("-t needs an archive with one image; this one has %zu", L->nimgs);
		for (size_t i = 0; i < L->imgs[0].nnames; i++)
			free(L->imgs[0].names[i]);
		L->imgs[0].nnames = 0;
		add_name(&L->imgs[0], L->tag);
	}
	return delta_check(L);
}


static void image_release(struct img_arcload_image *im)
{
	json_decref(im->desc);
	json_decref(im->layers);
	free(im->configs);
	for (size_t i = 0; i < im->nnames; i++)
		free(im->names[i]);
	free(im->names);
	free(im->synth);
	free(im->bare);
}

void img_arcload_release(struct img_arcload *L)
{
	for (size_t i = 0; i < L->nimgs; i++)
		image_release(&L->imgs[i]);
	free(L->imgs);
	img_delta_clear(&L->delta);
	img_arcread_top_release(&L->top);
	L->imgs = NULL;
	L->nimgs = L->imgs_cap = 0;
	L->r = NULL;
}
