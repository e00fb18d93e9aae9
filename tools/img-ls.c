/* img-ls: list the images in the store, as `docker image ls` does (formats.md §7.2). */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "dset.h"
#include "arcimg.h"

enum {
	OPT_BLOBS = 256,
	OPT_DIGESTS,
	OPT_JSON,
	OPT_NO_TRUNC,
};

static const struct option longopts[] = {
	{ "all",          no_argument,       NULL, 'a' },
	{ "archive",      required_argument, NULL, 'A' },
	{ "blobs",        no_argument,       NULL, OPT_BLOBS },
	{ "digests",      no_argument,       NULL, OPT_DIGESTS },
	IMG_CLI_OPT_HELP,
	{ "json",         no_argument,       NULL, OPT_JSON },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "no-trunc",     no_argument,       NULL, OPT_NO_TRUNC },
	{ "quiet",        no_argument,       NULL, 'q' },
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 },
};

struct ls_opts {
	const char *store;
	const char *archive;
	const char *pattern;
	int all, blobs, digests, json, no_trunc, quiet;
};

static const char *const synopsis[] = {
	"[-a] [-q] [-S DIR] [--digests] [--json] [--no-trunc] [PATTERN]",
	"[-q] [--json] --archive FILE|-",
	"[-S DIR] [--json] --blobs",
	NULL
};

static const char help_text[] =
	"List the images in the store: REPOSITORY, TAG, IMAGE ID (the config digest),\n"
	"CREATED and SIZE (all blobs of the image). PATTERN is a name, with or without\n"
	"a tag (nginx, nginx:v3, docker.io/library/nginx).\n"
	"\n"
	"  -a, --all        also list unnamed (dangling) images\n"
	"  -A, --archive F  list the images of an archive without loading it: names,\n"
	"                   digest, platforms, size, blobs left out (an img-save\n"
	"                   archive: its head only)\n"
	"      --blobs      list every blob digest in the store (for img-save --have)\n"
	"      --digests    add a DIGEST column (the manifest digest)\n"
	"  -h, --help       show this help and exit\n"
	"      --json       print a JSON array of images instead of a table\n"
	"      --no-trunc   print whole image IDs\n"
	"  -q, --quiet      print image IDs only, one per listed row\n"
	"  -S, --store DIR  the image store (default $IMG_STORE, else $XDG_DATA_HOME/img)\n"
	"      --version    print the version and exit\n";

/* What we know of one image (one distinct top digest). */
struct image {
	struct img_digest top;
	const char *media_type;
	int ok;                       /* config found */
	struct img_digest config;
	char *created;                /* or NULL */
	double created_t;             /* seconds since the epoch, -1 unknown */
	int64_t size;
};

struct row {
	struct image *img;
	char *name;                   /* canonical, or NULL for an unnamed image */
	char *repo;                   /* familiar repository, or NULL */
	char *tag;                    /* or NULL */
};

/* RFC 3339 to seconds since the epoch (fractions kept), -1 when unparsable. */
static double
parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *p;
	double frac = 0;
	long off = 0;
	time_t t;

	if (!s)
		return -1;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		double scale = 0.1;
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	t = timegm(&tm);
	return (double)t - (double)off + frac;
}

struct seen { struct img_dset set; int64_t size; };

/* Each blob of an image counts once, however many descriptors lead to it. */
static int
sum_blob(struct img_store *s, const struct img_desc *d, int depth, void *arg)
{
	struct seen *sn = arg;
	int isnew;

	(void)s;
	(void)depth;
	img_dset_add(&sn->set, &d->digest, &isnew);
	if (!isnew)
		return 1;
	if (d->size > 0)
		sn->size += d->size;
	return 0;
}

/* Fill what we know of the image at d. 0, 1 when d is an artifact's manifest (its config
 * is no image config: a Helm chart; never listed), or -1 when it is broken (img_errmsg). */
static int
image_load(struct img_store *s, const struct img_desc *d, struct image *im)
{
	struct img_doc man;
	struct img_desc mdesc;
	struct img_config cfg;
	struct seen sn = { 0 };
	int rc = 0;

	im->top = d->digest;
	im->created_t = -1;
	/* Tolerant: the blobs that are there count, whatever else is missing. */
	(void)img_store_walk(s, d, IMG_WALK_TOLERANT, sum_blob, &sn);
	im->size = sn.size;
	img_dset_clear(&sn.set);
	if (img_store_image(s, d, NULL, &man, &mdesc, &cfg) == 0) {
		im->ok = 1;
		im->config = man.config.digest;
		if (cfg.created) {
			im->created = xstrdup(cfg.created);
			im->created_t = parse_time(cfg.created);
		}
		img_image_doc_release(&man);
		img_image_config_release(&cfg);
	} else if (img_image_mt_kind(d->media_type) != IMG_KIND_INDEX) {
		/* an artifact's manifest, or one we cannot read: the store is damaged */
		rc = errno == ENOTSUP ? 1 : -1;
	}
	return rc;
}

static int
cmp_rows(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;
	int c;

	if (a->img->created_t != b->img->created_t)
		return a->img->created_t > b->img->created_t ? -1 : 1;
	if (!a->repo != !b->repo)
		return a->repo ? -1 : 1;
	if (a->repo && (c = strcmp(a->repo, b->repo)) != 0)
		return c;
	if (!a->tag != !b->tag)
		return a->tag ? -1 : 1;
	if (a->tag && (c = strcmp(a->tag, b->tag)) != 0)
		return c;
	if (!a->name != !b->name)
		return a->name ? -1 : 1;
	if (a->name && (c = strcmp(a->name, b->name)) != 0)
		return c;
	return strcmp(a->img->top.str, b->img->top.str);
}

/* The ID shown for an image: the config digest (the top digest when there is none). */
static const struct img_digest *
image_id(const struct image *im)
{
	return im->ok ? &im->config : &im->top;
}

static void
id_text(const struct ls_opts *o, const struct image *im, char *buf, size_t len)
{
	const struct img_digest *d = image_id(im);

	if (o->no_trunc)
		snprintf(buf, len, "%s", d->str);
	else
		snprintf(buf, len, "%.12s", img_digest_hex(d));
}

/* Print rows x nc cells with docker's tabwriter look: columns padded to max(10,
 * width + 3), the columns in hide (a bit each) left out; frees the cells. */
static void
print_grid(char ***cells, size_t rows, int nc, unsigned hide)
{
	size_t *w = xcalloc((size_t)nc, sizeof *w);
	int last = nc - 1;

	while (last > 0 && (hide & (1u << last)))
		last--;
	for (size_t r = 0; r < rows; r++)
		for (int c = 0; c < nc; c++)
			if (strlen(cells[r][c]) > w[c])
				w[c] = strlen(cells[r][c]);
	for (size_t r = 0; r < rows; r++) {
		for (int c = 0; c < nc; c++) {
			if (hide & (1u << c) || c > last)
				continue;
			if (c == last) {
				printf("%s\n", cells[r][c]);
			} else {
				size_t width = w[c] + 3 < 10 ? 10 : w[c] + 3;
				printf("%-*s", (int)width, cells[r][c]);
			}
		}
	}
	for (size_t r = 0; r < rows; r++) {
		for (int c = 0; c < nc; c++)
			free(cells[r][c]);
		free(cells[r]);
	}
	free(cells);
	free(w);
}

/* --archive: the images of an archive, from its metadata (never its layers' bytes). */
static int
run_archive(const struct ls_opts *o)
{
	const char *hdr[] = { "REPOSITORY", "TAG", "DIGEST", "PLATFORMS", "SIZE", "LEFT OUT" };
	struct img_arcimg *arc = NULL;
	json_t *sum, *it;
	char ***cells;
	size_t i, n;
	int fd = img_io_open_in(o->archive), r, delta = 0;

	if (fd < 0) {
		warnx("%s", img_errmsg());
		return 1;
	}
	r = img_arcimg_read_flags(fd, 100, IMG_ARCIMG_HEAD, &arc);
	close(fd);
	if (r < 0) {
		char *x = img_util_escape_cut(strcmp(o->archive, "-") ? o->archive : "stdin");
		warnx("%s: %s", x, img_errmsg());
		free(x);
		return 1;
	}
	sum = img_arcimg_summary(arc);
	img_arcimg_free(arc);
	if (o->json) {
		char *text = json_dumps(sum, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (!text)
			img_util_die_oom();
		puts(text);
		free(text);
		json_decref(sum);
		return 0;
	}
	if (o->quiet) {
		json_array_foreach(sum, i, it) {
			json_t *d = json_object_get(it, "digest");
			puts(json_is_string(d) ? json_string_value(d)
			                       : json_string_value(json_object_get(it, "config")));
		}
		json_decref(sum);
		return 0;
	}
	/* a row per name (docker's way), one for an unnamed image; LEFT OUT for a delta */
	n = 0;
	json_array_foreach(sum, i, it) {
		n += json_array_size(json_object_get(it, "names")) ? json_array_size(json_object_get(it, "names")) : 1;
		delta |= json_array_size(json_object_get(it, "leftOut")) > 0;
	}
	cells = xcalloc(n + 1, sizeof *cells);
	cells[0] = xcalloc(6, sizeof **cells);
	for (int c = 0; c < 6; c++)
		cells[0][c] = xstrdup(hdr[c]);
	n = 1;
	json_array_foreach(sum, i, it) {
		json_t *names = json_object_get(it, "names"), *p, *d = json_object_get(it, "digest");
		json_t *tag = json_object_get(it, "tag"), *lo;
		size_t k, nn = json_array_size(names) ? json_array_size(names) : 1;
		char plats[256] = "", buf[32], left[32] = "-";
		uint64_t lsize = 0;
		json_array_foreach(json_object_get(it, "leftOut"), k, lo)
			lsize += (uint64_t)json_integer_value(json_object_get(lo, "size"));
		if (k)
			img_util_human_size(lsize, left, sizeof left);
		json_array_foreach(json_object_get(it, "platforms"), k, p)
			snprintf(plats + strlen(plats), sizeof plats - strlen(plats), "%s%s",
			         k ? "," : "", json_string_value(p));
		for (k = 0; k < nn; k++) {
			char **row = cells[n++] = xcalloc(6, sizeof **cells);
			struct img_ref ref;
			const char *nm = json_string_value(json_array_get(names, k));
			if (nm && img_ref_parse(nm, &ref) == 0) {
				char *repo = img_ref_familiar_repo(&ref);
				row[0] = img_util_escape(repo);
				row[1] = img_util_escape(ref.tag ? ref.tag : "<none>");
				free(repo);
				img_ref_release(&ref);
			} else {
				row[0] = xstrdup("<none>");
				row[1] = img_util_escape(json_is_string(tag) ? json_string_value(tag) : "<none>");
			}
			row[2] = xstrdup(json_is_string(d) ? json_string_value(d) : "-");
			row[3] = img_util_escape(plats[0] ? plats : "-");
			row[4] = xstrdup(img_util_human_size((uint64_t)json_integer_value(json_object_get(it, "size")),
			                                     buf, sizeof buf));
			row[5] = xstrdup(left);
		}
	}
	print_grid(cells, n, 6, delta ? 0 : 1u << 5);
	json_decref(sum);
	return 0;
}

struct blob { struct img_digest d; int64_t size; };
struct blob_list { struct blob *b; size_t n, cap; };

static int
blob_add(const struct img_digest *d, int64_t size, void *arg)
{
	struct blob_list *l = arg;

	IMG_GROW(l->b, l->n + 1, l->cap);
	l->b[l->n].d = *d;
	l->b[l->n++].size = size;
	return 0;
}

static int
blob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct blob *)a)->d.str, ((const struct blob *)b)->d.str);
}

/* --blobs: every blob of the store, sorted by digest (the have list of img-save --have). */
static int
run_blobs(const struct ls_opts *o)
{
	struct img_store *s = NULL;
	struct blob_list l = { 0 };
	char *path = img_store_default_path(o->store);
	struct stat st;
	int rc = 1;

	if (!(stat(path, &st) < 0 && errno == ENOENT)) {   /* no store yet: no blobs */
		if (img_store_open(path, 0, &s) < 0 || img_blob_list(s, blob_add, &l) < 0) {
			warnx("%s", img_errmsg());
			goto out;
		}
	}
	if (l.n > 1)
		qsort(l.b, l.n, sizeof *l.b, blob_cmp);
	if (o->json) {
		json_t *arr = json_array();
		char *txt;

		for (size_t i = 0; i < l.n; i++)
			json_array_append_new(arr, json_pack("{s:s,s:I}", "digest", l.b[i].d.str,
			                                     "size", (json_int_t)l.b[i].size));
		txt = img_json_dump(arr, NULL);
		printf("%s\n", txt);
		free(txt);
		json_decref(arr);
	} else {
		for (size_t i = 0; i < l.n; i++)
			printf("%s\n", l.b[i].d.str);
	}
	rc = 0;
out:
	free(l.b);
	img_store_close(s);
	free(path);
	return rc;
}

/* Print a table with docker's tabwriter look: columns padded to max(10, width + 3). */
static void
print_table(const struct ls_opts *o, struct row *rows, size_t n)
{
	const char *hdr[] = { "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE" };
	enum { NC = 6 };
	char ***cells = xcalloc(n + 1, sizeof *cells);

	for (size_t r = 0; r <= n; r++) {
		cells[r] = xcalloc(NC, sizeof **cells);
		for (int c = 0; c < NC; c++) {
			char buf[200];
			const struct row *rw = r ? &rows[r - 1] : NULL;
			if (!rw) {
				cells[r][c] = xstrdup(hdr[c]);
			} else if (c == 0) {
				cells[r][c] = img_util_escape(rw->repo ? rw->repo : "<none>");
			} else if (c == 1) {
				cells[r][c] = img_util_escape(rw->tag ? rw->tag : "<none>");
			} else if (c == 2) {
				cells[r][c] = xstrdup(rw->img->top.str);
			} else if (c == 3) {
				id_text(o, rw->img, buf, sizeof buf);
				cells[r][c] = xstrdup(buf);
			} else if (c == 4) {
				cells[r][c] = xstrdup(rw->img->created ?
				    img_util_human_age(rw->img->created, buf, sizeof buf) : "N/A");
			} else {
				cells[r][c] = xstrdup(img_util_human_size((uint64_t)rw->img->size, buf, sizeof buf));
			}
		}
	}
	print_grid(cells, n + 1, NC, o->digests ? 0 : 1u << 2);
}

static void
print_json(struct row *rows, size_t n)
{
	json_t *arr = json_array();
	char *txt;

	for (size_t r = 0; r < n; r++) {
		const struct row *rw = &rows[r];
		json_t *o = json_object(), *names = json_array();
		for (size_t k = 0; k < n; k++)
			if (rows[k].img == rw->img && rows[k].name)
				json_array_append_new(names, json_string(rows[k].name));
		json_object_set_new(o, "name", rw->name ? json_string(rw->name) : json_null());
		json_object_set_new(o, "names", names);
		json_object_set_new(o, "repository", rw->repo ? json_string(rw->repo) : json_null());
		json_object_set_new(o, "tag", rw->tag ? json_string(rw->tag) : json_null());
		json_object_set_new(o, "id", json_string(image_id(rw->img)->str));
		json_object_set_new(o, "manifest", json_string(rw->img->top.str));
		json_object_set_new(o, "config", rw->img->ok ? json_string(rw->img->config.str) : json_null());
		json_object_set_new(o, "created", rw->img->created ? json_string(rw->img->created) : json_null());
		json_object_set_new(o, "size", json_integer(rw->img->size));
		json_array_append_new(arr, o);
	}
	txt = img_json_dump(arr, NULL);
	printf("%s\n", txt);
	free(txt);
	json_decref(arr);
}

static void
print_rows(const struct ls_opts *o, struct row *rows, size_t n)
{
	if (o->json) {
		print_json(rows, n);
	} else if (o->quiet) {
		for (size_t r = 0; r < n; r++) {
			char buf[200];
			id_text(o, rows[r].img, buf, sizeof buf);
			printf("%s\n", buf);
		}
	} else {
		print_table(o, rows, n);
	}
}

static int
run(const struct ls_opts *o)
{
	struct img_store *s = NULL;
	json_t *index = NULL, *entries, *e;
	struct image **imgs = NULL;
	struct row *rows = NULL;
	size_t nimg = 0, nrows = 0, imgs_cap = 0, rows_cap = 0, i;
	char *path = img_store_default_path(o->store);
	int rc = 1, broken = 0;
	struct stat st;

	if (stat(path, &st) < 0 && errno == ENOENT) {
		print_rows(o, NULL, 0);         /* no store yet: no images */
		rc = 0;
		goto out;
	}
	if (img_store_open(path, 0, &s) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	index = img_store_index(s);
	if (!index) {
		warnx("%s/index.json: %s", path, img_errmsg());
		goto out;
	}
	entries = json_object_get(index, "manifests");
	json_array_foreach(entries, i, e) {
		struct img_desc d;
		struct image *im = NULL;
		char nbuf[512];
		const char *name;
		enum img_kind k;

		if (img_image_desc_parse(e, &d) < 0) {
			warnx("index.json: entry %zu: %s", i, img_errmsg());
			broken = 1;
			continue;
		}
		k = img_image_mt_kind(d.media_type);
		if (k != IMG_KIND_MANIFEST && k != IMG_KIND_INDEX)
			continue;
		if (img_image_desc_not_image(&d))   /* artifacts and attestations are kept, not listed */
			continue;
		name = img_index_entry_name(e, nbuf, sizeof nbuf);
		if (!name && !o->all)
			continue;
		if (name && o->pattern && !img_ref_match(name, o->pattern))
			continue;
		if (!name && o->pattern)
			continue;
		for (size_t k2 = 0; k2 < nimg; k2++)
			if (img_digest_eq(&imgs[k2]->top, &d.digest))
				im = imgs[k2];
		if (!im) {
			int r;
			im = xcalloc(1, sizeof *im);
			if ((r = image_load(s, &d, im)) < 0) {
				warnx("image %s: %s", d.digest.str, img_errmsg());
				broken = 1;
			} else if (r > 0) {   /* artifacts are kept, not listed */
				free(im);
				continue;
			}
			IMG_GROW(imgs, nimg + 1, imgs_cap);
			imgs[nimg++] = im;
		}
		IMG_GROW(rows, nrows + 1, rows_cap);
		memset(&rows[nrows], 0, sizeof rows[nrows]);
		rows[nrows].img = im;
		if (name) {
			struct img_ref ref;
			rows[nrows].name = xstrdup(name);
			if (img_ref_parse(name, &ref) == 0) {
				rows[nrows].repo = img_ref_familiar_repo(&ref);
				rows[nrows].tag = ref.tag ? xstrdup(ref.tag) : NULL;
				img_ref_release(&ref);
			} else {
				rows[nrows].repo = xstrdup(name);
			}
		}
		nrows++;
	}
	/* An unnamed entry whose image also has a name is not a separate row. */
	for (size_t r = 0; r < nrows; r++) {
		int dup = 0;
		if (rows[r].name)
			continue;
		for (size_t k = 0; k < nrows && !dup; k++)
			dup = k != r && rows[k].img == rows[r].img && (rows[k].name || k < r);
		if (dup) {
			rows[r] = rows[--nrows];
			r--;
		}
	}
	if (nrows > 1)
		qsort(rows, nrows, sizeof *rows, cmp_rows);
	print_rows(o, rows, nrows);
	rc = broken;
out:
	for (size_t r = 0; r < nrows; r++) {
		free(rows[r].name);
		free(rows[r].repo);
		free(rows[r].tag);
	}
	free(rows);
	for (size_t k = 0; k < nimg; k++) {
		free(imgs[k]->created);
		free(imgs[k]);
	}
	free(imgs);
	json_decref(index);
	img_store_close(s);
	free(path);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct ls_opts o = { 0 };
	int c, rc;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "A:ahqS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'A':
			o.archive = optarg;
			break;
		case 'a':
			o.all = 1;
			break;
		case OPT_BLOBS:
			o.blobs = 1;
			break;
		case OPT_DIGESTS:
			o.digests = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_NO_TRUNC:
			o.no_trunc = 1;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		img_cli_usage(synopsis);
	if (o.json && o.quiet) {
		warnx("--json and -q cannot be used together");
		img_cli_usage(synopsis);
	}
	o.pattern = argc ? argv[0] : NULL;
	if (o.archive && (o.pattern || o.all || o.digests || o.no_trunc || o.store))
		img_cli_usage(synopsis);
	if (o.blobs && (o.archive || o.pattern || o.all || o.digests || o.no_trunc || o.quiet))
		img_cli_usage(synopsis);

	rc = o.blobs ? run_blobs(&o) : o.archive ? run_archive(&o) : run(&o);
	return img_cli_finish(rc);
}
