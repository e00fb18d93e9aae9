/* img-tag: give an image in the store another name (docker image tag). */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"
#include "cli.h"

static const struct option longopts[] = {
	IMG_CLI_OPT_HELP,
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

struct tag_opts {
	const char *store;
	const char *source;
	const char *target;    /* canonical */
};

static const char *const synopsis[] = { "[-S DIR] SOURCE TARGET", NULL };

static const char help_text[] =
	"Give the image SOURCE (a name or an ID) the name TARGET.\n"
	"A TARGET already in use moves; the image it named stays, unnamed.\n"
	"\n"
	"  -h, --help         print this help and exit\n"
	IMG_CLI_HELP_STORE
	"      --version      print the version and exit\n";

struct tag_txn {
	struct img_store *store;
	const struct tag_opts *o;
};

/* Inside the index transaction: resolve SOURCE in the fresh index, then name it. */
static int tag_fn(json_t *index, void *arg)
{
	struct tag_txn *t = arg;
	json_t *manifests, *entry, *desc, *v;
	size_t *m = NULL, n = 0;
	static const char *const keep[] = { "mediaType", "digest", "size", "platform",
	                                    "artifactType", "urls" };
	size_t i;
	int rc;

	if (img_store_resolve(t->store, index, t->o->source, &m, &n) < 0)
		return -1;
	manifests = json_object_get(index, "manifests");
	entry = json_array_get(manifests, m[0]);
	free(m);
	if (!json_is_object(entry)) {
		img_seterr("no such image: %s", t->o->source);
		return -1;
	}
	/* A clean descriptor: the name annotations of SOURCE are not carried over. */
	desc = json_object();
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if ((v = json_object_get(entry, keep[i])))
			json_object_set(desc, keep[i], v);
	rc = img_index_set_name(index, t->o->target, desc);
	json_decref(desc);
	return rc < 0 ? -1 : 0;
}

static int run(const struct tag_opts *o)
{
	struct img_store *s = NULL;
	struct tag_txn t;
	int status = 0;

	if (!(s = img_cli_open_store(o->store, 0)))
		return 1;
	t.store = s;
	t.o = o;
	if (img_store_index_update(s, tag_fn, &t) < 0) {
		warnx("%s", img_errmsg());
		status = 1;
	}
	img_store_close(s);
	return status;
}

int main(int argc, char **argv)
{
	struct tag_opts o = { 0 };
	struct img_ref r = { 0 };
	char *target = NULL;
	int c, status;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "hS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			o.store = optarg;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		img_cli_usage(synopsis);
	o.source = argv[0];

	if (img_ref_parse(argv[1], &r) < 0)
		errx(1, "invalid target '%s': %s", argv[1], img_errmsg());
	if (r.digest) {
		img_ref_release(&r);
		errx(1, "invalid target '%s': refusing to create a tag with a digest reference",
		     argv[1]);
	}
	target = img_ref_canonical(&r);
	img_ref_release(&r);
	if (!target)
		errx(1, "invalid target '%s': %s", argv[1], img_errmsg());
	o.target = target;

	status = run(&o);
	free(target);
	return img_cli_finish(status);
}
