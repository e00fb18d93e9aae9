/* img-layers: the layers of an image (docker history's content), the files of each layer,
 * and the space wasted by files that later layers overwrite or delete (as dive counts it),
 * from the store or straight from an archive (a file or stdin). Nothing is extracted. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "tree.h"
#include "arcimg.h"

enum { OPT_JSON = 256, OPT_MAX_RATIO };

static const struct option longopts[] = {
	{ "archive",      required_argument, NULL, 'a' },
	{ "files",        optional_argument, NULL, 'f' },
	IMG_CLI_OPT_HELP,
	{ "image",        required_argument, NULL, 'i' },
	{ "json",         no_argument,       NULL, OPT_JSON },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "max-ratio",    required_argument, NULL, OPT_MAX_RATIO },
	{ "platform",     required_argument, NULL, 'p' },
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ "wasted",       no_argument,       NULL, 'w' },
	{ NULL, 0, NULL, 0 }
};

#define TOP_WASTED 20

struct layers_opts {
	const char *store;
	const char *archive;
	const char *image;
	struct img_platform platform;
	int has_platform;
	int files;          /* --files given */
	long files_layer;   /* -1: all layers */
	int json;
	int wasted;
	unsigned max_ratio;  /* 0: the default */
};

static const char *const synopsis[] = {
	"[-w] [-S DIR] [--files[=N]] [--json] [--platform P] IMAGE",
	"[-w] [--files[=N]] [--image NAME] [--json] [--platform P] --archive FILE|-",
	NULL
};

static const char help_text[] =
	"Show the layers of an image from the store or from an archive: one row per\n"
	"history entry, oldest first; the files of the layers; the wasted space.\n"
	"\n"
	"  -a, --archive FILE   read the image from an archive (any dialect img-load reads;\n"
	"                       - is stdin) instead of the store\n"
	"  -f, --files[=N]      list every entry of layer N, or of all layers\n"
	"  -h, --help           print this help and exit\n"
	"  -i, --image NAME     the image to show when the archive holds several\n"
	"      --json           print one JSON document on stdout\n"
	"      --max-ratio N    read archive layers that decompress to more than N times\n"
	"                       their size (default 100; applies past 1 GiB)\n"
	"  -p, --platform P     the platform to pick from a multi-platform image\n"
	"  -S, --store DIR      the image store (default $IMG_STORE, else\n"
	"                       $XDG_DATA_HOME/img, else ~/.local/share/img)\n"
	"      --version        print the version and exit\n"
	"  -w, --wasted         show the bytes of files that later layers overwrite or\n"
	"                       delete: per layer, in total, and the largest such files\n";

/* ---- history rows ---- */

struct row {
	const char *created;       /* borrowed from the config, or NULL */
	const char *created_by;
	const char *comment;
	int empty;
	long layer;                /* index into the layers, or -1 */
};

/* One row per history entry; each non-empty one takes the next layer; layers the history
 * does not account for get rows of their own. Caller frees *rows. */
static size_t make_rows(struct img_view *v, struct row **rows)
{
	json_t *h = v->config.history, *e;
	size_t n = 0, i, next = 0, extra = 0, cap = (h ? json_array_size(h) : 0) + v->nlayers + 1;
	struct row *r = xcalloc(cap, sizeof(*r));

	if (h) {
		json_array_foreach(h, i, e) {
			struct row *x = &r[n++];
			json_t *el;
			x->layer = -1;
			if (!json_is_object(e))
				continue;
			img_json_str(e, "created", &x->created);
			img_json_str(e, "created_by", &x->created_by);
			img_json_str(e, "comment", &x->comment);
			el = json_object_get(e, "empty_layer");
			x->empty = json_is_true(el);
			if (!x->empty && next < v->nlayers)
				x->layer = (long)next++;
			else if (!x->empty)
				extra++;
		}
	}
	if (extra)
		warnx("the config's history has %zu more non-empty entries than the image has "
		      "layers (%zu): they are shown without a layer", extra, v->nlayers);
	for (; next < v->nlayers; next++) {
		struct row *x = &r[n++];
		x->layer = (long)next;
	}
	*rows = r;
	return n;
}

static void print_field(const char *s)
{
	char *e = img_util_escape(s ? s : "");
	/* a tab inside a field would shift the columns */
	for (char *p = e; *p; p++)
		if (*p == '\t')
			*p = ' ';
	fputs(e, stdout);
	free(e);
}

static int show_table(struct img_view *v, json_t *jroot)
{
	struct row *rows;
	size_t n = make_rows(v, &rows);
	int64_t *sizes = xcalloc(v->nlayers + 1, sizeof(*sizes));
	json_t *jl = NULL, *jh = NULL;
	int ret = -1;

	for (size_t i = 0; i < v->nlayers; i++) {
		if (img_view_layer_size(v, i, &sizes[i]) < 0) {
			warnx("layer %zu (%s): %s", i, v->layers[i].blob.str, img_errmsg());
			goto out;
		}
	}
	if (jroot) {
		jl = json_array();
		jh = json_array();
		for (size_t i = 0; i < v->nlayers; i++)
			json_array_append_new(jl, json_pack("{s:I,s:s,s:s,s:I,s:I}",
			        "index", (json_int_t)i, "diff_id", v->layers[i].diff_id.str,
			        "digest", v->layers[i].blob.str, "size", (json_int_t)sizes[i],
			        "compressed_size", (json_int_t)v->layers[i].blob_size));
		for (size_t i = 0; i < n; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "created", rows[i].created ? json_string(rows[i].created) : json_null());
			json_object_set_new(o, "created_by", json_string(rows[i].created_by ? rows[i].created_by : ""));
			json_object_set_new(o, "comment", json_string(rows[i].comment ? rows[i].comment : ""));
			json_object_set_new(o, "empty_layer", json_boolean(rows[i].empty));
			json_object_set_new(o, "layer", rows[i].layer >= 0 ? json_integer(rows[i].layer) : json_null());
			json_object_set_new(o, "size", json_integer(rows[i].layer >= 0 ? sizes[rows[i].layer] : 0));
			json_array_append_new(jh, o);
		}
		json_object_set_new(jroot, "layers", jl);
		json_object_set_new(jroot, "history", jh);
	} else {
		printf("LAYER\tCREATED\tCREATED BY\tSIZE\tCOMPRESSED\tDIFF ID\tCOMMENT\n");
		for (size_t i = 0; i < n; i++) {
			struct row *r = &rows[i];
			char age[64];
			if (r->layer >= 0)
				printf("%ld\t", r->layer);
			else
				printf("-\t");
			printf("%s\t", r->created ? img_util_human_age(r->created, age, sizeof(age)) : "N/A");
			print_field(r->created_by);
			if (r->layer >= 0)
				printf("\t%lld\t%lld\t%.12s\t", (long long)sizes[r->layer],
				       (long long)v->layers[r->layer].blob_size,
				       img_digest_hex(&v->layers[r->layer].diff_id));
			else
				printf("\t0\t0\t-\t");
			print_field(r->comment);
			putchar('\n');
		}
	}
	ret = 0;
out:
	free(sizes);
	free(rows);
	return ret;
}

/* ---- files ---- */

struct files_ctx {
	long layer;
	int prefix;          /* print the layer index first */
	json_t *jfiles;
};

static int print_rec(void *arg, const struct img_tree_rec *r)
{
	struct files_ctx *c = arg;
	const char *type = r->kind == IMG_TREE_WHITEOUT ? "whiteout" :
	                   r->kind == IMG_TREE_OPAQUE ? "opaque" : img_tree_type_name(r->type);
	char t[32];

	img_util_rfc3339(r->mtime, t, sizeof(t));
	if (c->jfiles) {
		/* names need not be UTF-8: bytes that are not become U+FFFD */
		json_t *o = json_pack("{s:I,s:s,s:o,s:I,s:I,s:I,s:s}",
		        "layer", (json_int_t)c->layer, "type", type,
		        "path", img_json_string_lossy(r->path),
		        "mode", (json_int_t)(r->mode & 07777), "uid", (json_int_t)r->uid,
		        "gid", (json_int_t)r->gid, "mtime", t);
		if (!o)
			return 0;
		json_object_set_new(o, "size", json_integer(r->size));
		if (r->link)
			json_object_set_new(o, "link", img_json_string_lossy(r->link));
		if (r->has_content)
			json_object_set_new(o, "sha256", json_string(r->content.str));
		json_array_append_new(c->jfiles, o);
		return 0;
	}
	if (c->prefix)
		printf("%ld\t", c->layer);
	printf("%s\t%04o\t%lld:%lld\t%lld\t%s\t", type, (unsigned)(r->mode & 07777),
	       (long long)r->uid, (long long)r->gid, (long long)r->size, t);
	print_field(r->path[0] ? r->path : ".");
	if (r->link && r->kind == IMG_TREE_ENTRY) {
		fputs(r->type == IMG_ENT_HARDLINK ? " link to " : " -> ", stdout);
		print_field(r->link);
	}
	putchar('\n');
	return ferror(stdout) ? -1 : 0;
}

/* Read layer i; hash: the sha256 of each file is wanted (else the data is skipped). The
 * layers of an archive on a pipe were read as it streamed (as hash asked: see run). */
static int scan(struct img_view *v, size_t i, int hash, img_tree_rec_fn fn, void *arg)
{
	const struct img_tree_layer *l;
	struct img_tree_part part;
	struct img_pathset *none;
	const char *err;
	int fd, r = img_view_layer_records(v, i, &l, &err);

	if (r > 0) {
		r = img_tree_read_layer_each(l, fn, arg);
		if (r == 0 && err) {
			img_seterr("%s", err);
			r = -1;
		}
	} else if (r == 0) {
		if (img_view_layer_blob(v, i, &fd, &part) < 0) {
			warnx("layer %zu: %s", i, img_errmsg());
			return -1;
		}
		none = hash ? NULL : img_tree_read_pathset_new();
		r = img_tree_read_scan_part(fd, &part, none, fn, arg);
		close(fd);
		img_tree_read_pathset_free(none);
	}
	if (r < 0) {
		if (ferror(stdout))
			return -1;
		warnx("layer %zu (%s): %s", i, v->layers[i].blob.str, img_errmsg());
	}
	return r;
}

static int show_files(struct img_view *v, long only, json_t *jroot)
{
	struct files_ctx c = { 0, only < 0, NULL };

	if (only >= (long)v->nlayers) {
		warnx("no layer %ld (the image has %zu)", only, v->nlayers);
		return -1;
	}
	if (jroot)
		c.jfiles = json_array();
	for (size_t i = 0; i < v->nlayers; i++) {
		if (only >= 0 && (long)i != only)
			continue;
		c.layer = (long)i;
		/* only the JSON shows the files' sha256 */
		if (scan(v, i, c.jfiles != NULL, print_rec, &c) < 0) {
			json_decref(c.jfiles);
			return -1;
		}
	}
	if (jroot)
		json_object_set_new(jroot, "files", c.jfiles);
	return 0;
}

/* ---- wasted space ---- */

struct waste_file { char *path; uint64_t size; int layer; };

struct waste_ctx {
	struct img_tree *tree;
	uint64_t *per_layer;
	struct waste_file *files;
	size_t n, cap;
};

static void on_removed(void *arg, const struct img_tree_node *node, int last, int layer)
{
	struct waste_ctx *w = arg;
	struct img_tree_inode *ino = node->ino;

	(void)layer;
	if (!last || ino->type != IMG_ENT_FILE || ino->layer < 0)
		return;
	w->per_layer[ino->layer] += (uint64_t)ino->size;
	IMG_GROW(w->files, w->n + 1, w->cap);
	w->files[w->n].path = xstrdup(node->path);
	w->files[w->n].size = (uint64_t)ino->size;
	w->files[w->n].layer = ino->layer;
	w->n++;
}

static int apply_rec(void *arg, const struct img_tree_rec *r)
{
	return img_tree_apply(arg, r);
}

static int cmp_waste(const void *a, const void *b)
{
	const struct waste_file *x = a, *y = b;
	if (x->size != y->size)
		return x->size < y->size ? 1 : -1;
	return strcmp(x->path, y->path);
}

static int show_wasted(struct img_view *v, json_t *jroot)
{
	struct waste_ctx w;
	uint64_t total = 0;
	int ret = -1;

	memset(&w, 0, sizeof(w));
	w.tree = img_tree_new();
	w.per_layer = xcalloc(v->nlayers + 1, sizeof(*w.per_layer));
	img_tree_set_removed(w.tree, on_removed, &w);
	for (size_t i = 0; i < v->nlayers; i++) {
		img_tree_layer_begin(w.tree, (int)i);
		if (scan(v, i, 0, apply_rec, w.tree) < 0)   /* sizes only */
			goto out;
		img_tree_layer_end(w.tree);
	}
	if (w.n)
		qsort(w.files, w.n, sizeof(*w.files), cmp_waste);
	for (size_t i = 0; i < v->nlayers; i++)
		total += w.per_layer[i];
	if (jroot) {
		json_t *o = json_object(), *jl = json_array(), *jf = json_array();
		for (size_t i = 0; i < v->nlayers; i++)
			json_array_append_new(jl, json_integer((json_int_t)w.per_layer[i]));
		for (size_t i = 0; i < w.n && i < TOP_WASTED; i++) {
			json_t *f = json_pack("{s:o,s:I,s:I}", "path",
			        img_json_string_lossy(w.files[i].path),
			        "size", (json_int_t)w.files[i].size, "layer", (json_int_t)w.files[i].layer);
			if (f)
				json_array_append_new(jf, f);
		}
		json_object_set_new(o, "total", json_integer((json_int_t)total));
		json_object_set_new(o, "layers", jl);
		json_object_set_new(o, "files", jf);
		json_object_set_new(jroot, "wasted", o);
	} else {
		for (size_t i = 0; i < v->nlayers; i++)
			printf("layer\t%zu\t%llu\n", i, (unsigned long long)w.per_layer[i]);
		printf("total\t%llu\n", (unsigned long long)total);
		for (size_t i = 0; i < w.n && i < TOP_WASTED; i++) {
			printf("file\t%llu\t%d\t", (unsigned long long)w.files[i].size, w.files[i].layer);
			print_field(w.files[i].path);
			putchar('\n');
		}
	}
	ret = 0;
out:
	for (size_t i = 0; i < w.n; i++)
		free(w.files[i].path);
	free(w.files);
	free(w.per_layer);
	img_tree_free(w.tree);
	return ret;
}

static int run(struct layers_opts *o, const char *image)
{
	struct img_store *s = NULL;
	struct img_arcimg *arc = NULL;
	struct img_view v;
	json_t *jroot = NULL;
	int ret = 1, have_view = 0;
	const struct img_platform *plat = o->has_platform ? &o->platform : NULL;

	if (o->archive) {
		char *file, *sel, *name;
		int fd, r;
		img_arcimg_operand(o->archive, &file, &sel);
		name = img_util_escape_cut(strcmp(file, "-") ? file : "stdin");
		fd = img_io_open_in(file);
		free(file);
		if (fd < 0 || (sel && o->image)) {
			if (fd < 0)
				warnx("%s", img_errmsg());
			else
				warnx("%s: --image and FILE#%s name the image twice", name, sel);
			if (fd >= 0)
				close(fd);
			free(name);
			free(sel);
			goto out;
		}
		/* the layers' files as they stream past, hashed when the JSON shows them */
		r = img_arcimg_read_flags(fd, o->max_ratio, !o->files && !o->wasted ? 0 :
		                          IMG_ARCIMG_FILES | (o->files && o->json ?
		                                              IMG_ARCIMG_CONTENT : 0), &arc);
		close(fd);
		if (r < 0 || img_view_from_archive(arc, sel ? sel : o->image, plat, &v) < 0) {
			warnx("%s: %s", name, img_errmsg());
			free(name);
			free(sel);
			goto out;
		}
		free(name);
		free(sel);
	} else {
		if (!(s = img_cli_open_store(o->store, 0)))
			goto out;
		if (img_view_from_store(s, image, plat, &v) < 0) {
			warnx("%s", img_errmsg());
			goto out;
		}
	}
	have_view = 1;
	if (o->json) {
		jroot = json_object();
		json_object_set_new(jroot, "name", v.name ? json_string(v.name) : json_null());
		json_object_set_new(jroot, "manifest", v.has_manifest ? json_string(v.manifest_digest.str) : json_null());
		json_object_set_new(jroot, "config", json_string(v.config_digest.str));
	}
	if (o->files) {
		if (show_files(&v, o->files_layer, jroot) < 0)
			goto out;
	}
	if (o->wasted) {
		if (show_wasted(&v, jroot) < 0)
			goto out;
	}
	if (!o->files && !o->wasted && show_table(&v, jroot) < 0)
		goto out;
	if (o->json && jroot) {
		if (o->files || o->wasted) {
			/* the table too: scripts get everything in one document */
			if (show_table(&v, jroot) < 0)
				goto out;
		}
		{
			char *doc = img_json_dump(jroot, NULL);
			fputs(doc, stdout);
			putchar('\n');
			free(doc);
		}
	}
	ret = 0;
out:
	json_decref(jroot);
	if (have_view)
		img_view_release(&v);
	img_arcimg_free(arc);
	img_store_close(s);
	return ret;
}

int main(int argc, char **argv)
{
	struct layers_opts o;
	int c, status;

	img_util_setprogname(argv[0]);
	memset(&o, 0, sizeof(o));
	o.files_layer = -1;
	while ((c = getopt_long(argc, argv, "a:f::hi:p:S:w", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o.archive = optarg;
			break;
		case 'f':
			o.files = 1;
			o.files_layer = -1;
			if (optarg) {
				char *end;
				errno = 0;
				o.files_layer = strtol(optarg, &end, 10);
				if (errno || *end || end == optarg || o.files_layer < 0)
					errx(2, "invalid layer index '%s'", optarg);
			}
			break;
		case 'i':
			o.image = optarg;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_MAX_RATIO:
			if (img_cli_max_ratio(optarg, &o.max_ratio) < 0)
				img_cli_usage(synopsis);
			break;
		case 'p':
			img_cli_platform(optarg, &o.platform, synopsis);
			o.has_platform = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case 'w':
			o.wasted = 1;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	argv += optind;
	if (o.archive ? argc != 0 : argc != 1)
		img_cli_usage(synopsis);
	if (o.image && !o.archive)
		img_cli_usage(synopsis);
	status = run(&o, o.archive ? NULL : argv[0]);
	return img_cli_finish(status);
}
