/* img-push: an image of the store to an OCI registry (docker push, skopeo copy).
 *
 * Blobs first, up to --jobs at once: each one the registry has (HEAD) is skipped, one it
 * has in another repository the image came from is mounted, the rest are streamed from
 * the store (one request, or PATCH chunks past --chunk-size, 1 GiB by default). Then the
 * manifests, children before their index, byte for byte, by digest; the tag last. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "reg.h"

#define MAX_MOUNT_FROM 4

enum { OPT_AUTHFILE = 256, OPT_CERT_DIR, OPT_CHUNK, OPT_JSON, OPT_PROGRESS,
       OPT_TLS_VERIFY };

static const struct option longopts[] = {
	{ "authfile",      required_argument, NULL, OPT_AUTHFILE },
	{ "cert-dir",      required_argument, NULL, OPT_CERT_DIR },
	{ "chunk-size",    required_argument, NULL, OPT_CHUNK },
	IMG_CLI_OPT_HELP,
	{ "jobs",          required_argument, NULL, 'j' },
	{ "json",          no_argument,       NULL, OPT_JSON },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "progress",      required_argument, NULL, OPT_PROGRESS },
	{ "quiet",         no_argument,       NULL, 'q' },
	{ "store",         required_argument, NULL, 'S' },
	{ "tls-verify",    required_argument, NULL, OPT_TLS_VERIFY },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

static const char *const synopsis[] = {
	"[-q] [-S DIR] [-j N] [--json] [--progress M] [--chunk-size BYTES] "
	"[--authfile FILE] [--cert-dir DIR] [--tls-verify=BOOL] IMAGE [DEST]",
	NULL
};

static const char help_text[] =
	"Push the image IMAGE of the store to a registry, as DEST (default: IMAGE's name).\n"
	"\n"
	"      --chunk-size BYTES upload blobs bigger than this in chunks of this size\n"
	"                         (default 1 GiB; 0: always in one request)\n"
	"  -h, --help             print this help and exit\n"
	"  -j, --jobs N           upload up to N blobs at once (default 4)\n"
	"      --json             print one JSON document about the push\n"
	"      --progress M       progress on stderr: auto, tty, plain or none\n"
	"  -q, --quiet            no progress\n"
	IMG_CLI_HELP_STORE_PAD("      ")
	IMG_CLI_HELP_REGISTRY
	"      --version          print the version and exit\n";

struct push_opts {
	const char *store;
	const char *image;
	const char *dest;
	int jobs, json, quiet;
	uint64_t chunk;
	enum img_progress_mode progress;
	struct img_reg_opts reg;
};

struct doc {
	char *buf;
	size_t len;
	struct img_digest digest;
	char *mt;
};

struct blob {
	struct img_digest digest;
	int64_t size;
};

struct push {
	const struct push_opts *o;
	struct img_store *s;
	struct img_reg *reg;
	const char *path;                  /* destination repository */
	char *from[MAX_MOUNT_FROM];        /* same-registry repositories the image came from */
	size_t nfrom;
	struct doc *docs;                  /* children before parents */
	size_t ndocs, docs_cap;
	struct blob *blobs;
	size_t nblobs, blobs_cap;
	struct img_progress *pg;           /* shared by the workers, as the counters below */
	_Atomic uint64_t uploaded, bytes, present, mounted;
};

/* ---- what to push ---- */

static void add_blob(struct push *p, const struct img_desc *d)
{
	size_t i;

	for (i = 0; i < p->nblobs; i++)
		if (img_digest_eq(&p->blobs[i].digest, &d->digest))
			return;
	IMG_GROW(p->blobs, p->nblobs + 1, p->blobs_cap);
	p->blobs[p->nblobs].digest = d->digest;
	p->blobs[p->nblobs].size = d->size;
	p->nblobs++;
}

/* Read d (a manifest or an index) from the store, queue what it needs, then itself. */
static int collect(struct push *p, const struct img_desc *d, int depth)
{
	struct img_doc doc;
	struct doc out;
	char *buf, *m;
	size_t len, i;

	for (i = 0; i < p->ndocs; i++)
		if (img_digest_eq(&p->docs[i].digest, &d->digest))
			return 0;
	if (depth > IMG_MAX_INDEX_DEPTH) {
		img_seterr("%s: indexes nested deeper than %d", d->digest.str, IMG_MAX_INDEX_DEPTH);
		return -1;
	}
	if (img_blob_read(p->s, &d->digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		return -1;
	if (d->size >= 0 && (uint64_t)d->size != len) {
		img_seterr("%s: size %zu, expected %lld", d->digest.str, len, (long long)d->size);
		free(buf);
		return -1;
	}
	if (img_image_doc_parse(buf, len, d->media_type, &doc) < 0) {
		m = xstrdup(img_errmsg());
		img_seterr("%s: %s", d->digest.str, m);
		free(m);
		free(buf);
		return -1;
	}
	if (doc.kind == IMG_KIND_MANIFEST) {
		add_blob(p, &doc.config);
		for (i = 0; i < doc.n; i++)
			add_blob(p, &doc.items[i]);
	} else {
		for (i = 0; i < doc.n; i++) {
			enum img_kind k = img_image_mt_kind(doc.items[i].media_type);
			if (k == IMG_KIND_MANIFEST || k == IMG_KIND_INDEX) {
				if (collect(p, &doc.items[i], depth + 1) < 0) {
					img_image_doc_release(&doc);
					free(buf);
					return -1;
				}
			} else {
				add_blob(p, &doc.items[i]);
			}
		}
	}
	out.buf = buf;
	out.len = len;
	out.digest = d->digest;
	out.mt = xstrdup(doc.media_type);
	img_image_doc_release(&doc);
	IMG_GROW(p->docs, p->ndocs + 1, p->docs_cap);
	p->docs[p->ndocs++] = out;
	return 0;
}

/* ---- blob workers ---- */

static void sent(void *arg, uint64_t n)
{
	struct push *p = arg;

	p->bytes += n;
	img_progress_add(p->pg, n);
}

static int push_blob(struct push *p, struct img_reg_conn *c, const struct blob *b)
{
	size_t i;
	int r, fd;

	if ((r = img_reg_api_has_blob(c, p->path, &b->digest, NULL)) < 0)
		return -1;
	if (r == 1) {
		p->present++;
		img_progress_add(p->pg, (uint64_t)b->size);
		return 0;
	}
	for (i = 0; i < p->nfrom; i++) {
		if ((r = img_reg_api_mount_blob(c, p->path, &b->digest, p->from[i])) < 0)
			return -1;
		if (r == 1) {
			p->mounted++;
			img_progress_add(p->pg, (uint64_t)b->size);
			return 0;
		}
	}
	if ((fd = img_blob_open(p->s, &b->digest)) < 0)
		return -1;           /* "blob sha256:...: missing" */
	r = img_reg_api_put_blob(c, p->path, &b->digest, fd, (uint64_t)b->size, p->o->chunk, sent, p);
	close(fd);
	if (r < 0)
		return -1;
	p->uploaded++;
	return 0;
}

/* img_reg_each's item i: blob i. */
static int push_one(void *arg, struct img_reg_conn *c, size_t i)
{
	struct push *p = arg;
	return push_blob(p, c, &p->blobs[i]);
}

static int push_blobs(struct push *p, const char *label)
{
	uint64_t total = 0;
	size_t i;
	int rc, shown;

	for (i = 0; i < p->nblobs; i++)
		total += (uint64_t)p->blobs[i].size;
	p->pg = img_progress_new(p->o->quiet ? IMG_PROGRESS_NONE : p->o->progress, label, total);
	rc = img_reg_each(p->reg, p->nblobs, p->o->jobs, push_one, p);
	shown = img_progress_shown(p->pg);
	img_progress_done(p->pg);
	p->pg = NULL;
	if (shown && rc == 0) {
		char hb[16];
		fprintf(stderr, "%s: %llu blobs uploaded (%s), %llu mounted, %llu present\n",
		        img_util_progname(), (unsigned long long)p->uploaded,
		        img_util_human_size(p->bytes, hb, sizeof(hb)), (unsigned long long)p->mounted,
		        (unsigned long long)p->present);
	}
	return rc;
}

/* ---- the image and where it goes ---- */

/* Resolve IMAGE: its descriptor (deep copy in *entry), its name (canonical, new string or
 * NULL) and the repositories on domain other than path it is known by (mount sources). */
static int find_image(struct push *p, json_t *index, const char *domain, json_t **entry,
                      char **name)
{
	json_t *manifests = json_object_get(index, "manifests"), *e;
	struct img_desc d;
	size_t *m = NULL, n = 0, i;
	char buf[512];
	const char *nm;

	*entry = NULL;
	*name = NULL;
	if (img_store_resolve(p->s, index, p->o->image, &m, &n) < 0)
		return -1;
	e = json_array_get(manifests, m[0]);
	free(m);
	if (!json_is_object(e) || img_image_desc_parse(e, &d) < 0) {
		img_seterr("no such image: %s", p->o->image);
		return -1;
	}
	if ((nm = img_index_entry_name(e, buf, sizeof(buf))))
		*name = xstrdup(nm);
	*entry = json_deep_copy(e);
	/* Names of the same image on the destination registry: repositories to mount from. */
	json_array_foreach(manifests, i, e) {
		struct img_ref r = { 0 };
		const char *dg;
		if (p->nfrom == MAX_MOUNT_FROM)
			break;
		if (img_json_str(e, "digest", &dg) != 0 || strcmp(dg, d.digest.str) != 0 ||
		    !(nm = img_index_entry_name(e, buf, sizeof(buf))) || img_ref_parse(nm, &r) < 0)
			continue;
		if (strcmp(r.domain, domain) == 0 && strcmp(r.path, p->path) != 0) {
			size_t k;
			for (k = 0; k < p->nfrom && strcmp(p->from[k], r.path) != 0; k++)
				;
			if (k == p->nfrom)
				p->from[p->nfrom++] = xstrdup(r.path);
		}
		img_ref_release(&r);
	}
	return 0;
}

static int run(const struct push_opts *o)
{
	struct push p = { .o = o };
	struct img_ref dest = { 0 };
	struct img_reg_conn *c = NULL;
	struct img_desc top;
	json_t *index = NULL, *entry = NULL, *out;
	char *name = NULL, *destname = NULL, *label = NULL, *m;
	const char *tag;
	size_t i;
	int status = 1;

	if (!(p.s = img_cli_open_store(o->store, 0)))
		goto out;
	if (!(index = img_store_index(p.s)))
		goto fail;
	/* DEST, else the name IMAGE was given as, else the image's name. */
	if (o->dest || !img_ref_is_id(o->image)) {
		const char *d = o->dest ? o->dest : o->image;
		if (img_ref_parse(d, &dest) < 0) {
			/* the message starts with "IMAGE: ": DEST named only when it is another */
			if (o->dest)
				img_seterr_prefix("invalid destination '%s'", d);
			goto fail;
		}
	}
	if (dest.domain)
		p.path = dest.path;
	if (find_image(&p, index, dest.domain ? dest.domain : "", &entry, &name) < 0)
		goto fail;
	if (!dest.domain) {
		if (!name) {
			img_seterr("%s has no name: give DEST", o->image);
			goto fail;
		}
		if (img_ref_parse(name, &dest) < 0)
			goto fail;
		p.path = dest.path;
		/* mount sources are found again for this destination */
		json_decref(entry);
		for (i = 0; i < p.nfrom; i++)
			free(p.from[i]);
		p.nfrom = 0;
		free(name);
		if (find_image(&p, index, dest.domain, &entry, &name) < 0)
			goto fail;
	}
	if (img_image_desc_parse(entry, &top) < 0)
		goto fail;
	if (dest.digest && strcmp(dest.digest, top.digest.str) != 0) {
		img_seterr("destination digest %s is not the image's (%s)", dest.digest, top.digest.str);
		goto fail;
	}
	destname = img_ref_canonical(&dest);
	if (collect(&p, &top, 0) < 0)
		goto fail;
	if (img_reg_open(dest.domain, &o->reg, &p.reg) < 0)
		goto fail;
	label = xasprintf("pushing %s", destname);
	if (push_blobs(&p, label) < 0)
		goto fail;
	c = img_reg_conn_new(p.reg);
	tag = dest.digest ? dest.digest : dest.tag;
	for (i = 0; i < p.ndocs; i++) {
		struct doc *d = &p.docs[i];
		int last = i + 1 == p.ndocs;
		if (img_reg_api_put_manifest(c, p.path, last ? tag : d->digest.str, d->mt, d->buf,
		                             d->len) < 0)
			goto fail;
	}
	if (o->json) {
		out = json_object();
		json_object_set_new(out, "name", json_string(destname));
		json_object_set_new(out, "digest", json_string(top.digest.str));
		json_object_set_new(out, "mediaType", json_string(top.media_type));
		json_object_set_new(out, "manifests", json_integer((json_int_t)p.ndocs));
		json_object_set_new(out, "blobsUploaded", json_integer((json_int_t)p.uploaded));
		json_object_set_new(out, "blobsMounted", json_integer((json_int_t)p.mounted));
		json_object_set_new(out, "blobsPresent", json_integer((json_int_t)p.present));
		json_object_set_new(out, "bytesUploaded", json_integer((json_int_t)p.bytes));
		m = json_dumps(out, JSON_PRESERVE_ORDER | JSON_INDENT(2));
		if (m)
			puts(m);
		free(m);
		json_decref(out);
	} else {
		char *repo = img_ref_repo(&dest);
		printf("Pushed: %s%s%s@%s\n", repo, dest.tag && !dest.digest ? ":" : "",
		       dest.tag && !dest.digest ? dest.tag : "", top.digest.str);
		free(repo);
	}
	status = 0;
	goto out;
fail:
	m = img_util_escape(o->image);
	warnx("%s: %s", m, img_errmsg());
	free(m);
out:
	for (i = 0; i < p.ndocs; i++) {
		free(p.docs[i].buf);
		free(p.docs[i].mt);
	}
	for (i = 0; i < p.nfrom; i++)
		free(p.from[i]);
	free(p.docs);
	free(p.blobs);
	free(label);
	free(name);
	free(destname);
	json_decref(entry);
	json_decref(index);
	img_reg_conn_free(c);
	img_reg_free(p.reg);
	img_ref_release(&dest);
	if (p.s)
		img_store_close(p.s);
	return status;
}

int main(int argc, char **argv)
{
	struct push_opts o = { .jobs = 4, .chunk = (uint64_t)1 << 30,
	                       .progress = IMG_PROGRESS_AUTO,
	                       .reg = { .tls_verify = 1, .retries = 3 } };
	char *end;
	long long n;
	int c, v;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "hj:qS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			errno = 0;
			n = strtoll(optarg, &end, 10);
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
		case OPT_AUTHFILE:
			o.reg.authfile = optarg;
			break;
		case OPT_CERT_DIR:
			o.reg.cert_dir = optarg;
			break;
		case OPT_CHUNK:
			errno = 0;
			n = strtoll(optarg, &end, 10);
			if (errno || *end || n < 0 || (n > 0 && n < 1024)) {
				warnx("invalid --chunk-size '%s': 0, or 1024 bytes or more", optarg);
				img_cli_usage(synopsis);
			}
			o.chunk = (uint64_t)n;
			break;
		case OPT_JSON:
			o.json = 1;
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
	if (argc < 1 || argc > 2)
		img_cli_usage(synopsis);
	o.image = argv[0];
	o.dest = argc > 1 ? argv[1] : NULL;
	return img_cli_finish(run(&o));
}
