/* img-save: images from the store to one archive (design.md §4, formats.md §3.2).
 *
 * The archive is the combined Docker 25+ / OCI layout: oci-layout, index.json,
 * manifest.json and repositories first, then blobs/ and every blob once, the small
 * documents (manifests, indexes, configs) before the layers, each group sorted by digest.
 * Every blob is copied byte for byte from the store and hashed while it is copied. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "delta.h"

#define OUT_BUF      ((size_t)256 << 10) /* coalesced write size to the output */

enum { OPT_HAVE = 256, OPT_PLATFORM, OPT_PROGRESS };

static const struct option longopts[] = {
	{ "have",         required_argument, NULL, OPT_HAVE },
	IMG_CLI_OPT_HELP,
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "output",       required_argument, NULL, 'o' },
	{ "platform",     required_argument, NULL, OPT_PLATFORM },
	{ "progress",     required_argument, NULL, OPT_PROGRESS },
	{ "quiet",        no_argument,       NULL, 'q' },
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 },
};

struct save_opts {
	const char *output;            /* NULL: stdout */
	const char *store;
	const char *have;              /* --have FILE, or NULL */
	int quiet;
	int has_platform;
	struct img_platform platform;
	enum img_progress_mode progress;
};

/* One image as it goes into index.json. */
struct root {
	json_t *desc;                  /* descriptor written to index.json (owned) */
	char *name;                    /* canonical name, or NULL */
	size_t entry;                  /* index of the store's index.json entry */
};

/* One item of manifest.json (an image config). */
struct ditem {
	struct img_digest config;
	json_t *layers;                /* array of archive paths (owned) */
	json_t *tags;                  /* array of familiar name:tag (owned) */
	struct img_digest top;         /* top layer diff_id */
	int has_top;
};

/* One blob of the archive. */
struct blob {
	struct img_digest digest;
	int64_t size;
	int group;                     /* 0: documents, 1: layers and other big blobs */
	int layer;                     /* every descriptor of it is a layer's */
	int omit;                      /* a layer the other side has (--have): left out */
};

struct save {
	struct save_opts *o;
	struct img_store *store;
	json_t *index;                 /* the store's index.json */
	struct root *roots;
	size_t nroots, roots_cap;
	struct ditem *items;
	size_t nitems, items_cap;
	struct blob *blobs;
	size_t nblobs, blobs_cap;
	const char *what;              /* the operand being worked on, for messages */
	struct img_dset have;          /* --have: the blobs the other side holds */
	struct img_delta left;         /* the blobs left out, for index.json's annotation */
};

/* The output sink: coalesces libarchive's blocks into larger writes, remembers EPIPE. */
struct sink {
	int fd;
	char *buf;
	size_t len;
	int epipe;
	int failed;                    /* errno of a failed write, 0 if none */
	struct img_progress *progress;
};

static const char *const synopsis[] = {
	"[-q] [-S DIR] [-o FILE] [--platform P] [--have FILE] [--progress M] IMAGE...",
	NULL
};

static const char help_text[] =
	"Write images from the store as one archive (docker save and OCI layout).\n"
	"\n"
	"      --have FILE     leave out the layers listed in FILE (a delta archive)\n"
	"                      FILE: one digest a line, as img-ls --blobs writes it\n"
	"  -h, --help          print this help and exit\n"
	"  -o, --output FILE   write the archive to FILE (atomically) instead of stdout\n"
	"      --platform P    of a multi-platform image keep only the manifest for P\n"
	"                      (os/arch[/variant])\n"
	"      --progress M    progress on stderr: auto, tty, plain or none\n"
	"  -q, --quiet         no progress\n"
	"  -S, --store DIR     the image store (default $IMG_STORE, else\n"
	"                      $XDG_DATA_HOME/img, else ~/.local/share/img)\n"
	"      --version       print the version and exit\n";

/* ---- output ---- */

static int
sink_flush(struct sink *k)
{
	if (k->len == 0 || k->failed)
		return k->failed ? -1 : 0;
	if (img_io_write_all(k->fd, k->buf, k->len) < 0) {
		k->failed = errno ? errno : EIO;
		if (img_io_is_epipe(errno))
			k->epipe = 1;
		img_seterr_errno("write error");
		return -1;
	}
	img_progress_add(k->progress, k->len);
	k->len = 0;
	return 0;
}

static int
sink_write(void *arg, const void *buf, size_t n)
{
	struct sink *k = arg;
	const char *p = buf;

	if (k->failed) {
		errno = k->failed;
		img_seterr_errno("write error");
		return -1;
	}
	while (n > 0) {
		size_t room = OUT_BUF - k->len, m;

		if (k->len == 0 && n >= OUT_BUF) {
			/* Large writes go out directly. */
			m = n - n % OUT_BUF;
			if (img_io_write_all(k->fd, p, m) < 0) {
				k->failed = errno ? errno : EIO;
				if (img_io_is_epipe(errno))
					k->epipe = 1;
				img_seterr_errno("write error");
				return -1;
			}
			img_progress_add(k->progress, m);
			p += m;
			n -= m;
			continue;
		}
		m = n < room ? n : room;
		memcpy(k->buf + k->len, p, m);
		k->len += m;
		p += m;
		n -= m;
		if (k->len == OUT_BUF && sink_flush(k) < 0)
			return -1;
	}
	return 0;
}

/* ---- collecting ---- */

static int
blob_cmp(const void *a, const void *b)
{
	const struct blob *x = a, *y = b;

	if (x->group != y->group)
		return x->group - y->group;
	return strcmp(x->digest.str, y->digest.str);
}

static int
blob_cmp_digest(const void *a, const void *b)
{
	const struct blob *x = a, *y = b;

	return strcmp(x->digest.str, y->digest.str);
}

static void
blob_add(struct save *sv, const struct img_digest *d, int64_t size, int group, int layer)
{
	IMG_GROW(sv->blobs, sv->nblobs + 1, sv->blobs_cap);
	memset(&sv->blobs[sv->nblobs], 0, sizeof *sv->blobs);
	sv->blobs[sv->nblobs].digest = *d;
	sv->blobs[sv->nblobs].size = size;
	sv->blobs[sv->nblobs].group = group;
	sv->blobs[sv->nblobs].layer = layer;
	sv->nblobs++;
}

static int
walk_fn(struct img_store *s, const struct img_desc *d, int depth, void *arg)
{
	struct save *sv = arg;
	enum img_kind k = img_image_mt_kind(d->media_type);
	int group;

	(void)s;
	(void)depth;
	/* Manifests, indexes and configs are the documents a reader wants first; so are
	 * small blobs of unknown type (artifact configs). Layers go last. */
	if (k == IMG_KIND_LAYER)
		group = 1;
	else
		group = d->size > (int64_t)IMG_JSON_MAX_BLOB;
	blob_add(sv, &d->digest, d->size, group, k == IMG_KIND_LAYER);
	return 0;
}

/* Sort the blobs, merge duplicates (a document wins over a layer), check sizes agree. */
static int
blobs_finish(struct save *sv)
{
	size_t i, j;

	if (sv->nblobs == 0)
		return 0;
	qsort(sv->blobs, sv->nblobs, sizeof *sv->blobs, blob_cmp_digest);
	for (i = 1, j = 0; i < sv->nblobs; i++) {
		if (img_digest_eq(&sv->blobs[i].digest, &sv->blobs[j].digest)) {
			if (sv->blobs[i].size != sv->blobs[j].size) {
				img_seterr("blob %s: referenced with sizes %lld and %lld",
				           sv->blobs[i].digest.str, (long long)sv->blobs[j].size,
				           (long long)sv->blobs[i].size);
				return -1;
			}
			if (sv->blobs[i].group < sv->blobs[j].group)
				sv->blobs[j].group = sv->blobs[i].group;
			sv->blobs[j].layer = sv->blobs[j].layer && sv->blobs[i].layer;
			continue;
		}
		sv->blobs[++j] = sv->blobs[i];
	}
	sv->nblobs = j + 1;
	qsort(sv->blobs, sv->nblobs, sizeof *sv->blobs, blob_cmp);
	/* --have: the layers the other side holds are left out, and said so in index.json */
	for (i = 0; i < sv->nblobs; i++)
		if (sv->blobs[i].layer && img_dset_find(&sv->have, &sv->blobs[i].digest)) {
			sv->blobs[i].omit = 1;
			img_delta_add(&sv->left, &sv->blobs[i].digest, sv->blobs[i].size);
		}
	return 0;
}

/* Give desc (an object we own) exactly the name annotations for name (or none). */
static int
set_names(json_t *desc, const char *name)
{
	json_t *ann = json_object_get(desc, "annotations");

	if (ann && !json_is_object(ann)) {
		img_seterr("invalid annotations in index.json");
		return -1;
	}
	img_index_entry_set_name(desc, name);
	return 0;
}

/* Find the descriptor of digest d in the index top (nested indexes followed), as
 * written there. New reference, or NULL. */
static json_t *
find_in_index(struct save *sv, const struct img_desc *top, const struct img_digest *d, int depth)
{
	struct img_doc doc;
	json_t *found = NULL;
	char *buf = NULL;
	size_t len, i;

	if (depth > IMG_MAX_INDEX_DEPTH ||
	    img_blob_read(sv->store, &top->digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		return NULL;
	if (img_image_doc_parse(buf, len, top->media_type, &doc) < 0) {
		free(buf);
		return NULL;
	}
	for (i = 0; i < doc.n && !found; i++)
		if (img_digest_eq(&doc.items[i].digest, d))
			found = json_deep_copy(doc.items[i].json);
	for (i = 0; i < doc.n && !found; i++)
		if (img_image_mt_kind(doc.items[i].media_type) == IMG_KIND_INDEX)
			found = find_in_index(sv, &doc.items[i], d, depth + 1);
	img_image_doc_release(&doc);
	free(buf);
	return found;
}

/* The descriptor for the manifest md selected from index top: the index's own entry
 * (with its platform). New reference. */
static json_t *
platform_desc(struct save *sv, const struct img_desc *top, const struct img_doc *m,
              const struct img_desc *md, const struct img_config *c)
{
	json_t *d = find_in_index(sv, top, &md->digest, 0), *p;
	const char *mt = m->media_type;

	if (d)
		return d;
	if (!mt)
		mt = img_image_mt_kind(top->media_type) == IMG_KIND_INDEX &&
		     strcmp(top->media_type, IMG_MT_DOCKER_LIST) == 0 ?
		     IMG_MT_DOCKER_MANIFEST : IMG_MT_OCI_MANIFEST;
	d = img_image_desc_new(mt, &md->digest, md->size);
	p = json_object();
	json_object_set_new(p, "architecture", json_string(c->platform.arch));
	json_object_set_new(p, "os", json_string(c->platform.os));
	if (c->platform.variant[0])
		json_object_set_new(p, "variant", json_string(c->platform.variant));
	json_object_set_new(d, "platform", p);
	return d;
}

/* For an index without an image for the host: the platform of its first image entry. */
static int
first_platform(struct save *sv, const struct img_desc *top, struct img_platform *p)
{
	struct img_doc doc;
	char *buf = NULL;
	size_t len, i;
	int rc = -1;

	if (img_blob_read(sv->store, &top->digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		return -1;
	if (img_image_doc_parse(buf, len, top->media_type, &doc) < 0) {
		free(buf);
		return -1;
	}
	for (i = 0; i < doc.n; i++) {
		const struct img_desc *it = &doc.items[i];

		if (img_image_mt_kind(it->media_type) != IMG_KIND_MANIFEST || !it->has_platform ||
		    img_image_desc_not_image(it))
			continue;
		*p = it->platform;
		rc = 0;
		break;
	}
	if (rc < 0)
		img_seterr("no image manifest in index %s", top->digest.str);
	img_image_doc_release(&doc);
	free(buf);
	return rc;
}

/* Add a manifest.json item for the image (config c, manifest m) named name. */
static void
ditem_add(struct save *sv, const struct img_doc *m, const struct img_config *c, const char *name)
{
	struct ditem *it = NULL;
	struct img_ref r;
	size_t i;

	for (i = 0; i < sv->nitems; i++)
		if (img_digest_eq(&sv->items[i].config, &m->config.digest))
			it = &sv->items[i];
	if (!it) {
		char *p;

		IMG_GROW(sv->items, sv->nitems + 1, sv->items_cap);
		it = &sv->items[sv->nitems++];
		memset(it, 0, sizeof *it);
		it->config = m->config.digest;
		it->layers = json_array();
		it->tags = json_array();
		for (i = 0; i < m->n; i++) {
			p = img_digest_blobpath(&m->items[i].digest);
			json_array_append_new(it->layers, json_string(p));
			free(p);
		}
		if (c->ndiff > 0) {
			it->top = c->diff_ids[c->ndiff - 1];
			it->has_top = 1;
		}
	}
	if (!name || img_ref_parse(name, &r) < 0)
		return;
	if (r.tag) {
		char *fam = img_ref_familiar(&r);
		int dup = 0;

		for (i = 0; i < json_array_size(it->tags); i++)
			if (strcmp(json_string_value(json_array_get(it->tags, i)), fam) == 0)
				dup = 1;
		if (!dup)
			json_array_append_new(it->tags, json_string(fam));
		free(fam);
	}
	img_ref_release(&r);
}

/* Image manifest and config of a root, platform-selected. 1 when the root is no image
 * (an artifact or unknown type: saved, but not in manifest.json), 0 ok, -1 error. */
static int
root_image(struct save *sv, const struct img_desc *top, struct img_doc *m,
           struct img_desc *md, struct img_config *c)
{
	enum img_kind k = img_image_mt_kind(top->media_type);
	const struct img_platform *want = sv->o->has_platform ? &sv->o->platform : NULL;

	if (k != IMG_KIND_MANIFEST && k != IMG_KIND_INDEX) {
		if (want) {
			img_seterr("not an image (%s)", top->media_type);
			return -1;
		}
		return 1;
	}
	if (img_store_image(sv->store, top, want, m, md, c) == 0)
		goto got;
	if (k == IMG_KIND_INDEX && !want) {
		/* No manifest for this host: manifest.json gets the first one, as docker does. */
		struct img_platform first;
		char *msg = xstrdup(img_errmsg());

		if (first_platform(sv, top, &first) == 0 &&
		    img_store_image(sv->store, top, &first, m, md, c) == 0) {
			free(msg);
			goto got;
		}
		img_seterr("%s", msg);
		free(msg);
		return -1;
	}
	if (k == IMG_KIND_MANIFEST && !want) {
		/* An artifact manifest whose config is no image config is saved as it is. */
		struct img_doc doc;
		char *buf = NULL, *msg = xstrdup(img_errmsg());
		size_t len;
		int other = 0;

		if (img_blob_read(sv->store, &top->digest, IMG_JSON_MAX_BLOB, &buf, &len) == 0 &&
		    img_image_doc_parse(buf, len, top->media_type, &doc) == 0) {
			other = img_image_mt_kind(doc.config.media_type) != IMG_KIND_CONFIG;
			img_image_doc_release(&doc);
		}
		free(buf);
		if (other) {
			free(msg);
			return 1;
		}
		img_seterr("%s", msg);
		free(msg);
	}
	return -1;
got:
	if (want && k == IMG_KIND_MANIFEST && !img_image_platform_match(want, &c->platform)) {
		char b1[160], b2[160];

		img_seterr("image is for %s, not %s", img_image_platform_format(&c->platform, b1, sizeof b1),
		           img_image_platform_format(want, b2, sizeof b2));
		img_image_doc_release(m);
		img_image_config_release(c);
		return -1;
	}
	return 0;
}

/* Resolve one operand into roots. 0 or -1 (img_errmsg). */
static int
add_operand(struct save *sv, const char *what)
{
	json_t *manifests = json_object_get(sv->index, "manifests");
	size_t *matches = NULL, n = 0, i, j;

	if (img_store_resolve(sv->store, sv->index, what, &matches, &n) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		json_t *entry = json_array_get(manifests, matches[i]);
		char buf[512];
		const char *name;
		int dup = 0;

		if (!entry)
			continue;
		name = img_index_entry_name(entry, buf, sizeof buf);
		for (j = 0; j < sv->nroots; j++)
			if (sv->roots[j].entry == matches[i])
				dup = 1;
		if (dup)
			continue;
		IMG_GROW(sv->roots, sv->nroots + 1, sv->roots_cap);
		sv->roots[sv->nroots].desc = json_deep_copy(entry);
		sv->roots[sv->nroots].name = name ? xstrdup(name) : NULL;
		sv->roots[sv->nroots].entry = matches[i];
		sv->nroots++;
	}
	free(matches);
	return 0;
}

/* Drop an unnamed root whose digest is also saved under a name (the names say it all). */
static void
prune_unnamed(struct save *sv)
{
	size_t i, j, k = 0;

	for (i = 0; i < sv->nroots; i++) {
		struct root *r = &sv->roots[i];
		int drop = 0;

		if (!r->name) {
			const char *d = json_string_value(json_object_get(r->desc, "digest"));

			for (j = 0; j < sv->nroots; j++)
				if (j != i && d && (sv->roots[j].name || j < i) &&
				    json_equal(json_object_get(sv->roots[j].desc, "digest"),
				               json_object_get(r->desc, "digest")))
					drop = 1;
		}
		if (drop) {
			json_decref(r->desc);
			continue;
		}
		sv->roots[k++] = *r;
	}
	sv->nroots = k;
}

/* Select platforms, fill manifest.json items, walk every root into the blob list. */
static int
collect(struct save *sv)
{
	size_t i;

	for (i = 0; i < sv->nroots; i++) {
		struct root *r = &sv->roots[i];
		struct img_desc top, wroot;
		struct img_doc m;
		struct img_desc md;
		struct img_config c;
		int rc;

		sv->what = r->name ? r->name : json_string_value(json_object_get(r->desc, "digest"));
		if (img_image_desc_parse(r->desc, &top) < 0)
			return -1;
		rc = root_image(sv, &top, &m, &md, &c);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (sv->o->has_platform && img_image_mt_kind(top.media_type) == IMG_KIND_INDEX) {
				/* The archive names the selected manifest directly. */
				json_t *d = platform_desc(sv, &top, &m, &md, &c);

				json_decref(r->desc);
				r->desc = d;
			}
			ditem_add(sv, &m, &c, r->name);
			img_image_doc_release(&m);
			img_image_config_release(&c);
		}
		if (set_names(r->desc, r->name) < 0 || img_image_desc_parse(r->desc, &wroot) < 0)
			return -1;
		if (img_store_walk(sv->store, &wroot, 0, walk_fn, sv) < 0)
			return -1;
	}
	sv->what = NULL;
	return blobs_finish(sv);
}

/* Every blob present with its size, before a byte is written. */
static int
check_blobs(struct save *sv, uint64_t *total)
{
	size_t i;

	*total = 0;
	for (i = 0; i < sv->nblobs; i++) {
		int64_t size = -1;
		int rc = img_blob_has(sv->store, &sv->blobs[i].digest, &size);

		if (rc < 0)
			return -1;
		if (rc == 0) {
			img_seterr("blob %s: missing from the store", sv->blobs[i].digest.str);
			return -1;
		}
		if (size != sv->blobs[i].size) {
			img_seterr("blob %s: size %lld, expected %lld", sv->blobs[i].digest.str,
			           (long long)size, (long long)sv->blobs[i].size);
			return -1;
		}
		if (!sv->blobs[i].omit)
			*total += (uint64_t)size + 512;
	}
	return 0;
}

/* ---- the metadata documents ---- */

static char *
index_doc(struct save *sv, size_t *len)
{
	json_t *idx = json_object(), *arr = json_array();
	char *s;
	size_t i;

	json_object_set_new(idx, "schemaVersion", json_integer(2));
	json_object_set_new(idx, "mediaType", json_string(IMG_MT_OCI_INDEX));
	for (i = 0; i < sv->nroots; i++)
		json_array_append(arr, sv->roots[i].desc);
	json_object_set_new(idx, "manifests", arr);
	img_delta_annotate(idx, &sv->left);
	s = img_json_dump(idx, len);
	json_decref(idx);
	return s;
}

static char *
manifest_doc(struct save *sv, size_t *len)
{
	json_t *arr = json_array();
	char *s, *p;
	size_t i;

	for (i = 0; i < sv->nitems; i++) {
		json_t *it = json_object();

		p = img_digest_blobpath(&sv->items[i].config);
		json_object_set_new(it, "Config", json_string(p));
		free(p);
		json_object_set(it, "RepoTags", sv->items[i].tags);
		json_object_set(it, "Layers", sv->items[i].layers);
		json_array_append_new(arr, it);
	}
	s = img_json_dump(arr, len);
	json_decref(arr);
	return s;
}

/* {"nginx":{"v3":"<top layer diff_id hex>"}}, or NULL when nothing is tagged. */
static char *
repositories_doc(struct save *sv, size_t *len)
{
	json_t *repos = json_object();
	char *s = NULL;
	size_t i, j;

	for (i = 0; i < sv->nitems; i++) {
		struct ditem *it = &sv->items[i];

		if (!it->has_top)
			continue;
		for (j = 0; j < json_array_size(it->tags); j++) {
			const char *tag = json_string_value(json_array_get(it->tags, j));
			struct img_ref r;
			char *repo;
			json_t *o;

			if (img_ref_parse(tag, &r) < 0)
				continue;
			repo = img_ref_familiar_repo(&r);
			o = json_object_get(repos, repo);
			if (!o) {
				o = json_object();
				json_object_set_new(repos, repo, o);
			}
			if (r.tag)
				json_object_set_new(o, r.tag, json_string(img_digest_hex(&it->top)));
			free(repo);
			img_ref_release(&r);
		}
	}
	if (json_object_size(repos) > 0)
		s = img_json_dump(repos, len);
	json_decref(repos);
	return s;
}

/* ---- copying blobs ---- */

/* One blob's entry in the archive, for img_blob_copy: its header, then its bytes. */
struct entry {
	struct img_arcout *a;
	const struct blob *b;
};

static int
entry_begin(void *arg)
{
	struct entry *e = arg;
	char *path = img_digest_blobpath(&e->b->digest);
	int rc = img_arcout_file(e->a, path, e->b->size, 0644);

	free(path);
	return rc;
}

static int
entry_data(void *arg, const void *buf, size_t n)
{
	struct entry *e = arg;

	return img_arcout_data(e->a, buf, n);
}

/* Write the archive. 0, or -1 with img_errmsg(); *wfail set when the output failed
 * (rather than the store). */
static int
write_archive(struct save *sv, struct sink *k, uint64_t total, int *wfail)
{
	struct img_arcout *a;
	struct img_blob_copier *cp = NULL;
	char *idx = NULL, *man = NULL, *repos = NULL;
	size_t idx_len = 0, man_len = 0, repos_len = 0, i;
	int64_t mtime = img_util_source_date_epoch();
	int rc = -1, write_failed = 0;
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	int alg;

	if (mtime < 0)
		mtime = 0;
	idx = index_doc(sv, &idx_len);
	man = manifest_doc(sv, &man_len);
	repos = repositories_doc(sv, &repos_len);
	img_progress_set_total(k->progress, total + idx_len + man_len + repos_len + 5 * 1024);

	a = img_arcout_new_sink(sink_write, k, mtime);
	if (!a)
		goto out;
	if (img_arcout_buf(a, "oci-layout", layout, sizeof layout - 1, 0644) < 0 ||
	    img_arcout_buf(a, "index.json", idx, idx_len, 0644) < 0 ||
	    img_arcout_buf(a, "manifest.json", man, man_len, 0644) < 0 ||
	    (repos && img_arcout_buf(a, "repositories", repos, repos_len, 0644) < 0) ||
	    img_arcout_dir(a, "blobs") < 0) {
		write_failed = 1;
		goto out;
	}

	if (!(cp = img_blob_copier_new()))
		goto out;
	/* Directories blobs/<alg>/ right after blobs/, ahead of every blob. */
	for (alg = 0; alg < 2; alg++) {
		for (i = 0; i < sv->nblobs; i++)
			if ((int)sv->blobs[i].digest.alg == alg && !sv->blobs[i].omit)
				break;
		if (i < sv->nblobs &&
		    img_arcout_dir(a, alg == IMG_SHA256 ? "blobs/sha256" : "blobs/sha512") < 0) {
			write_failed = 1;
			goto out;
		}
	}
	for (i = 0; i < sv->nblobs; i++) {
		struct entry e = { a, &sv->blobs[i] };
		int r;

		if (sv->blobs[i].omit)
			continue;
		r = img_blob_copy(cp, sv->store, &e.b->digest, e.b->size, entry_begin, entry_data, &e);
		if (r < 0) {
			write_failed = r == -2;
			goto out;
		}
		if (k->failed) {
			write_failed = 1;
			goto out;
		}
	}
	if (img_arcout_close(a) < 0 || sink_flush(k) < 0) {
		write_failed = 1;
		goto out;
	}
	rc = 0;
out:
	*wfail = rc < 0 && write_failed;
	if (a)
		img_arcout_free(a);
	img_blob_copier_free(cp);
	free(idx);
	free(man);
	free(repos);
	return rc;
}

static void
save_release(struct save *sv)
{
	size_t i;

	for (i = 0; i < sv->nroots; i++) {
		json_decref(sv->roots[i].desc);
		free(sv->roots[i].name);
	}
	free(sv->roots);
	for (i = 0; i < sv->nitems; i++) {
		json_decref(sv->items[i].layers);
		json_decref(sv->items[i].tags);
	}
	free(sv->items);
	free(sv->blobs);
	img_dset_clear(&sv->have);
	img_delta_clear(&sv->left);
	json_decref(sv->index);
	if (sv->store)
		img_store_close(sv->store);
}

static int
run(struct save_opts *o, char **images, int nimages)
{
	struct save sv;
	struct img_out out;
	struct sink k;
	uint64_t total = 0;
	int status = 1, out_open = 0, wfail = 0, i, bad = 0;

	memset(&sv, 0, sizeof sv);
	memset(&k, 0, sizeof k);
	sv.o = o;

	if (!o->output) {
		if (img_io_out_open(&out, NULL) < 0) {
			warnx("%s", img_errmsg());
			return 1;
		}
		out_open = 1;
		if (img_io_out_is_tty(&out)) {
			warnx("refusing to write an archive to a terminal (redirect stdout or use -o FILE)");
			goto out;
		}
	}

	if (o->have) {
		/* the have list first: it may be stdin, and a bad one is a usage problem */
		int fd = img_io_open_in(o->have), r;

		if (fd < 0) {
			warnx("%s", img_errmsg());
			goto out;
		}
		r = img_delta_have_read(fd, &sv.have);
		close(fd);
		if (r < 0) {
			warnx("--have %s: %s", strcmp(o->have, "-") ? img_util_shown(o->have) : "stdin",
			      img_errmsg());
			goto out;
		}
	}
	if (!(sv.store = img_cli_open_store(o->store, 0)))
		goto out;
	if (img_cli_lock_reading(sv.store) < 0)   /* no blob deleted while it is copied */
		goto out;
	sv.index = img_store_index(sv.store);
	if (!sv.index) {
		warnx("%s", img_errmsg());
		goto out;
	}
	for (i = 0; i < nimages; i++) {
		if (add_operand(&sv, images[i]) < 0) {
			warnx("%s", img_errmsg());
			bad = 1;
		}
	}
	if (bad)
		goto out;
	prune_unnamed(&sv);
	if (collect(&sv) < 0) {
		if (sv.what)
			warnx("%s: %s", sv.what, img_errmsg());
		else
			warnx("%s", img_errmsg());
		goto out;
	}
	if (check_blobs(&sv, &total) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}

	if (o->output) {
		if (img_io_out_open(&out, o->output) < 0) {
			warnx("%s", img_errmsg());
			goto out;
		}
		out_open = 1;
	}
	k.fd = out.fd;
	/* A larger pipe means fewer wake-ups of both ends (best effort; Linux only). */
#ifdef F_SETPIPE_SZ
	{
		struct stat st;

		if (fstat(k.fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
		    fcntl(k.fd, F_GETPIPE_SZ) < (int)(1 << 20))
			(void)fcntl(k.fd, F_SETPIPE_SZ, 1 << 20);
	}
#endif
	k.buf = xmalloc(OUT_BUF);
	k.progress = img_progress_new(o->quiet ? IMG_PROGRESS_NONE : o->progress, "saving", total);
	if (write_archive(&sv, &k, total, &wfail) < 0) {
		/* The reader of a pipe went away: stop without a word. */
		if (wfail && k.epipe)
			goto out;
		if (wfail && o->output)
			warnx("%s: %s", o->output, img_errmsg());
		else
			warnx("%s", img_errmsg());
		goto out;
	}
	if (img_io_out_commit(&out) < 0) {
		out_open = 0;
		if (!img_io_is_epipe(errno))
			warnx("%s", img_errmsg());
		goto out;
	}
	out_open = 0;
	status = 0;
out:
	if (out_open)
		img_io_out_abort(&out);
	img_progress_done(k.progress);
	free(k.buf);
	save_release(&sv);
	return status;
}

int
main(int argc, char **argv)
{
	struct save_opts o;
	int c, status;

	img_util_setprogname(argv[0]);
	memset(&o, 0, sizeof o);
	o.progress = IMG_PROGRESS_AUTO;

	while ((c = getopt_long(argc, argv, "ho:qS:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HAVE:
			o.have = optarg;
			break;
		case 'o':
			o.output = strcmp(optarg, "-") == 0 ? NULL : optarg;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case OPT_PLATFORM:
			img_cli_platform(optarg, &o.platform, synopsis);
			o.has_platform = 1;
			break;
		case OPT_PROGRESS:
			o.progress = img_cli_progress(optarg, synopsis);
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		img_cli_usage(synopsis);

	status = run(&o, argv, argc);
	/* quiet: a failed write of the archive on stdout was reported where it failed */
	if (img_io_close_stdout() < 0)
		status = 1;
	return status;
}
