/* img-diff: the differences between two images: config fields, layers, files.
 *
 * Each side is an image in the store or archive:FILE (archive:- is stdin, on one side).
 * Files are compared on the flattened filesystems, built in memory (path, metadata, content
 * sha256; nothing is extracted). The layers both sides share (the same leading diff_ids)
 * are read once: their tree is built, copied, and each side's own layers are applied to
 * its copy. When every layer is shared, no layer is read at all.
 * Exit 0 same, 1 different, 2 trouble (as diff(1)). */
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

enum { OPT_IGNORE_MTIME = 256, OPT_JSON, OPT_MAX_RATIO };

static const struct option longopts[] = {
	IMG_CLI_OPT_HELP,
	{ "ignore-mtime", no_argument,       NULL, OPT_IGNORE_MTIME },
	{ "json",         no_argument,       NULL, OPT_JSON },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "max-ratio",    required_argument, NULL, OPT_MAX_RATIO },
	{ "platform",     required_argument, NULL, 'p' },
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

struct diff_opts {
	const char *store;
	int ignore_mtime;
	int json;
	int has_platform;
	struct img_platform platform;
	unsigned max_ratio;  /* 0: the default */
};

struct side {
	const char *arg;
	struct img_arcimg *arc;
	struct img_view v;
	int have_view;
	struct img_tree *tree;
};

static const char *const synopsis[] = {
	"[-S DIR] [--ignore-mtime] [--json] [--platform P] A B",
	NULL
};

static const char help_text[] =
	"Compare two images: config fields, layers and files. A and B are images in the\n"
	"store or archive:FILE (archive:- reads stdin). Exit 0 same, 1 different, 2 trouble.\n"
	"\n"
	"  -h, --help           print this help and exit\n"
	"      --ignore-mtime   do not compare modification times of files\n"
	"      --json           print one JSON document on stdout\n"
	"      --max-ratio N    read archive layers that decompress to more than N times\n"
	"                       their size (default 100; applies past 1 GiB)\n"
	"  -p, --platform P     the platform to pick from multi-platform images\n"
	"  -S, --store DIR      the image store (default $IMG_STORE, else\n"
	"                       $XDG_DATA_HOME/img, else ~/.local/share/img)\n"
	"      --version        print the version and exit\n";

/* img-diff exits 2 for trouble, also when stdout fails (img_cli_finish says 1). */
static int finish(int status)
{
	return img_cli_finish(0) ? 2 : status;
}

static void print_field(const char *s)
{
	char *e = img_util_escape(s ? s : "");
	fputs(e, stdout);
	free(e);
}

/* ---- config ---- */

static const char *const config_fields[] = {
	"Env", "Cmd", "Entrypoint", "User", "WorkingDir", "Labels", "ExposedPorts", "Volumes",
	"StopSignal", "Shell", "Healthcheck", "OnBuild", NULL
};

/* Compact JSON of j (any value), "null" when absent: valid JSON, ASCII only, so it is
 * printed as it is. Caller frees. */
static char *jstr(json_t *j)
{
	char *s;

	if (!j || json_is_null(j))
		return xstrdup("null");
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
	if (!s)
		img_util_die_oom();
	return s;
}

static int config_change(json_t *jout, const char *field, json_t *a, json_t *b)
{
	if (a && json_is_null(a))
		a = NULL;
	if (b && json_is_null(b))
		b = NULL;
	if ((!a && !b) || (a && b && json_equal(a, b)))
		return 0;
	if (jout) {
		json_array_append_new(jout, json_pack("{s:s,s:O,s:O}", "field", field,
		        "a", a ? a : json_null(), "b", b ? b : json_null()));
	} else {
		char *sa = jstr(a), *sb = jstr(b);
		printf("C %s: %s -> %s\n", field, sa, sb);
		free(sa);
		free(sb);
	}
	return 1;
}

static int diff_config(struct side *A, struct side *B, json_t *jout)
{
	json_t *ca = A->v.config.config, *cb = B->v.config.config;
	json_t *ha = A->v.config.history, *hb = B->v.config.history;
	char pa[128], pb[128];
	int n = 0;

	img_image_platform_format(&A->v.config.platform, pa, sizeof(pa));
	img_image_platform_format(&B->v.config.platform, pb, sizeof(pb));
	if (strcmp(pa, pb) != 0) {
		json_t *ja = json_string(pa), *jb = json_string(pb);
		n += config_change(jout, "platform", ja, jb);
		json_decref(ja);
		json_decref(jb);
	}
	for (size_t i = 0; config_fields[i]; i++)
		n += config_change(jout, config_fields[i],
		                   ca ? json_object_get(ca, config_fields[i]) : NULL,
		                   cb ? json_object_get(cb, config_fields[i]) : NULL);
	{
		size_t na = ha ? json_array_size(ha) : 0, nb = hb ? json_array_size(hb) : 0;
		for (size_t i = 0; i < na || i < nb; i++) {
			char f[40];
			snprintf(f, sizeof(f), "history[%zu]", i);
			n += config_change(jout, f, i < na ? json_array_get(ha, i) : NULL,
			                   i < nb ? json_array_get(hb, i) : NULL);
		}
	}
	return n;
}

/* ---- layers ---- */

static size_t shared_prefix(struct side *A, struct side *B, size_t *other_blob)
{
	size_t k = 0;

	*other_blob = 0;
	while (k < A->v.nlayers && k < B->v.nlayers &&
	       img_digest_eq(&A->v.layers[k].diff_id, &B->v.layers[k].diff_id)) {
		if (!img_digest_eq(&A->v.layers[k].blob, &B->v.layers[k].blob))
			(*other_blob)++;
		k++;
	}
	return k;
}

static void show_layers(struct side *A, struct side *B, size_t k, size_t other, json_t *jroot)
{
	size_t xa = A->v.nlayers - k, xb = B->v.nlayers - k;
	int differ = xa || xb || other;

	if (jroot) {
		json_t *o = json_object(), *ja = json_array(), *jb = json_array();
		for (size_t i = k; i < A->v.nlayers; i++)
			json_array_append_new(ja, json_string(A->v.layers[i].diff_id.str));
		for (size_t i = k; i < B->v.nlayers; i++)
			json_array_append_new(jb, json_string(B->v.layers[i].diff_id.str));
		json_object_set_new(o, "differ", json_boolean(differ));
		json_object_set_new(o, "shared", json_integer((json_int_t)k));
		json_object_set_new(o, "shared_other_blob", json_integer((json_int_t)other));
		json_object_set_new(o, "a_only", ja);
		json_object_set_new(o, "b_only", jb);
		json_object_set_new(jroot, "layers", o);
		return;
	}
	if (!differ)
		return;
	printf("L layers differ: %zu shared by diff_id", k);
	if (other)
		printf(" (%zu stored as other blobs)", other);
	printf("; A has %zu more, B has %zu more\n", xa, xb);
	for (size_t i = k; i < A->v.nlayers; i++)
		printf("L A %zu %s\n", i, A->v.layers[i].diff_id.str);
	for (size_t i = k; i < B->v.nlayers; i++)
		printf("L B %zu %s\n", i, B->v.layers[i].diff_id.str);
}

/* ---- files ---- */

/* Layers [from, to) of a side: an archive's records, read while it streamed, or blobs
 * (the store's, or parts of an archive file) read ahead, several at once. */
struct span {
	struct side *s;
	size_t from, to;
	struct img_tree_job *jobs;          /* the blobs read (fd -1: none) */
	const struct img_tree_layer **lay;  /* each layer's records (a job's, or the archive's) */
	const char **err;                   /* why a layer could not be read, or NULL */
};

static void span_release(struct span *sp)
{
	for (size_t i = 0; sp->jobs && i < sp->to - sp->from; i++) {
		img_tree_read_layer_free(sp->jobs[i].out);
		free(sp->jobs[i].err);
		if (sp->jobs[i].fd >= 0)
			close(sp->jobs[i].fd);
	}
	free(sp->jobs);
	free(sp->lay);
	free(sp->err);
	sp->jobs = NULL;
	sp->lay = NULL;
	sp->err = NULL;
}

/* Read the layers of every span in one go; hash: as img_tree_read_scan_layer_sel (an archive's
 * records hash every file). On error, the first failing layer (in span order) is
 * reported. 0 or -1. */
static int read_spans(struct span *sp, size_t nsp, const struct img_pathset *hash)
{
	struct img_tree_job *all;
	struct img_tree_part *parts;
	size_t n = 0, k = 0;
	int ret = 0;

	for (size_t i = 0; i < nsp; i++)
		n += sp[i].to - sp[i].from;
	all = xcalloc(n + 1, sizeof(*all));
	parts = xcalloc(n + 1, sizeof(*parts));
	for (size_t i = 0; i < nsp; i++) {
		size_t m = sp[i].to - sp[i].from + 1;
		span_release(&sp[i]);
		sp[i].jobs = xcalloc(m, sizeof(*sp[i].jobs));
		sp[i].lay = xcalloc(m, sizeof(*sp[i].lay));
		sp[i].err = xcalloc(m, sizeof(*sp[i].err));
		for (size_t l = sp[i].from; l < sp[i].to; l++)
			sp[i].jobs[l - sp[i].from].fd = -1;
	}
	for (size_t i = 0; i < nsp; i++) {
		for (size_t l = sp[i].from; l < sp[i].to; l++) {
			size_t x = l - sp[i].from;
			int r = img_view_layer_records(&sp[i].s->v, l, &sp[i].lay[x], &sp[i].err[x]);
			if (r == 0 && img_view_layer_blob(&sp[i].s->v, l, &sp[i].jobs[x].fd,
			                                  &parts[k]) == 0) {
				all[k] = sp[i].jobs[x];
				all[k++].hash = hash;
			} else if (r <= 0) {
				warnx("%s: layer %zu: %s", sp[i].s->arg, l, img_errmsg());
				free(all);
				free(parts);
				return -1;
			}
		}
	}
	if (k > 0)
		(void)img_tree_read_parts(all, parts, k, 0);   /* the failures: in the jobs */
	k = 0;
	for (size_t i = 0; i < nsp; i++)
		for (size_t l = sp[i].from; l < sp[i].to; l++) {
			size_t x = l - sp[i].from;
			struct img_tree_job *j = &sp[i].jobs[x];
			if (j->fd >= 0) {
				*j = all[k++];
				close(j->fd);
				j->fd = -1;
				sp[i].lay[x] = j->out;
				sp[i].err[x] = j->err;
			}
			if (sp[i].err[x] && ret == 0) {
				warnx("%s: layer %zu (%s): %s", sp[i].s->arg, l,
				      sp[i].s->v.layers[l].blob.str, sp[i].err[x]);
				ret = -1;
			}
		}
	free(all);
	free(parts);
	return ret;
}

static int apply_span(struct span *sp, struct img_tree *t)
{
	for (size_t l = sp->from; l < sp->to; l++) {
		if (img_tree_read_apply_layer(t, (int)l, sp->lay[l - sp->from]) < 0) {
			warnx("%s: layer %zu (%s): %s", sp->s->arg, l, sp->s->v.layers[l].blob.str,
			      img_errmsg());
			return -1;
		}
	}
	return 0;
}

/* Are layers [0, k) of s in memory already (an archive read as it streamed)? */
static int have_records(struct side *s, size_t k)
{
	const struct img_tree_layer *l;
	const char *err;

	for (size_t i = 0; i < k; i++)
		if (img_view_layer_records(&s->v, i, &l, &err) != 1)
			return 0;
	return 1;
}

/* The two trees, built from the shared first k layers (read once) and each side's own.
 * Each side's own layers are read first, whole; they name the paths whose content can
 * differ, and of the shared layers only those files are hashed, the rest skipped. */
static int build_trees(struct side *A, struct side *B, size_t k)
{
	struct span own[2] = { { A, k, A->v.nlayers, NULL, NULL, NULL },
	                       { B, k, B->v.nlayers, NULL, NULL, NULL } };
	/* the shared layers (the same diff_ids) from the side that has them in memory */
	struct span shared = { !have_records(A, k) && have_records(B, k) ? B : A, 0, k,
	                       NULL, NULL, NULL };
	struct img_pathset *want = NULL, *hash = NULL;
	struct img_tree *base = NULL;
	int ret = -1;

	if (read_spans(own, 2, NULL) < 0)
		goto out;
	want = img_tree_read_pathset_new();
	for (int i = 0; i < 2; i++)
		for (size_t l = own[i].from; l < own[i].to; l++)
			img_tree_read_layer_paths(own[i].lay[l - own[i].from], want);
	hash = img_tree_read_pathset_new();
	for (int i = 0; i < 2; i++)
		for (size_t l = own[i].from; l < own[i].to; l++)
			img_tree_read_layer_paths(own[i].lay[l - own[i].from], hash);
	for (int round = 0;; round++) {
		img_tree_free(base);
		base = img_tree_new();
		if (k > 0) {
			if (read_spans(&shared, 1, hash) < 0 || apply_span(&shared, base) < 0)
				goto out;
		}
		/* a file named by the own layers but reached through a hard link of the shared
		 * ones was skipped where its data lay: read again, hashing it there too */
		if (round > 4 || img_tree_read_unhashed(base, want, hash) == 0)
			break;
	}
	span_release(&shared);
	A->tree = img_tree_clone(base);
	B->tree = base;
	base = NULL;
	if (apply_span(&own[0], A->tree) < 0 || apply_span(&own[1], B->tree) < 0)
		goto out;
	ret = 0;
out:
	img_tree_free(base);
	img_tree_read_pathset_free(want);
	img_tree_read_pathset_free(hash);
	span_release(&own[0]);
	span_release(&own[1]);
	span_release(&shared);
	return ret;
}

/* The other name of a hard-linked inode, or NULL. */
static const char *link_partner(const struct img_tree *t, const struct img_tree_node *n)
{
	const struct img_tree_node *o;

	if (n->ino->nlink < 2 || strcmp(n->ino->origin, n->path) == 0)
		return NULL;
	o = img_tree_get(t, n->ino->origin);
	return o && o->ino == n->ino ? n->ino->origin : NULL;
}

static int node_changes(const struct img_tree *ta, const struct img_tree_node *a,
                        const struct img_tree *tb, const struct img_tree_node *b,
                        int ignore_mtime, const char **what)
{
	const struct img_tree_inode *x = a->ino, *y = b->ino;
	const char *la = link_partner(ta, a), *lb = link_partner(tb, b);
	int n = 0;

	if (x->type != y->type)
		what[n++] = "type";
	if (x->has_content != y->has_content ||
	    (x->has_content && memcmp(x->content, y->content, 32) != 0))
		what[n++] = "content";
	if (x->size != y->size)
		what[n++] = "size";
	if (x->mode != y->mode)
		what[n++] = "mode";
	if (x->uid != y->uid || x->gid != y->gid)
		what[n++] = "owner";
	if ((x->link || y->link) && (!x->link || !y->link || strcmp(x->link, y->link) != 0))
		what[n++] = "link";
	if ((la || lb) && (!la || !lb || strcmp(la, lb) != 0))
		what[n++] = "hardlink";
	if (!x->xattrs != !y->xattrs || (x->xattrs && memcmp(x->xattrs, y->xattrs, 32) != 0))
		what[n++] = "xattrs";
	if (x->devmajor != y->devmajor || x->devminor != y->devminor)
		what[n++] = "device";
	if (!ignore_mtime && x->mtime != y->mtime)
		what[n++] = "mtime";
	return n;
}

static void file_line(json_t *jfiles, char change, const char *path, const char **what, int nw,
                      const char *partner)
{
	if (jfiles) {
		json_t *o = json_object(), *w = json_array();
		char c[2] = { change, '\0' };
		for (int i = 0; i < nw; i++)
			json_array_append_new(w, json_string(what[i]));
		json_object_set_new(o, "change", json_string(c));
		json_object_set_new(o, "path", img_json_string_lossy(path));
		if (nw)
			json_object_set_new(o, "what", w);
		else
			json_decref(w);
		if (partner)
			json_object_set_new(o, "hardlink", img_json_string_lossy(partner));
		json_array_append_new(jfiles, o);
		return;
	}
	printf("%c ", change);
	print_field(path);
	if (nw) {
		fputs(" (", stdout);
		for (int i = 0; i < nw; i++)
			printf("%s%s", i ? ", " : "", what[i]);
		putchar(')');
	} else if (partner) {
		fputs(" (hard link to ", stdout);
		print_field(partner);
		putchar(')');
	}
	putchar('\n');
}

static int diff_trees(struct img_tree *ta, struct img_tree *tb, int ignore_mtime, json_t *jfiles)
{
	const struct img_tree_node **va, **vb;
	size_t na = img_tree_sorted(ta, &va), nb = img_tree_sorted(tb, &vb), i = 0, j = 0;
	int n = 0;

	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : strcmp(va[i]->path, vb[j]->path);
		if (c < 0) {
			file_line(jfiles, 'D', va[i]->path, NULL, 0, NULL);
			i++;
			n++;
		} else if (c > 0) {
			file_line(jfiles, 'A', vb[j]->path, NULL, 0, link_partner(tb, vb[j]));
			j++;
			n++;
		} else {
			const char *what[16];
			int nw = node_changes(ta, va[i], tb, vb[j], ignore_mtime, what);
			if (nw) {
				file_line(jfiles, 'M', va[i]->path, what, nw, NULL);
				n++;
			}
			i++;
			j++;
		}
	}
	free(va);
	free(vb);
	return n;
}

/* ---- sides ---- */

static int open_side(struct side *s, struct diff_opts *o, struct img_store **store)
{
	const struct img_platform *plat = o->has_platform ? &o->platform : NULL;

	if (strncmp(s->arg, "archive:", 8) == 0) {
		char *file, *sel, *x;
		int fd, r;
		img_arcimg_operand(s->arg + 8, &file, &sel);
		x = img_util_escape_cut(strcmp(file, "-") ? file : "stdin");
		fd = img_io_open_in(file);
		free(file);
		if (fd < 0) {
			warnx("%s", img_errmsg());
			free(x);
			free(sel);
			return -1;
		}
		/* every file that may be a layer read as it streams past, hashed */
		r = img_arcimg_read_flags(fd, o->max_ratio, IMG_ARCIMG_FILES | IMG_ARCIMG_CONTENT,
		                          &s->arc);
		close(fd);
		if (r < 0 || img_view_from_archive(s->arc, sel, plat, &s->v) < 0) {
			warnx("%s: %s", x, img_errmsg());
			free(x);
			free(sel);
			return -1;
		}
		free(x);
		free(sel);
	} else {
		if (!*store && !(*store = img_cli_open_store(o->store, 0)))
			return -1;
		if (img_view_from_store(*store, s->arg, plat, &s->v) < 0) {
			warnx("%s", img_errmsg());
			return -1;
		}
	}
	s->have_view = 1;
	return 0;
}

static json_t *side_json(struct side *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", s->v.name ? json_string(s->v.name) : json_null());
	json_object_set_new(o, "manifest", s->v.has_manifest ? json_string(s->v.manifest_digest.str) : json_null());
	json_object_set_new(o, "config", json_string(s->v.config_digest.str));
	return o;
}

static int run(struct diff_opts *o, struct side *A, struct side *B)
{
	struct img_store *store = NULL;
	json_t *jroot = NULL, *jconfig = NULL, *jfiles = NULL;
	size_t k, other;
	int ndiff = 0, ret = 2;

	if (open_side(A, o, &store) < 0 || open_side(B, o, &store) < 0)
		goto out;
	if (o->json) {
		jroot = json_object();
		jconfig = json_array();
		jfiles = json_array();
		json_object_set_new(jroot, "a", side_json(A));
		json_object_set_new(jroot, "b", side_json(B));
	}
	k = shared_prefix(A, B, &other);
	/* the trees first: a layer that cannot be read is trouble, with no partial report */
	if ((k < A->v.nlayers || k < B->v.nlayers) && build_trees(A, B, k) < 0)
		goto out;
	ndiff += diff_config(A, B, jconfig);
	show_layers(A, B, k, other, jroot);
	if (A->tree && B->tree)
		ndiff += diff_trees(A->tree, B->tree, o->ignore_mtime, jfiles);
	if (jroot) {
		char *doc;
		json_object_set_new(jroot, "config", jconfig);
		json_object_set_new(jroot, "files", jfiles);
		json_object_set_new(jroot, "same", json_boolean(ndiff == 0));
		jconfig = jfiles = NULL;
		doc = img_json_dump(jroot, NULL);
		fputs(doc, stdout);
		putchar('\n');
		free(doc);
	}
	ret = ndiff ? 1 : 0;
out:
	json_decref(jconfig);
	json_decref(jfiles);
	json_decref(jroot);
	img_store_close(store);
	return ret;
}

static void side_release(struct side *s)
{
	img_tree_free(s->tree);
	if (s->have_view)
		img_view_release(&s->v);
	img_arcimg_free(s->arc);
}

int main(int argc, char **argv)
{
	struct diff_opts o;
	struct side A, B;
	int c, status;

	img_util_setprogname(argv[0]);
	img_util_set_die_status(2);   /* trouble, never "different" */
	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, "hp:S:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_IGNORE_MTIME:
			o.ignore_mtime = 1;
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
		default:
			return img_cli_option(c, longopts, synopsis, help_text) ? 2 : 0;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		img_cli_usage(synopsis);
	if (strcmp(argv[0], "archive:-") == 0 && strcmp(argv[1], "archive:-") == 0)
		errx(2, "stdin can be read on one side only");
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	A.arg = argv[0];
	B.arg = argv[1];
	status = run(&o, &A, &B);
	side_release(&A);
	side_release(&B);
	return finish(status);
}
