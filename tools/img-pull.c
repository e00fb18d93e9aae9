/* img-pull: images from an OCI registry into the store (docker pull, skopeo copy).
 *
 * The manifest (or index) comes first, byte for byte, verified against the digest asked
 * for or announced; then the blobs it needs that the store lacks, up to --jobs at once,
 * each streamed through the store's blob writer (resuming a partial file an earlier run
 * left) and verified; then the manifests, children before the index; the name last. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"
#include "cli.h"
#include "reg.h"

enum { OPT_ALL = 256, OPT_AUTHFILE, OPT_CERT_DIR, OPT_JSON, OPT_PLATFORM,
       OPT_PROGRESS, OPT_TLS_VERIFY };

static const struct option longopts[] = {
	{ "all-platforms", no_argument,       NULL, OPT_ALL },
	{ "authfile",      required_argument, NULL, OPT_AUTHFILE },
	{ "cert-dir",      required_argument, NULL, OPT_CERT_DIR },
	IMG_CLI_OPT_HELP,
	{ "jobs",          required_argument, NULL, 'j' },
	{ "json",          no_argument,       NULL, OPT_JSON },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "platform",      required_argument, NULL, OPT_PLATFORM },
	{ "progress",      required_argument, NULL, OPT_PROGRESS },
	{ "quiet",         no_argument,       NULL, 'q' },
	{ "store",         required_argument, NULL, 'S' },
	{ "tls-verify",    required_argument, NULL, OPT_TLS_VERIFY },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

static const char *const synopsis[] = {
	"[-q] [-S DIR] [--platform P | --all-platforms] [-j N] [--json] [--progress M] "
	"[--authfile FILE] [--cert-dir DIR] [--tls-verify=BOOL] REF...",
	NULL
};

static const char help_text[] =
	"Pull images from a registry into the store and name each one REF.\n"
	"REF is written as for docker: nginx:1.25 is docker.io/library/nginx:1.25.\n"
	"\n"
	"      --all-platforms    keep the whole index, every platform\n"
	"  -h, --help             print this help and exit\n"
	"  -j, --jobs N           fetch up to N blobs at once (default 4)\n"
	"      --json             print one JSON document about the pulled images\n"
	"      --platform P       the platform to pull from an index (default: this host)\n"
	"      --progress M       progress on stderr: auto, tty, plain or none\n"
	"  -q, --quiet            no progress\n"
	IMG_CLI_HELP_STORE_PAD("      ")
	IMG_CLI_HELP_REGISTRY
	"      --version          print the version and exit\n";

struct pull_opts {
	const char *store;
	struct img_platform platform;
	int all, jobs, json, quiet;
	enum img_progress_mode progress;
	struct img_reg_opts reg;
};

/* A manifest or index fetched, to be stored after its blobs and children. */
struct doc {
	char *buf;
	size_t len;
	struct img_digest digest;
	const char *mt;              /* static */
};

struct blob {
	struct img_digest digest;
	int64_t size;
};

/* One REF being pulled. */
struct pull {
	const struct pull_opts *o;
	struct img_store *s;
	struct img_reg *reg;
	struct img_reg_conn *conn;
	const char *path;            /* repository */
	struct doc *docs;
	size_t ndocs, docs_cap;
	struct blob *blobs;
	size_t nblobs, blobs_cap, skipped;
	struct img_progress *pg;     /* shared by the workers, as the counters below */
	_Atomic uint64_t fetched;    /* bytes received */
	_Atomic uint64_t fetched_blobs;
};

static const char *static_mt(const char *mt)
{
	static const char *const known[] = {
		IMG_MT_OCI_MANIFEST, IMG_MT_DOCKER_MANIFEST, IMG_MT_OCI_INDEX, IMG_MT_DOCKER_LIST,
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (mt && strcmp(mt, known[i]) == 0)
			return known[i];
	return NULL;
}

/* The digest of buf with d's algorithm. */
static void digest_as(const struct img_digest *d, const void *buf, size_t len,
                      struct img_digest *out)
{
	struct img_hash *h;

	if (d->alg == IMG_SHA256) {
		img_digest_buf(buf, len, out);
		return;
	}
	h = img_digest_hash_new(d->alg);
	img_digest_hash_update(h, buf, len);
	img_digest_hash_final(h, out);
	img_digest_hash_free(h);
}

/* GET the manifest ref; when want is non-NULL it must hash to it (and be want_size long
 * when >= 0). Parsed into doc (expect_mt: the descriptor's type, or NULL). 0 or -1. */
static int fetch_doc(struct pull *p, const char *ref, const struct img_digest *want,
                     int64_t want_size, const char *expect_mt, struct img_doc *doc,
                     struct doc *out)
{
	char *buf = NULL, *ct = NULL, *hdr = NULL, *m;
	struct img_digest got, announced;
	size_t len;
	const char *mt;

	memset(out, 0, sizeof(*out));
	if (img_reg_api_get_manifest(p->conn, p->path, ref, IMG_JSON_MAX_BLOB, &buf, &len, &ct,
	                             &hdr) < 0)
		return -1;
	if (want) {
		digest_as(want, buf, len, &got);
		if (!img_digest_eq(&got, want)) {
			img_seterr("manifest %s: digest mismatch (got %s)", want->str, got.str);
			goto fail;
		}
		if (want_size >= 0 && (uint64_t)want_size != len) {
			img_seterr("manifest %s: size %zu, expected %lld", want->str, len,
			           (long long)want_size);
			goto fail;
		}
	} else {
		img_digest_buf(buf, len, &got);
		if (hdr && img_digest_parse(hdr, &announced) == 0 && announced.alg == IMG_SHA256 &&
		    !img_digest_eq(&got, &announced)) {
			img_seterr("manifest %s: digest mismatch: the registry says %s, the bytes are %s",
			           ref, announced.str, got.str);
			goto fail;
		}
	}
	/* The descriptor's type, else the Content-Type when it is one we know. */
	mt = expect_mt ? expect_mt : static_mt(ct);
	if (img_image_doc_parse(buf, len, mt, doc) < 0) {
		m = xstrdup(img_errmsg());
		img_seterr("manifest %s: %s", ref, m);
		free(m);
		goto fail;
	}
	if (!expect_mt && ct && static_mt(ct) && strcmp(ct, doc->media_type) != 0) {
		img_seterr("manifest %s: Content-Type %s but mediaType %s", ref, ct, doc->media_type);
		img_image_doc_release(doc);
		goto fail;
	}
	out->buf = buf;
	out->len = len;
	out->digest = got;
	out->mt = static_mt(doc->media_type);
	if (!out->mt) {
		img_seterr("manifest %s: unsupported media type", ref);
		img_image_doc_release(doc);
		goto fail;
	}
	free(ct);
	free(hdr);
	return 0;
fail:
	errno = EINVAL;
	free(buf);
	free(ct);
	free(hdr);
	return -1;
}

static void add_blob(struct pull *p, const struct img_desc *d)
{
	size_t i;

	for (i = 0; i < p->nblobs; i++)
		if (img_digest_eq(&p->blobs[i].digest, &d->digest))
			return;
	if (img_blob_has(p->s, &d->digest, NULL) == 1) {
		p->skipped++;
		return;
	}
	IMG_GROW(p->blobs, p->nblobs + 1, p->blobs_cap);
	p->blobs[p->nblobs].digest = d->digest;
	p->blobs[p->nblobs].size = d->size;
	p->nblobs++;
}

static void add_doc(struct pull *p, struct doc *d)
{
	IMG_GROW(p->docs, p->ndocs + 1, p->docs_cap);
	p->docs[p->ndocs++] = *d;
}

static int need(struct pull *p, struct img_doc *doc, struct doc *d, int depth, struct doc *top);

/* Fetch the manifest or index e of an index, and what it needs. 0 or -1. */
static int fetch_child(struct pull *p, const struct img_desc *e, int depth)
{
	struct img_doc child;
	struct doc cd;
	int rc;

	if (fetch_doc(p, e->digest.str, &e->digest, e->size, e->media_type, &child, &cd) < 0)
		return -1;
	rc = need(p, &child, &cd, depth + 1, NULL);
	img_image_doc_release(&child);
	if (rc < 0)
		free(cd.buf);
	return rc;
}

/* Walk what doc (already fetched, as d) needs: blobs of a manifest; children of an index
 * (every one with --all-platforms, else the one for the platform: *top then becomes it).
 * Documents are queued children first. 0 or -1. */
static int need(struct pull *p, struct img_doc *doc, struct doc *d, int depth, struct doc *top)
{
	size_t i;

	if (doc->kind == IMG_KIND_MANIFEST) {
		add_blob(p, &doc->config);
		for (i = 0; i < doc->n; i++)
			add_blob(p, &doc->items[i]);
		add_doc(p, d);
		return 0;
	}
	if (depth >= IMG_MAX_INDEX_DEPTH) {
		img_seterr("%s: indexes nested deeper than %d", d->digest.str, IMG_MAX_INDEX_DEPTH);
		return -1;
	}
	if (!p->o->all) {
		/* The platform's manifest; the index itself is not kept: the image is it. */
		long pick = img_image_index_pick(doc, &p->o->platform, NULL, NULL);
		if (pick < 0) {
			char pb[128];
			img_seterr("%s: no manifest for platform %s", d->digest.str,
			           img_image_platform_format(&p->o->platform, pb, sizeof pb));
			return -1;
		}
		if (fetch_child(p, &doc->items[pick], depth) < 0)
			return -1;
		if (depth == 0)
			*top = p->docs[p->ndocs - 1];
		free(d->buf);
		d->buf = NULL;
		return 0;
	}
	for (i = 0; i < doc->n; i++) {
		const struct img_desc *e = &doc->items[i];
		enum img_kind k = img_image_mt_kind(e->media_type);

		if (k != IMG_KIND_MANIFEST && k != IMG_KIND_INDEX)
			add_blob(p, e);      /* an artifact: kept as a blob */
		else if (fetch_child(p, e, depth) < 0)
			return -1;
	}
	add_doc(p, d);
	return 0;
}

/* ---- blob workers ---- */

struct fetch {
	struct pull *p;
	struct img_blob_writer *w;
	const struct blob *b;
};

static int sink(void *arg, uint64_t off, const void *buf, size_t n)
{
	struct fetch *f = arg;
	uint64_t have = img_blob_written(f->w);

	if (off == 0 && have > 0 && img_blob_restart(f->w) < 0)
		return -1;
	else if (off != img_blob_written(f->w)) {
		img_seterr("blob %s: the registry sent bytes from %llu, expected %llu",
		           f->b->digest.str, (unsigned long long)off,
		           (unsigned long long)img_blob_written(f->w));
		return -1;
	}
	if (img_blob_written(f->w) + n > (uint64_t)f->b->size) {
		img_seterr("blob %s: more bytes than its size %lld", f->b->digest.str,
		           (long long)f->b->size);
		return -1;
	}
	if (img_blob_write(f->w, buf, n) < 0)
		return -1;
	f->p->fetched += n;
	img_progress_add(f->p->pg, n);
	return 0;
}

static int fetch_blob(struct pull *p, struct img_reg_conn *c, const struct blob *b)
{
	struct fetch f = { .p = p, .b = b };
	uint64_t have;
	int attempt;

	for (attempt = 0;; attempt++) {
		if (img_blob_begin_resume(p->s, &b->digest, b->size, &f.w) < 0)
			return -1;
		have = img_blob_written(f.w);
		img_progress_add(p->pg, have);
		if (img_reg_api_get_blob(c, p->path, &b->digest, have, sink, &f) < 0) {
			img_blob_keep(f.w);      /* what came stays for the next run */
			return -1;
		}
		if (img_blob_commit(f.w, &b->digest, b->size, NULL) == 0)
			break;
		/* The commit removed the bytes. When they began with a kept partial file,
		 * that file may have been the bad part: once more, from byte 0. */
		if (have == 0 || attempt > 0) {
			img_seterr_prefix("blob %s", b->digest.str);
			return -1;
		}
	}
	p->fetched_blobs++;
	return 0;
}

/* img_reg_each's item i: blob i. */
static int fetch_one(void *arg, struct img_reg_conn *c, size_t i)
{
	struct pull *p = arg;
	return fetch_blob(p, c, &p->blobs[i]);
}

static int fetch_blobs(struct pull *p, const char *label)
{
	uint64_t total = 0;
	size_t i;
	int rc, shown;

	for (i = 0; i < p->nblobs; i++)
		total += (uint64_t)p->blobs[i].size;
	p->pg = img_progress_new(p->o->quiet ? IMG_PROGRESS_NONE : p->o->progress, label, total);
	rc = img_reg_each(p->reg, p->nblobs, p->o->jobs, fetch_one, p);
	shown = img_progress_shown(p->pg);
	img_progress_done(p->pg);
	p->pg = NULL;
	if (shown && rc == 0) {
		char hb[16];
		fprintf(stderr, "%s: %llu blobs fetched (%s), %zu present\n", img_util_progname(),
		        (unsigned long long)p->fetched_blobs, img_util_human_size(p->fetched, hb, sizeof(hb)),
		        p->skipped);
	}
	return rc;
}

/* ---- storing and naming ---- */

struct name_txn {
	const char *name;
	json_t *desc;
};

static int name_fn(json_t *index, void *arg)
{
	struct name_txn *t = arg;

	return img_index_set_name(index, t->name, t->desc) < 0 ? -1 : 0;
}

static int store_docs(struct pull *p)
{
	struct img_blob_writer *w;
	size_t i;

	for (i = 0; i < p->ndocs; i++) {
		struct doc *d = &p->docs[i];
		if (img_blob_begin(p->s, &w) < 0)
			return -1;
		if (img_blob_write(w, d->buf, d->len) < 0) {
			img_blob_abort(w);
			return -1;
		}
		if (img_blob_commit(w, &d->digest, (int64_t)d->len, NULL) < 0)
			return -1;
	}
	return 0;
}

static void free_docs(struct pull *p)
{
	size_t i;

	for (i = 0; i < p->ndocs; i++)
		free(p->docs[i].buf);
	free(p->docs);
	p->docs = NULL;
	p->ndocs = p->docs_cap = 0;
}

/* Pull one REF. 0 or -1 (img_errmsg). *jout gets a JSON object when asked. */
static int pull_one(const struct pull_opts *o, struct img_store *s, const char *arg,
                    json_t *jout)
{
	struct img_ref r = { 0 };
	struct pull p = { .o = o, .s = s };
	struct img_doc doc;
	struct doc top, first;
	struct img_digest want;
	char *name = NULL, *label = NULL;
	json_t *desc;
	int rc = -1, have_doc = 0;

	if (img_ref_parse(arg, &r) < 0)
		goto out;    /* "REF: why" */
	name = img_ref_canonical(&r);
	p.path = r.path;
	if (img_reg_open(r.domain, &o->reg, &p.reg) < 0)
		goto out;
	p.conn = img_reg_conn_new(p.reg);
	if (r.digest && img_digest_parse(r.digest, &want) < 0)
		goto out;
	if (fetch_doc(&p, r.digest ? r.digest : r.tag, r.digest ? &want : NULL, -1, NULL, &doc,
	              &first) < 0)
		goto out;
	have_doc = 1;
	top = first;
	if (need(&p, &doc, &first, 0, &top) < 0)
		goto out;
	label = xasprintf("pulling %s", name);
	if (fetch_blobs(&p, label) < 0)
		goto out;
	if (store_docs(&p) < 0)
		goto out;
	desc = img_image_desc_new(top.mt, &top.digest, (int64_t)top.len);
	{
		struct name_txn t = { .name = name, .desc = desc };
		rc = img_store_index_update(s, name_fn, &t);
	}
	json_decref(desc);
	if (rc < 0)
		goto out;
	if (jout) {
		json_object_set_new(jout, "name", json_string(name));
		json_object_set_new(jout, "digest", json_string(top.digest.str));
		json_object_set_new(jout, "mediaType", json_string(top.mt));
		json_object_set_new(jout, "size", json_integer((json_int_t)top.len));
		json_object_set_new(jout, "blobsFetched", json_integer((json_int_t)p.fetched_blobs));
		json_object_set_new(jout, "blobsPresent", json_integer((json_int_t)p.skipped));
		json_object_set_new(jout, "bytesFetched", json_integer((json_int_t)p.fetched));
	} else {
		char *base = r.digest ? img_ref_repo(&r) : xstrdup(name);
		printf("Pulled: %s@%s\n", base, top.digest.str);
		free(base);
	}
	rc = 0;
out:
	if (have_doc)
		img_image_doc_release(&doc);
	if (have_doc && first.buf) {
		/* Owned by docs once queued; else (a failure before) ours. */
		size_t k;
		for (k = 0; k < p.ndocs && p.docs[k].buf != first.buf; k++)
			;
		if (k == p.ndocs)
			free(first.buf);
	}
	free_docs(&p);
	free(p.blobs);
	free(label);
	free(name);
	img_reg_conn_free(p.conn);
	img_reg_free(p.reg);
	img_ref_release(&r);
	return rc;
}

static int run(const struct pull_opts *o, int argc, char **argv)
{
	struct img_store *s;
	json_t *out = NULL, *arr = NULL;
	int status = 0, i;

	if (!(s = img_cli_open_store(o->store, IMG_STORE_CREATE)))
		return 1;
	if (img_store_lock(s, IMG_LOCK_SHARED, img_cli_waiting, NULL) < 0) {
		warnx("%s", img_errmsg());
		img_store_close(s);
		return 1;
	}
	if (o->json) {
		out = json_object();
		arr = json_array();
		json_object_set_new(out, "images", arr);
	}
	for (i = 0; i < argc; i++) {
		json_t *j = o->json ? json_object() : NULL;
		if (pull_one(o, s, argv[i], j) < 0) {
			char *q = img_util_escape(argv[i]);
			warnx("%s: %s", q, img_errmsg());
			free(q);
			status = 1;
			json_decref(j);
			continue;
		}
		if (j)
			json_array_append_new(arr, j);
	}
	if (out) {
		char *txt = json_dumps(out, JSON_PRESERVE_ORDER | JSON_INDENT(2));
		if (txt)
			puts(txt);
		free(txt);
		json_decref(out);
	}
	img_store_close(s);
	return status;
}

int main(int argc, char **argv)
{
	struct pull_opts o = { .jobs = 4, .progress = IMG_PROGRESS_AUTO,
	                       .reg = { .tls_verify = 1, .retries = 3 } };
	int c, have_platform = 0, v;
	char *end;
	long n;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "hj:qS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || n < 1 || n > 64) {
				warnx("invalid --jobs '%s': 1 to 64", optarg);
				img_cli_usage(synopsis);
			}
			o.jobs = (int)n;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case OPT_ALL:
			o.all = 1;
			break;
		case OPT_AUTHFILE:
			o.reg.authfile = optarg;
			break;
		case OPT_CERT_DIR:
			o.reg.cert_dir = optarg;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_PLATFORM:
			img_cli_platform(optarg, &o.platform, synopsis);
			have_platform = 1;
			break;
		case OPT_PROGRESS:
			o.progress = img_cli_progress(optarg, synopsis);
			break;
		case OPT_TLS_VERIFY:
			if ((v = img_cli_bool(optarg)) < 0) {
				warnx("invalid --tls-verify '%s': true or false", optarg);
				img_cli_usage(synopsis);
			}
			o.reg.tls_verify = v;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		img_cli_usage(synopsis);
	if (have_platform && o.all) {
		warnx("--platform and --all-platforms exclude each other");
		img_cli_usage(synopsis);
	}
	if (!have_platform)
		img_image_platform_host(&o.platform);
	return img_cli_finish(run(&o, argc, argv));
}
