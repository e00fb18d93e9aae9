/* img-logout: remove a registry's credentials from docker's auth file (docker logout). */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"
#include "cli.h"
#include "auth.h"

enum { OPT_AUTHFILE = 256 };

static const struct option longopts[] = {
	{ "authfile",     required_argument, NULL, OPT_AUTHFILE },
	IMG_CLI_OPT_HELP,
	IMG_CLI_OPT_LIST_OPTIONS,
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

static const char *const synopsis[] = { "[--authfile FILE] REGISTRY", NULL };

static const char help_text[] =
	"Remove the credentials of REGISTRY (host[:port]) from the auth file; every other\n"
	"entry stays.\n"
	"\n"
	"      --authfile FILE    the auth file (default $REGISTRY_AUTH_FILE, else\n"
	"                         ~/.docker/config.json)\n"
	"  -h, --help             print this help and exit\n"
	"      --version          print the version and exit\n";

int main(int argc, char **argv)
{
	const char *authfile = NULL, *p;
	char *file = NULL, *host, *q;
	int c, r, status = 1;
	size_t n;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_AUTHFILE:
			authfile = optarg;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		img_cli_usage(synopsis);
	p = argv[0];
	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	n = strcspn(p, "/");
	host = xstrndup(p, n);
	if (strcmp(host, "index.docker.io") == 0) {
		free(host);
		host = xstrdup("docker.io");
	}
	q = img_util_escape(host);
	if (!*host) {
		warnx("invalid registry '%s'", q);
		goto out;
	}
	if (!(file = img_auth_file(authfile))) {
		warnx("%s", img_errmsg());
		goto out;
	}
	r = img_auth_remove(file, host);
	if (r < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (r == 0) {
		warnx("not logged in to %s", q);
		goto out;
	}
	printf("Removed login credentials for %s\n", q);
	status = 0;
out:
	free(q);
	free(file);
	free(host);
	return img_cli_finish(status);
}
