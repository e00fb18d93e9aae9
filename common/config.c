/* config: Dockerfile instructions (docker import --change, docker commit --change) applied
 * to the "config" object of an image config (Cmd, Entrypoint, Env, ...), as docker's
 * builder does: CMD, ENTRYPOINT (exec form ["a","b"] or shell form), ENV and LABEL (both
 * forms, $VAR expansion from Env), EXPOSE, USER, VOLUME, WORKDIR (relative to the
 * current one), STOPSIGNAL, HEALTHCHECK, ONBUILD. Other instructions are refused. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "util.h"

/* Record the error of an instruction (img_errmsg) and return -1. */
static int
cerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
cerr(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	img_seterr("%s", buf);
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

/* The value of K: from Env, else from vars (build arguments), else NULL. */
static const char *
var_get(json_t *env, json_t *vars, const char *k, size_t klen)
{
	const char *v = env_get(env, k, klen);

	return v ? v : env_get(vars, k, klen);
}

static void expand_text(const char *s, size_t n, json_t *env, json_t *vars, struct sbuf *b);

/* p at "$NAME" or "${NAME...}": append the value to b, return what follows. ${NAME:-w}
 * (w when unset or empty), ${NAME:+w} (w when set and not empty), ${NAME-w} and
 * ${NAME+w} (the same for unset only), w expanded in turn. An unclosed "${" is text. */
static const char *
expand_var(const char *p, json_t *env, json_t *vars, struct sbuf *b)
{
	int brace = p[1] == '{';
	const char *k = p + 1 + brace, *e = k, *v, *w, *we;
	int colon = 0, depth = 1;
	char op;

	while (is_name_char(*e, 0))
		e++;
	v = var_get(env, vars, k, (size_t)(e - k));
	if (!brace) {
		if (v)
			sb_puts(b, v, strlen(v));
		return e;
	}
	if (*e == '}') {
		if (v)
			sb_puts(b, v, strlen(v));
		return e + 1;
	}
	w = e;
	if (*w == ':') {
		colon = 1;
		w++;
	}
	op = *w;
	if (op != '-' && op != '+') {
		sb_putc(b, *p);
		return p + 1;
	}
	w++;
	for (we = w; *we; we++) {
		if (*we == '{')
			depth++;
		else if (*we == '}' && --depth == 0)
			break;
	}
	if (!*we) {
		sb_putc(b, *p);
		return p + 1;
	}
	{
		int set = v && (!colon || *v);
		if (op == '-' && !set)
			expand_text(w, (size_t)(we - w), env, vars, b);
		else if (op == '-')
			sb_puts(b, v, strlen(v));
		else if (set)
			expand_text(w, (size_t)(we - w), env, vars, b);
	}
	return we + 1;
}

/* n bytes of s with their variables expanded (no quotes, no splitting). */
static void
expand_text(const char *s, size_t n, json_t *env, json_t *vars, struct sbuf *b)
{
	char *t = xstrndup(s, n);
	const char *p = t;

	while (*p) {
		if (*p == '$' && (is_name_char(p[1], 1) || (p[1] == '{' && is_name_char(p[2], 1))))
			p = expand_var(p, env, vars, b);
		else
			sb_putc(b, *p++);
	}
	free(t);
}

/* Split s into shell-like words as the Dockerfile parser does for ENV, LABEL, EXPOSE,
 * VOLUME...: whitespace separates words, quotes group and are removed, a backslash escapes
 * the next character (not inside single quotes), $NAME and ${NAME} (with :- and :+) expand from env, then vars.
 * Returns the number of words in *out (a NULL-terminated array the caller frees, with
 * its strings), or -1 on unbalanced quotes. */
static int
split_words(const char *s, json_t *env, json_t *vars, char ***out)
{
	char **w = NULL;
	size_t nw = 0, wcap = 0;
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
				p = expand_var(p, env, vars, &b);
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
		IMG_GROW(w, nw + 2, wcap);
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

json_t *
img_config_exec_form(const char *s)
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
name_values(json_t *cfg, const char *kw, const char *rest, int is_env, json_t *vars)
{
	json_t *env = json_object_get(cfg, "Env");
	char **w;
	int n = split_words(rest, env, vars, &w), rc = 0;

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
expose(json_t *cfg, const char *rest, json_t *vars)
{
	char **w;
	int n = split_words(rest, json_object_get(cfg, "Env"), vars, &w);
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
volume(json_t *cfg, const char *rest, json_t *vars)
{
	json_t *arr = img_config_exec_form(rest), *vols, *v;
	char **w = NULL;
	size_t i;
	int n;

	if (!arr) {
		n = split_words(rest, json_object_get(cfg, "Env"), vars, &w);
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
workdir(json_t *cfg, const char *rest, json_t *vars)
{
	char **w;
	int n = split_words(rest, json_object_get(cfg, "Env"), vars, &w);
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
stopsignal(json_t *cfg, const char *rest, json_t *vars)
{
	char **w;
	int n = split_words(rest, json_object_get(cfg, "Env"), vars, &w), ok = 0;
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
	test = img_config_exec_form(p);
	if (test) {
		json_array_insert_new(test, 0, json_string("CMD"));
	} else {
		test = json_pack("[ss]", "CMD-SHELL", p);
	}
	json_object_set_new(hc, "Test", test);
	json_object_set_new(cfg, "Healthcheck", hc);
	return 0;
}

int
img_config_change(json_t *cfg, const char *instr, int *cmd_set)
{
	return img_config_change_vars(cfg, instr, cmd_set, NULL);
}

int
img_config_words(const char *s, json_t *env, json_t *vars, char ***out)
{
	return split_words(s, env, vars, out);
}

void
img_config_words_free(char **w)
{
	free_words(w);
}

char *
img_config_expand(const char *s, json_t *env, json_t *vars)
{
	struct sbuf b = { 0 };

	expand_text(s, strlen(s), env, vars, &b);
	sb_str(&b);
	return b.s;
}

int
img_config_change_vars(json_t *cfg, const char *instr, int *cmd_set, json_t *vars)
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
		json_t *v = img_config_exec_form(r);
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
		rc = name_values(cfg, kw, r, 1, vars);
	} else if (strcmp(kw, "LABEL") == 0) {
		rc = name_values(cfg, kw, r, 0, vars);
	} else if (strcmp(kw, "EXPOSE") == 0) {
		rc = expose(cfg, r, vars);
	} else if (strcmp(kw, "USER") == 0) {
		char **w;
		int n = split_words(r, json_object_get(cfg, "Env"), vars, &w);
		if (n != 1)
			rc = cerr("USER requires exactly one argument");
		else
			json_object_set_new(cfg, "User", json_string(w[0]));
		free_words(w);
	} else if (strcmp(kw, "VOLUME") == 0) {
		rc = volume(cfg, r, vars);
	} else if (strcmp(kw, "WORKDIR") == 0) {
		rc = workdir(cfg, r, vars);
	} else if (strcmp(kw, "STOPSIGNAL") == 0) {
		rc = stopsignal(cfg, r, vars);
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

int
img_config_changes(json_t *cfg, const char *const *instrs, size_t n)
{
	int cmd_set = 0;

	for (size_t i = 0; i < n; i++)
		if (img_config_change(cfg, instrs[i], &cmd_set) < 0)
			return -1;
	return 0;
}

void
img_config_add_diff_id(json_t *c, const char *diff_id)
{
	json_t *rootfs = json_object_get(c, "rootfs"), *ids;

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
	json_array_append_new(ids, json_string(diff_id));
}

void
img_config_add_history(json_t *c, const char *created, const char *created_by,
                       const char *comment, int empty_layer)
{
	json_t *hist = json_object_get(c, "history"), *h;

	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(c, "history", hist);
	}
	h = json_object();
	json_object_set_new(h, "created", json_string(created));
	json_object_set_new(h, "created_by", json_string(created_by));
	if (comment)
		json_object_set_new(h, "comment", json_string(comment));
	if (empty_layer)
		json_object_set_new(h, "empty_layer", json_true());
	json_array_append_new(hist, h);
}
