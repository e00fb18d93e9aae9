/* img-exec: run a command in a running container (docker exec) through runc exec. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "run.h"

static const struct option longopts[] = {
	{ "env",          required_argument, NULL, 'e' },
	IMG_CLI_OPT_HELP,
	{ "interactive",  no_argument,       NULL, 'i' },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "tty",          no_argument,       NULL, 't' },
	{ "user",         required_argument, NULL, 'u' },
	IMG_CLI_OPT_VERSION,
	{ "workdir",      required_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 }
};

static const char *const synopsis[] = {
	"[-i] [-t] [-e K=V]... [-w DIR] [-u UID[:GID]] NAME CMD [ARG...]", NULL
};

static const char help_text[] =
	"Run CMD in the running container NAME (runc exec); the exit status is CMD's.\n"
	"\n"
	"  -e, --env K=V       set a variable, repeatable\n"
	"  -h, --help          print this help and exit\n"
	"  -i, --interactive   keep standard input open (else it is /dev/null)\n"
	"  -t, --tty           give the command a terminal\n"
	"  -u, --user UID[:GID]  run as this user and group (numbers)\n"
	"      --version       print the version and exit\n"
	"  -w, --workdir DIR   the working directory in the container\n";

int main(int argc, char **argv)
{
	const char **av = xcalloc((size_t)argc * 2 + 8, sizeof(*av));
	int c, n = 0, interactive = 0, tty = 0;
	char *runc;

	img_util_setprogname(argv[0]);
	av[n++] = "runc";
	av[n++] = "exec";
	while ((c = getopt_long(argc, argv, "+e:hitu:w:", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (!strchr(optarg, '=')) {
				const char *v = getenv(optarg);
				if (!v)
					break;
				optarg = xasprintf("%s=%s", optarg, v);
			}
			av[n++] = "--env";
			av[n++] = optarg;
			break;
		case 'i':
			interactive = 1;
			break;
		case 't':
			tty = 1;
			break;
		case 'u':
			av[n++] = "--user";
			av[n++] = optarg;
			break;
		case 'w':
			av[n++] = "--cwd";
			av[n++] = optarg;
			break;
		default:
			free(av);
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	if (argc - optind < 2)
		img_cli_usage(synopsis);
	if (!img_run_name_valid(argv[optind])) {
		warnx("invalid container name '%s'", argv[optind]);
		img_cli_usage(synopsis);
	}
	if (tty)
		av[n++] = "--tty";
	av[n++] = argv[optind];
	for (int i = optind + 1; i < argc; i++)
		av[n++] = argv[i];
	av[n] = NULL;
	if (!(runc = img_run_find_runc())) {
		warnx("runc not found on PATH (install the runc package)");
		free(av);
		return 1;
	}
	if (!interactive) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0)
			err(1, "/dev/null");
		if (fd != 0)
			close(fd);
	}
	fflush(stdout);
	execv(runc, (char *const *)av);
	err(1, "cannot run %s", runc);
}
