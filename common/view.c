/* view: a read-only view of one image, from the store or from an archive read by
 * arcimg.c: its config, layers (diff_ids, blobs), names, the bytes of its manifest
 * and config, its layers' blobs (the store) or files (an archive). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "digest.h"
#include "json.h"
#include "ref.h"
#include "image.h"
#include "store.h"
#include "io.h"
#include "layer.h"
#include "tree.h"
#include "arcimg-priv.h"

static void view_init(struct img_view *v)
{
	memset(v, 0, sizeof(*v));
}

void img_view_release(struct img_view *v)
{
	if (!v)
		return;
	free(v->name);
	img_image_config_release(&v->config);
	for (size_t i = 0; v->layers && i < v->nlayers; i++)
		free(v->layers[i].media_type);
	free(v->layers);
	for (size_t i = 0; v->names && v->names[i]; i++)
		free(v->names[i]);
	free(v->names);
	memset(v, 0, sizeof(*v));
}

int img_view_from_store(struct img_store *s, const char *what,
                        const struct img_platform *platform, struct img_view *v)
{
	json_t *index = NULL;
	size_t *matches = NULL, n = 0;
	struct img_doc manifest;
	struct img_desc top, mdesc;
	char namebuf[512];
	const char *name;
	int ret = -1;

	view_init(v);
	memset(&manifest, 0, sizeof(manifest));
	index = img_store_index(s);
	if (!index)
		return -1;
	if (img_store_resolve(s, index, what, &matches, &n) < 0)
		goto out;
	{
		json_t *arr = json_object_get(index, "manifests");
		json_t *entry = json_array_get(arr, matches[0]);
		if (!entry || img_image_desc_parse(entry, &top) < 0)
			goto out;
		name = img_index_entry_name(entry, namebuf, sizeof(namebuf));
		if (img_store_image(s, &top, platform, &manifest, &mdesc, &v->config) < 0)
			goto out;
		v->has_top = 1;
		v->top = top.digest;
		for (size_t i = 0; i < json_array_size(arr); i++) {
			json_t *e = json_array_get(arr, i), *d = json_object_get(e, "digest");
			const char *nm;
			if (json_is_string(d) && strcmp(json_string_value(d), top.digest.str) == 0 &&
			    (nm = img_index_entry_name(e, namebuf, sizeof(namebuf))) != NULL)
				v->names = img_arcimg_names_add(v->names, nm);
		}
		name = img_index_entry_name(entry, namebuf, sizeof(namebuf));
		if (img_ref_is_id(what) || !name)
			v->name = xstrdup(what);
		else
			v->name = xstrdup(name);
	}
	v->has_manifest = 1;
	v->manifest_digest = mdesc.digest;
	v->config_digest = manifest.config.digest;
	if (manifest.n != v->config.ndiff) {
		img_seterr("manifest has %zu layers, config %zu diff_ids", manifest.n, v->config.ndiff);
		goto out;
	}
	v->nlayers = manifest.n;
	v->layers = xcalloc(manifest.n + 1, sizeof(*v->layers));
	for (size_t i = 0; i < manifest.n; i++) {
		v->layers[i].diff_id = v->config.diff_ids[i];
		v->layers[i].blob = manifest.items[i].digest;
		v->layers[i].blob_size = manifest.items[i].size;
		v->layers[i].media_type = xstrdup(manifest.items[i].media_type);
		v->layers[i].diff_size = -1;
		v->layers[i].off = -1;
	}
	v->store = s;
	ret = 0;
out:
	img_image_doc_release(&manifest);
	free(matches);
	json_decref(index);
	if (ret < 0)
		img_view_release(v);
	return ret;
}

static int layer_from_ent(struct img_arcimg *a, struct img_view *v, size_t i,
                          struct img_arcread_ent *e, const char *what)
{
	if (!e->diff_ok || !img_digest_eq(&e->diff, &v->config.diff_ids[i])) {
		char *x = img_util_escape_cut(what);
		if (!e->diff_ok)
			img_seterr("layer %s: %s", x, e->diff_err ? e->diff_err : "unreadable");
		else
			img_seterr("layer %s: diff_id mismatch (got %s, config says %s)", x,
			           e->diff.str, v->config.diff_ids[i].str);
		free(x);
		return -1;
	}
	v->layers[i].off = -1;
	if (a->files && img_arcimg_layer(a, e, &v->layers[i].records, &v->layers[i].records_err,
	                                 &v->layers[i].off) < 0)
		return -1;
	v->layers[i].diff_id = e->diff;
	v->layers[i].blob = e->blob;
	v->layers[i].blob_size = e->size;
	v->layers[i].diff_size = (int64_t)e->diff_size;
	return 0;
}

static int view_docker(struct img_arcimg *a, struct arc_item *it, struct img_view *v)
{
	json_t *cpath = json_object_get(it->json, "Config");  /* checked: arcread_top */
	json_t *layers = json_object_get(it->json, "Layers"), *l;
	struct img_arcread_ent *ce;
	size_t i;

	ce = img_arcread_key_resolve(a->r, cpath, "config");
	if (!ce || img_arcimg_check_named(ce) < 0)
		return -1;
	if (!ce->mem || img_image_config_parse(ce->mem, ce->memlen, &v->config) < 0) {
		char *x = img_util_escape_cut(json_string_value(cpath));
		if (!ce->mem)
			img_seterr("config '%s': not a JSON document", x);
		else
			img_seterr("config '%s': %s", x, img_errmsg());
		free(x);
		return -1;
	}
	v->config_digest = ce->blob;
	v->cfg_buf = ce->mem;
	v->cfg_len = ce->memlen;
	if (json_array_size(layers) != v->config.ndiff) {
		img_seterr("layers length mismatch: %zu in manifest.json, %zu diff_ids",
		           json_array_size(layers), v->config.ndiff);
		return -1;
	}
	v->nlayers = v->config.ndiff;
	v->layers = xcalloc(v->nlayers + 1, sizeof(*v->layers));
	json_array_foreach(layers, i, l) {
		struct img_arcread_ent *le = img_arcread_key_resolve(a->r, l, "layer");
		if (!le || img_arcimg_check_named(le) < 0 ||
		    layer_from_ent(a, v, i, le, json_string_value(l)) < 0)
			return -1;
	}
	return 0;
}

/* Is everything of d in the archive (its blob, and for a manifest its config and layers;
 * for an index, one complete entry)? The callback of img_image_index_pick. */
static int arc_complete(void *arg, const struct img_desc *d)
{
	struct img_arcimg *a = arg;
	struct img_arcread_ent *e;
	struct img_doc doc;
	char *path = img_digest_blobpath(&d->digest);
	int ok = 1;

	e = img_arcimg_resolve(a, path);
	free(path);
	if (!e || !e->mem || img_image_doc_parse(e->mem, e->memlen, d->media_type, &doc) < 0)
		return 0;
	if (doc.kind == IMG_KIND_MANIFEST) {
		for (size_t i = 0; i <= doc.n && ok; i++) {
			const struct img_desc *c = i < doc.n ? &doc.items[i] : &doc.config;
			path = img_digest_blobpath(&c->digest);
			ok = img_arcimg_resolve(a, path) != NULL;
			free(path);
		}
	}
	img_image_doc_release(&doc);
	return ok;
}

static int pick_manifest(struct img_arcimg *a, json_t *desc_json,
                         const struct img_platform *platform, int depth,
                         struct img_doc *doc, struct img_desc *mdesc)
{
	struct img_desc d;
	const char *buf;
	size_t len;
	struct img_doc idx;

	if (img_image_desc_parse(desc_json, &d) < 0)
		return -1;
	if (img_image_mt_kind(d.media_type) != IMG_KIND_MANIFEST && img_image_mt_kind(d.media_type) != IMG_KIND_INDEX) {
		img_seterr("%s: not an image (%s)", d.digest.str, d.media_type);
		return -1;
	}
	if (img_arcimg_blob_mem(a, &d.digest, d.size, &buf, &len) < 0)
		return -1;
	if (img_image_doc_parse(buf, len, d.media_type, &idx) < 0)
		return -1;
	if (idx.kind == IMG_KIND_MANIFEST) {
		*doc = idx;
		*mdesc = d;
		return 0;
	}
	if (depth >= IMG_MAX_INDEX_DEPTH) {
		img_image_doc_release(&idx);
		img_seterr("indexes nested too deep");
		return -1;
	}
	{
		struct img_platform want;
		char pb[128];
		long pi;
		if (platform)
			want = *platform;
		else
			img_image_platform_host(&want);
		pi = img_image_index_pick(&idx, &want, arc_complete, a);
		if (pi >= 0) {
			int r = pick_manifest(a, idx.items[pi].json, platform, depth + 1, doc, mdesc);
			img_image_doc_release(&idx);
			return r;
		}
		img_seterr("no image for platform %s", img_image_platform_format(&want, pb, sizeof(pb)));
		img_image_doc_release(&idx);
		return -1;
	}
}

static int view_oci(struct img_arcimg *a, struct arc_item *it, const struct img_platform *platform,
                    struct img_view *v)
{
	struct img_doc doc;
	struct img_desc mdesc;
	const char *buf;
	size_t len;
	int ret = -1;

	if (pick_manifest(a, it->json, platform, 0, &doc, &mdesc) < 0)
		return -1;
	v->has_manifest = 1;
	v->manifest_digest = mdesc.digest;
	if (img_arcimg_blob_mem(a, &doc.config.digest, doc.config.size, &buf, &len) < 0)
		goto out;
	if (img_image_config_parse(buf, len, &v->config) < 0) {
		img_seterr("config %s: %s", doc.config.digest.str, img_errmsg());
		goto out;
	}
	v->config_digest = doc.config.digest;
	v->cfg_buf = buf;
	v->cfg_len = len;
	if (doc.n != v->config.ndiff) {
		img_seterr("manifest has %zu layers, config %zu diff_ids", doc.n, v->config.ndiff);
		goto out;
	}
	v->nlayers = doc.n;
	v->layers = xcalloc(doc.n + 1, sizeof(*v->layers));
	for (size_t i = 0; i < doc.n; i++) {
		struct img_arcread_ent *le = img_arcimg_blob(a, &doc.items[i].digest);
		if (!le)
			goto out;
		if (le->size != doc.items[i].size) {
			img_seterr("blob %s: size %lld, expected %lld", doc.items[i].digest.str,
			           (long long)le->size, (long long)doc.items[i].size);
			goto out;
		}
		if (layer_from_ent(a, v, i, le, doc.items[i].digest.str) < 0)
			goto out;
		v->layers[i].media_type = xstrdup(doc.items[i].media_type);
	}
	ret = 0;
out:
	img_image_doc_release(&doc);
	return ret;
}

/* Does item it answer to sel (img(7)): a name (normalized: no tag is latest), the bare tag
 * index.json gives it, or a digest (or a prefix of one, "sha256:" optional) of its
 * manifest or config? */
static int item_is(struct img_arcimg *a, struct arc_item *it, const char *sel, const char *canon)
{
	const char *hex = strncmp(sel, "sha256:", 7) == 0 ? sel + 7 : sel;
	size_t n = strlen(hex);

	for (size_t j = 0; canon && it->names && it->names[j]; j++)
		if (strcmp(it->names[j], canon) == 0)
			return 1;
	if (it->bare && strcmp(it->bare, sel) == 0)
		return 1;
	if (!img_ref_is_id(sel) || !img_digest_is_hex(hex, n))
		return 0;
	if (it->kind == ITEM_OCI) {
		struct img_desc d;
		if (img_image_desc_parse(it->json, &d) == 0 && strncmp(img_digest_hex(&d.digest), hex, n) == 0)
			return 1;
		for (size_t c = 0; c < it->nconfigs; c++)
			if (strncmp(img_digest_hex(&it->configs[c]), hex, n) == 0)
				return 1;
	} else {
		struct img_arcread_ent *ce =
			img_arcread_key_resolve(a->r, json_object_get(it->json, "Config"), "config");
		if (ce && strncmp(img_digest_hex(&ce->blob), hex, n) == 0)
			return 1;
	}
	return 0;
}

int img_view_from_archive(struct img_arcimg *a, const char *name,
                          const struct img_platform *platform, struct img_view *v)
{
	struct arc_item *it = NULL;
	int r;

	view_init(v);
	if (name) {
		char *canon = img_ref_is_bare_tag(name) || img_ref_is_id(name) ? NULL
		            : img_ref_normalize(name);
		size_t found = 0;
		if (!canon && !img_ref_is_bare_tag(name) && !img_ref_is_id(name))
			return -1;
		for (size_t i = 0; i < a->nitems; i++)
			if (item_is(a, &a->items[i], name, canon)) {
				if (!it)
					it = &a->items[i];
				found++;
			}
		free(canon);
		if (!it) {
			char *x = img_util_escape_cut(name);
			img_seterr("no image %s in the archive", x);
			free(x);
			return -1;
		}
		if (found > 1) {
			char *x = img_util_escape_cut(name);
			img_seterr("%s names %zu images of the archive", x, found);
			free(x);
			return -1;
		}
	} else if (a->nitems == 1) {
		it = &a->items[0];
	} else {
		img_seterr(a->nitems ? "the archive holds %zu images: name one (FILE#NAME, "
		                       "FILE#TAG or FILE#DIGEST)"
		                     : "the archive holds no image", a->nitems);
		return -1;
	}
	r = it->kind == ITEM_DOCKER ? view_docker(a, it, v) : view_oci(a, it, platform, v);
	if (r < 0) {
		img_view_release(v);
		return -1;
	}
	v->arc = a;
	for (size_t j = 0; it->names && it->names[j]; j++)
		v->names = img_arcimg_names_add(v->names, it->names[j]);
	if (it->kind == ITEM_OCI) {
		struct img_desc td;
		if (img_image_desc_parse(it->json, &td) == 0) {
			v->has_top = 1;
			v->top = td.digest;
		}
	}
	if (it->names && it->names[0])
		v->name = xstrdup(it->names[0]);
	else if (name)
		v->name = xstrdup(name);
	return 0;
}

static int view_bytes(struct img_view *v, const struct img_digest *d, char **buf, size_t *len)
{
	const char *b;

	if (v->store)
		return img_blob_read(v->store, d, IMG_JSON_MAX_BLOB, buf, len);
	if (!v->arc || img_arcimg_blob_mem(v->arc, d, -1, &b, len) < 0)
		return -1;
	*buf = xmalloc(*len + 1);
	memcpy(*buf, b, *len);
	return 0;
}

int img_view_manifest_bytes(struct img_view *v, char **buf, size_t *len)
{
	if (!v->has_manifest) {
		img_seterr("the archive holds no manifest for this image (a docker-save item)");
		return -1;
	}
	return view_bytes(v, &v->manifest_digest, buf, len);
}

int img_view_config_bytes(struct img_view *v, char **buf, size_t *len)
{
	if (v->store)
		return view_bytes(v, &v->config_digest, buf, len);
	*len = v->cfg_len;
	*buf = xmalloc(*len + 1);
	memcpy(*buf, v->cfg_buf, *len);
	return 0;
}

int img_view_open_layer(struct img_view *v, size_t i)
{
	int fd;

	if (i >= v->nlayers) {
		img_seterr("no layer %zu", i);
		return -1;
	}
	if (!v->store) {
		img_seterr("layer %s: an archive's layers are read as it streams",
		           v->layers[i].blob.str);
		return -1;
	}
	fd = img_blob_open(v->store, &v->layers[i].blob);
	if (fd < 0)
		img_seterr("layer %s: %s", v->layers[i].blob.str, img_errmsg());
	return fd;
}

int img_view_layer_records(const struct img_view *v, size_t i, const struct img_tree_layer **l,
                           const char **err)
{
	if (i >= v->nlayers) {
		img_seterr("no layer %zu", i);
		return -1;
	}
	if (v->store || v->layers[i].off >= 0)
		return 0;
	if (!v->layers[i].records) {
		img_seterr("the archive was read without its layers' files");
		return -1;
	}
	*l = v->layers[i].records;
	*err = v->layers[i].records_err;
	return 1;
}

int img_view_layer_blob(struct img_view *v, size_t i, int *fd, struct img_tree_part *part)
{
	memset(part, 0, sizeof(*part));
	if (v->store || i >= v->nlayers) {
		*fd = img_view_open_layer(v, i);
		return *fd < 0 ? -1 : 0;
	}
	*fd = -1;
	if (v->layers[i].off < 0 || !v->arc || v->arc->fd < 0) {
		img_seterr("layer %s: its files were read as the archive streamed",
		           v->layers[i].blob.str);
		return -1;
	}
	*fd = fcntl(v->arc->fd, F_DUPFD_CLOEXEC, 0);
	if (*fd < 0) {
		img_seterr_errno("layer %s", v->layers[i].blob.str);
		return -1;
	}
	part->blob = &v->layers[i].blob;
	part->off = v->layers[i].off;
	part->len = v->layers[i].blob_size;
	return 0;
}

static int count_sink(void *arg, const void *buf, size_t n)
{
	(void)buf;
	*(uint64_t *)arg += n;
	return 0;
}

int img_view_layer_size(struct img_view *v, size_t i, int64_t *out)
{
	unsigned char buf[1 << 16];
	struct img_decomp *d = NULL;
	uint64_t total = 0;
	ssize_t n;
	int fd, ret = -1, first = 1;

	if (v->layers[i].diff_size >= 0) {
		*out = v->layers[i].diff_size;   /* known from reading the archive */
		return 0;
	}
	fd = img_view_open_layer(v, i);
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (first) {
			enum img_comp c = img_comp_sniff(buf, (size_t)n);
			first = 0;
			if (c == IMG_COMP_NONE) {
				*out = v->layers[i].blob_size;
				ret = 0;
				goto out;
			}
			d = img_comp_dec_new(c, 0, count_sink, &total);
			if (!d)
				goto out;
		}
		if (img_comp_dec_write(d, buf, (size_t)n) < 0)
			goto out;
	}
	if (n < 0) {
		img_seterr_errno("read");
		goto out;
	}
	if (first) {
		*out = 0;
		ret = 0;
		goto out;
	}
	if (img_comp_dec_finish(d) < 0)
		goto out;
	*out = (int64_t)total;
	ret = 0;
out:
	img_comp_dec_free(d);
	close(fd);
	return ret;
}
