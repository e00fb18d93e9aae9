/* dockerfile: Dockerfile instructions and .dockerignore patterns (see dockerfile.h). */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "config.h"
#include "dockerfile.h"

static const char *const keywords[] = {
	"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
	"LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
	"WORKDIR",
};

/* A growable string. */
struct sb { char *s; size_t n, cap; };

static void
sb_add(struct sb *b, const char *s, size_t n)
{
	IMG_GROW(b->s, b->n + n + 1, b->cap);
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static int
blank(const char *s, const char *e)
{
	for (; s < e; s++)
		if (!isspace((unsigned char)*s))
			return 0;
	return 1;
}

/* A comment line: optional whitespace then '#'. */
static int
comment(const char *s, const char *e)
{
	while (s < e && isspace((unsigned char)*s))
		s++;
	return s < e && *s == '#';
}

/* A parser directive "# key=value": key (lower case) and value, else 0. */
static int
directive(const char *s, const char *e, char *key, size_t klen, char **val)
{
	const char *k, *v;
	size_t n;

	while (s < e && isspace((unsigned char)*s))
		s++;
	if (s == e || *s++ != '#')
		return 0;
	while (s < e && isspace((unsigned char)*s))
		s++;
	k = s;
	while (s < e && (isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
		s++;
	n = (size_t)(s - k);
	if (n == 0 || n >= klen)
		return 0;
	while (s < e && isspace((unsigned char)*s))
		s++;
	if (s == e || *s != '=')
		return 0;
	s++;
	while (s < e && isspace((unsigned char)*s))
		s++;
	v = s;
	while (e > v && isspace((unsigned char)e[-1]))
		e--;
	for (size_t i = 0; i < n; i++)
		key[i] = (char)tolower((unsigned char)k[i]);
	key[n] = '\0';
	*val = xstrndup(v, (size_t)(e - v));
	return 1;
}

static int
takes_flags(const char *kw)
{
	return !strcmp(kw, "FROM") || !strcmp(kw, "RUN") || !strcmp(kw, "COPY") ||
	       !strcmp(kw, "ADD");
}

static int
takes_exec(const char *kw)
{
	return !strcmp(kw, "RUN") || !strcmp(kw, "CMD") || !strcmp(kw, "ENTRYPOINT") ||
	       !strcmp(kw, "COPY") || !strcmp(kw, "ADD") || !strcmp(kw, "SHELL") ||
	       !strcmp(kw, "VOLUME");
}

/* "<<EOF", "<<-EOF", "<<'EOF'", "<<\"EOF\"" in a shell form: a heredoc. */
static int
has_heredoc(const char *s)
{
	for (const char *p = strstr(s, "<<"); p; p = strstr(p + 2, "<<")) {
		const char *q = p + 2;
		if (*q == '-')
			q++;
		if (*q == '"' || *q == '\'')
			q++;
		if (isalpha((unsigned char)*q) || *q == '_')
			return 1;
	}
	return 0;
}

/* One logical line (continuations joined) into an instruction. */
static int
instruction(struct img_dockerfile *df, const char *line, unsigned lineno)
{
	struct img_df_instr in;
	const char *p = line, *k;
	size_t kl, i, flags_cap = 0;
	char *kw;
	int known = 0;

	memset(&in, 0, sizeof in);
	while (isspace((unsigned char)*p))
		p++;
	k = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	kl = (size_t)(p - k);
	kw = xstrndup(k, kl);
	for (i = 0; i < kl; i++)
		kw[i] = (char)toupper((unsigned char)kw[i]);
	for (i = 0; i < sizeof keywords / sizeof *keywords; i++)
		if (strcmp(kw, keywords[i]) == 0)
			known = 1;
	if (!known) {
		img_seterr("unknown instruction: %s", img_util_shown(kw));
		free(kw);
		return -1;
	}
	while (isspace((unsigned char)*p))
		p++;
	in.line = lineno;
	in.kw = kw;
	while (takes_flags(kw) && p[0] == '-' && p[1] == '-') {
		const char *e = p + 2;
		while (*e && !isspace((unsigned char)*e))
			e++;
		IMG_GROW(in.flags, in.nflags + 1, flags_cap);
		in.flags[in.nflags++] = xstrndup(p + 2, (size_t)(e - p - 2));
		p = e;
		while (isspace((unsigned char)*p))
			p++;
	}
	{
		const char *e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			e--;
		in.args = xstrndup(p, (size_t)(e - p));
	}
	{
		const char *s = line, *e = line + strlen(line);
		while (isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		in.text = xstrndup(s, (size_t)(e - s));
	}
	if (takes_exec(kw))
		in.exec = img_config_exec_form(in.args);
	IMG_GROW(df->in, df->n + 1, df->cap);
	df->in[df->n++] = in;
	if (!in.args[0] && strcmp(kw, "HEALTHCHECK") != 0) {
		img_seterr("%s requires at least one argument", kw);
		return -1;
	}
	if (!in.exec && (!strcmp(kw, "RUN") || !strcmp(kw, "COPY") || !strcmp(kw, "ADD")) &&
	    has_heredoc(in.args)) {
		img_seterr("%s: heredocs (<<WORD) are not supported; put the text in a file of the "
		           "context and COPY it", kw);
		return -1;
	}
	if (!strcmp(kw, "SHELL") && !in.exec) {
		img_seterr("SHELL requires the JSON form: SHELL [\"executable\", \"parameters\"]");
		return -1;
	}
	if ((!strcmp(kw, "COPY") || !strcmp(kw, "ADD")) &&
	    (in.exec ? json_array_size(in.exec) < 2 : !strpbrk(in.args, " \t"))) {
		img_seterr("%s requires at least two arguments: a source and a destination", kw);
		return -1;
	}
	for (i = 0; i < in.nflags; i++) {
		static const char *const ok[][4] = {
			{ "FROM", "platform", NULL },
			{ "RUN", "network", "mount", "security" },
			{ "COPY", "from", "chown", "chmod" },
			{ "ADD", "chown", "chmod", "checksum" },
		};
		const char *f = in.flags[i];
		size_t fl = strcspn(f, "=");
		int good = 0;
		for (size_t r = 0; r < 4; r++)
			for (size_t c = 1; c < 4 && !strcmp(ok[r][0], kw); c++)
				if (ok[r][c] && strlen(ok[r][c]) == fl && !strncmp(ok[r][c], f, fl))
					good = 1;
		if (!strncmp(f, "link", 4) && (f[4] == '\0' || f[4] == '=') &&
		    (!strcmp(kw, "COPY") || !strcmp(kw, "ADD")))
			good = 1;   /* --link: layers are independent here anyway */
		if (!good) {
			img_seterr("%s: unknown flag --%.*s", kw, (int)fl, f);
			return -1;
		}
	}
	return 0;
}

int
img_dockerfile_parse(const char *text, size_t len, struct img_dockerfile *df,
                     unsigned *errline)
{
	const char *p = text, *end = text + len;
	unsigned lineno = 0, start = 0;
	int directives = 1;
	struct sb cur = { 0 };
	int open = 0;

	memset(df, 0, sizeof *df);
	df->escape = '\\';
	*errline = 0;
	if (memchr(text, '\0', len)) {
		img_seterr("not a text file (NUL byte)");
		return -1;
	}
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *t;
		char key[16], *val;

		lineno++;
		if (e > p && e[-1] == '\r')
			e--;
		if (directives) {
			if (directive(p, e, key, sizeof key, &val)) {
				if (!strcmp(key, "escape")) {
					if (strcmp(val, "\\") && strcmp(val, "`")) {
						*errline = lineno;
						img_seterr("invalid escape token '%s' does not match ` or \\",
						           img_util_shown(val));
						free(val);
						free(cur.s);
						return -1;
					}
					df->escape = val[0];
					free(val);
				} else if (!strcmp(key, "syntax")) {
					free(df->syntax);
					df->syntax = val;
				} else {
					free(val);
					directives = 0;
				}
				p = nl ? nl + 1 : end;
				continue;
			}
			directives = 0;
		}
		if (!open && (blank(p, e) || comment(p, e))) {
			p = nl ? nl + 1 : end;
			continue;
		}
		if (open && comment(p, e)) {
			p = nl ? nl + 1 : end;
			continue;
		}
		if (!open)
			start = lineno;
		t = e;
		while (t > p && isspace((unsigned char)t[-1]))
			t--;
		if (t > p && t[-1] == df->escape) {
			sb_add(&cur, p, (size_t)(t - 1 - p));
			open = 1;
		} else {
			sb_add(&cur, p, (size_t)(e - p));
			open = 0;
		}
		if (!open && !blank(cur.s, cur.s + cur.n)) {
			if (instruction(df, cur.s, start) < 0) {
				*errline = start;
				free(cur.s);
				return -1;
			}
			cur.n = 0;
			cur.s[0] = '\0';
		} else if (!open) {
			cur.n = 0;
		}
		p = nl ? nl + 1 : end;
	}
	if (open && !blank(cur.s, cur.s + cur.n)) {
		if (instruction(df, cur.s, start) < 0) {
			*errline = start;
			free(cur.s);
			return -1;
		}
	}
	free(cur.s);
	if (df->n == 0) {
		*errline = lineno ? lineno : 1;
		img_seterr("the Dockerfile has no instructions");
		return -1;
	}
	if (strcmp(df->in[0].kw, "FROM") != 0 && strcmp(df->in[0].kw, "ARG") != 0) {
		*errline = df->in[0].line;
		img_seterr("%s before the first FROM", df->in[0].kw);
		return -1;
	}
	for (size_t i = 0; i < df->n && strcmp(df->in[i].kw, "FROM"); i++) {
		if (strcmp(df->in[i].kw, "ARG") != 0) {
			*errline = df->in[i].line;
			img_seterr("%s before the first FROM (only ARG may come first)", df->in[i].kw);
			return -1;
		}
		if (i + 1 == df->n) {
			*errline = df->in[i].line;
			img_seterr("no FROM instruction");
			return -1;
		}
	}
	return 0;
}

void
img_dockerfile_release(struct img_dockerfile *df)
{
	for (size_t i = 0; i < df->n; i++) {
		struct img_df_instr *in = &df->in[i];
		free(in->kw);
		free(in->args);
		free(in->text);
		for (size_t f = 0; f < in->nflags; f++)
			free(in->flags[f]);
		free(in->flags);
		json_decref(in->exec);
	}
	free(df->in);
	free(df->syntax);
	memset(df, 0, sizeof *df);
}

const char *
img_dockerfile_flag(const struct img_df_instr *in, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = in->nflags; i-- > 0;) {
		const char *f = in->flags[i];
		if (!strncmp(f, name, nl) && (f[nl] == '=' || f[nl] == '\0'))
			return f[nl] ? f + nl + 1 : "";
	}
	return NULL;
}

/* ---- .dockerignore ---- */

/* Clean a relative path lexically ("./a//b/../c/" -> "a/c"; "" for the root). */
static char *
clean_rel(const char *p)
{
	struct sb b = { 0 };

	sb_add(&b, "", 0);
	while (*p) {
		const char *e;
		while (*p == '/')
			p++;
		e = p + strcspn(p, "/");
		if (e - p == 1 && p[0] == '.') {
			/* skip */
		} else if (e - p == 2 && p[0] == '.' && p[1] == '.') {
			while (b.n > 0 && b.s[b.n - 1] != '/')
				b.n--;
			if (b.n > 0)
				b.n--;
			b.s[b.n] = '\0';
		} else if (e > p) {
			if (b.n)
				sb_add(&b, "/", 1);
			sb_add(&b, p, (size_t)(e - p));
		}
		p = e;
	}
	return b.s;
}

void
img_dockerfile_ignore_parse(const char *text, size_t len, struct img_ignore *ig)
{
	const char *p = text, *end = text + len;
	size_t cap = 0, ncap = 0;

	memset(ig, 0, sizeof *ig);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
		char *line;
		int neg = 0;

		while (p < e && isspace((unsigned char)*p))
			p++;
		while (e > p && isspace((unsigned char)e[-1]))
			e--;
		if (p < e && *p != '#') {
			if (*p == '!') {
				neg = 1;
				p++;
			}
			line = xstrndup(p, (size_t)(e - p));
			IMG_GROW(ig->pat, ig->n + 1, cap);
			IMG_GROW(ig->neg, ig->n + 1, ncap);
			ig->pat[ig->n] = clean_rel(line);
			ig->neg[ig->n++] = (unsigned char)neg;
			free(line);
		}
		p = nl ? nl + 1 : end;
	}
}

/* Segments of pattern against segments of path; "**" takes any number (also none). */
static int
match_segs(const char *pat, const char *path)
{
	for (;;) {
		const char *pe = pat + strcspn(pat, "/");
		const char *se;
		char *ps, *ss;
		int ok;

		if (pe - pat == 2 && pat[0] == '*' && pat[1] == '*') {
			const char *rest = *pe ? pe + 1 : pe;
			if (!*rest)
				return 1;
			for (const char *q = path;; ) {
				if (match_segs(rest, q))
					return 1;
				q = strchr(q, '/');
				if (!q)
					return 0;
				q++;
			}
		}
		if (!*path)
			return !*pat;
		se = path + strcspn(path, "/");
		ps = xstrndup(pat, (size_t)(pe - pat));
		ss = xstrndup(path, (size_t)(se - path));
		ok = fnmatch(ps, ss, 0) == 0;
		free(ps);
		free(ss);
		if (!ok)
			return 0;
		if (!*pe)
			return !*se;
		if (!*se)
			return 0;
		pat = pe + 1;
		path = se + 1;
	}
}

int
img_dockerfile_path_match(const char *pattern, const char *path)
{
	return match_segs(pattern, path);
}

/* pattern matches path or one of the directories above it. */
static int
match_or_parent(const char *pat, const char *path)
{
	char *p = xstrdup(path);
	int ok = 0;

	for (;;) {
		char *slash;
		if (match_segs(pat, p)) {
			ok = 1;
			break;
		}
		slash = strrchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	free(p);
	return ok;
}

int
img_dockerfile_ignore_match(const struct img_ignore *ig, const char *path)
{
	int ignored = 0;

	for (size_t i = 0; i < ig->n; i++)
		if (match_or_parent(ig->pat[i], path))
			ignored = !ig->neg[i];
	return ignored;
}

int
img_dockerfile_ignore_may_reinclude(const struct img_ignore *ig, const char *dir)
{
	size_t dl = strlen(dir);

	for (size_t i = 0; i < ig->n; i++) {
		if (!ig->neg[i])
			continue;
		/* a "!" pattern under dir, or one that starts with a wildcard */
		if ((!strncmp(ig->pat[i], dir, dl) && ig->pat[i][dl] == '/') ||
		    strpbrk(ig->pat[i], "*?["))
			return 1;
	}
	return 0;
}

void
img_dockerfile_ignore_release(struct img_ignore *ig)
{
	for (size_t i = 0; i < ig->n; i++)
		free(ig->pat[i]);
	free(ig->pat);
	free(ig->neg);
	memset(ig, 0, sizeof *ig);
}
