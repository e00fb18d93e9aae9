/* cli: main()-level helpers of the tools (see cli.h). */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "io.h"
#include "store.h"
#include "util.h"

void img_cli_usage_lines(FILE *f, const char *const *forms)
{
	size_t i;

	for (i = 0; forms[i]; i++)
		fprintf(f, "%s %s %s\n", i ? "      " : "usage:", img_util_progname(), forms[i]);
}

void img_cli_usage(const char *const *forms)
{
	img_cli_usage_lines(stderr, forms);
	exit(2);
}

int img_cli_finish(int status)
{
	if (img_io_close_stdout() < 0) {
		warnx("%s", img_errmsg());
		status = 1;
	}
	return status;
}

int img_cli_help(const char *const *forms, const char *text)
{
	img_cli_usage_lines(stdout, forms);
	fputs("\n", stdout);
	fputs(text, stdout);
	return img_cli_finish(0);
}

int img_cli_version(void)
{
	printf("%s %s\n", img_util_progname(), IMG_VERSION);
	return img_cli_finish(0);
}

int img_cli_list_options(const struct option *opts)
{
	img_util_list_options(stdout, opts);
	return img_cli_finish(0);
}

int img_cli_option(int c, const struct option *opts, const char *const *forms,
                   const char *help)
{
	switch (c) {
	case 'h':
		return img_cli_help(forms, help);
	case IMG_CLI_LIST_OPTIONS:
		return img_cli_list_options(opts);
	case IMG_CLI_VERSION:
		return img_cli_version();
	default:
		img_cli_usage(forms);
	}
}

void img_cli_waiting(void *unused)
{
	static int said;

	(void)unused;
	if (!said)
		warnx("waiting for the store lock");
	said = 1;
}

int img_cli_lock_reading(struct img_store *s)
{
	if (img_store_lock(s, IMG_LOCK_SHARED, img_cli_waiting, NULL) < 0 &&
	    errno != EACCES && errno != EROFS && errno != EPERM) {
		warnx("%s", img_errmsg());
		return -1;
	}
	return 0;
}

struct img_store *img_cli_open_store(const char *opt, int flags)
{
	struct img_store *s = NULL;
	char *path = img_store_default_path(opt);

	if (img_store_open(path, flags, &s) < 0) {
		warnx("%s", img_errmsg());
		s = NULL;
	} else {
		img_store_set_waiting(s, img_cli_waiting, NULL);
	}
	free(path);
	return s;
}

int img_cli_bool(const char *s)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0)
		return 1;
	if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcmp(s, "no") == 0)
		return 0;
	return -1;
}

enum img_progress_mode img_cli_progress(const char *arg, const char *const *forms)
{
	enum img_progress_mode m;

	if (img_progress_parse(arg, &m) < 0) {
		warnx("invalid progress mode '%s' (auto, tty, plain or none)", arg);
		img_cli_usage(forms);
	}
	return m;
}

void img_cli_platform(const char *arg, struct img_platform *out, const char *const *forms)
{
	if (img_image_platform_parse(arg, out) < 0) {
		warnx("%s", img_errmsg());   /* "invalid platform 'P': why" */
		img_cli_usage(forms);
	}
}

int img_cli_max_ratio(const char *arg, unsigned *out)
{
	char *end;
	unsigned long ul;

	errno = 0;
	ul = strtoul(arg, &end, 10);
	if (errno || *end || !*arg || ul < 1 || ul > 1000000 || arg[0] == '-') {
		warnx("--max-ratio: not a number from 1 to 1000000: '%s'", arg);
		return -1;
	}
	*out = (unsigned)ul;
	return 0;
}
