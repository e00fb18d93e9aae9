/* img-export: the flattened root filesystem of an image as one tar (docker export of a
 * fresh container, crane export): whiteouts and opaque directories applied, hard links
 * kept as links, owners, modes, mtimes, xattrs and devices kept; the same image gives the
 * same bytes. */
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
#include "export.h"

static const struct option longopts[] = {
	IMG_CLI_OPT_HELP,
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "output",       required_argument, NULL, 'o' },
	{ "platform",     required_argument, NULL, 'p' },
	{ "store",        required_argument, NULL, 'S' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

static const char *const synopsis[] = { "[-S DIR] [-o FILE] [--platform P] IMAGE", NULL };

static const char help_text[] =
	"Write the root filesystem of IMAGE (its layers merged: whiteouts applied, hard\n"
	"links kept) as one tar on stdout, or to FILE.\n"
	"\n"
	"  -h, --help         print this help and exit\n"
	"  -o, --output FILE  write to FILE (replaced only when the tar is complete)\n"
	"  -p, --platform P   the platform to pick from a multi-platform image\n"
	IMG_CLI_HELP_STORE
	"      --version      print the version and exit\n";

static int run(const char *store, const char *output, const struct img_platform *plat,
               const char *image)
{
	struct img_store *s = NULL;
	struct img_view v;
	struct img_out out;
	struct img_arcout *a = NULL;
	int status = 1, out_open = 0, have_view = 0;

	if (!output) {
		if (img_io_out_open(&out, NULL) < 0) {
			warnx("%s", img_errmsg());
			return 1;
		}
		out_open = 1;
		if (img_io_out_is_tty(&out)) {
			warnx("refusing to write a tar to a terminal (redirect stdout or use -o FILE)");
			goto out;
		}
	}
	if (!(s = img_cli_open_store(store, 0)))
		goto out;
	if (img_cli_lock_reading(s) < 0)
		goto out;
	if (img_view_from_store(s, image, plat, &v) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	have_view = 1;
	if (output) {
		if (img_io_out_open(&out, output) < 0) {
			warnx("%s", img_errmsg());
			goto out;
		}
		out_open = 1;
	}
	a = img_arcout_new_fd(out.fd, 0);
	if (!a || img_export_write(&v, a) < 0) {
		if (!img_io_is_epipe(errno) || output)
			warnx("%s%s%s", output ? output : "", output ? ": " : "", img_errmsg());
		goto out;
	}
	if (img_io_out_commit(&out) < 0) {
		out_open = 0;
		if (!img_io_is_epipe(errno))
			warnx("%s", img_errmsg());
		goto out;
	}
	out_open = 0;
	status = 0;
out:
	img_arcout_free(a);
	if (out_open)
		img_io_out_abort(&out);
	if (have_view)
		img_view_release(&v);
	img_store_close(s);
	return status;
}

int main(int argc, char **argv)
{
	const char *store = NULL, *output = NULL, *pstr = NULL;
	struct img_platform plat;
	int c;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "ho:p:S:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'p':
			pstr = optarg;
			img_cli_platform(optarg, &plat, synopsis);
			break;
		case 'S':
			store = optarg;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	if (argc - optind != 1)
		img_cli_usage(synopsis);
	if (output && strcmp(output, "-") == 0)
		output = NULL;
	return img_cli_finish(run(store, output, pstr ? &plat : NULL, argv[optind]));
}
