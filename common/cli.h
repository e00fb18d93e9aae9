/* cli: what the tools' main() functions share: usage and help, --version, the store
 * opened from -S, the "waiting for the store lock" message, the stdout check at exit.
 *
 * Unlike the rest of common/ these print (to stdout or stderr, through err(3)) and
 * img_cli_usage exits: they are for tools only, never for library code. */
#ifndef IMG_CLI_H
#define IMG_CLI_H

#include <stdio.h>
#include <getopt.h>
#include "progress.h"
#include "image.h"

struct img_store;

/* The synopsis lines: "usage: PROG FORMS[0]", then "       PROG FORMS[i]" for each
 * further form. forms is NULL-terminated. */
void img_cli_usage_lines(FILE *f, const char *const *forms);
/* A usage error: the synopsis on stderr, exit 2. */
void img_cli_usage(const char *const *forms) __attribute__((noreturn));
/* -h/--help: the synopsis, a blank line, then text, on stdout. Returns img_cli_finish(0). */
int img_cli_help(const char *const *forms, const char *text);
/* --version: "PROG VERSION" on stdout. Returns img_cli_finish(0). */
int img_cli_version(void);
/* The hidden --list-options. Returns img_cli_finish(0). */
int img_cli_list_options(const struct option *opts);
/* Flush and close stdout last: status, or 1 (after saying why) when a write failed
 * (EPIPE is quiet). */
int img_cli_finish(int status);

/* The options every program takes, in its getopt table in their place among the others:
 *   IMG_CLI_OPT_HELP, IMG_CLI_OPT_LIST_OPTIONS, IMG_CLI_OPT_VERSION
 * and the end of its getopt switch, "default: return img_cli_option(c, ...)": -h/--help,
 * --list-options and --version answered (their status returned), anything else a usage
 * error (exit 2). */
enum { IMG_CLI_LIST_OPTIONS = 0x1000, IMG_CLI_VERSION };
#define IMG_CLI_OPT_HELP         { "help",         no_argument, NULL, 'h' }
#define IMG_CLI_OPT_LIST_OPTIONS { "list-options", no_argument, NULL, IMG_CLI_LIST_OPTIONS }
#define IMG_CLI_OPT_VERSION      { "version",      no_argument, NULL, IMG_CLI_VERSION }
int img_cli_option(int c, const struct option *opts, const char *const *forms,
                   const char *help);

/* --max-ratio N (1 to 1000000): 0 and *out set, or -1 after saying why on stderr (the
 * caller then prints its usage). */
int img_cli_max_ratio(const char *arg, unsigned *out);

/* --progress M: the mode, or a usage error (exit 2) naming the modes. */
enum img_progress_mode img_cli_progress(const char *arg, const char *const *forms);

/* --platform P (os/arch[/variant], img_image_platform_parse): *out set, or a usage error
 * (exit 2) after "invalid platform 'P': why", the same line from every program. */
void img_cli_platform(const char *arg, struct img_platform *out, const char *const *forms);

/* Take the store lock shared, as writers hold it, while the store is read (img-gc then
 * deletes nothing being read); a store that cannot be locked (read-only) cannot be
 * collected either and is read unlocked. 0, or -1 after printing the error. */
int img_cli_lock_reading(struct img_store *s);
/* Lock callback: "PROG: waiting for the store lock" on stderr, once per process. */
void img_cli_waiting(void *unused);
/* Open the store -S chose (opt may be NULL; see img_store_default_path) with the
 * img_store_open flags, with img_cli_waiting as its lock callback. NULL after printing
 * the error. Close with img_store_close. */
struct img_store *img_cli_open_store(const char *opt, int flags);

/* The help line of -S shared by the tools that take it (ends with a newline); PAD is
 * the spaces that bring its text to the column of the tool's other options. */
#define IMG_CLI_HELP_STORE_PAD(pad) \
	"  -S, --store DIR  " pad "the image store (default $IMG_STORE, else\n" \
	"                   " pad "$XDG_DATA_HOME/img, else ~/.local/share/img)\n"
#define IMG_CLI_HELP_STORE IMG_CLI_HELP_STORE_PAD("  ")

/* The help lines of the registry options img-pull and img-push share. */
#define IMG_CLI_HELP_REGISTRY \
	"      --authfile FILE    credentials (default $REGISTRY_AUTH_FILE, then\n" \
	"                         ~/.docker/config.json)\n" \
	"      --cert-dir DIR     CA (*.crt) and client certificate (*.cert, *.key)\n" \
	"      --tls-verify=BOOL  verify the registry's certificate (default true);\n" \
	"                         false also allows plain http\n"
/* A boolean option value: "true"/"1"/"yes" 1, "false"/"0"/"no" 0, else -1. */
int img_cli_bool(const char *s);

#endif
