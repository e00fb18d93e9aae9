/* img-rm: remove names and images from the store (docker image rm, formats.md §7.3).
 *
 * By name: the name goes ("Untagged: nginx:v3"); when it was the image's last name the
 * image goes too. By ID or digest: the image goes with all its names, refused without -f
 * when they span several repositories. Then, unless --no-prune, the blobs of the removed
 * images that no index entry reaches any more are deleted, under the exclusive store lock
 * and after re-reading index.json, so a concurrent writer never loses a blob. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "mark.h"

enum { OPT_NO_PRUNE = 256 };

static const struct option longopts[] = {
	{ "force",        no_argument,       NULL, 'f' },
	IMG_CLI_OPT_HELP,
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "no-prune",     no_argument,       NULL, OPT_NO_PRUNE },
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

struct rm_opts {
	const char *store;
	int force;
	int no_prune;
};

static const char *const synopsis[] = { "[-f] [-S DIR] [--no-prune] IMAGE...", NULL };

static const char help_text[] =
	"Remove names, and images that lose their last name, from the store.\n"
	"IMAGE is a name (nginx:v3), name@digest, or an ID or digest (prefix).\n"
	"\n"
	"  -f, --force        remove an image by ID even when its names span\n"
	"                     several repositories\n"
	"  -h, --help         print this help and exit\n"
	"      --no-prune     keep the blobs of removed images (img-gc collects them)\n"
	IMG_CLI_HELP_STORE
	"      --version      print the version and exit\n";

/* ---- removal ---- */

/* One image deleted by this run. */
struct gone {
	size_t op;              /* operand index */
	struct img_digest top;
	json_t *desc;           /* its descriptor (copy) */
	struct img_mark cand;   /* what it reached when it was deleted */
};

struct lines {
	char **v;
	size_t n, cap;
};

static void lines_add(struct lines *l, char *s)
{
	IMG_GROW(l->v, l->n + 1, l->cap);
	l->v[l->n++] = s;
}

struct rm_txn {
	struct img_store *s;
	const struct rm_opts *o;
	const char *what;
	/* results */
	char **untagged;        /* canonical names */
	size_t nuntagged, cap;
	json_t *deleted;        /* descriptor of the deleted image, or NULL */
};

static void txn_reset(struct rm_txn *t)
{
	size_t i;

	for (i = 0; i < t->nuntagged; i++)
		free(t->untagged[i]);
	free(t->untagged);
	t->untagged = NULL;
	t->nuntagged = t->cap = 0;
	json_decref(t->deleted);
	t->deleted = NULL;
}

/* img_index_name_fn: note a name the run removed (once). */
static void txn_untag(const char *name, void *arg)
{
	struct rm_txn *t = arg;
	size_t i;

	for (i = 0; i < t->nuntagged; i++)
		if (strcmp(t->untagged[i], name) == 0)
			return;
	IMG_GROW(t->untagged, t->nuntagged + 1, t->cap);
	t->untagged[t->nuntagged++] = xstrdup(name);
}

static char *repo_of(const char *canon)
{
	struct img_ref r = { 0 };
	char *repo;

	if (img_ref_parse(canon, &r) < 0)
		return xstrdup(canon);
	repo = img_ref_repo(&r);
	img_ref_release(&r);
	return repo ? repo : xstrdup(canon);
}

static int rm_by_id(struct rm_txn *t, json_t *index, json_t *manifests)
{
	char nbuf[512], *dig, *repo0 = NULL;
	size_t *m = NULL, n = 0, i;
	json_t *e;
	int multi = 0;

	if (img_store_resolve(t->s, index, t->what, &m, &n) < 0)
		return -1;
	e = json_array_get(manifests, m[0]);
	free(m);
	if (!img_index_entry_digest(e)) {
		img_seterr("no such image: %s", t->what);
		errno = ENOENT;
		return -1;
	}
	dig = xstrdup(img_index_entry_digest(e));
	json_array_foreach(manifests, i, e) {
		const char *ed = img_index_entry_digest(e), *name;
		char *repo;

		if (!ed || strcmp(ed, dig) != 0 || !(name = img_index_entry_name(e, nbuf, sizeof(nbuf))))
			continue;
		repo = repo_of(name);
		if (!repo0)
			repo0 = repo;
		else {
			if (strcmp(repo, repo0) != 0)
				multi = 1;
			free(repo);
		}
	}
	free(repo0);
	if (multi && !t->o->force) {
		img_seterr("conflict: unable to delete %s (must be forced) - "
		           "image is referenced in multiple repositories", t->what);
		free(dig);
		return -1;
	}
	img_index_remove_image(index, dig, txn_untag, t, &t->deleted);
	free(dig);
	return 0;
}

static int rm_fn(json_t *index, void *arg)
{
	struct rm_txn *t = arg;
	json_t *manifests = json_object_get(index, "manifests");
	char *canon;
	int rc;

	txn_reset(t);
	if (!json_is_array(manifests)) {
		img_seterr("no such image: %s", t->what);
		errno = ENOENT;
		return -1;
	}
	if (img_ref_is_id(t->what))
		return rm_by_id(t, index, manifests) < 0 ? -1 : 0;
	if (!(canon = img_ref_normalize(t->what))) {
		img_seterr_prefix("%s", t->what);
		return -1;
	}
	if (strchr(canon, '@'))
		rc = rm_by_id(t, index, manifests);
	else if (!img_index_untag(index, canon, txn_untag, t, &t->deleted)) {
		img_seterr("no such image: %s", t->what);
		errno = ENOENT;
		rc = -1;
	} else
		rc = 0;
	free(canon);
	return rc < 0 ? -1 : 0;
}

static char *familiar(const char *canon)
{
	struct img_ref r = { 0 };
	char *f;

	if (img_ref_parse(canon, &r) < 0)
		return xstrdup(canon);
	f = img_ref_familiar(&r);
	img_ref_release(&r);
	return f ? f : xstrdup(canon);
}

/* What one operand did. */
struct opres {
	char **untagged;        /* canonical names */
	size_t nuntagged;
	json_t *deleted;        /* descriptor of the image it deleted, or NULL */
	char *err;
};

static void opres_clear(struct opres *r)
{
	size_t i;

	for (i = 0; i < r->nuntagged; i++)
		free(r->untagged[i]);
	free(r->untagged);
	json_decref(r->deleted);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* All operands in one index transaction: one read and one write of index.json. */
struct batch {
	struct img_store *s;
	const struct rm_opts *o;
	int argc;
	char **argv;
	struct opres *res;
	struct img_dset ids;    /* manifest and config digests of the images deleted */
};

/* Remember the digests an ID of a deleted image may be a prefix of. */
static void record_ids(struct batch *b, json_t *desc)
{
	struct img_desc d;
	struct img_doc doc;
	char *buf = NULL;
	size_t len, i;

	if (img_image_desc_parse(desc, &d) < 0)
		return;
	img_dset_add(&b->ids, &d.digest, NULL);
	if (img_blob_read(b->s, &d.digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		return;
	if (img_image_doc_parse(buf, len, d.media_type, &doc) == 0) {
		if (doc.kind == IMG_KIND_MANIFEST)
			img_dset_add(&b->ids, &doc.config.digest, NULL);
		else
			for (i = 0; i < doc.n; i++)
				img_dset_add(&b->ids, &doc.items[i].digest, NULL);
		img_image_doc_release(&doc);
	}
	free(buf);
}

/* An ID operand that named an image this run already deleted: not an error. */
static int deleted_earlier(const struct batch *b, const char *what)
{
	const char *hex = what;
	size_t i, len;

	if (strncmp(hex, "sha256:", 7) == 0 || strncmp(hex, "sha512:", 7) == 0)
		hex += 7;
	len = strlen(hex);
	if (!len || !img_digest_is_hex(hex, len))
		return 0;
	for (i = 0; i < b->ids.n; i++)
		if (strncmp(img_digest_hex(&b->ids.e[i].d), hex, len) == 0)
			return 1;
	return 0;
}

static int batch_fn(json_t *index, void *arg)
{
	struct batch *b = arg;
	struct rm_txn t;
	int i, changed = 0;

	img_dset_clear(&b->ids);
	for (i = 0; i < b->argc; i++) {
		struct opres *r = &b->res[i];

		opres_clear(r);
		memset(&t, 0, sizeof(t));
		t.s = b->s;
		t.o = b->o;
		t.what = b->argv[i];
		if (rm_fn(index, &t) < 0) {
			int enoent = errno == ENOENT ||
			             strncmp(img_errmsg(), "no such image", 13) == 0;
			if (!(enoent && img_ref_is_id(t.what) && deleted_earlier(b, t.what)))
				r->err = xstrdup(img_errmsg());
			txn_reset(&t);
			continue;
		}
		changed = 1;
		r->untagged = t.untagged;
		r->nuntagged = t.nuntagged;
		r->deleted = t.deleted;
		if (r->deleted)
			record_ids(b, r->deleted);
	}
	return changed ? 0 : 1;
}

/* Delete the blobs the removed images reached that nothing in index.json reaches now.
 * Appends "Deleted:" lines per operand. 0 or -1. */
static int prune(struct img_store *s, struct gone *g, size_t ng, struct lines *out)
{
	struct img_mark live = { 0 };
	struct img_dset done = { 0 };
	json_t *index = NULL;
	size_t i, j;
	int rc = -1, isnew;

	if (img_store_lock(s, IMG_LOCK_EXCLUSIVE, img_cli_waiting, NULL) < 0) {
		warnx("%s", img_errmsg());
		return -1;
	}
	if (!(index = img_store_index(s))) {
		warnx("%s", img_errmsg());
		goto out;
	}
	/* the images of kept containers (img-run) stay */
	if (img_mark_index(&live, s, index, NULL, NULL) < 0 || img_mark_containers(&live, s) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (live.unsafe) {
		warnx("not pruning: %s (see img-gc --check)", live.why);
		goto out;
	}
	rc = 0;
	for (i = 0; i < ng; i++) {
		for (j = 0; j < g[i].cand.set.n; j++) {
			const struct img_digest *d = &g[i].cand.set.e[j].d;
			int r;

			if (img_dset_find(&live.set, d))
				continue;
			img_dset_add(&done, d, &isnew);
			if (!isnew)
				continue;
			if ((r = img_blob_remove(s, d)) > 0)
				lines_add(&out[g[i].op], xasprintf("Deleted: %s", d->str));
			else if (r < 0) {
				warnx("%s", img_errmsg());
				rc = -1;
			}
		}
	}
out:
	json_decref(index);
	img_mark_clear(&live);
	img_dset_clear(&done);
	img_store_unlock(s);
	return rc;
}

static int run(const struct rm_opts *o, int argc, char **argv)
{
	struct img_store *s = NULL;
	struct batch b;
	struct gone *g = NULL;
	struct lines *out;
	size_t ng = 0, gcap = 0, i, j;
	int status = 0;

	if (!(s = img_cli_open_store(o->store, 0)))
		return 1;
	out = xcalloc((size_t)argc, sizeof(*out));
	memset(&b, 0, sizeof(b));
	b.s = s;
	b.o = o;
	b.argc = argc;
	b.argv = argv;
	b.res = xcalloc((size_t)argc, sizeof(*b.res));
	if (img_store_index_update(s, batch_fn, &b) < 0) {
		warnx("%s", img_errmsg());
		status = 1;
		goto out;
	}
	for (i = 0; i < (size_t)argc; i++) {
		struct opres *r = &b.res[i];

		if (r->err) {
			warnx("%s", r->err);
			status = 1;
			continue;
		}
		for (j = 0; j < r->nuntagged; j++) {
			char *f = familiar(r->untagged[j]);
			lines_add(&out[i], xasprintf("Untagged: %s", f));
			free(f);
		}
		if (r->deleted) {
			struct img_desc d;

			IMG_GROW(g, ng + 1, gcap);
			memset(&g[ng], 0, sizeof(g[ng]));
			g[ng].op = i;
			g[ng].desc = r->deleted;
			r->deleted = NULL;
			/* What it reached, while its blobs are still there. */
			if (!o->no_prune && img_image_desc_parse(g[ng].desc, &d) == 0) {
				g[ng].top = d.digest;
				if (img_mark_desc(&g[ng].cand, s, &d) < 0) {
					warnx("%s", img_errmsg());
					status = 1;
				}
			}
			ng++;
		}
	}
	if (ng && !o->no_prune && prune(s, g, ng, out) < 0)
		status = 1;
out:
	for (i = 0; i < (size_t)argc; i++) {
		for (j = 0; j < out[i].n; j++) {
			printf("%s\n", out[i].v[j]);
			free(out[i].v[j]);
		}
		free(out[i].v);
		opres_clear(&b.res[i]);
	}
	free(out);
	free(b.res);
	img_dset_clear(&b.ids);
	for (i = 0; i < ng; i++) {
		json_decref(g[i].desc);
		img_mark_clear(&g[i].cand);
	}
	free(g);
	img_store_close(s);
	return status;
}

int main(int argc, char **argv)
{
	struct rm_opts o = { 0 };
	int c, status;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "fhS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.force = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case OPT_NO_PRUNE:
			o.no_prune = 1;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		img_cli_usage(synopsis);

	status = run(&o, argc, argv);
	return img_cli_finish(status);
}
