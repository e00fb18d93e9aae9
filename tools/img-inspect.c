/* img-inspect: an image's manifest, config and names as one JSON document (docker image
 * inspect, skopeo inspect), from the store or an archive; --raw and --config print the
 * manifest's or the config's bytes unchanged. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "arcimg.h"

enum { OPT_CONFIG = 256, OPT_MAX_RATIO, OPT_RAW };

static const struct option longopts[] = {
	{ "config",       no_argument,       NULL, OPT_CONFIG },
	IMG_CLI_OPT_HELP,
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "max-ratio",    required_argument, NULL, OPT_MAX_RATIO },
	{ "platform",     required_argument, NULL, 'p' },
	{ "raw",          no_argument,       NULL, OPT_RAW },
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

struct inspect_opts {
	const char *store;
	int raw, config, has_platform;
	struct img_platform platform;
	unsigned max_ratio;
};

static const char *const synopsis[] = {
	"[-S DIR] [--platform P] [--raw | --config] IMAGE",
	"[--platform P] [--raw | --config] archive:FILE[#IMAGE]",
	NULL
};

static const char help_text[] =
	"Print an image's manifest, config and names as one JSON document, as docker image\n"
	"inspect and skopeo inspect do, from the store or from an archive (any dialect\n"
	"img-load reads; archive:- is stdin; #IMAGE picks one image: a name, a bare tag\n"
	"or a digest).\n"
	"\n"
	"      --config       print the config's bytes, unchanged\n"
	"  -h, --help         print this help and exit\n"
	"      --max-ratio N  read archive layers that decompress to more than N times\n"
	"                     their size (default 100; applies past 1 GiB)\n"
	"  -p, --platform P   the manifest for platform P of a multi-platform image\n"
	"                     (default: the host's)\n"
	"      --raw          print the manifest's bytes, unchanged\n"
	IMG_CLI_HELP_STORE
	"      --version      print the version and exit\n";

/* docker's short form of a canonical name, or the name itself. */
static json_t *familiar(const char *canon, const struct img_digest *digest)
{
	struct img_ref r;
	char *s, *repo;
	json_t *j;

	if (img_ref_parse(canon, &r) < 0)
		return json_string(canon);
	if (digest) {
		repo = img_ref_familiar_repo(&r);
		s = xasprintf("%s@%s", repo, digest->str);
		free(repo);
	} else {
		s = img_ref_familiar(&r);
	}
	img_ref_release(&r);
	j = json_string(s);
	free(s);
	return j;
}

static json_t *config_field(json_t *cfg, const char *key)
{
	json_t *v = cfg ? json_object_get(cfg, key) : NULL;
	return v ? json_incref(v) : json_null();
}

/* The document: docker's keys (Id, RepoTags, RepoDigests, Created, Author, Architecture,
 * Os, Variant, Config, RootFS, Size) and skopeo's (Digest, Labels, Env, Layers,
 * LayersData). Size: the layers' bytes as stored. */
static json_t *document(struct img_view *v)
{
	json_t *doc = json_object(), *tags = json_array(), *digests = json_array();
	json_t *cfg = v->config.config, *root = v->config.root, *layers = json_array();
	json_t *data = json_array(), *diffs = json_array(), *rootfs = json_object();
	int64_t size = 0;

	json_object_set_new(doc, "Id", json_string(v->config_digest.str));
	json_object_set_new(doc, "Digest",
	                    v->has_manifest ? json_string(v->manifest_digest.str) : json_null());
	for (size_t i = 0; v->names && v->names[i]; i++) {
		json_array_append_new(tags, familiar(v->names[i], NULL));
		if (v->has_top)
			json_array_append_new(digests, familiar(v->names[i], &v->top));
	}
	json_object_set_new(doc, "RepoTags", tags);
	json_object_set_new(doc, "RepoDigests", digests);
	json_object_set_new(doc, "Created", v->config.created ? json_string(v->config.created)
	                                                      : json_null());
	json_object_set_new(doc, "Author", config_field(root, "author"));
	json_object_set_new(doc, "Architecture", json_string(v->config.platform.arch));
	json_object_set_new(doc, "Os", json_string(v->config.platform.os));
	if (v->config.platform.variant[0])
		json_object_set_new(doc, "Variant", json_string(v->config.platform.variant));
	json_object_set_new(doc, "Config", cfg ? json_incref(cfg) : json_object());
	json_object_set_new(doc, "Labels", config_field(cfg, "Labels"));
	json_object_set_new(doc, "Env", config_field(cfg, "Env"));
	for (size_t i = 0; i < v->nlayers; i++) {
		json_t *l = json_object();
		json_array_append_new(diffs, json_string(v->layers[i].diff_id.str));
		json_array_append_new(layers, json_string(v->layers[i].blob.str));
		json_object_set_new(l, "MIMEType", v->layers[i].media_type ?
		                    json_string(v->layers[i].media_type) : json_null());
		json_object_set_new(l, "Digest", json_string(v->layers[i].blob.str));
		json_object_set_new(l, "Size", json_integer(v->layers[i].blob_size));
		json_array_append_new(data, l);
		size += v->layers[i].blob_size;
	}
	json_object_set_new(rootfs, "Type", json_string("layers"));
	json_object_set_new(rootfs, "Layers", diffs);
	json_object_set_new(doc, "RootFS", rootfs);
	json_object_set_new(doc, "Layers", layers);
	json_object_set_new(doc, "LayersData", data);
	json_object_set_new(doc, "Size", json_integer(size));
	return doc;
}

static int open_view(const struct inspect_opts *o, const char *what, struct img_store **s,
                     struct img_arcimg **arc, struct img_view *v)
{
	const struct img_platform *plat = o->has_platform ? &o->platform : NULL;

	if (strncmp(what, "archive:", 8) == 0) {
		char *file, *sel, *x;
		int fd, r;
		img_arcimg_operand(what + 8, &file, &sel);
		x = img_util_escape_cut(strcmp(file, "-") ? file : "stdin");
		fd = img_io_open_in(file);
		free(file);
		if (fd < 0) {
			warnx("%s", img_errmsg());
			free(x);
			free(sel);
			return -1;
		}
		r = img_arcimg_read(fd, o->max_ratio, arc);
		close(fd);
		if (r < 0 || img_view_from_archive(*arc, sel, plat, v) < 0) {
			warnx("%s: %s", x, img_errmsg());
			free(x);
			free(sel);
			return -1;
		}
		free(x);
		free(sel);
		return 0;
	}
	if (!(*s = img_cli_open_store(o->store, 0)))
		return -1;
	if (img_view_from_store(*s, what, plat, v) < 0) {
		warnx("%s", img_errmsg());
		return -1;
	}
	return 0;
}

static int run(const struct inspect_opts *o, const char *what)
{
	struct img_store *s = NULL;
	struct img_arcimg *arc = NULL;
	struct img_view v;
	char *buf = NULL;
	size_t len;
	int ret = 1;

	memset(&v, 0, sizeof v);
	if (open_view(o, what, &s, &arc, &v) < 0)
		goto out;
	if (o->raw || o->config) {
		if ((o->raw ? img_view_manifest_bytes(&v, &buf, &len)
		            : img_view_config_bytes(&v, &buf, &len)) < 0) {
			warnx("%s", img_errmsg());
			goto out;
		}
		fwrite(buf, 1, len, stdout);
	} else {
		json_t *doc = document(&v);
		char *text = json_dumps(doc, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		if (!text)
			img_util_die_oom();
		puts(text);
		free(text);
		json_decref(doc);
	}
	ret = 0;
out:
	free(buf);
	img_view_release(&v);
	img_arcimg_free(arc);
	img_store_close(s);
	return ret;
}

int main(int argc, char **argv)
{
	struct inspect_opts o = { .max_ratio = 100 };
	int c;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "hp:S:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			o.config = 1;
			break;
		case OPT_MAX_RATIO:
			if (img_cli_max_ratio(optarg, &o.max_ratio) < 0)
				img_cli_usage(synopsis);
			break;
		case 'p':
			img_cli_platform(optarg, &o.platform, synopsis);
			o.has_platform = 1;
			break;
		case OPT_RAW:
			o.raw = 1;
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
	if (argc != 1 || (o.raw && o.config))
		img_cli_usage(synopsis);
	return img_cli_finish(run(&o, argv[0]));
}
