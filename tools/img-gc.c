/* img-gc: delete what no image needs from the store, or check it (--check).
 *
 * Mark and sweep under the exclusive store lock: every descriptor in index.json is a root;
 * the walk goes through nested indexes, manifests, configs, layers and subject; blobs of
 * unknown media types are kept. Every unmarked blob in blobs/sha256 and blobs/sha512 and
 * every file in .img/tmp is deleted (writers hold the store lock shared while they own
 * temp files, so none is in use). If a reachable manifest or index is present but cannot
 * be read, what it references is unknown and nothing is deleted.
 *
 * --check verifies every reachable blob (present, size, digest) with two or more threads
 * and parses every manifest, index and config strictly; it deletes nothing. */
#include <dirent.h>
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
#include "mark.h"
#include "run.h"

enum { OPT_CHECK = 256, OPT_DANGLING, OPT_JSON };

static const struct option longopts[] = {
	{ "check",        no_argument,       NULL, OPT_CHECK },
	{ "dangling",     no_argument,       NULL, OPT_DANGLING },
	{ "dry-run",      no_argument,       NULL, 'n' },
	IMG_CLI_OPT_HELP,
	{ "json",         no_argument,       NULL, OPT_JSON },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

struct gc_opts {
	const char *store;
	int check;
	int dangling;
	int dry_run;
	int json;
};

#define MAX_THREADS 8

static const char *const synopsis[] = {
	"[-n] [-S DIR] [--dangling] [--json]",
	"[-S DIR] --check [--json]",
	NULL
};

static const char help_text[] =
	"Delete the blobs no image in the store needs, and stale temporary files;\n"
	"or check every blob the images need.\n"
	"\n"
	"      --check        verify every reachable blob (present, size, digest) and\n"
	"                     parse every manifest, index and config; delete nothing\n"
	"      --dangling     first remove the unnamed images from index.json\n"
	"  -h, --help         print this help and exit\n"
	"      --json         print one JSON document on stdout\n"
	"  -n, --dry-run      print what would be deleted, delete nothing\n"
	IMG_CLI_HELP_STORE
	"      --version      print the version and exit\n";

/* What --check knows of each marked blob, by its index in the mark set. */
struct binfo {
	enum img_kind kind;
	int64_t size;           /* first descriptor's size */
	int urls;               /* a layer with urls: may be absent */
	char *problem;          /* JSON problem found during the walk */
	char *vproblem;         /* what verification found */
};

struct checker {
	struct binfo *info;     /* one per entry of the mark set */
	size_t cap;
};

/* --check: read a JSON blob without trusting it (the digest is checked by the workers)
 * and parse it strictly as its descriptor says. NULL, or the problem. */
static char *check_json(struct img_store *s, const struct img_desc *d, enum img_kind k)
{
	char *buf = NULL, *p = NULL;
	size_t len;
	int fd;

	if ((fd = img_blob_open(s, &d->digest)) < 0)
		return NULL;                  /* reported as missing by verification */
	if (img_json_read_capped(fd, IMG_JSON_MAX_BLOB, &buf, &len) < 0) {
		p = xasprintf("%s", img_errmsg());
	} else if (k == IMG_KIND_CONFIG) {
		struct img_config c;
		if (img_image_config_parse(buf, len, &c) < 0)
			p = xasprintf("%s", img_errmsg());
		else
			img_image_config_release(&c);
	} else {
		struct img_doc doc;
		if (img_image_doc_parse(buf, len, d->media_type, &doc) < 0)
			p = xasprintf("%s", img_errmsg());
		else
			img_image_doc_release(&doc);
	}
	free(buf);
	close(fd);
	return p;
}

/* Mark hook of --check: note sizes and urls, parse configs, manifests and indexes. */
static int check_visit(struct img_mark *m, struct img_store *s, const struct img_desc *d,
                       size_t idx, int isnew)
{
	struct checker *c = m->arg;
	enum img_kind k = img_image_mt_kind(d->media_type);
	struct binfo *b;

	IMG_GROW(c->info, idx + 1, c->cap);
	b = &c->info[idx];
	if (isnew) {
		memset(b, 0, sizeof(*b));
		b->kind = k;
		b->size = d->size;
		b->urls = k == IMG_KIND_LAYER && json_is_array(json_object_get(d->json, "urls")) &&
		          json_array_size(json_object_get(d->json, "urls")) > 0;
		if (k == IMG_KIND_CONFIG)
			b->problem = check_json(s, d, k);
	}
	if ((k == IMG_KIND_MANIFEST || k == IMG_KIND_INDEX) &&
	    !(m->set.e[idx].flags & IMG_MARK_EXPANDED) && !b->problem)
		b->problem = check_json(s, d, k);
	return 0;
}

static void checker_clear(struct checker *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c->info[i].problem);
		free(c->info[i].vproblem);
	}
	free(c->info);
	memset(c, 0, sizeof(*c));
}

/* ---- --dangling ---- */

static int is_referrer(json_t *e)
{
	return !img_index_entry_named(e) && img_index_entry_annotation(e, IMG_ANN_CTR_SUBJECT);
}

static int pick_not_referrer(json_t *e, void *arg)
{
	(void)arg;
	return !is_referrer(e);
}

static int subject_kept(json_t *e, const struct img_mark *m)
{
	struct img_digest d;

	return img_digest_parse(img_index_entry_annotation(e, IMG_ANN_CTR_SUBJECT), &d) == 0 &&
	       img_dset_find(&m->set, &d);
}

struct dangling {
	struct img_store *s;
	int dry_run;
	json_t *index;          /* the index the sweep marks from (a reference) */
	size_t removed;
};

/* Remove unnamed entries, then referrer entries whose subject no kept image reaches. */
static int dangling_apply(struct img_store *s, json_t *index, size_t *removed)
{
	json_t *manifests = json_object_get(index, "manifests"), *e;
	struct img_mark m = { 0 };
	size_t i;
	int changed;

	if (!json_is_array(manifests))
		return 0;
	for (i = json_array_size(manifests); i-- > 0;) {
		e = json_array_get(manifests, i);
		if (!img_index_entry_named(e) && !is_referrer(e)) {
			json_array_remove(manifests, i);
			(*removed)++;
		}
	}
	if (img_mark_index(&m, s, index, pick_not_referrer, NULL) < 0) {
		img_mark_clear(&m);
		return -1;
	}
	if (m.unsafe) {                 /* what is reachable is unknown: keep every referrer */
		img_mark_clear(&m);
		return 0;
	}
	/* A referrer of a kept referrer is kept too: repeat until nothing changes. */
	do {
		changed = 0;
		json_array_foreach(manifests, i, e) {
			struct img_desc d;
			if (!is_referrer(e) || !subject_kept(e, &m) || img_image_desc_parse(e, &d) < 0 ||
			    img_dset_find(&m.set, &d.digest))
				continue;
			if (img_mark_desc(&m, s, &d) < 0) {
				img_mark_clear(&m);
				return -1;
			}
			changed = 1;
		}
	} while (changed);
	for (i = json_array_size(manifests); i-- > 0;) {
		struct img_desc d;
		e = json_array_get(manifests, i);
		if (!is_referrer(e))
			continue;
		if (img_image_desc_parse(e, &d) == 0 && img_dset_find(&m.set, &d.digest))
			continue;
		if (subject_kept(e, &m))
			continue;
		json_array_remove(manifests, i);
		(*removed)++;
	}
	img_mark_clear(&m);
	return 0;
}

static int dangling_fn(json_t *index, void *arg)
{
	struct dangling *g = arg;

	g->removed = 0;
	if (dangling_apply(g->s, index, &g->removed) < 0)
		return -1;
	json_decref(g->index);
	g->index = json_incref(index);
	return g->removed ? 0 : 1;
}

/* ---- sweep ---- */

struct victim {
	struct img_digest d;
	int64_t size;
};

static int victim_cmp(const void *a, const void *b)
{
	return strcmp(((const struct victim *)a)->d.str, ((const struct victim *)b)->d.str);
}

struct victims {
	const struct img_mark *m;
	struct victim *v;
	size_t n, cap;
};

/* The unmarked blobs. */
static int add_victim(const struct img_digest *d, int64_t size, void *arg)
{
	struct victims *vs = arg;

	if (img_dset_find(&vs->m->set, d))
		return 0;
	IMG_GROW(vs->v, vs->n + 1, vs->cap);
	vs->v[vs->n].d = *d;
	vs->v[vs->n++].size = size;
	return 0;
}

static void tmp_failed(const char *path, void *arg)
{
	(void)arg;
	warn("cannot remove '%s'", path);
}

/* ---- the run area ---- */

static int keep_unpacked(void *arg, const struct img_digest *d)
{
	return img_dset_find(&((struct img_mark *)arg)->set, d) != 0;
}

/* Bundles of containers runc no longer knows go; the images of the others are marked
 * (a kept container's image stays); unpacked images nothing marked go. */
static int gc_run_area(struct img_store *s, int dry_run, struct img_mark *m)
{
	size_t removed;

	if (img_run_prune_containers(s, dry_run, &removed) < 0 ||
	    img_mark_containers(m, s) < 0)
		return -1;
	if (!dry_run && !m->unsafe &&
	    img_run_prune_images(s, keep_unpacked, m, &removed) < 0)
		return -1;
	return 0;
}

static int gc(struct img_store *s, const struct gc_opts *o)
{
	struct dangling dg = { 0 };
	struct img_mark m = { 0 };
	struct victims vs = { .m = &m };
	size_t i;
	uint64_t reclaimed = 0, tmpbytes = 0;
	json_t *index = NULL, *jdel = NULL;
	char hbuf[32];
	int status = 1;

	if (img_store_lock(s, IMG_LOCK_EXCLUSIVE, img_cli_waiting, NULL) < 0) {
		warnx("%s", img_errmsg());
		return 1;
	}
	if (o->dangling && !o->dry_run) {
		dg.s = s;
		if (img_store_index_update(s, dangling_fn, &dg) < 0) {
			warnx("%s", img_errmsg());
			goto out;
		}
		index = dg.index;
		dg.index = NULL;
	} else {
		if (!(index = img_store_index(s))) {
			warnx("%s", img_errmsg());
			goto out;
		}
		if (o->dangling && dangling_apply(s, index, &dg.removed) < 0) {
			warnx("%s", img_errmsg());
			goto out;
		}
	}
	if (img_mark_index(&m, s, index, NULL, NULL) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (gc_run_area(s, o->dry_run, &m) < 0) {
		warnx("not collecting: %s", img_errmsg());
		goto out;
	}
	if (m.unsafe) {
		warnx("not collecting: %s (see img-gc --check)", m.why);
		goto out;
	}
	if (img_blob_list(s, add_victim, &vs) < 0) {
		warn("cannot read the blobs of '%s'", img_store_path(s));
		goto out;
	}
	if (vs.n)
		qsort(vs.v, vs.n, sizeof(*vs.v), victim_cmp);
	status = 0;
	if (o->json)
		jdel = json_array();
	for (i = 0; i < vs.n; i++) {
		struct victim *v = &vs.v[i];

		if (!o->dry_run && img_blob_remove(s, &v->d) < 0) {
			warnx("%s", img_errmsg());
			status = 1;
			continue;
		}
		reclaimed += (uint64_t)v->size;
		if (jdel) {
			json_t *o1 = json_object();
			json_object_set_new(o1, "digest", json_string(v->d.str));
			json_object_set_new(o1, "size", json_integer(v->size));
			json_array_append_new(jdel, o1);
		} else {
			printf("Deleted: %s\n", v->d.str);
		}
	}
	if (img_blob_sweep_tmp(s, o->dry_run, &tmpbytes, tmp_failed, NULL) < 0)
		status = 1;
	reclaimed += tmpbytes;
	if (jdel) {
		json_t *doc = json_object();
		char *txt;
		json_object_set_new(doc, "deleted", jdel);
		json_object_set_new(doc, "reclaimed", json_integer((json_int_t)reclaimed));
		if (o->dangling)
			json_object_set_new(doc, "dangling_removed", json_integer((json_int_t)dg.removed));
		if (o->dry_run)
			json_object_set_new(doc, "dry_run", json_true());
		txt = img_json_dump(doc, NULL);
		printf("%s\n", txt);
		free(txt);
		json_decref(doc);
	} else {
		printf("Total reclaimed space: %s\n", img_util_human_size(reclaimed, hbuf, sizeof(hbuf)));
	}
out:
	free(vs.v);
	json_decref(index);
	json_decref(dg.index);
	img_mark_clear(&m);
	img_store_unlock(s);
	return status;
}

/* ---- --check ---- */

struct verifier {
	struct img_store *s;
	const struct img_dset *set;
	struct binfo *info;
	struct vstate {         /* each worker's own */
		struct img_hash *h256, *h512;
		char *buf;
	} w[MAX_THREADS];
};

/* Stream one blob: size first, then digest. NULL if good, else the problem. */
static char *verify_one(struct img_store *s, const struct img_digest *dg, const struct binfo *b,
                        struct img_hash *h, char *buf, size_t bufsz, uint64_t *bytes)
{
	if (img_blob_verify_with(s, dg, b->size, h, buf, bufsz, bytes) == 0)
		return NULL;
	if (errno == ENOENT && b->urls)
		return NULL;
	return xstrdup(img_errmsg());
}

/* An img_pool task: verify blob i. */
static int verify_task(void *arg, size_t i, unsigned worker)
{
	struct verifier *vf = arg;
	struct vstate *w = &vf->w[worker];
	const struct img_digest *dg = &vf->set->e[i].d;
	struct binfo *b = &vf->info[i];
	size_t bufsz = 1u << 20;
	uint64_t bytes = 0;
	struct img_hash *h;

	if (!w->buf) {
		w->h256 = img_digest_hash_new(IMG_SHA256);
		w->h512 = img_digest_hash_new(IMG_SHA512);
		w->buf = xmalloc(bufsz);
	}
	h = dg->alg == IMG_SHA512 ? w->h512 : w->h256;
	if (!h)
		b->vproblem = xstrdup("cannot hash");
	else
		b->vproblem = verify_one(vf->s, dg, b, h, w->buf, bufsz, &bytes);
	return 0;
}

static const struct binfo *sort_info;

static int size_desc(const void *a, const void *b)
{
	int64_t x = sort_info[*(const size_t *)a].size, y = sort_info[*(const size_t *)b].size;

	return x < y ? 1 : x > y ? -1 : 0;
}

static int nthreads(void)
{
	long c = sysconf(_SC_NPROCESSORS_ONLN);

	if (c < 2)
		return 2;       /* overlap reading with hashing even on one CPU */
	return c > MAX_THREADS ? MAX_THREADS : (int)c;
}

static void problem(json_t *list, const char *where, const char *what)
{
	warnx("%s: %s", where, what);
	if (list) {
		json_t *p = json_object();
		json_object_set_new(p, "blob", json_string(where));
		json_object_set_new(p, "error", json_string(what));
		json_array_append_new(list, p);
	}
}

static int check(struct img_store *s, const struct gc_opts *o)
{
	struct verifier vf;
	struct checker ck = { 0 };
	struct img_mark m = { .no_probe = 1, .visit = check_visit, .arg = &ck };
	struct img_pool *pool;
	size_t *order;          /* indexes into m.set.e, largest first */
	json_t *index = NULL, *manifests, *e, *probs = NULL;
	size_t i, nprob = 0;
	int status = 1;

	if (img_store_lock(s, IMG_LOCK_SHARED, img_cli_waiting, NULL) < 0) {
		warnx("%s", img_errmsg());
		return 1;
	}
	if (o->json)
		probs = json_array();
	if (!(index = img_store_index(s))) {
		problem(probs, "index.json", img_errmsg());
		nprob++;
		goto report;
	}
	manifests = json_object_get(index, "manifests");   /* an array: img_store_index */
	json_array_foreach(manifests, i, e) {
		struct img_desc d;
		if (img_image_desc_parse(e, &d) < 0) {
			char *w = xasprintf("index.json: entry %zu", i);
			problem(probs, w, img_errmsg());
			free(w);
			nprob++;
			continue;
		}
		if (img_mark_desc(&m, s, &d) < 0) {
			warnx("%s", img_errmsg());
			goto out;
		}
	}

	memset(&vf, 0, sizeof(vf));
	vf.s = s;
	vf.set = &m.set;
	vf.info = ck.info;
	order = xreallocarray(NULL, m.set.n ? m.set.n : 1, sizeof(*order));
	for (i = 0; i < m.set.n; i++)
		order[i] = i;
	sort_info = ck.info;
	qsort(order, m.set.n, sizeof(*order), size_desc);
	pool = img_pool_new((unsigned)nthreads(), "img-gc-check");
	for (i = 0; i < m.set.n; i++)
		img_pool_add(pool, verify_task, &vf, order[i]);
	img_pool_free(pool);    /* runs them all (on this thread if no other would start) */
	for (i = 0; i < MAX_THREADS; i++) {
		img_digest_hash_free(vf.w[i].h256);
		img_digest_hash_free(vf.w[i].h512);
		free(vf.w[i].buf);
	}
	free(order);

	for (i = 0; i < m.set.n; i++) {
		const struct binfo *b = &ck.info[i];
		char *w;
		if (!b->vproblem && !b->problem)
			continue;
		w = img_digest_blobpath(&m.set.e[i].d);
		/* A blob with bad bytes: its JSON problem follows from that. */
		problem(probs, w, b->vproblem ? b->vproblem : b->problem);
		free(w);
		nprob++;
	}
report:
	if (probs) {
		json_t *doc = json_object();
		char *txt;
		json_object_set_new(doc, "checked", json_integer((json_int_t)m.set.n));
		json_object_set_new(doc, "problems", probs);
		json_object_set_new(doc, "ok", json_boolean(nprob == 0));
		txt = img_json_dump(doc, NULL);
		printf("%s\n", txt);
		free(txt);
		json_decref(doc);
		probs = NULL;
	}
	status = nprob ? 1 : 0;
out:
	json_decref(probs);
	json_decref(index);
	checker_clear(&ck, m.set.n);
	img_mark_clear(&m);
	img_store_unlock(s);
	return status;
}

int main(int argc, char **argv)
{
	struct gc_opts o = { 0 };
	struct img_store *s;
	int c, status;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "hnS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.dry_run = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case OPT_CHECK:
			o.check = 1;
			break;
		case OPT_DANGLING:
			o.dangling = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	if (argc != 0)
		img_cli_usage(synopsis);
	if (o.check && (o.dry_run || o.dangling))
		img_cli_usage(synopsis);

	if (!(s = img_cli_open_store(o.store, 0)))
		return img_cli_finish(1);
	status = o.check ? check(s, &o) : gc(s, &o);
	img_store_close(s);
	return img_cli_finish(status);
}
