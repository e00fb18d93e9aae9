/* img-login: check credentials against a registry and keep them in docker's auth file
 * (docker login, podman login). The password comes from stdin (--password-stdin) or the
 * terminal, never from the command line, and is never printed. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "auth.h"
#include "reg.h"

#define SECRET_MAX 4096

enum { OPT_AUTHFILE = 256, OPT_CERT_DIR, OPT_PASSWORD_STDIN, OPT_TLS_VERIFY };

static const struct option longopts[] = {
	{ "authfile",       required_argument, NULL, OPT_AUTHFILE },
	{ "cert-dir",       required_argument, NULL, OPT_CERT_DIR },
	IMG_CLI_OPT_HELP,
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "password-stdin", no_argument,       NULL, OPT_PASSWORD_STDIN },
	{ "tls-verify",     required_argument, NULL, OPT_TLS_VERIFY },
	{ "username",       required_argument, NULL, 'u' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

static const char *const synopsis[] = {
	"[-u USER] [--password-stdin] [--authfile FILE] [--cert-dir DIR] [--tls-verify=BOOL] "
	"REGISTRY",
	NULL
};

static const char help_text[] =
	"Log in to REGISTRY (host[:port]): check the credentials there, then keep them in\n"
	"the auth file docker and podman read. The password is read from stdin with\n"
	"--password-stdin, else from the terminal.\n"
	"\n"
	"  -h, --help             print this help and exit\n"
	"      --password-stdin   read the password from stdin (its first line)\n"
	"  -u, --username USER    the user name (default: asked on the terminal)\n"
	"      --authfile FILE    the auth file (default $REGISTRY_AUTH_FILE, else\n"
	"                         ~/.docker/config.json)\n"
	"      --cert-dir DIR     CA (*.crt) and client certificate (*.cert, *.key)\n"
	"      --tls-verify=BOOL  verify the registry's certificate (default true);\n"
	"                         false also allows plain http\n"
	"      --version          print the version and exit\n";

/* One line of fd (without its newline), at most SECRET_MAX bytes. New string or NULL. */
static char *read_line(int fd)
{
	char *buf = xmalloc(SECRET_MAX + 1);
	size_t n = 0;
	ssize_t r;
	char ch;

	while (n < SECRET_MAX && (r = read(fd, &ch, 1)) == 1 && ch != '\n')
		buf[n++] = ch;
	if (n == SECRET_MAX) {
		explicit_bzero(buf, n);
		free(buf);
		errno = EMSGSIZE;
		return NULL;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return buf;
}

/* Ask on the terminal; echo off for a secret. New string or NULL. */
static char *ask(const char *prompt, int secret)
{
	struct termios old, quiet;
	char *line;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY), echo_off = 0;

	if (fd < 0) {
		img_seterr("no terminal to ask for the %s: use %s", secret ? "password" : "user name",
		           secret ? "--password-stdin" : "-u USER");
		return NULL;
	}
	if (img_io_write_all(fd, prompt, strlen(prompt)) < 0) {
		close(fd);
		return NULL;
	}
	if (secret && tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	line = read_line(fd);
	if (echo_off) {
		tcsetattr(fd, TCSAFLUSH, &old);
		img_io_write_all(fd, "\n", 1);
	}
	close(fd);
	if (!line)
		img_seterr("cannot read the %s", secret ? "password" : "user name");
	return line;
}

/* REGISTRY as typed: "host[:port]", or a URL naming it. New string, or NULL when invalid. */
static char *registry_host(const char *arg)
{
	const char *p = arg;
	size_t n;

	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	n = strcspn(p, "/");
	if (n == 0 || n > 255)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(p[i] == '.' || p[i] == '-' || p[i] == ':' || p[i] == '[' || p[i] == ']' ||
		      (p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= 'A' && p[i] <= 'Z')))
			return NULL;
	if (n == 15 && strncmp(p, "index.docker.io", 15) == 0)
		return xstrdup("docker.io");
	return xstrndup(p, n);
}

int main(int argc, char **argv)
{
	struct img_reg_opts ro = { .tls_verify = 1, .retries = 2 };
	struct img_reg *reg = NULL;
	struct img_reg_conn *conn = NULL;
	const char *user_opt = NULL;
	char *host = NULL, *user = NULL, *pass = NULL, *file = NULL, *q;
	int c, v, pw_stdin = 0, status = 1;

	img_util_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "hu:", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			user_opt = optarg;
			break;
		case OPT_AUTHFILE:
			ro.authfile = optarg;
			break;
		case OPT_CERT_DIR:
			ro.cert_dir = optarg;
			break;
		case OPT_PASSWORD_STDIN:
			pw_stdin = 1;
			break;
		case OPT_TLS_VERIFY:
			if ((v = img_cli_bool(optarg)) < 0) {
				warnx("invalid --tls-verify '%s': true or false", optarg);
				img_cli_usage(synopsis);
			}
			ro.tls_verify = v;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		img_cli_usage(synopsis);
	if (!(host = registry_host(argv[0]))) {
		q = img_util_escape(argv[0]);
		warnx("invalid registry '%s': give host[:port]", q);
		free(q);
		goto out;
	}
	if (!(file = img_auth_file(ro.authfile))) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (user_opt)
		user = xstrdup(user_opt);
	else if (!(user = ask("Username: ", 0))) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (!*user || strchr(user, ':')) {
		warnx("invalid user name: empty or with ':'");
		goto out;
	}
	if (pw_stdin) {
		if (!(pass = read_line(STDIN_FILENO))) {
			warnx("cannot read the password from stdin%s",
			      errno == EMSGSIZE ? ": too long" : "");
			goto out;
		}
	} else if (!(pass = ask("Password: ", 1))) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (!*pass) {
		warnx("empty password");
		goto out;
	}
	ro.user = user;
	ro.pass = pass;
	if (img_reg_open(host, &ro, &reg) < 0) {
		warnx("%s: %s", host, img_errmsg());
		goto out;
	}
	conn = img_reg_conn_new(reg);
	if (img_reg_api_ping(conn) < 0) {
		warnx("login to %s failed: %s", host, img_errmsg());
		goto out;
	}
	if (img_auth_store(file, host, user, pass) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	puts("Login Succeeded");
	status = 0;
out:
	img_reg_conn_free(conn);
	img_reg_free(reg);
	img_auth_free(pass);
	free(user);
	free(file);
	free(host);
	return img_cli_finish(status);
}
