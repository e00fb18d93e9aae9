/* img-import: a rootfs tarball or a directory becomes a new image (or a new top layer on a
 * base image) in the store, as `docker import` does (formats.md §7.1). */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "config.h"
#include "mklayer.h"

enum {
	OPT_COMPRESS = 256,
	OPT_JSON,
	OPT_LEVEL,
	OPT_PLATFORM,
	OPT_PROGRESS,
};

static const struct option longopts[] = {
	{ "base",         required_argument, NULL, 'b' },
	{ "change",       required_argument, NULL, 'c' },
	{ "compress",     required_argument, NULL, OPT_COMPRESS },
	IMG_CLI_OPT_HELP,
	{ "json",         no_argument,       NULL, OPT_JSON },
	{ "level",        required_argument, NULL, OPT_LEVEL },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "message",      required_argument, NULL, 'm' },
	{ "platform",     required_argument, NULL, OPT_PLATFORM },
	{ "progress",     required_argument, NULL, OPT_PROGRESS },
	{ "quiet",        no_argument,       NULL, 'q' },
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 },
};

struct import_opts {
	const char *store;
	const char *base;
	const char **changes;
	size_t nchanges, changes_cap;
	const char *message;
	const char *platform;
	enum img_comp comp;
	int level;
	int json;
	int quiet;
	enum img_progress_mode progress;
	const char *input;
	const char *name;
};

static const char *const synopsis[] = {
	"[-q] [-S DIR] [-b BASE] [-c INSTR]... [-m MSG] [--platform P] "
	"[--compress gzip|zstd|none] [--level N] [--json] [--progress M] FILE|DIR|- [NAME]",
	NULL
};

static const char help_text[] =
	"Turn a root filesystem tarball (any compression), a directory or stdin into a\n"
	"one-layer image, or a new top layer on a base image, and name it NAME.\n"
	"\n"
	"  -b, --base IMAGE        put the new layer on top of IMAGE's layers and config\n"
	"  -c, --change INSTR      apply a Dockerfile instruction to the config (CMD,\n"
	"                          ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,\n"
	"                          STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable\n"
	"      --compress ALG      layer compression: gzip (default), zstd or none\n"
	"  -h, --help              show this help and exit\n"
	"      --json              print {digest, config, name, layers, diff_ids} as JSON\n"
	"      --level N           compression level (gzip 1-9, zstd 1-19)\n"
	"  -m, --message MSG       history comment of the new layer\n"
	"      --platform P        os/arch[/variant] of a new image (default: the host)\n"
	"      --progress M        progress on stderr: auto, tty, plain or none\n"
	"  -q, --quiet             no progress, no warnings\n"
	"  -S, --store DIR         the image store (default $IMG_STORE, else\n"
	"                          $XDG_DATA_HOME/img)\n"
	"      --version           print the version and exit\n";

/* ------------------------------------------------------------------------------------ */

static void
skipped(void *arg, const char *path)
{
	const char *src = arg;

	warnx("%s: skipping '%s': unsupported entry type", img_util_shown(src), img_util_shown(path));
}

struct result {
	struct img_digest blob, diff_id;
	int64_t blob_size;
};

/* Write the layer blob from the input. 0 or -1 (img_errmsg). */
static int
write_layer(const struct import_opts *o, struct img_store *s, struct result *res)
{
	struct img_mklayer_opts lo = { .comp = o->comp, .level = o->level,
	                               .clamp = img_util_source_date_epoch(),
	                               .progress = o->quiet ? IMG_PROGRESS_NONE : o->progress,
	                               .label = "importing",
	                               .skipped = o->quiet ? NULL : skipped,
	                               .skipped_arg = (void *)o->input };
	struct img_mklayer *l = NULL;
	struct stat st;
	int is_dir = 0, fd = -1, rc = -1;

	if (strcmp(o->input, "-") != 0) {
		if (stat(o->input, &st) < 0) {
			img_seterr_errno("cannot open '%s'", o->input);
			return -1;
		}
		is_dir = S_ISDIR(st.st_mode);
	}
	if (!is_dir) {
		fd = img_io_open_in(o->input);
		if (fd < 0)
			return -1;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			st.st_size = 0;
		lo.total = (uint64_t)st.st_size;
	}
	if (!(l = img_mklayer_begin(s, &lo)))
		goto out;
	if (is_dir ? img_mklayer_dir(l, o->input, NULL) < 0 : img_mklayer_archive(l, fd, NULL) < 0)
		goto out;
	rc = img_mklayer_finish(l, &res->blob, &res->blob_size, &res->diff_id);
out:
	img_mklayer_free(l);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ------------------------------------------------------------------------------------ */

struct base {
	int have;
	struct img_doc manifest;
	struct img_desc mdesc;
	struct img_config config;
};

static int
load_base(struct img_store *s, const char *what, const struct img_platform *plat, struct base *b)
{
	json_t *index = img_store_index(s), *entries;
	size_t *m = NULL, n = 0;
	struct img_desc top;
	int rc = -1;

	if (!index)
		return -1;
	if (img_store_resolve(s, index, what, &m, &n) < 0)
		goto out;
	entries = json_object_get(index, "manifests");
	if (img_image_desc_parse(json_array_get(entries, m[0]), &top) < 0)
		goto out;
	if (img_store_image(s, &top, plat, &b->manifest, &b->mdesc, &b->config) < 0)
		goto out;
	b->have = 1;
	rc = 0;
out:
	free(m);
	json_decref(index);
	return rc;
}

/* The new config document: the base's (copied) or a fresh one; changes applied. */
static json_t *
new_config(const struct import_opts *o, const struct base *b, const struct img_platform *plat)
{
	json_t *c, *cfg;

	if (b->have) {
		c = json_deep_copy(b->config.root);
	} else {
		c = json_object();
		json_object_set_new(c, "architecture", json_string(plat->arch));
		json_object_set_new(c, "os", json_string(plat->os));
		if (plat->variant[0])
			json_object_set_new(c, "variant", json_string(plat->variant));
		if (plat->osversion[0])
			json_object_set_new(c, "os.version", json_string(plat->osversion));
		json_object_set_new(c, "created", json_null());
		json_object_set_new(c, "config", json_object());
	}
	cfg = json_object_get(c, "config");
	if (!json_is_object(cfg)) {
		cfg = json_object();
		json_object_set_new(c, "config", cfg);
	}
	if (img_config_changes(cfg, o->changes, o->nchanges) < 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

/* Add the new layer's diff_id, the history entry and created. No default comment: the
 * same bytes give the same image whether they came from FILE, from stdin or from another
 * path. */
static void
finish_config(const struct import_opts *o, json_t *c, const struct result *r, const char *created)
{
	json_object_set_new(c, "created", json_string(created));
	img_config_add_diff_id(c, r->diff_id.str);
	img_config_add_history(c, created, "img-import", o->message, 0);
}

struct name_arg { const char *name; json_t *desc; };

static int
set_name(json_t *index, void *arg)
{
	struct name_arg *na = arg;

	return img_index_put(index, na->desc, &na->name, na->name ? 1 : 0) < 0 ? -1 : 0;
}

static int
run(const struct import_opts *o, const char *canon, const struct img_platform *plat)
{
	struct img_store *s = NULL;
	struct base b = { 0 };
	struct result r;
	json_t *cfg = NULL, *man = NULL, *layers, *desc = NULL;
	struct img_digest cdig, mdig;
	char *cbuf = NULL, *mbuf = NULL, created[40];
	size_t clen, mlen;
	int64_t sde = img_util_source_date_epoch();
	int rc = 1;
	struct name_arg na;

	if (!(s = img_cli_open_store(o->store, IMG_STORE_CREATE)))
		return 1;
	/* Shared for the whole run: new blobs stay safe from img-gc until named. */
	if (img_store_lock(s, IMG_LOCK_SHARED, img_cli_waiting, NULL) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (o->base && load_base(s, o->base, o->platform ? plat : NULL, &b) < 0) {
		warnx("base %s: %s", o->base, img_errmsg());
		goto out;
	}
	cfg = new_config(o, &b, plat);
	if (!cfg) {
		warnx("%s", img_errmsg());
		rc = 2;
		goto out;
	}
	if (write_layer(o, s, &r) < 0) {
		warnx("%s: %s", o->input, img_errmsg());
		goto out;
	}
	img_util_rfc3339(sde >= 0 ? sde : (int64_t)time(NULL), created, sizeof created);
	finish_config(o, cfg, &r, created);
	cbuf = img_json_dump(cfg, &clen);
	if (img_blob_put(s, cbuf, clen, &cdig) < 0) {
		warnx("config: %s", img_errmsg());
		goto out;
	}
	man = json_object();
	json_object_set_new(man, "schemaVersion", json_integer(2));
	json_object_set_new(man, "mediaType", json_string(IMG_MT_OCI_MANIFEST));
	json_object_set_new(man, "config", img_image_desc_new(IMG_MT_OCI_CONFIG, &cdig, (int64_t)clen));
	layers = json_array();
	for (size_t i = 0; b.have && i < b.manifest.n; i++)
		json_array_append_new(layers, json_deep_copy(b.manifest.items[i].json));
	json_array_append_new(layers, img_image_desc_new(img_comp_media_type(o->comp), &r.blob, r.blob_size));
	json_object_set_new(man, "layers", layers);
	mbuf = img_json_dump(man, &mlen);
	if (img_blob_put(s, mbuf, mlen, &mdig) < 0) {
		warnx("manifest: %s", img_errmsg());
		goto out;
	}
	desc = img_image_desc_new(IMG_MT_OCI_MANIFEST, &mdig, (int64_t)mlen);
	na.name = canon;
	na.desc = desc;
	if (img_store_index_update(s, set_name, &na) < 0) {
		warnx("index.json: %s", img_errmsg());
		goto out;
	}
	if (o->json) {
		json_t *out = json_object(), *ls = json_array(), *ids = json_array(), *v;
		json_t *dids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
		size_t i;
		char *txt;
		json_object_set_new(out, "digest", json_string(mdig.str));
		json_object_set_new(out, "config", json_string(cdig.str));
		json_object_set_new(out, "name", canon ? json_string(canon) : json_null());
		json_array_foreach(layers, i, v)
			json_array_append(ls, json_object_get(v, "digest"));
		json_array_foreach(dids, i, v)
			json_array_append(ids, v);
		json_object_set_new(out, "layers", ls);
		json_object_set_new(out, "diff_ids", ids);
		txt = img_json_dump(out, NULL);
		printf("%s\n", txt);
		free(txt);
		json_decref(out);
	} else {
		printf("%s\n", mdig.str);
	}
	rc = 0;
out:
	json_decref(desc);
	free(mbuf);
	free(cbuf);
	json_decref(man);
	json_decref(cfg);
	if (b.have) {
		img_image_doc_release(&b.manifest);
		img_image_config_release(&b.config);
	}
	img_store_close(s);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct import_opts o = { .comp = IMG_COMP_GZIP, .level = -1, .progress = IMG_PROGRESS_AUTO };
	struct img_platform plat;
	char *canon = NULL;
	int c, rc;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "b:c:hm:qS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.base = optarg;
			break;
		case 'c':
			IMG_GROW(o.changes, o.nchanges + 1, o.changes_cap);
			o.changes[o.nchanges++] = optarg;
			break;
		case OPT_COMPRESS:
			if (img_comp_parse(optarg, &o.comp) < 0) {
				warnx("invalid compression '%s' (gzip, zstd or none)", optarg);
				img_cli_usage(synopsis);
			}
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_LEVEL: {
			char *e;
			long v = strtol(optarg, &e, 10);
			if (*e || e == optarg || v < 0 || v > 22) {
				warnx("invalid level '%s'", optarg);
				img_cli_usage(synopsis);
			}
			o.level = (int)v;
			break;
		}
		case 'm':
			o.message = optarg;
			break;
		case OPT_PLATFORM:
			o.platform = optarg;
			img_cli_platform(optarg, &plat, synopsis);
			break;
		case OPT_PROGRESS:
			o.progress = img_cli_progress(optarg, synopsis);
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		default:
			free(o.changes);
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		img_cli_usage(synopsis);
	o.input = argv[0];
	o.name = argc > 1 ? argv[1] : NULL;

	if (o.level >= 0) {
		if ((o.comp == IMG_COMP_GZIP && (o.level < 1 || o.level > 9)) ||
		    (o.comp == IMG_COMP_ZSTD && (o.level < 1 || o.level > 19))) {
			warnx("invalid level %d for %s", o.level, img_comp_name(o.comp));
			img_cli_usage(synopsis);
		}
	}
	/* Validate the changes now, on an empty config: a bad one is a usage error. */
	{
		json_t *scratch = json_object();
		int bad = img_config_changes(scratch, o.changes, o.nchanges) < 0;

		json_decref(scratch);
		if (bad) {
			warnx("%s", img_errmsg());
			free(o.changes);
			return 2;
		}
	}
	if (!o.platform)
		img_image_platform_host(&plat);
	if (o.name) {
		struct img_ref ref;
		if (img_ref_parse(o.name, &ref) < 0) {
			warnx("invalid name '%s': %s", o.name, img_errmsg());
			free(o.changes);
			return 1;
		}
		if (ref.digest) {
			warnx("invalid name '%s': a digest cannot name an import", o.name);
			img_ref_release(&ref);
			free(o.changes);
			return 1;
		}
		canon = img_ref_canonical(&ref);
		img_ref_release(&ref);
	}

	/* A missing input fails before the store is touched (or created). */
	if (strcmp(o.input, "-") != 0 && access(o.input, F_OK) < 0) {
		warnx("cannot open '%s': %s", o.input, strerror(errno));
		free(canon);
		free(o.changes);
		return 1;
	}
	rc = run(&o, canon, &plat);
	free(canon);
	free(o.changes);
	return img_cli_finish(rc);
}
