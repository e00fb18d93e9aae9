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
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "mark.h"
#include "run.h"

enum { OPT_CHECK = 256, OPT_DANGLING, OPT_JSON, OPT_LIST_OPTIONS, OPT_VERSION };

static const struct option longopts[] = {
	{ "check",        no_argument,       NULL, OPT_CHECK },
	{ "dangling",     no_argument,       NULL, OPT_DANGLING },
	{ "dry-run",      no_argument,       NULL, 'n' },
	{ "help",         no_argument,       NULL, 'h' },
	{ "json",         no_argument,       NULL, OPT_JSON },
	{ "list-options", no_argument,       NULL, OPT_LIST_OPTIONS },
	{ "store",        required_argument, NULL, 'S' },
	{ "version",      no_argument,       NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

struct gc_opts {
	const char *store;
	int check;
	int dangling;
	int dry_run;
	int json;
};

#define SUBJECT_ANN "io.containerd.manifest.subject"
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

static const char *alg_dir(enum img_alg a)
{
	return a == IMG_SHA512 ? "sha512" : "sha256";
}

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
	if (img_read_capped(fd, IMG_JSON_MAX_BLOB, &buf, &len) < 0) {
		p = xasprintf("%s", img_errmsg());
	} else if (k == IMG_KIND_CONFIG) {
		struct img_config c;
		if (img_config_parse(buf, len, &c) < 0)
			p = xasprintf("%s", img_errmsg());
		else
			img_config_release(&c);
	} else {
		struct img_doc doc;
		if (img_doc_parse(buf, len, d->media_type, &doc) < 0)
			p = xasprintf("%s", img_errmsg());
		else
			img_doc_release(&doc);
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
	enum img_kind k = img_mt_kind(d->media_type);
	struct binfo *b;

	if (idx >= c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->info = xreallocarray(c->info, c->cap, sizeof(*c->info));
	}
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

static const char *annotation(json_t *e, const char *key)
{
	json_t *ann = json_object_get(e, "annotations");

	return json_is_object(ann) ? json_string_value(json_object_get(ann, key)) : NULL;
}

/* Named in any way, even by a name we cannot normalize. */
static int is_named(json_t *e)
{
	return annotation(e, IMG_ANN_REF_NAME) || annotation(e, IMG_ANN_CTR_NAME);
}

static int is_referrer(json_t *e)
{
	return !is_named(e) && annotation(e, SUBJECT_ANN);
}

static int pick_not_referrer(json_t *e, void *arg)
{
	(void)arg;
	return !is_referrer(e);
}

static int subject_kept(json_t *e, const struct img_mark *m)
{
	struct img_digest d;

	return img_digest_parse(annotation(e, SUBJECT_ANN), &d) == 0 &&
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
		if (!is_named(e) && !is_referrer(e)) {
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
			if (!is_referrer(e) || !subject_kept(e, &m) || img_desc_parse(e, &d) < 0 ||
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
		if (img_desc_parse(e, &d) == 0 && img_dset_find(&m.set, &d.digest))
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

/* Collect the unmarked blobs of blobs/<alg>. Names that are not digests are not blobs
 * (another tool's temp file, say) and are left alone. */
static int sweep_list(struct img_store *s, enum img_alg alg, const struct img_mark *m,
                      struct victim **v, size_t *n, size_t *cap)
{
	char path[32], name[8 + 130];
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd;

	snprintf(path, sizeof(path), "blobs/%s", alg_dir(alg));
	fd = openat(img_store_dirfd(s), path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (!(dir = fdopendir(fd))) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dir))) {
		struct img_digest d;
		size_t hl = alg == IMG_SHA512 ? 128 : 64;

		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (strlen(de->d_name) != hl || !img_is_hex(de->d_name, hl))
			continue;
		snprintf(name, sizeof(name), "%s:%s", alg_dir(alg), de->d_name);
		if (img_digest_parse(name, &d) < 0 || img_dset_find(&m->set, &d))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			closedir(dir);
			return -1;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*v = xreallocarray(*v, *cap, sizeof(**v));
		}
		(*v)[*n].d = d;
		(*v)[*n].size = st.st_size;
		(*n)++;
	}
	closedir(dir);
	return 0;
}

/* Remove (or with dry_run only measure) everything below dirfd/name, not following
 * symlinks. Adds the bytes of regular files to *bytes. 0 or -1. */
static int remove_tree(int dfd, const char *name, int dry_run, uint64_t *bytes)
{
	struct stat st;
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode)) {
		if (S_ISREG(st.st_mode))
			*bytes += (uint64_t)st.st_size;
		if (!dry_run && unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			return -1;
		return 0;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    remove_tree(dirfd(dir), de->d_name, dry_run, bytes) < 0)
			rc = -1;
	closedir(dir);
	if (!dry_run && rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

static int sweep_tmp(struct img_store *s, int dry_run, uint64_t *bytes)
{
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	if (!(dir = opendir(img_store_tmpdir(s))))
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    remove_tree(dirfd(dir), de->d_name, dry_run, bytes) < 0) {
			warn("cannot remove '%s/%s'", img_store_tmpdir(s), de->d_name);
			rc = -1;
		}
	closedir(dir);
	return rc;
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

	if (img_store_run_prune_containers(s, dry_run, &removed) < 0 ||
	    img_mark_containers(m, s) < 0)
		return -1;
	if (!dry_run && !m->unsafe &&
	    img_store_run_prune_images(s, keep_unpacked, m, &removed) < 0)
		return -1;
	return 0;
}

static int gc(struct img_store *s, const struct gc_opts *o)
{
	struct dangling dg = { 0 };
	struct img_mark m = { 0 };
	struct victim *v = NULL;
	size_t n = 0, cap = 0, i;
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
	if (sweep_list(s, IMG_SHA256, &m, &v, &n, &cap) < 0 ||
	    sweep_list(s, IMG_SHA512, &m, &v, &n, &cap) < 0) {
		warn("cannot read the blobs of '%s'", img_store_path(s));
		goto out;
	}
	if (n)
		qsort(v, n, sizeof(*v), victim_cmp);
	status = 0;
	if (o->json)
		jdel = json_array();
	for (i = 0; i < n; i++) {
		char *path = img_digest_blobpath(&v[i].d);

		if (!o->dry_run && unlinkat(img_store_dirfd(s), path, 0) < 0 && errno != ENOENT) {
			warn("cannot delete '%s'", path);
			status = 1;
			free(path);
			continue;
		}
		free(path);
		reclaimed += (uint64_t)v[i].size;
		if (jdel) {
			json_t *o1 = json_object();
			json_object_set_new(o1, "digest", json_string(v[i].d.str));
			json_object_set_new(o1, "size", json_integer(v[i].size));
			json_array_append_new(jdel, o1);
		} else {
			printf("Deleted: %s\n", v[i].d.str);
		}
	}
	if (sweep_tmp(s, o->dry_run, &tmpbytes) < 0)
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
		printf("Total reclaimed space: %s\n", img_human_size(reclaimed, hbuf, sizeof(hbuf)));
	}
out:
	free(v);
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
	size_t *order;          /* indexes into set->e, largest first */
	atomic_size_t next;
	atomic_uint_fast64_t bytes;
};

/* Stream one blob: size first, then digest. NULL if good, else the problem. */
static char *verify_one(int dirfd, const struct img_digest *dg, const struct binfo *b,
                        struct img_hash *h, char *buf, size_t bufsz, uint64_t *bytes)
{
	struct img_digest got;
	struct stat st;
	char path[16 + 130];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "blobs/%s/%s", alg_dir(dg->alg), img_digest_hex(dg));
	fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return b->urls ? NULL : xstrdup("missing");
		return xasprintf("cannot open: %s", strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return xstrdup("not a regular file");
	}
	if (b->size >= 0 && st.st_size != b->size) {
		close(fd);
		return xasprintf("size %lld, expected %lld", (long long)st.st_size,
		                 (long long)b->size);
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	img_hash_reset(h);
	while ((r = read(fd, buf, bufsz)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return xasprintf("read error: %s", strerror(errno));
		}
		img_hash_update(h, buf, (size_t)r);
		*bytes += (uint64_t)r;
	}
	close(fd);
	img_hash_final(h, &got);
	if (strcmp(got.str, dg->str) != 0)
		return xasprintf("digest mismatch (got %s)", got.str);
	return NULL;
}

static void *verify_worker(void *arg)
{
	struct verifier *vf = arg;
	struct img_hash *h256 = img_hash_new(IMG_SHA256), *h512 = img_hash_new(IMG_SHA512);
	size_t bufsz = 1u << 20, i;
	char *buf = xmalloc(bufsz);
	uint64_t bytes = 0;

	while ((i = atomic_fetch_add(&vf->next, 1)) < vf->set->n) {
		const struct img_digest *dg = &vf->set->e[vf->order[i]].d;
		struct binfo *b = &vf->info[vf->order[i]];
		struct img_hash *h = dg->alg == IMG_SHA512 ? h512 : h256;
		if (!h)
			b->vproblem = xstrdup("cannot hash");
		else
			b->vproblem = verify_one(img_store_dirfd(vf->s), dg, b, h, buf, bufsz, &bytes);
	}
	atomic_fetch_add(&vf->bytes, bytes);
	free(buf);
	img_hash_free(h256);
	img_hash_free(h512);
	return NULL;
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
	pthread_t th[MAX_THREADS];
	json_t *index = NULL, *manifests, *e, *probs = NULL;
	size_t i, nprob = 0;
	int nt = nthreads(), started = 0, status = 1;

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
	manifests = json_object_get(index, "manifests");
	if (!json_is_array(manifests)) {
		problem(probs, "index.json", "no manifests array");
		nprob++;
	}
	json_array_foreach(manifests, i, e) {
		struct img_desc d;
		if (img_desc_parse(e, &d) < 0) {
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
	vf.order = xreallocarray(NULL, m.set.n ? m.set.n : 1, sizeof(*vf.order));
	for (i = 0; i < m.set.n; i++)
		vf.order[i] = i;
	sort_info = ck.info;
	qsort(vf.order, m.set.n, sizeof(*vf.order), size_desc);
	atomic_init(&vf.next, 0);
	atomic_init(&vf.bytes, 0);
	for (started = 0; started < nt; started++)
		if (pthread_create(&th[started], NULL, verify_worker, &vf) != 0)
			break;
	if (started == 0)
		verify_worker(&vf);
	for (i = 0; i < (size_t)started; i++)
		pthread_join(th[i], NULL);
	free(vf.order);

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

	img_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "hnS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return img_cli_help(synopsis, help_text);
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
		case OPT_LIST_OPTIONS:
			return img_cli_list_options(longopts);
		case OPT_VERSION:
			return img_cli_version();
		default:
			img_cli_usage(synopsis);
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
