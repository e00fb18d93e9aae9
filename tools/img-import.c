/* img-import: a rootfs tarball or a directory becomes a new image (or a new top layer on a
 * base image) in the store, as `docker import` does (formats.md §7.1). */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "img.h"

enum {
	OPT_COMPRESS = 256,
	OPT_JSON,
	OPT_LEVEL,
	OPT_LIST_OPTIONS,
	OPT_PLATFORM,
	OPT_PROGRESS,
	OPT_VERSION,
};

static const struct option longopts[] = {
	{ "base",         required_argument, NULL, 'b' },
	{ "change",       required_argument, NULL, 'c' },
	{ "compress",     required_argument, NULL, OPT_COMPRESS },
	{ "help",         no_argument,       NULL, 'h' },
	{ "json",         no_argument,       NULL, OPT_JSON },
	{ "level",        required_argument, NULL, OPT_LEVEL },
	{ "list-options", no_argument,       NULL, OPT_LIST_OPTIONS },
	{ "message",      required_argument, NULL, 'm' },
	{ "platform",     required_argument, NULL, OPT_PLATFORM },
	{ "progress",     required_argument, NULL, OPT_PROGRESS },
	{ "quiet",        no_argument,       NULL, 'q' },
	{ "store",        required_argument, NULL, 'S' },
	{ "version",      no_argument,       NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct import_opts {
	const char *store;
	const char *base;
	const char **changes;
	size_t nchanges;
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

static void
usage_lines(FILE *f)
{
	fprintf(f, "usage: %s [-q] [-S DIR] [-b BASE] [-c INSTR]... [-m MSG] [--platform P] "
	        "[--compress gzip|zstd|none] [--level N] [--json] [--progress M] FILE|DIR|- [NAME]\n",
	        img_progname());
}

static void __attribute__((noreturn))
usage(void)
{
	usage_lines(stderr);
	exit(2);
}

static void
help(void)
{
	usage_lines(stdout);
	fputs("\n"
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
	      "      --version           print the version and exit\n", stdout);
}

/* ------------------------------------------------------------------------------------ */
/* --change: Dockerfile instructions applied to a config's "config" object.             */

static char change_err[512];

static int
cerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
cerr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(change_err, sizeof change_err, fmt, ap);
	va_end(ap);
	return -1;
}

/* A growable string. */
struct sbuf { char *s; size_t n, cap; };

static void
sb_putc(struct sbuf *b, char c)
{
	if (b->n + 2 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->s = xrealloc(b->s, b->cap);
	}
	b->s[b->n++] = c;
	b->s[b->n] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_putc(b, s[i]);
}

static const char *
sb_str(struct sbuf *b)
{
	if (!b->s)
		b->s = xcalloc(1, b->cap = 1);
	return b->s;
}

/* The value of K in an Env array ("K=V" strings), or NULL. */
static const char *
env_get(json_t *env, const char *k, size_t klen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(env))
		return NULL;
	json_array_foreach(env, i, v) {
		const char *s = json_string_value(v);
		if (s && strncmp(s, k, klen) == 0 && s[klen] == '=')
			return s + klen + 1;
	}
	return NULL;
}

static int
is_name_char(char c, int first)
{
	return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

/* Split s into shell-like words as the Dockerfile parser does for ENV, LABEL, EXPOSE,
 * VOLUME...: whitespace separates words, quotes group and are removed, a backslash escapes
 * the next character (not inside single quotes), $NAME and ${NAME} expand from env.
 * Returns the number of words in *out (a NULL-terminated array the caller frees, with
 * its strings), or -1 on unbalanced quotes. */
static int
split_words(const char *s, json_t *env, char ***out)
{
	char **w = NULL;
	size_t nw = 0;
	const char *p = s;

	for (;;) {
		struct sbuf b = { 0 };
		char q = 0;

		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		while (*p && (q || !isspace((unsigned char)*p))) {
			if (q != '\'' && *p == '\\' && p[1]) {
				sb_putc(&b, p[1]);
				p += 2;
			} else if (!q && (*p == '"' || *p == '\'')) {
				q = *p++;
			} else if (q && *p == q) {
				q = 0;
				p++;
			} else if (q != '\'' && *p == '$' &&
			           (is_name_char(p[1], 1) || (p[1] == '{' && is_name_char(p[2], 1)))) {
				int brace = p[1] == '{';
				const char *k = p + 1 + brace, *e = k, *v;
				while (is_name_char(*e, 0))
					e++;
				if (brace && *e != '}') {
					sb_putc(&b, *p++);
					continue;
				}
				v = env_get(env, k, (size_t)(e - k));
				if (v)
					sb_puts(&b, v, strlen(v));
				p = e + brace;
			} else {
				sb_putc(&b, *p++);
			}
		}
		if (q) {
			free(b.s);
			for (size_t i = 0; i < nw; i++)
				free(w[i]);
			free(w);
			return -1;
		}
		w = xreallocarray(w, nw + 2, sizeof *w);
		w[nw++] = xstrdup(sb_str(&b));
		w[nw] = NULL;
		free(b.s);
	}
	if (!w)
		w = xcalloc(1, sizeof *w);
	*out = w;
	return (int)nw;
}

static void
free_words(char **w)
{
	for (size_t i = 0; w && w[i]; i++)
		free(w[i]);
	free(w);
}

/* The JSON exec form ["a", "b"] of s, or NULL if s is not one. */
static json_t *
exec_form(const char *s)
{
	json_t *j;
	size_t i;
	json_t *v;

	if (*s != '[')
		return NULL;
	j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(j)) {
		json_decref(j);
		return NULL;
	}
	json_array_foreach(j, i, v) {
		if (!json_is_string(v)) {
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

/* The shell form: config.Shell (or /bin/sh -c) followed by s. */
static json_t *
shell_form(json_t *cfg, const char *s)
{
	json_t *sh = json_object_get(cfg, "Shell"), *a;
	size_t i;
	json_t *v;

	if (json_is_array(sh) && json_array_size(sh) > 0) {
		a = json_array();
		json_array_foreach(sh, i, v)
			json_array_append(a, v);
	} else {
		a = json_pack("[ss]", "/bin/sh", "-c");
	}
	json_array_append_new(a, json_string(s));
	return a;
}

/* Set K=V in cfg.Env, replacing an existing K. */
static void
env_set(json_t *cfg, const char *k, const char *v)
{
	json_t *env = json_object_get(cfg, "Env"), *e;
	size_t klen = strlen(k), i;
	char *kv = xasprintf("%s=%s", k, v);

	if (!json_is_array(env)) {
		env = json_array();
		json_object_set_new(cfg, "Env", env);
	}
	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && strncmp(s, k, klen) == 0 && s[klen] == '=') {
			json_array_set_new(env, i, json_string(kv));
			free(kv);
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
	free(kv);
}

/* ENV and LABEL: "K V" (one pair, the rest is the value) or "K=V K2=V2 ...". */
static int
name_values(json_t *cfg, const char *kw, const char *rest, int is_env)
{
	json_t *env = json_object_get(cfg, "Env");
	char **w;
	int n = split_words(rest, env, &w), rc = 0;

	if (n < 0)
		return cerr("%s: unbalanced quotes", kw);
	if (n == 0) {
		free_words(w);
		return cerr("%s requires at least one argument", kw);
	}
	if (!strchr(w[0], '=')) {
		/* Old form: key, whitespace, value (the rest, words re-joined). */
		struct sbuf v = { 0 };
		if (n < 2) {
			free_words(w);
			return cerr("%s %s: missing value", kw, rest);
		}
		for (int i = 1; i < n; i++) {
			if (i > 1)
				sb_putc(&v, ' ');
			sb_puts(&v, w[i], strlen(w[i]));
		}
		if (is_env)
			env_set(cfg, w[0], sb_str(&v));
		else {
			json_t *l = json_object_get(cfg, "Labels");
			if (!json_is_object(l)) {
				l = json_object();
				json_object_set_new(cfg, "Labels", l);
			}
			json_object_set_new(l, w[0], json_string(sb_str(&v)));
		}
		free(v.s);
		free_words(w);
		return 0;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		char *eq = strchr(w[i], '=');
		if (!eq || eq == w[i]) {
			rc = cerr("%s: '%s' is not NAME=VALUE", kw, w[i]);
			break;
		}
		*eq = '\0';
		if (is_env) {
			env_set(cfg, w[i], eq + 1);
		} else {
			json_t *l = json_object_get(cfg, "Labels");
			if (!json_is_object(l)) {
				l = json_object();
				json_object_set_new(cfg, "Labels", l);
			}
			json_object_set_new(l, w[i], json_string(eq + 1));
		}
	}
	free_words(w);
	return rc;
}

static int
parse_port(const char *s, const char *e, unsigned *out)
{
	unsigned v = 0;

	if (s == e || e - s > 5)
		return -1;
	for (; s < e; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*out = v;
	return 0;
}

static int
expose(json_t *cfg, const char *rest)
{
	char **w;
	int n = split_words(rest, json_object_get(cfg, "Env"), &w);
	json_t *ports;

	if (n <= 0) {
		free_words(w);
		return cerr(n < 0 ? "EXPOSE: unbalanced quotes" : "EXPOSE requires at least one argument");
	}
	ports = json_object_get(cfg, "ExposedPorts");
	if (!json_is_object(ports)) {
		ports = json_object();
		json_object_set_new(cfg, "ExposedPorts", ports);
	}
	for (int i = 0; i < n; i++) {
		char *slash = strchr(w[i], '/'), *dash, proto[8] = "tcp";
		const char *end = slash ? slash : w[i] + strlen(w[i]);
		unsigned lo, hi;

		if (slash) {
			size_t pl = strlen(slash + 1);
			if (pl == 0 || pl >= sizeof proto)
				goto bad;
			for (size_t k = 0; k <= pl; k++)
				proto[k] = (char)tolower((unsigned char)slash[1 + k]);
			if (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp"))
				goto bad;
		}
		dash = memchr(w[i], '-', (size_t)(end - w[i]));
		if (parse_port(w[i], dash ? dash : end, &lo) < 0)
			goto bad;
		hi = lo;
		if (dash && (parse_port(dash + 1, end, &hi) < 0 || hi < lo))
			goto bad;
		for (unsigned p = lo; p <= hi; p++) {
			char key[32];
			snprintf(key, sizeof key, "%u/%s", p, proto);
			json_object_set_new(ports, key, json_object());
		}
		continue;
bad:
		cerr("EXPOSE: invalid port '%s'", w[i]);
		free_words(w);
		return -1;
	}
	free_words(w);
	return 0;
}

static int
volume(json_t *cfg, const char *rest)
{
	json_t *arr = exec_form(rest), *vols, *v;
	char **w = NULL;
	size_t i;
	int n;

	if (!arr) {
		n = split_words(rest, json_object_get(cfg, "Env"), &w);
		if (n < 0) {
			free_words(w);
			return cerr("VOLUME: unbalanced quotes");
		}
		arr = json_array();
		for (int k = 0; k < n; k++)
			json_array_append_new(arr, json_string(w[k]));
		free_words(w);
	}
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return cerr("VOLUME requires at least one argument");
	}
	vols = json_object_get(cfg, "Volumes");
	if (!json_is_object(vols)) {
		vols = json_object();
		json_object_set_new(cfg, "Volumes", vols);
	}
	json_array_foreach(arr, i, v) {
		const char *p = json_string_value(v);
		if (!*p) {
			json_decref(arr);
			return cerr("VOLUME specified can not be an empty string");
		}
		json_object_set_new(vols, p, json_object());
	}
	json_decref(arr);
	return 0;
}

/* Clean an absolute path lexically (as Go's path.Clean). New string. */
static char *
clean_abs(const char *p)
{
	struct sbuf b = { 0 };

	sb_putc(&b, '/');
	while (*p) {
		const char *e;
		while (*p == '/')
			p++;
		e = p;
		while (*e && *e != '/')
			e++;
		if (e - p == 1 && p[0] == '.') {
			/* skip */
		} else if (e - p == 2 && p[0] == '.' && p[1] == '.') {
			while (b.n > 1 && b.s[b.n - 1] != '/')
				b.n--;
			if (b.n > 1)
				b.n--;
			b.s[b.n] = '\0';
		} else if (e > p) {
			if (b.n > 1)
				sb_putc(&b, '/');
			sb_puts(&b, p, (size_t)(e - p));
		}
		p = e;
	}
	return b.s;
}

static int
workdir(json_t *cfg, const char *rest)
{
	char **w;
	int n = split_words(rest, json_object_get(cfg, "Env"), &w);
	char *joined, *clean;

	if (n != 1) {
		free_words(w);
		return cerr("WORKDIR requires exactly one argument");
	}
	if (w[0][0] == '/') {
		joined = xstrdup(w[0]);
	} else {
		const char *cur = json_string_value(json_object_get(cfg, "WorkingDir"));
		joined = xasprintf("%s/%s", cur && *cur ? cur : "/", w[0]);
	}
	clean = clean_abs(joined);
	json_object_set_new(cfg, "WorkingDir", json_string(clean));
	free(joined);
	free(clean);
	free_words(w);
	return 0;
}

static const char *const signames[] = {
	"ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
	"KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
	"TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
};

static int
stopsignal(json_t *cfg, const char *rest)
{
	char **w;
	int n = split_words(rest, json_object_get(cfg, "Env"), &w), ok = 0;
	const char *s;

	if (n != 1) {
		free_words(w);
		return cerr("STOPSIGNAL requires exactly one argument");
	}
	s = w[0];
	if (isdigit((unsigned char)*s)) {
		char *e;
		long v = strtol(s, &e, 10);
		ok = !*e && v >= 1 && v <= 64;
	} else {
		const char *n2 = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
		for (size_t i = 0; i < sizeof signames / sizeof *signames; i++)
			if (strcasecmp(n2, signames[i]) == 0)
				ok = 1;
		if (!ok && strncasecmp(n2, "RTMIN", 5) == 0)
			ok = 1;
		if (!ok && strncasecmp(n2, "RTMAX", 5) == 0)
			ok = 1;
	}
	if (!ok) {
		cerr("STOPSIGNAL: invalid signal '%s'", s);
		free_words(w);
		return -1;
	}
	json_object_set_new(cfg, "StopSignal", json_string(s));
	free_words(w);
	return 0;
}

/* A Go duration ("30s", "1m30s", "1.5h", "0") in nanoseconds. 0 or -1. */
static int
parse_duration(const char *s, int64_t *out)
{
	static const struct { const char *u; double ns; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "ms", 1e6 },
		{ "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
	};
	double total = 0;

	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (!*s)
		return -1;
	while (*s) {
		char *e;
		double v;
		size_t best = 0, bl = 0;
		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		v = strtod(s, &e);
		if (e == s)
			return -1;
		s = e;
		for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
			size_t l = strlen(units[i].u);
			if (strncmp(s, units[i].u, l) == 0 && l > bl)
				best = i, bl = l;
		}
		if (!bl)
			return -1;
		total += v * units[best].ns;
		s += bl;
	}
	if (total > 9.2e18)
		return -1;
	*out = (int64_t)total;
	return 0;
}

static int
healthcheck(json_t *cfg, const char *rest)
{
	json_t *hc = json_object(), *test;
	const char *p = rest;

	if (strncasecmp(p, "NONE", 4) == 0 && (!p[4] || isspace((unsigned char)p[4]))) {
		const char *q = p + 4;
		while (isspace((unsigned char)*q))
			q++;
		if (*q) {
			json_decref(hc);
			return cerr("HEALTHCHECK NONE takes no arguments");
		}
		json_object_set_new(hc, "Test", json_pack("[s]", "NONE"));
		json_object_set_new(cfg, "Healthcheck", hc);
		return 0;
	}
	while (p[0] == '-' && p[1] == '-') {
		const char *e = p;
		char opt[64], *eq;
		int64_t d;
		while (*e && !isspace((unsigned char)*e))
			e++;
		if ((size_t)(e - p) >= sizeof opt)
			goto badopt;
		memcpy(opt, p, (size_t)(e - p));
		opt[e - p] = '\0';
		eq = strchr(opt, '=');
		if (!eq)
			goto badopt;
		*eq++ = '\0';
		if (strcmp(opt, "--retries") == 0) {
			char *end;
			long r = strtol(eq, &end, 10);
			if (*end || !*eq || r < 0 || r > 1000000)
				goto badopt;
			json_object_set_new(hc, "Retries", json_integer(r));
		} else {
			const char *key = strcmp(opt, "--interval") == 0 ? "Interval" :
			                  strcmp(opt, "--timeout") == 0 ? "Timeout" :
			                  strcmp(opt, "--start-period") == 0 ? "StartPeriod" :
			                  strcmp(opt, "--start-interval") == 0 ? "StartInterval" : NULL;
			if (!key || parse_duration(eq, &d) < 0 || (d != 0 && d < 1000000))
				goto badopt;
			json_object_set_new(hc, key, json_integer(d));
		}
		p = e;
		while (isspace((unsigned char)*p))
			p++;
		continue;
badopt:
		json_decref(hc);
		return cerr("HEALTHCHECK: invalid option '%.*s'", (int)(e - p), p);
	}
	if (strncasecmp(p, "CMD", 3) != 0 || !(isspace((unsigned char)p[3]) || p[3] == '[')) {
		json_decref(hc);
		return cerr("HEALTHCHECK requires NONE or CMD");
	}
	p += 3;
	while (isspace((unsigned char)*p))
		p++;
	if (!*p) {
		json_decref(hc);
		return cerr("HEALTHCHECK CMD requires a command");
	}
	test = exec_form(p);
	if (test) {
		json_array_insert_new(test, 0, json_string("CMD"));
	} else {
		test = json_pack("[ss]", "CMD-SHELL", p);
	}
	json_object_set_new(hc, "Test", test);
	json_object_set_new(cfg, "Healthcheck", hc);
	return 0;
}

/* Apply one instruction to cfg (the config's "config" object). *cmd_set tracks whether a
 * CMD came earlier (ENTRYPOINT clears an inherited Cmd otherwise, as docker does).
 * 0, or -1 with change_err set. */
static int
change_apply(json_t *cfg, const char *instr, int *cmd_set)
{
	char kw[16];
	const char *p = instr, *rest;
	size_t kl = 0;

	while (isspace((unsigned char)*p))
		p++;
	while (p[kl] && !isspace((unsigned char)p[kl]) && kl < sizeof kw - 1) {
		kw[kl] = (char)toupper((unsigned char)p[kl]);
		kl++;
	}
	kw[kl] = '\0';
	if (kl == 0)
		return cerr("empty change instruction");
	if (p[kl] && !isspace((unsigned char)p[kl]))
		return cerr("%.*s is not a valid change instruction", 40, p);
	rest = p + kl;
	while (isspace((unsigned char)*rest))
		rest++;
	/* trailing whitespace is not part of any argument */
	char *r = xstrdup(rest);
	size_t rl = strlen(r);
	while (rl && isspace((unsigned char)r[rl - 1]))
		r[--rl] = '\0';
	int rc = 0;

	if (strcmp(kw, "CMD") == 0 || strcmp(kw, "ENTRYPOINT") == 0) {
		int is_cmd = kw[0] == 'C';
		json_t *v = exec_form(r);
		if (!v) {
			if (!*r) {
				rc = cerr("%s requires at least one argument", kw);
				goto out;
			}
			v = shell_form(cfg, r);
		}
		json_object_set_new(cfg, is_cmd ? "Cmd" : "Entrypoint", v);
		if (is_cmd)
			*cmd_set = 1;
		else if (!*cmd_set)
			json_object_del(cfg, "Cmd");
	} else if (strcmp(kw, "ENV") == 0) {
		rc = name_values(cfg, kw, r, 1);
	} else if (strcmp(kw, "LABEL") == 0) {
		rc = name_values(cfg, kw, r, 0);
	} else if (strcmp(kw, "EXPOSE") == 0) {
		rc = expose(cfg, r);
	} else if (strcmp(kw, "USER") == 0) {
		char **w;
		int n = split_words(r, json_object_get(cfg, "Env"), &w);
		if (n != 1)
			rc = cerr("USER requires exactly one argument");
		else
			json_object_set_new(cfg, "User", json_string(w[0]));
		free_words(w);
	} else if (strcmp(kw, "VOLUME") == 0) {
		rc = volume(cfg, r);
	} else if (strcmp(kw, "WORKDIR") == 0) {
		rc = workdir(cfg, r);
	} else if (strcmp(kw, "STOPSIGNAL") == 0) {
		rc = stopsignal(cfg, r);
	} else if (strcmp(kw, "HEALTHCHECK") == 0) {
		rc = healthcheck(cfg, r);
	} else if (strcmp(kw, "ONBUILD") == 0) {
		char ikw[16];
		size_t il = 0;
		json_t *ob;
		while (r[il] && !isspace((unsigned char)r[il]) && il < sizeof ikw - 1) {
			ikw[il] = (char)toupper((unsigned char)r[il]);
			il++;
		}
		ikw[il] = '\0';
		if (il == 0) {
			rc = cerr("ONBUILD requires at least one argument");
			goto out;
		}
		if (!strcmp(ikw, "ONBUILD") || !strcmp(ikw, "FROM") || !strcmp(ikw, "MAINTAINER")) {
			rc = cerr("%s isn't allowed as an ONBUILD trigger", ikw);
			goto out;
		}
		ob = json_object_get(cfg, "OnBuild");
		if (!json_is_array(ob)) {
			ob = json_array();
			json_object_set_new(cfg, "OnBuild", ob);
		}
		json_array_append_new(ob, json_string(r));
	} else {
		rc = cerr("%s is not a valid change instruction", kw);
	}
out:
	free(r);
	return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Paths already written: a set of 62-bit hashes tagged with a class, to refuse duplicate
 * entries, entries under a symlink or a file, and hard links to nothing before them.    */

enum { PC_DIR = 1, PC_SYMLINK = 2, PC_OTHER = 3 };

struct pathset { uint64_t *v; size_t n, cap; };

static uint64_t
path_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h & ~(uint64_t)3;
}

/* The class of a path, 0 if absent. */
static int
ps_get(const struct pathset *ps, const char *s, size_t n)
{
	uint64_t h = path_hash(s, n);
	size_t i;

	if (!ps->cap)
		return 0;
	for (i = (size_t)(h >> 2) & (ps->cap - 1); ps->v[i]; i = (i + 1) & (ps->cap - 1))
		if ((ps->v[i] & ~(uint64_t)3) == h)
			return (int)(ps->v[i] & 3);
	return 0;
}

static void
ps_add(struct pathset *ps, const char *s, int cls)
{
	uint64_t h = path_hash(s, strlen(s));
	size_t i;

	if ((ps->n + 1) * 2 > ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 1024;
		uint64_t *nv = xcalloc(ncap, sizeof *nv);
		for (size_t k = 0; k < ps->cap; k++) {
			if (!ps->v[k])
				continue;
			for (i = (size_t)(ps->v[k] >> 2) & (ncap - 1); nv[i]; i = (i + 1) & (ncap - 1))
				;
			nv[i] = ps->v[k];
		}
		free(ps->v);
		ps->v = nv;
		ps->cap = ncap;
	}
	for (i = (size_t)(h >> 2) & (ps->cap - 1); ps->v[i]; i = (i + 1) & (ps->cap - 1))
		;
	ps->v[i] = h | (uint64_t)cls;
	ps->n++;
}

/* ------------------------------------------------------------------------------------ */
/* The layer writer: clean tar -> diff_id hash and compressor -> blob.                   */

struct layer {
	struct img_store *store;
	struct img_blob_writer *bw;
	struct img_compw *cw;
	struct pipe *pipe;
	struct img_hash *diff;
	struct img_arcout *ao;
	struct img_progress *pg;
	struct pathset seen;
	int64_t clamp;          /* SOURCE_DATE_EPOCH or -1 */
	int quiet;
	const char *src;        /* for messages */
	uint64_t nentries;
};

static int
sink_blob(void *arg, const void *buf, size_t n)
{
	struct layer *l = arg;
	return img_blob_write(l->bw, buf, n);
}

/* Compression runs in a second thread: the tar stream is cut into chunks that the
 * compressor (and the blob writer behind it, which hashes the compressed bytes) takes
 * while this thread reads the input, writes the tar and hashes the diff_id.
 * Memory: PIPE_SLOTS chunks of PIPE_CHUNK bytes. */
enum { PIPE_SLOTS = 4, PIPE_CHUNK = 1 << 20 };

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started;
	char *buf[PIPE_SLOTS];
	size_t len[PIPE_SLOTS];
	size_t rd, count;        /* full slots: rd .. rd+count-1 (the one at rd maybe in use) */
	size_t fill;             /* bytes in the slot being filled, (rd + count) % PIPE_SLOTS */
	int eof, err;
	char errmsg[512];
	struct img_compw *cw;
};

static void *
pipe_worker(void *arg)
{
	struct pipe *p = arg;
	int err = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		size_t slot;
		while (p->count == 0 && !p->eof)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->count == 0)
			break;
		slot = p->rd;
		pthread_mutex_unlock(&p->mu);
		if (!err && img_compw_write(p->cw, p->buf[slot], p->len[slot]) < 0) {
			err = 1;
			snprintf(p->errmsg, sizeof p->errmsg, "%s", img_errmsg());
		}
		pthread_mutex_lock(&p->mu);
		if (err)
			p->err = 1;
		p->rd = (p->rd + 1) % PIPE_SLOTS;
		p->count--;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	if (!err && img_compw_finish(p->cw) < 0) {
		snprintf(p->errmsg, sizeof p->errmsg, "%s", img_errmsg());
		err = 1;
	}
	pthread_mutex_lock(&p->mu);
	p->err |= err;
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int
pipe_start(struct pipe *p, struct img_compw *cw)
{
	memset(p, 0, sizeof *p);
	p->cw = cw;
	for (int i = 0; i < PIPE_SLOTS; i++)
		p->buf[i] = xmalloc(PIPE_CHUNK);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pthread_create(&p->th, NULL, pipe_worker, p) != 0) {
		img_seterr("cannot start the compression thread");
		return -1;
	}
	p->started = 1;
	return 0;
}

/* Hand the slot being filled to the worker and wait for a free one. 0 or -1. */
static int
pipe_push(struct pipe *p)
{
	int err;

	pthread_mutex_lock(&p->mu);
	p->len[(p->rd + p->count) % PIPE_SLOTS] = p->fill;
	p->count++;
	pthread_cond_broadcast(&p->cv);
	while (p->count == PIPE_SLOTS && !p->err)
		pthread_cond_wait(&p->cv, &p->mu);
	err = p->err;
	p->fill = 0;
	pthread_mutex_unlock(&p->mu);
	if (err) {
		img_seterr("%s", p->errmsg);
		return -1;
	}
	return 0;
}

static int
pipe_write(struct pipe *p, const void *buf, size_t n)
{
	const char *b = buf;

	while (n > 0) {
		size_t k = PIPE_CHUNK - p->fill, slot;
		if (k > n)
			k = n;
		pthread_mutex_lock(&p->mu);
		slot = (p->rd + p->count) % PIPE_SLOTS;
		pthread_mutex_unlock(&p->mu);
		memcpy(p->buf[slot] + p->fill, b, k);
		p->fill += k;
		b += k;
		n -= k;
		if (p->fill == PIPE_CHUNK && pipe_push(p) < 0)
			return -1;
	}
	return 0;
}

/* Flush, let the worker finish the compressed stream, join. With ok == 0 (abort) the
 * rest is dropped. 0 or -1. */
static int
pipe_finish(struct pipe *p, int ok)
{
	int rc = 0;

	if (!p->started)
		goto free;
	if (ok && p->fill > 0 && pipe_push(p) < 0)
		ok = 0, rc = -1;
	pthread_mutex_lock(&p->mu);
	if (!ok)
		p->err = 1;         /* the worker drops what is left */
	p->eof = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	if (ok && p->err) {
		img_seterr("%s", p->errmsg);
		rc = -1;
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	p->started = 0;
free:
	for (int i = 0; i < PIPE_SLOTS; i++) {
		free(p->buf[i]);
		p->buf[i] = NULL;
	}
	return rc;
}

static int
sink_tar(void *arg, const void *buf, size_t n)
{
	struct layer *l = arg;

	img_hash_update(l->diff, buf, n);
	if (l->pipe)
		return pipe_write(l->pipe, buf, n);
	return img_blob_write(l->bw, buf, n);
}

/* Check a cleaned path against what came before, then remember it. 0 or -1. */
static int
check_path(struct layer *l, const char *path, int cls)
{
	const char *s;

	if (ps_get(&l->seen, path, strlen(path))) {
		img_seterr("duplicate entry '%s'", path);
		return -1;
	}
	for (s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
		int c = ps_get(&l->seen, path, (size_t)(s - path));
		if (c == PC_SYMLINK || c == PC_OTHER) {
			img_seterr("entry '%s' is under %s '%.*s'", path,
			           c == PC_SYMLINK ? "symlink" : "non-directory", (int)(s - path), path);
			return -1;
		}
	}
	ps_add(&l->seen, path, cls);
	return 0;
}

/* Build the clean entry we write from what was read (src may be NULL for fields set
 * by the caller). The caller has set nothing; we set everything. */
static struct archive_entry *
clean_entry(struct layer *l, const char *path, enum img_ent_type type, mode_t perm,
            int64_t uid, int64_t gid, int64_t mtime, int64_t size, const char *link,
            struct archive_entry *src)
{
	struct archive_entry *e = archive_entry_new();
	const char *name;
	const void *val;
	size_t vlen;

	archive_entry_copy_pathname(e, path);
	switch (type) {
	case IMG_ENT_DIR:      archive_entry_set_filetype(e, AE_IFDIR); break;
	case IMG_ENT_SYMLINK:  archive_entry_set_filetype(e, AE_IFLNK); break;
	case IMG_ENT_CHR:      archive_entry_set_filetype(e, AE_IFCHR); break;
	case IMG_ENT_BLK:      archive_entry_set_filetype(e, AE_IFBLK); break;
	case IMG_ENT_FIFO:     archive_entry_set_filetype(e, AE_IFIFO); break;
	default:               archive_entry_set_filetype(e, AE_IFREG); break;
	}
	archive_entry_set_perm(e, perm & 07777);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	if (l->clamp >= 0 && mtime > l->clamp)
		mtime = l->clamp;
	archive_entry_set_mtime(e, mtime, 0);
	if (type == IMG_ENT_FILE)
		archive_entry_set_size(e, size);
	else
		archive_entry_set_size(e, 0);
	if (type == IMG_ENT_SYMLINK)
		archive_entry_copy_symlink(e, link);
	else if (type == IMG_ENT_HARDLINK)
		archive_entry_copy_hardlink(e, link);
	if (src && (type == IMG_ENT_CHR || type == IMG_ENT_BLK)) {
		archive_entry_set_rdevmajor(e, archive_entry_rdevmajor(src));
		archive_entry_set_rdevminor(e, archive_entry_rdevminor(src));
	}
	if (src && archive_entry_xattr_reset(src) > 0) {
		while (archive_entry_xattr_next(src, &name, &val, &vlen) == ARCHIVE_OK)
			archive_entry_xattr_add_entry(e, name, val, vlen);
	}
	return e;
}

static int
cls_of(enum img_ent_type t)
{
	return t == IMG_ENT_DIR ? PC_DIR : t == IMG_ENT_SYMLINK ? PC_SYMLINK : PC_OTHER;
}

/* Write one entry (not its data). 0 or -1 with img_errmsg. */
static int
put_entry(struct layer *l, const char *path, enum img_ent_type type, mode_t perm,
          int64_t uid, int64_t gid, int64_t mtime, int64_t size, const char *link,
          struct archive_entry *src)
{
	struct archive_entry *e;
	int rc, c;

	if (type == IMG_ENT_HARDLINK) {
		c = ps_get(&l->seen, link, strlen(link));
		if (c != PC_OTHER && c != PC_SYMLINK) {
			img_seterr("hard link '%s' to '%s': target is not an earlier file", path, link);
			return -1;
		}
	}
	if (check_path(l, path, cls_of(type)) < 0)
		return -1;
	if (uid < 0 || gid < 0 || uid > UINT32_MAX || gid > UINT32_MAX) {
		img_seterr("entry '%s': invalid owner %" PRId64 ":%" PRId64, path, uid, gid);
		return -1;
	}
	e = clean_entry(l, path, type, perm, uid, gid, mtime, size, link, src);
	rc = img_arcout_entry(l->ao, e);
	archive_entry_free(e);
	l->nentries++;
	return rc;
}

/* ---- input: an archive (file or stdin) ---- */

static int
import_archive(struct layer *l, int fd, uint64_t total)
{
	struct img_arcin *a = NULL;
	struct img_arcin_entry e;
	int rc = -1, r;
	int64_t last = 0;

	img_progress_set_total(l->pg, total);
	if (img_arcin_open_fd(fd, 0, &a) < 0)
		return -1;
	while ((r = img_arcin_next(a, &e)) == 1) {
		int64_t done = 0;
		const void *buf;
		size_t n;

		if (e.path[0] == '\0')
			continue;       /* the root itself */
		if (e.type == IMG_ENT_OTHER) {
			if (!l->quiet)
				warnx("%s: skipping '%s': unsupported entry type", l->src, e.path);
			continue;
		}
		{
			char *wt = NULL;
			int wr = img_whiteout(e.path, &wt);
			free(wt);
			if (wr < 0) {
				img_seterr("invalid whiteout entry '%s'", e.path);
				goto out;
			}
		}
		if (put_entry(l, e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size,
		              e.link, e.ae) < 0)
			goto out;
		if (e.type != IMG_ENT_FILE)
			continue;
		while ((r = img_arcin_block(a, &buf, &n)) == 1) {
			if ((int64_t)n > e.size - done) {
				img_seterr("entry '%s': more data than its size", e.path);
				goto out;
			}
			if (img_arcout_data(l->ao, buf, n) < 0)
				goto out;
			done += (int64_t)n;
			int64_t off = img_arcin_offset(a);
			if (off > last) {
				img_progress_add(l->pg, (uint64_t)(off - last));
				last = off;
			}
		}
		if (r < 0)
			goto out;
		if (done != e.size) {
			img_seterr("entry '%s': truncated data", e.path);
			goto out;
		}
	}
	if (r < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && strncmp(img_errmsg(), "", 1) == 0)
		img_seterr("read error");
	img_arcin_free(a);
	return rc;
}

/* ---- input: a directory ---- */

struct inode_link { dev_t dev; ino_t ino; char *path; struct inode_link *next; };

struct dirwalk {
	struct layer *l;
	struct archive *disk;
	struct inode_link **links;
	size_t nlinks_cap;
	size_t nlinks;
	char *buf;
	size_t bufsz;
	const char *root;
};

static const char *
link_find_or_add(struct dirwalk *w, const struct stat *st, const char *path)
{
	size_t h;
	struct inode_link *p;

	if (w->nlinks_cap == 0 || w->nlinks * 2 > w->nlinks_cap) {
		size_t ncap = w->nlinks_cap ? w->nlinks_cap * 2 : 256;
		struct inode_link **nt = xcalloc(ncap, sizeof *nt);
		for (size_t i = 0; i < w->nlinks_cap; i++) {
			while ((p = w->links[i])) {
				w->links[i] = p->next;
				h = ((size_t)p->ino * 31 + (size_t)p->dev) & (ncap - 1);
				p->next = nt[h];
				nt[h] = p;
			}
		}
		free(w->links);
		w->links = nt;
		w->nlinks_cap = ncap;
	}
	h = ((size_t)st->st_ino * 31 + (size_t)st->st_dev) & (w->nlinks_cap - 1);
	for (p = w->links[h]; p; p = p->next)
		if (p->ino == st->st_ino && p->dev == st->st_dev)
			return p->path;
	p = xmalloc(sizeof *p);
	p->dev = st->st_dev;
	p->ino = st->st_ino;
	p->path = xstrdup(path);
	p->next = w->links[h];
	w->links[h] = p;
	w->nlinks++;
	return NULL;
}

static void
links_free(struct dirwalk *w)
{
	for (size_t i = 0; i < w->nlinks_cap; i++) {
		struct inode_link *p, *n;
		for (p = w->links[i]; p; p = n) {
			n = p->next;
			free(p->path);
			free(p);
		}
	}
	free(w->links);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct dirwalk *w, int dfd, const char *rel);

/* One directory entry: name in dfd, rel its path in the layer. */
static int
walk_one(struct dirwalk *w, int dfd, const char *name, const char *rel)
{
	struct layer *l = w->l;
	struct stat st;
	struct archive_entry *de = NULL;
	enum img_ent_type type;
	char *full = NULL, *target = NULL;
	const char *link = NULL;
	int fd = -1, rc = -1;

	full = xasprintf("%s/%s", w->root, rel);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		img_seterr_errno("cannot stat '%s'", full);
		goto out;
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:  type = IMG_ENT_FILE; break;
	case S_IFDIR:  type = IMG_ENT_DIR; break;
	case S_IFLNK:  type = IMG_ENT_SYMLINK; break;
	case S_IFCHR:  type = IMG_ENT_CHR; break;
	case S_IFBLK:  type = IMG_ENT_BLK; break;
	case S_IFIFO:  type = IMG_ENT_FIFO; break;
	default:       rc = 0; goto out;     /* sockets: skipped, as docker does */
	}
	if (type == IMG_ENT_FILE || type == IMG_ENT_DIR) {
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
		            (type == IMG_ENT_DIR ? O_DIRECTORY : 0));
		if (fd < 0) {
			img_seterr_errno("cannot open '%s'", full);
			goto out;
		}
		if (fstat(fd, &st) < 0) {
			img_seterr_errno("cannot stat '%s'", full);
			goto out;
		}
		if ((type == IMG_ENT_FILE && !S_ISREG(st.st_mode)) ||
		    (type == IMG_ENT_DIR && !S_ISDIR(st.st_mode))) {
			img_seterr("'%s' changed while being read", full);
			goto out;
		}
	}
	if (type == IMG_ENT_SYMLINK) {
		size_t cap = (size_t)st.st_size + 2;
		ssize_t n;
		if (cap < 64)
			cap = 64;
		target = xmalloc(cap);
		n = readlinkat(dfd, name, target, cap);
		if (n < 0 || (size_t)n >= cap) {
			if (n < 0)
				img_seterr_errno("cannot read link '%s'", full);
			else
				img_seterr("'%s' changed while being read", full);
			goto out;
		}
		target[n] = '\0';
		link = target;
	}
	/* Metadata and xattrs through libarchive (fd where we have one, else the path). */
	de = archive_entry_new();
	archive_entry_copy_pathname(de, full);
	archive_entry_copy_sourcepath(de, full);
	if (archive_read_disk_entry_from_file(w->disk, de, fd, &st) != ARCHIVE_OK) {
		img_seterr("'%s': %s", full, archive_error_string(w->disk) ?
		           archive_error_string(w->disk) : "cannot read metadata");
		goto out;
	}
	if (type != IMG_ENT_DIR && st.st_nlink > 1) {
		const char *first = link_find_or_add(w, &st, rel);
		if (first) {
			type = IMG_ENT_HARDLINK;
			link = first;
			archive_entry_xattr_clear(de);   /* the target carries them */
		}
	}
	if (put_entry(l, rel, type, st.st_mode, st.st_uid, st.st_gid, st.st_mtime,
	              st.st_size, link, de) < 0)
		goto out;
	if (type == IMG_ENT_FILE) {
		int64_t left = st.st_size;
		while (left > 0) {
			ssize_t n = read(fd, w->buf, left < (int64_t)w->bufsz ? (size_t)left : w->bufsz);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				img_seterr_errno("cannot read '%s'", full);
				goto out;
			}
			if (n == 0) {
				img_seterr("'%s': file shrank while being read", full);
				goto out;
			}
			if (img_arcout_data(l->ao, w->buf, (size_t)n) < 0)
				goto out;
			img_progress_add(l->pg, (uint64_t)n);
			left -= n;
		}
	} else if (type == IMG_ENT_DIR) {
		int sub = fd;
		fd = -1;
		if (walk_dir(w, sub, rel) < 0)
			goto out;
	}
	rc = 0;
out:
	if (de)
		archive_entry_free(de);
	if (fd >= 0)
		close(fd);
	free(target);
	free(full);
	return rc;
}

/* Walk an open directory (dfd is consumed) whose layer path is rel ("" for the root). */
static int
walk_dir(struct dirwalk *w, int dfd, const char *rel)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;

	if (!d) {
		img_seterr_errno("cannot read directory '%s/%s'", w->root, rel);
		close(dfd);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			names = xreallocarray(names, cap, sizeof *names);
		}
		names[n++] = xstrdup(de->d_name);
		errno = 0;
	}
	if (errno) {
		img_seterr_errno("cannot read directory '%s%s%s'", w->root, *rel ? "/" : "", rel);
		goto out;
	}
	if (n > 1)
		qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n; i++) {
		char *sub = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
		int r = walk_one(w, dirfd(d), names[i], sub);
		free(sub);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

static int
import_dir(struct layer *l, const char *dir)
{
	struct dirwalk w = { .l = l, .root = dir, .bufsz = 256 * 1024 };
	int fd, rc;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		img_seterr_errno("cannot open '%s'", dir);
		return -1;
	}
	w.disk = archive_read_disk_new();
	if (!w.disk) {
		close(fd);
		img_seterr("out of memory");
		return -1;
	}
	archive_read_disk_set_behavior(w.disk, ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS |
	                               ARCHIVE_READDISK_NO_SPARSE);
	w.buf = xmalloc(w.bufsz);
	rc = walk_dir(&w, fd, "");
	free(w.buf);
	links_free(&w);
	archive_read_free(w.disk);
	return rc;
}

/* ------------------------------------------------------------------------------------ */

struct result {
	struct img_digest blob, diff_id;
	int64_t blob_size;
};

/* Write the layer blob from the input. 0 or -1 (img_errmsg). */
static int
write_layer(const struct import_opts *o, struct img_store *s, struct result *res)
{
	struct layer l = { .store = s, .clamp = img_source_date_epoch(), .quiet = o->quiet,
	                   .src = o->input };
	struct stat st;
	struct pipe pipe = { .started = 0 };
	int is_dir = 0, fd = -1, rc = -1;
	int64_t mt = l.clamp >= 0 ? l.clamp : 0;

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
	}
	l.diff = img_hash_new(IMG_SHA256);
	if (!l.diff)
		goto out;
	if (img_blob_begin(s, &l.bw) < 0)
		goto out;
	if (o->comp != IMG_COMP_NONE) {
		l.cw = img_compw_new(o->comp, o->level, sink_blob, &l);
		if (!l.cw)
			goto out;
		if (pipe_start(&pipe, l.cw) < 0)
			goto out;
		l.pipe = &pipe;
	}
	l.ao = img_arcout_new_sink(sink_tar, &l, mt);
	if (!l.ao)
		goto out;
	l.pg = img_progress_new(o->quiet ? IMG_PROGRESS_NONE : o->progress, "importing",
	                        is_dir ? 0 : (uint64_t)st.st_size);
	if (is_dir) {
		if (import_dir(&l, o->input) < 0)
			goto out;
	} else if (import_archive(&l, fd, (uint64_t)st.st_size) < 0) {
		goto out;
	}
	if (img_arcout_close(l.ao) < 0)
		goto out;
	if (l.pipe) {
		int r = pipe_finish(l.pipe, 1);
		l.pipe = NULL;
		if (r < 0)
			goto out;
	}
	img_hash_final(l.diff, &res->diff_id);
	res->blob_size = (int64_t)img_blob_written(l.bw);
	rc = img_blob_commit(l.bw, NULL, -1, &res->blob);
	l.bw = NULL;
out:
	if (l.pipe)
		pipe_finish(l.pipe, 0);
	else if (l.cw && rc < 0)
		pipe_finish(&pipe, 0);      /* frees the buffers of a pipe that did not start */
	img_progress_done(l.pg);
	if (l.bw)
		img_blob_abort(l.bw);
	img_arcout_free(l.ao);
	img_compw_free(l.cw);
	img_hash_free(l.diff);
	free(l.seen.v);
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
	if (img_desc_parse(json_array_get(entries, m[0]), &top) < 0)
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
	int cmd_set = 0;

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
	for (size_t i = 0; i < o->nchanges; i++) {
		if (change_apply(cfg, o->changes[i], &cmd_set) < 0) {
			json_decref(c);
			return NULL;
		}
	}
	return c;
}

/* Add the new layer's diff_id, the history entry and created. */
static void
finish_config(const struct import_opts *o, json_t *c, const struct result *r, const char *created)
{
	json_t *rootfs = json_object_get(c, "rootfs"), *ids, *hist, *h;

	json_object_set_new(c, "created", json_string(created));
	if (!json_is_object(rootfs)) {
		rootfs = json_object();
		json_object_set_new(c, "rootfs", rootfs);
		json_object_set_new(rootfs, "type", json_string("layers"));
	}
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids)) {
		ids = json_array();
		json_object_set_new(rootfs, "diff_ids", ids);
	}
	json_array_append_new(ids, json_string(r->diff_id.str));
	hist = json_object_get(c, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(c, "history", hist);
	}
	h = json_object();
	json_object_set_new(h, "created", json_string(created));
	json_object_set_new(h, "created_by", json_string("img-import"));
	/* No default comment: the same bytes give the same image whether they came from
	 * FILE, from stdin or from another path. */
	if (o->message)
		json_object_set_new(h, "comment", json_string(o->message));
	json_array_append_new(hist, h);
}

struct name_arg { const char *name; json_t *desc; };

static int
set_name(json_t *index, void *arg)
{
	struct name_arg *na = arg;

	if (na->name)
		return img_index_set_name(index, na->name, na->desc) < 0 ? -1 : 0;
	return img_index_add_unnamed(index, na->desc) < 0 ? -1 : 0;
}

static void
say_waiting(void *arg)
{
	int *said = arg;
	if (!*said)
		warnx("waiting for the store lock");
	*said = 1;
}

static int
run(const struct import_opts *o, const char *canon, const struct img_platform *plat)
{
	struct img_store *s = NULL;
	struct base b = { 0 };
	struct result r;
	json_t *cfg = NULL, *man = NULL, *layers, *desc = NULL;
	struct img_digest cdig, mdig;
	char *cbuf = NULL, *mbuf = NULL, *path, created[40];
	size_t clen, mlen;
	int64_t sde = img_source_date_epoch();
	int rc = 1, said = 0;
	struct name_arg na;

	path = img_store_default_path(o->store);
	if (img_store_open(path, IMG_STORE_CREATE, &s) < 0) {
		warnx("%s", img_errmsg());
		free(path);
		return 1;
	}
	free(path);
	img_store_set_waiting(s, say_waiting, &said);
	/* Shared for the whole run: new blobs stay safe from img-gc until named. */
	if (img_store_lock(s, IMG_LOCK_SHARED, say_waiting, &said) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (o->base && load_base(s, o->base, o->platform ? plat : NULL, &b) < 0) {
		warnx("base %s: %s", o->base, img_errmsg());
		goto out;
	}
	cfg = new_config(o, &b, plat);
	if (!cfg) {
		warnx("%s", change_err);
		rc = 2;
		goto out;
	}
	if (write_layer(o, s, &r) < 0) {
		warnx("%s: %s", o->input, img_errmsg());
		goto out;
	}
	img_rfc3339(sde >= 0 ? sde : (int64_t)time(NULL), created, sizeof created);
	finish_config(o, cfg, &r, created);
	cbuf = img_json_dump(cfg, &clen);
	if (img_blob_put(s, cbuf, clen, &cdig) < 0) {
		warnx("config: %s", img_errmsg());
		goto out;
	}
	man = json_object();
	json_object_set_new(man, "schemaVersion", json_integer(2));
	json_object_set_new(man, "mediaType", json_string(IMG_MT_OCI_MANIFEST));
	json_object_set_new(man, "config", img_desc_new(IMG_MT_OCI_CONFIG, &cdig, (int64_t)clen));
	layers = json_array();
	for (size_t i = 0; b.have && i < b.manifest.n; i++)
		json_array_append_new(layers, json_deep_copy(b.manifest.items[i].json));
	json_array_append_new(layers, img_desc_new(img_comp_media_type(o->comp), &r.blob, r.blob_size));
	json_object_set_new(man, "layers", layers);
	mbuf = img_json_dump(man, &mlen);
	if (img_blob_put(s, mbuf, mlen, &mdig) < 0) {
		warnx("manifest: %s", img_errmsg());
		goto out;
	}
	desc = img_desc_new(IMG_MT_OCI_MANIFEST, &mdig, (int64_t)mlen);
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
		img_doc_release(&b.manifest);
		img_config_release(&b.config);
	}
	img_store_close(s);
	return rc;
}

/* Flush stdout; 1 (after saying why) when the data did not get out. */
static int
close_stdout(void)
{
	if (img_close_stdout() < 0) {
		warnx("%s", img_errmsg());
		return 1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct import_opts o = { .comp = IMG_COMP_GZIP, .level = -1, .progress = IMG_PROGRESS_AUTO };
	struct img_platform plat;
	char *canon = NULL;
	int c, rc;

	img_setprogname(argv[0]);
	while ((c = getopt_long(argc, argv, "b:c:hm:qS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.base = optarg;
			break;
		case 'c':
			o.changes = xreallocarray(o.changes, o.nchanges + 1, sizeof *o.changes);
			o.changes[o.nchanges++] = optarg;
			break;
		case OPT_COMPRESS:
			if (img_comp_parse(optarg, &o.comp) < 0) {
				warnx("invalid compression '%s' (gzip, zstd or none)", optarg);
				usage();
			}
			break;
		case 'h':
			help();
			free(o.changes);
			return close_stdout();
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_LEVEL: {
			char *e;
			long v = strtol(optarg, &e, 10);
			if (*e || e == optarg || v < 0 || v > 22) {
				warnx("invalid level '%s'", optarg);
				usage();
			}
			o.level = (int)v;
			break;
		}
		case OPT_LIST_OPTIONS:
			img_list_options(stdout, longopts);
			free(o.changes);
			return close_stdout();
		case 'm':
			o.message = optarg;
			break;
		case OPT_PLATFORM:
			o.platform = optarg;
			break;
		case OPT_PROGRESS:
			if (img_progress_parse(optarg, &o.progress) < 0) {
				warnx("invalid progress mode '%s'", optarg);
				usage();
			}
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case OPT_VERSION:
			printf("%s %s\n", img_progname(), IMG_VERSION);
			free(o.changes);
			return close_stdout();
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		usage();
	o.input = argv[0];
	o.name = argc > 1 ? argv[1] : NULL;

	if (o.level >= 0) {
		if ((o.comp == IMG_COMP_GZIP && (o.level < 1 || o.level > 9)) ||
		    (o.comp == IMG_COMP_ZSTD && (o.level < 1 || o.level > 19))) {
			warnx("invalid level %d for %s", o.level, img_comp_name(o.comp));
			usage();
		}
	}
	/* Validate the changes now, on an empty config: a bad one is a usage error. */
	{
		json_t *scratch = json_object();
		int cmd_set = 0;
		for (size_t i = 0; i < o.nchanges; i++) {
			if (change_apply(scratch, o.changes[i], &cmd_set) < 0) {
				warnx("%s", change_err);
				json_decref(scratch);
				free(o.changes);
				return 2;
			}
		}
		json_decref(scratch);
	}
	if (o.platform) {
		if (img_platform_parse(o.platform, &plat) < 0) {
			warnx("invalid platform '%s': %s", o.platform, img_errmsg());
			free(o.changes);
			return 2;
		}
	} else {
		img_platform_host(&plat);
	}
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
	if (close_stdout() != 0)
		rc = 1;
	return rc;
}
