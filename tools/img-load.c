/* img-load: load image archives (docker-save v1.2, Docker 25+, Docker's containerd-store
 * output, skopeo/podman docker-archive and oci-archive, img-save) into the store, in one
 * pass over the input, verifying every blob, manifest, config and diff_id.
 *
 * The archive is read once by arcread.h: every regular file hashed while it streams and,
 * unless --check, written to a temp blob of the store (the sink below); small JSON-looking
 * entries kept in memory. Once the archive has ended, arcload.h finds and verifies
 * its images; then the referenced temp blobs are committed, the rest thrown away, and
 * index.json updated. Any failure leaves the store as it was. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "arcread.h"
#include "arcload.h"

#define PIPE_SIZE    (1 << 20)           /* input pipe capacity asked for */
#define SMALL_MEM    (64u << 10)         /* always kept in memory up to this size */

enum { OPT_ALLOW_MISSING = 256, OPT_BASE_NAME, OPT_CHECK, OPT_JSON, OPT_MAX_RATIO, OPT_PLATFORM,
       OPT_PROGRESS };

static const struct option longopts[] = {
	{ "allow-missing", no_argument,      NULL, OPT_ALLOW_MISSING },
	{ "base-name",    required_argument, NULL, OPT_BASE_NAME },
	{ "check",        no_argument,       NULL, OPT_CHECK },
	IMG_CLI_OPT_HELP,
	{ "json",         no_argument,       NULL, OPT_JSON },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "max-ratio",    required_argument, NULL, OPT_MAX_RATIO },
	{ "platform",     required_argument, NULL, OPT_PLATFORM },
	{ "progress",     required_argument, NULL, OPT_PROGRESS },
	{ "quiet",        no_argument,       NULL, 'q' },
	{ "store",        required_argument, NULL, 'S' },
	{ "tag",          required_argument, NULL, 't' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 },
};

static const char *const synopsis[] = {
	"[-q] [-S DIR] [-t NAME] [--base-name REPO] [--platform P] [--check [--allow-missing]] "
	"[--json] [--max-ratio N] [--progress M] [FILE...]",
	NULL
};

static const char help_text[] =
	"Load image archives (docker save, OCI, skopeo, podman, img-save) into the store.\n"
	"With no FILE, or when FILE is -, read stdin. Any outer compression is detected.\n"
	"\n"
	"      --allow-missing  with --check, layers left out of a delta are no error\n"
	"      --base-name REPO a bare tag in an OCI layout (ref.name \"v1\") names REPO:v1\n"
	"      --check          verify the archive only; write nothing\n"
	"  -h, --help           print this help and exit\n"
	"      --json           print one JSON document describing the loaded images\n"
	"      --max-ratio N    allow layers that decompress to more than N times their size\n"
	"                       (default 100; applies past 1 GiB)\n"
	"      --platform P     load only the manifest for platform P (os/arch[/variant])\n"
	"      --progress M     progress on stderr: auto, tty, plain or none\n"
	"  -q, --quiet          no progress\n"
	IMG_CLI_HELP_STORE_PAD("    ")
	"  -t, --tag NAME       name the loaded image NAME (the archive must hold one image)\n"
	"      --version        print the version and exit\n";

struct opts {
	int quiet, check, json, allow_missing;
	const char *store, *tag;
	char *tag_canon;
	char *base;                  /* --base-name, canonical repository */
	int has_platform;
	struct img_platform platform;
	unsigned max_ratio;
	enum img_progress_mode progress;
};

/* ---------------------------------------------------------------- the sink */

/* The bytes of an entry not kept in memory go to a temp blob of the store (the pipeline's
 * one writer), dropped at once when the store has the blob already. */
static int sink_open(void *arg, struct img_arcread_ent *e, int big, void **w)
{
	(void)e;
	return img_blob_begin_flags(arg, IMG_BLOB_STREAM | IMG_BLOB_TRUSTED |
	                            (big ? IMG_BLOB_DIRECT : 0),
	                            (struct img_blob_writer **)w);
}

static int sink_write(void *w, const void *buf, size_t n)
{
	return img_blob_write(w, buf, n);
}

static int sink_done(void *arg, struct img_arcread_ent *e)
{
	int r = img_blob_has(arg, &e->blob, NULL);

	if (r > 0) {
		img_blob_abort(e->out);
		e->out = NULL;
		e->user |= IMG_ARCLOAD_IN_STORE;
	}
	return r < 0 ? -1 : 0;
}

static void sink_drop(void *w)
{
	img_blob_abort(w);
}

struct load {
	const struct opts *o;
	struct img_store *store;
	struct img_arcread *r;
	struct img_arcload al;
};


/* ---------------------------------------------------------------- committing */

static int idx_fn(json_t *index, void *arg)
{
	struct load *L = arg;

	for (size_t i = 0; i < L->al.nimgs; i++) {
		struct img_arcload_image *im = &L->al.imgs[i];
		if (img_index_put(index, im->desc, (const char *const *)im->names, im->nnames) < 0)
			return -1;
	}
	return 0;
}

static int commit(struct load *L)
{
	struct img_digest got;

	size_t n = img_arcread_count(L->r);

	for (size_t i = 0; i < n; i++) {
		struct img_arcread_ent *e = img_arcread_ent(L->r, i);
		if (!(e->user & IMG_ARCLOAD_USED) && e->out) {
			img_blob_abort(e->out);
			e->out = NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct img_arcread_ent *e = img_arcread_ent(L->r, i);
		if (!(e->user & IMG_ARCLOAD_USED) || (e->user & IMG_ARCLOAD_IN_STORE))
			continue;
		if (e->out) {
			struct img_blob_writer *w = e->out;
			e->out = NULL;
			if (img_blob_commit(w, &e->blob, -1, NULL) < 0)
				return img_fail("%s: %s", img_arcread_shown(e), img_errmsg());
		} else if (e->mem) {
			if (img_blob_put(L->store, e->mem, e->memlen, &got) < 0)
				return img_fail("%s: %s", img_arcread_shown(e), img_errmsg());
		}
		e->user |= IMG_ARCLOAD_IN_STORE;
	}
	for (size_t i = 0; i < L->al.nimgs; i++) {
		struct img_arcload_image *im = &L->al.imgs[i];
		if (im->synth && img_blob_put(L->store, im->synth, im->synthlen, &got) < 0)
			return img_fail("manifest %s: %s", im->top.str, img_errmsg());
	}
	if (img_store_index_update(L->store, idx_fn, L) < 0)
		return img_fail("index.json: %s", img_errmsg());
	return 0;
}

/* ---------------------------------------------------------------- output */

static void print_images(struct load *L, json_t *jimages)
{
	const struct opts *o = L->o;

	for (size_t i = 0; i < L->al.nimgs; i++) {
		struct img_arcload_image *im = &L->al.imgs[i];
		if (o->json) {
			json_t *j = json_object(), *names = json_array();
			for (size_t k = 0; k < im->nnames; k++)
				json_array_append_new(names, json_string(im->names[k]));
			json_object_set_new(j, "names", names);
			json_object_set_new(j, "mediaType",
			                    json_incref(json_object_get(im->desc, "mediaType")));
			json_object_set_new(j, "manifest", json_string(im->top.str));
			json_object_set_new(j, "config",
			                    im->has_config ? json_string(im->config.str) : json_null());
			json_object_set_new(j, "layers",
			                    im->layers ? json_incref(im->layers) : json_array());
			json_array_append_new(jimages, j);
			continue;
		}
		const char *verb = o->check ? "Verified" : "Loaded";
		for (size_t k = 0; k < im->nnames; k++) {
			struct img_ref r;
			char *fam = NULL;
			if (img_ref_parse(im->names[k], &r) == 0) {
				fam = img_ref_familiar(&r);
				img_ref_release(&r);
			}
			char *esc = img_util_escape(fam ? fam : im->names[k]);
			printf("%s image: %s\n", verb, esc);
			free(esc);
			free(fam);
		}
		if (!im->nnames && !im->is_image) {
			printf("%s artifact: %s\n", verb, im->top.str);
		} else if (!im->nnames && im->bare) {
			char *esc = img_util_escape(im->bare);
			printf("%s image ID: %s (tagged '%s' in the archive: --base-name REPO names it "
			       "REPO:%s)\n", verb, im->has_config ? im->config.str : im->top.str, esc,
			       esc);
			free(esc);
		} else if (!im->nnames) {
			printf("%s image ID: %s\n", verb,
			       im->has_config ? im->config.str : im->top.str);
		}
	}
	for (size_t i = 0; o->check && !o->json && i < L->al.delta.set.n; i++)
		if (L->al.delta.set.e[i].flags & IMG_ARCLOAD_LO_USED)
			printf("Left out: %s (%lld bytes)\n", L->al.delta.set.e[i].d.str,
			       (long long)L->al.delta.size[i]);
}

/* ---------------------------------------------------------------- main */

static void notice(void *arg, const char *msg)
{
	(void)arg;
	warnx("%s", msg);
}

static int load_one(const struct opts *o, struct img_store *store, const char *file,
                    json_t *jimages)
{
	struct load L = { .o = o, .store = store };
	const struct img_arcread_sink sink = {
		.open = sink_open, .write = sink_write, .done = sink_done, .drop = sink_drop,
		.arg = store,
	};
	struct img_arcread_opts ro = {
		.max_ratio = o->max_ratio, .small = SMALL_MEM, .sink = o->check ? NULL : &sink,
	};
	struct stat st;
	int fd, rc = -1;

	L.al.platform = o->has_platform ? &o->platform : NULL;
	L.al.base = o->base;
	L.al.tag = o->tag_canon;
	L.al.allow_missing = o->allow_missing;
	L.al.store = store;
	L.al.notice = notice;
	fd = img_io_open_in(file);
	if (fd < 0)
		return img_fail("%s", img_errmsg());
	/* a pipe: fewer, bigger reads (the writer sleeps and wakes us far less often) */
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
		fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
	ro.progress = img_progress_new(o->quiet ? IMG_PROGRESS_NONE : o->progress, "Loading",
	                               fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ?
	                               (uint64_t)st.st_size : 0);
	if (img_arcread_read(fd, &ro, &L.r) < 0 || img_arcload_resolve(&L.al, L.r) < 0)
		goto out;
	if (!o->check && commit(&L) < 0)
		goto out;
	print_images(&L, jimages);
	rc = 0;
out:
	img_progress_done(ro.progress);
	close(fd);
	img_arcload_release(&L.al);
	img_arcread_free(L.r);
	return rc;
}

static void waiting(void *arg)
{
	(void)arg;
	warnx("waiting for the store lock");
}

int main(int argc, char **argv)
{
	struct opts o = { .progress = IMG_PROGRESS_AUTO, .max_ratio = 100 };
	struct img_store *store = NULL;
	json_t *jimages = NULL;
	char *path = NULL;
	int c, status = 0;
	struct rlimit rl;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "hqS:t:", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quiet = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case 't':
			o.tag = optarg;
			break;
		case OPT_BASE_NAME: {
			struct img_ref r;
			const char *slash = strrchr(optarg, '/');
			if (strchr(optarg, '@') || strchr(slash ? slash : optarg, ':') ||
			    img_ref_parse(optarg, &r) < 0) {
				warnx("--base-name: not a repository name: '%s'", optarg);
				img_cli_usage(synopsis);
			}
			free(o.base);
			o.base = img_ref_repo(&r);
			img_ref_release(&r);
			break;
		}
		case OPT_ALLOW_MISSING:
			o.allow_missing = 1;
			break;
		case OPT_CHECK:
			o.check = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_MAX_RATIO:
			if (img_cli_max_ratio(optarg, &o.max_ratio) < 0)
				img_cli_usage(synopsis);
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
	if (o.allow_missing && !o.check) {
		warnx("--allow-missing goes with --check (a load needs every blob)");
		img_cli_usage(synopsis);
	}
	if (o.tag && argc > 1) {
		warnx("-t names one image: give one FILE");
		img_cli_usage(synopsis);
	}
	if (o.tag) {
		struct img_ref r;
		if (img_ref_parse(o.tag, &r) < 0)
			errx(2, "-t: invalid name '%s': %s", o.tag, img_errmsg());
		if (!r.tag) {
			img_ref_release(&r);
			errx(2, "-t: '%s' is not a name:tag", o.tag);
		}
		o.tag_canon = img_ref_canonical(&r);
		img_ref_release(&r);
	}
	/* one temp blob per big entry stays open until the end */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!o.check) {
		path = img_store_default_path(o.store);
		if (img_store_open(path, IMG_STORE_CREATE, &store) < 0) {
			warnx("%s", img_errmsg());
			status = 1;
			goto out;
		}
		img_store_set_waiting(store, waiting, NULL);
		if (img_store_lock(store, IMG_LOCK_SHARED, waiting, NULL) < 0) {
			warnx("%s", img_errmsg());
			status = 1;
			goto out;
		}
	}
	if (o.json)
		jimages = json_array();
	for (int i = 0; i < (argc ? argc : 1); i++) {
		const char *file = argc ? argv[i] : "-";
		if (load_one(&o, store, file, jimages) < 0) {
			if (argc > 1) {
				char *esc = img_util_escape_cut(file);
				warnx("%s: %s", esc, img_errmsg());
				free(esc);
			} else {
				warnx("%s", img_errmsg());
			}
			status = 1;
		}
	}
	if (o.json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "images", jimages);
		jimages = NULL;
		char *s = json_dumps(doc, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
		json_decref(doc);
	}
out:
	json_decref(jimages);
	img_store_close(store);
	free(path);
	free(o.tag_canon);
	free(o.base);
	if (img_io_close_stdout() < 0) {
		warnx("%s", img_errmsg());
		status = 1;
	}
	return status;
}
