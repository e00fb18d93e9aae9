/* arcimg: an image archive of any dialect read once by arcread.h (JSON documents in
 * memory, the other files read as layers while they stream: the sink below), the images
 * it holds by the rules of img(7); or only its head, for listing. Views of one image:
 * view.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "util.h"
#include "digest.h"
#include "json.h"
#include "ref.h"
#include "image.h"
#include "store.h"
#include "io.h"
#include "arcin.h"
#include "arcread.h"
#include "dset.h"
#include "tree.h"
#include "lread.h"
#include "arcimg-priv.h"

/* Follow symbolic and hard links inside the archive, as archive keys (never through the
 * file system): the regular file path names. NULL with img_errmsg(). */
struct img_arcread_ent *img_arcimg_resolve(struct img_arcimg *a, const char *path)
{
	enum img_arcread_why why;
	struct img_arcread_ent *e = img_arcread_resolve(a->r, path, &why);
	char *x;

	if (!e) {
		x = img_util_escape_cut(path);
		img_seterr("'%s': %s", x, img_arcread_why_str(why));
		free(x);
	}
	return e;
}

/* An entry's regular file name, or NULL (no error). */
static struct img_arcread_ent *lookup(struct img_arcimg *a, const char *path)
{
	enum img_arcread_why why;

	return img_arcread_resolve(a->r, path, &why);
}

/* ---- the layers' files (IMG_ARCIMG_FILES) ----
 *
 * Which file is a layer is known only once manifest.json or index.json is read, and they
 * may come last. From a pipe, every file not kept in memory is read as a layer as it
 * streams past (a file that is not one just gives no records), on the feed's thread, and
 * only its records are kept (tree.h): the writer of an entry is its records. The feed
 * takes a big compressed entry decompressed (arcread's plain sink): it is inflated once,
 * for its diff_id and its records. From a regular file, the other entries of an
 * uncompressed archive (all of them when the files' contents are wanted) are only
 * hashed: those that turn out to be layers are read back from it when a tool asks, as a
 * store's blobs are. */

struct records {
	struct img_arcimg *a;
	struct img_tree_layer *layer;
	char *err;
	int open;                   /* on the feed, not ended */
};

static int sink_open(void *arg, struct img_arcread_ent *e, int big, void **w)
{
	struct img_arcimg *a = arg;
	struct records *rs;

	/* read back if it is a layer; but a big compressed one is fed, inflated once, unless
	 * the files' contents are wanted (img-diff): that reads back only the layers the two
	 * images do not share */
	if (a->fd >= 0 && e->off >= 0 && (e->comp == IMG_COMP_NONE || !big || a->content)) {
		*w = NULL;
		return 0;
	}
	if (!a->feed && !(a->feed = img_tree_read_feed_new(a->content)))
		return -1;
	rs = xcalloc(1, sizeof(*rs));
	rs->a = a;
	rs->open = 1;
	img_tree_read_feed_begin(a->feed);
	*w = rs;
	return 0;
}

static int sink_write(void *w, const void *buf, size_t n)
{
	return img_tree_read_feed_write(((struct records *)w)->a->feed, buf, n);
}

static int sink_done(void *arg, struct img_arcread_ent *e)
{
	struct records *rs = e->out;

	(void)arg;
	img_tree_read_feed_end(rs->a->feed, &rs->layer, &rs->err);
	rs->open = 0;
	return 0;
}

static void sink_drop(void *w)
{
	struct records *rs = w;

	if (rs->open)
		img_tree_read_feed_abort(rs->a->feed);
	img_tree_read_layer_free(rs->layer);
	free(rs->err);
	free(rs);
}

/* An entry kept in memory (a layer that looked like JSON), given as one block. */
struct mem_src {
	const char *buf;
	size_t len;
	int given;
};

static int mem_next(void *arg, const void **buf, size_t *n)
{
	struct mem_src *m = arg;

	if (m->given)
		return 0;
	m->given = 1;
	*buf = m->buf;
	*n = m->len;
	return 1;
}

int img_arcimg_layer(struct img_arcimg *a, struct img_arcread_ent *e,
                     const struct img_tree_layer **l, const char **err, int64_t *off)
{
	struct records *rs = e->out;

	if (!a->files) {
		img_seterr("the archive was read without its layers' files");
		return -1;
	}
	if (!rs && !e->mem && a->fd >= 0 && e->off >= 0) {
		*off = a->base + e->off;
		return 0;
	}
	if (!rs) {
		struct mem_src m = { e->mem ? e->mem : "", e->memlen, 0 };
		struct img_lread_src src = { mem_next, &m };
		rs = xcalloc(1, sizeof(*rs));
		rs->a = a;
		img_tree_read_layer_read(&src, a->content, &rs->layer, &rs->err);
		e->out = rs;
	}
	*l = rs->layer;
	*err = rs->err;
	return 1;
}

char **img_arcimg_names_add(char **names, const char *name)
{
	size_t n = 0;

	if (!name)
		return names;
	for (; names && names[n]; n++)
		if (strcmp(names[n], name) == 0)
			return names;
	names = xreallocarray(names, n + 2, sizeof(*names));
	names[n] = xstrdup(name);
	names[n + 1] = NULL;
	return names;
}

static void names_add_ref(struct arc_item *it, const char *s)
{
	char *c = s ? img_ref_normalize(s) : NULL;

	if (c)
		it->names = img_arcimg_names_add(it->names, c);
	free(c);
}

/* Is this index.json entry an image (not an artifact, an attestation or a referrer)? */
static int oci_is_image(struct img_arcimg *a, json_t *desc_json)
{
	struct img_desc d;
	const char *buf;
	size_t len;
	struct img_doc doc;
	int r;

	if (img_image_desc_parse(desc_json, &d) < 0)
		return 1;   /* not an image either way: the view says why */
	if (img_image_desc_not_image(&d))
		return 0;
	if (img_image_mt_kind(d.media_type) != IMG_KIND_MANIFEST)
		return 1;
	if (img_arcimg_blob_mem(a, &d.digest, d.size, &buf, &len) < 0 ||
	    img_image_doc_parse(buf, len, d.media_type, &doc) < 0)
		return 1;
	r = img_image_mt_kind(doc.config.media_type) == IMG_KIND_CONFIG;
	img_image_doc_release(&doc);
	return r;
}

/* The images of the archive, by the rule img-load follows (img(7)): each image entry of
 * index.json ("manifests": null is none), then each manifest.json item whose config is not
 * already an image of index.json (its RepoTags name that image). */
static int parse_items(struct img_arcimg *a)
{
	json_t *arr, *v;
	size_t i;

	if (img_arcread_top(a->r, &a->top) < 0)
		return -1;
	if (a->top.manifests && img_delta_from_index(a->top.index, &a->delta) < 0) {
		img_seterr("index.json: %s", img_errmsg());
		return -1;
	}
	arr = a->top.manifests;
	a->items = xcalloc(json_array_size(arr) + json_array_size(a->top.mjson) + 1,
	                   sizeof(*a->items));
	json_array_foreach(arr, i, v) {
		struct arc_item *it;
		json_t *ann;
		const char *ctr = NULL, *rn = NULL, *bare;
		char *canon;
		if (!json_is_object(v)) {
			img_seterr("index.json: entry %zu is not an object", i);
			return -1;
		}
		if (!oci_is_image(a, v))
			continue;
		it = &a->items[a->nitems++];
		it->kind = ITEM_OCI;
		it->json = v;
		if (img_json_obj(v, "annotations", &ann) == 0) {
			(void)img_json_str(ann, IMG_ANN_CTR_NAME, &ctr);
			(void)img_json_str(ann, IMG_ANN_REF_NAME, &rn);
		}
		if (img_ref_archive_name(ctr, rn, NULL, &canon, &bare) == 0) {
			it->names = img_arcimg_names_add(it->names, canon);
			if (bare)
				it->bare = xstrdup(bare);
		}
		free(canon);
		img_arcread_configs(a->r, v, &it->configs, &it->nconfigs, &it->configs_cap);
	}
	json_array_foreach(a->top.mjson, i, v) {
		struct arc_item *it = NULL;
		struct img_arcread_ent *ce;
		json_t *tags = NULL, *t;
		size_t j;
		/* an image index.json has already: only its names */
		if ((ce = img_arcread_key_resolve(a->r, json_object_get(v, "Config"), "config")))
			for (size_t k = 0; k < a->nitems && !it; k++)
				for (size_t c = 0; c < a->items[k].nconfigs; c++)
					if (img_digest_eq(&a->items[k].configs[c], &ce->blob)) {
						it = &a->items[k];
						break;
					}
		if (!it) {
			it = &a->items[a->nitems++];
			it->kind = ITEM_DOCKER;
			it->json = v;
		}
		(void)img_json_arr(v, "RepoTags", &tags);
		json_array_foreach(tags, j, t)
			names_add_ref(it, json_string_value(t));
	}
	return 0;
}

/* ---- reading only the head (listing) ---- */

static void doc_need(struct img_arcimg *a, const struct img_desc *d);

/* A document read: what it reaches is needed in turn. */
static void doc_process(struct img_arcimg *a, struct img_dset_entry *de, size_t idx)
{
	struct img_arcread_ent *e = img_arcread_ent(a->r, a->doc_ent[idx]);
	struct img_doc doc;

	de->flags |= DOC_DONE;
	if (img_image_doc_parse(e->mem, e->memlen, NULL, &doc) < 0)
		return;   /* a config, or not a document: nothing more */
	if (doc.kind == IMG_KIND_MANIFEST) {
		doc_need(a, &doc.config);
	} else {
		for (size_t i = 0; i < doc.n; i++)
			doc_need(a, &doc.items[i]);
	}
	img_image_doc_release(&doc);
}

static void doc_need(struct img_arcimg *a, const struct img_desc *d)
{
	enum img_kind k = img_image_mt_kind(d->media_type);
	struct img_dset_entry *de;
	size_t idx;
	int isnew;

	if (k == IMG_KIND_LAYER || d->size > (int64_t)IMG_JSON_MAX_BLOB)
		return;
	de = img_dset_add(&a->docs, &d->digest, &isnew);
	idx = (size_t)(de - a->docs.e);
	if (isnew)
		a->doc_ent = xreallocarray(a->doc_ent, a->docs.cap, sizeof(*a->doc_ent));
	if (de->flags & (DOC_DONE | DOC_NEEDED))
		return;
	if (de->flags & DOC_SEEN) {
		doc_process(a, de, idx);
	} else {
		de->flags |= DOC_NEEDED;
		a->needed++;
	}
}

/* Entry e (the last added) was read: is the head complete? */
static int head_done(struct img_arcimg *a, struct img_arcread_ent *e)
{
	const char *hex = strncmp(e->path, "blobs/sha256/", 13) == 0 ? e->path + 13 : NULL;

	if (strcmp(e->path, "manifest.json") == 0)
		a->have_manifest_json = 1;
	if (hex && e->mem && strlen(hex) == 64 && img_digest_is_hex(hex, 64)) {
		struct img_digest d;
		char *ds = xasprintf("sha256:%s", hex);
		if (img_digest_parse(ds, &d) == 0) {
			int isnew;
			struct img_dset_entry *de = img_dset_add(&a->docs, &d, &isnew);
			size_t idx = (size_t)(de - a->docs.e);
			if (isnew)
				a->doc_ent = xreallocarray(a->doc_ent, a->docs.cap, sizeof(*a->doc_ent));
			a->doc_ent[idx] = e->seq;
			de->flags |= DOC_SEEN;
			if (de->flags & DOC_NEEDED) {
				de->flags &= ~(unsigned)DOC_NEEDED;
				a->needed--;
				doc_process(a, de, idx);
			}
		}
		free(ds);
	}
	if (strcmp(e->path, "index.json") == 0 && e->mem) {
		json_t *j = img_json_parse(e->mem, e->memlen, IMG_JSON_MAX_ARCHIVE), *arr, *v;
		size_t i;
		struct img_desc d;
		a->have_index = 1;
		arr = j ? json_object_get(j, "manifests") : NULL;
		json_array_foreach(arr, i, v)
			if (img_image_desc_parse(v, &d) == 0)
				doc_need(a, &d);
		json_decref(j);
	}
	return a->have_index && a->have_manifest_json && a->needed == 0;
}

/* arcread's after: 1 once the head is complete (listing only). */
static int after(void *arg, struct img_arcread *r, struct img_arcread_ent *e)
{
	struct img_arcimg *a = arg;

	a->r = r;
	return head_done(a, e);
}

int img_arcimg_read(int fd, unsigned max_ratio, struct img_arcimg **out)
{
	return img_arcimg_read_flags(fd, max_ratio, 0, out);
}

int img_arcimg_read_flags(int fd, unsigned max_ratio, int flags, struct img_arcimg **out)
{
	struct img_arcimg *a = xcalloc(1, sizeof(*a));
	struct stat st;

	*out = NULL;
	a->head = flags & IMG_ARCIMG_HEAD;
	a->files = !a->head && (flags & IMG_ARCIMG_FILES);
	a->fd = -1;
	if (a->files && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (a->base = lseek(fd, 0, SEEK_CUR)) >= 0)
		a->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);   /* the caller may close fd */
	a->content = !!(flags & IMG_ARCIMG_CONTENT);
	a->sink.open = sink_open;
	a->sink.write = sink_write;
	a->sink.done = sink_done;
	a->sink.drop = sink_drop;
	a->sink.arg = a;
	a->sink.plain = 1;          /* the feed's layer reader inflates no big layer again */
	a->ro.max_ratio = max_ratio;
	a->ro.flags = IMG_ARCREAD_VIEW | (a->head ? IMG_ARCREAD_PASS : 0);
	a->ro.sink = a->files ? &a->sink : NULL;
	if (a->head) {
		a->ro.after = after;
		a->ro.after_arg = a;
	}
	a->r = NULL;
	if (img_arcread_read(fd, &a->ro, &a->r) < 0 || parse_items(a) < 0) {
		img_arcimg_free(a);
		return -1;
	}
	img_tree_read_feed_free(a->feed);   /* every layer read: its thread and ring not needed */
	a->feed = NULL;
	*out = a;
	return 0;
}

void img_arcimg_free(struct img_arcimg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nitems; i++) {
		for (size_t j = 0; a->items[i].names && a->items[i].names[j]; j++)
			free(a->items[i].names[j]);
		free(a->items[i].names);
		free(a->items[i].bare);
		free(a->items[i].configs);
	}
	free(a->items);
	img_arcread_free(a->r);
	img_tree_read_feed_free(a->feed);
	if (a->fd >= 0)
		close(a->fd);
	img_arcread_top_release(&a->top);
	img_delta_clear(&a->delta);
	img_dset_clear(&a->docs);
	free(a->doc_ent);
	free(a);
}

/* Sizes, platforms and left-out blobs of what d reaches (documents read from the archive). */
static void sum_desc(struct img_arcimg *a, const struct img_desc *d, int depth,
                     struct img_dset *seen, int64_t *size, json_t *plats, json_t *left, int top)
{
	char *path, pb[128];
	struct img_arcread_ent *e;
	struct img_doc doc;
	int isnew;

	img_dset_add(seen, &d->digest, &isnew);
	if (isnew)
		*size += d->size;
	if (isnew && img_delta_find(&a->delta, &d->digest, NULL))
		json_array_append_new(left, json_pack("{s:s,s:I}", "digest", d->digest.str, "size",
		                                      (json_int_t)d->size));
	if (!top && d->has_platform && !img_image_desc_not_image(d))
		json_array_append_new(plats, json_string(img_image_platform_format(&d->platform, pb, sizeof pb)));
	if (depth > IMG_MAX_INDEX_DEPTH || img_image_mt_kind(d->media_type) == IMG_KIND_LAYER)
		return;
	path = img_digest_blobpath(&d->digest);
	e = lookup(a, path);
	free(path);
	if (!e || !e->mem || img_image_doc_parse(e->mem, e->memlen, d->media_type, &doc) < 0)
		return;
	if (doc.kind == IMG_KIND_MANIFEST) {
		sum_desc(a, &doc.config, depth + 1, seen, size, plats, left, 0);
		if (top || !d->has_platform) {
			/* the platform of a manifest named directly: its config's */
			struct img_config c;
			const char *cb;
			size_t cl;
			if (img_arcimg_blob_mem(a, &doc.config.digest, -1, &cb, &cl) == 0 &&
			    img_image_config_parse(cb, cl, &c) == 0) {
				json_array_append_new(plats, json_string(img_image_platform_format(&c.platform, pb, sizeof pb)));
				img_image_config_release(&c);
			}
		}
	}
	for (size_t i = 0; i < doc.n; i++)
		if (doc.kind == IMG_KIND_MANIFEST || !img_image_desc_not_image(&doc.items[i]))
			sum_desc(a, &doc.items[i], depth + 1, seen, size, plats, left, 0);
	img_image_doc_release(&doc);
}

json_t *img_arcimg_summary(struct img_arcimg *a)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < a->nitems; i++) {
		struct arc_item *it = &a->items[i];
		json_t *o = json_object(), *names = json_array(), *plats = json_array();
		json_t *left = json_array();
		struct img_dset seen = { 0 };
		int64_t size = 0;

		for (size_t j = 0; it->names && it->names[j]; j++)
			json_array_append_new(names, json_string(it->names[j]));
		json_object_set_new(o, "names", names);
		json_object_set_new(o, "tag", it->bare ? json_string(it->bare) : json_null());
		if (it->kind == ITEM_OCI) {
			struct img_desc d;
			if (img_image_desc_parse(it->json, &d) == 0) {
				json_object_set_new(o, "mediaType", json_string(d.media_type));
				json_object_set_new(o, "digest", json_string(d.digest.str));
				sum_desc(a, &d, 0, &seen, &size, plats, left, 1);
			}
			json_object_set_new(o, "config", it->nconfigs == 1 ?
			                    json_string(it->configs[0].str) : json_null());
		} else {
			struct img_arcread_ent *ce, *le;
			json_t *layers, *l;
			size_t k;
			struct img_config c;
			char pb[128];
			json_object_set_new(o, "mediaType", json_null());
			json_object_set_new(o, "digest", json_null());
			if ((ce = img_arcread_key_resolve(a->r, json_object_get(it->json, "Config"),
			                                  "config"))) {
				json_object_set_new(o, "config", json_string(ce->blob.str));
				size += ce->size;
				if (ce->mem && img_image_config_parse(ce->mem, ce->memlen, &c) == 0) {
					json_array_append_new(plats, json_string(
						img_image_platform_format(&c.platform, pb, sizeof pb)));
					img_image_config_release(&c);
				}
			}
			layers = json_object_get(it->json, "Layers");
			json_array_foreach(layers, k, l)
				if ((le = img_arcread_key_resolve(a->r, l, "layer")))
					size += le->size;
		}
		if (!json_object_get(o, "config"))
			json_object_set_new(o, "config", json_null());
		json_object_set_new(o, "platforms", plats);
		json_object_set_new(o, "size", json_integer(size));
		json_object_set_new(o, "leftOut", left);
		json_array_append_new(arr, o);
		img_dset_clear(&seen);
	}
	return arr;
}

size_t img_arcimg_count(const struct img_arcimg *a)
{
	return a->nitems;
}

/* An entry that must hash to d (checked against its sha256). */
struct img_arcread_ent *img_arcimg_blob(struct img_arcimg *a, const struct img_digest *d)
{
	char *path = img_digest_blobpath(d);
	struct img_arcread_ent *e = img_arcimg_resolve(a, path);

	free(path);
	if (!e && img_delta_find(&a->delta, d, NULL)) {
		img_seterr("blob %s: left out of this delta archive (img-load it into a store "
		           "that has the blob)", d->str);
		return NULL;
	}
	if (!e)
		return NULL;
	if (d->alg != IMG_SHA256) {
		img_seterr("blob %s: only sha256 blobs are read from archives", d->str);
		return NULL;
	}
	if (!img_digest_eq(d, &e->blob)) {
		img_seterr("blob %s: digest mismatch (got %s)", d->str, e->blob.str);
		return NULL;
	}
	return e;
}

/* A small blob (manifest, index, config) in memory. */
int img_arcimg_blob_mem(struct img_arcimg *a, const struct img_digest *d, int64_t size,
                    const char **buf, size_t *len)
{
	struct img_arcread_ent *e = img_arcimg_blob(a, d);

	if (!e)
		return -1;
	if (!e->mem) {
		img_seterr("blob %s: not a JSON document of at most %u bytes", d->str,
		           IMG_JSON_MAX_BLOB);
		return -1;
	}
	if (size >= 0 && (int64_t)e->memlen != size) {
		img_seterr("blob %s: size %zu, expected %lld", d->str, e->memlen, (long long)size);
		return -1;
	}
	*buf = e->mem;
	*len = e->memlen;
	return 0;
}

/* The hex digest a path names: "blobs/sha256/<hex>", "<hex>.json", "<hex>.tar", "sha256:<hex>". */
static const char *hex_in_path(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	if (strncmp(b, "sha256:", 7) == 0)
		b += 7;
	if (strlen(b) >= 64 && img_digest_is_hex(b, 64) && (b[64] == '\0' || b[64] == '.'))
		return b;
	return NULL;
}

int img_arcimg_check_named(const struct img_arcread_ent *e)
{
	const char *hex = hex_in_path(e->path);

	if (hex && strncmp(hex, img_digest_hex(&e->blob), 64) != 0 &&
	    strncmp(e->path, "blobs/", 6) == 0) {
		char *x = img_util_escape_cut(e->path);
		img_seterr("'%s': digest mismatch (got %s)", x, e->blob.str);
		free(x);
		return -1;
	}
	return 0;
}

int img_arcimg_operand(const char *arg, char **file, char **sel)
{
	const char *h = strrchr(arg, '#');
	struct stat st;

	*sel = NULL;
	if (!h || h == arg || !h[1] || stat(arg, &st) == 0) {
		*file = xstrdup(arg);
		return 0;
	}
	*file = xstrndup(arg, (size_t)(h - arg));
	*sel = xstrdup(h + 1);
	return 0;
}

