/* util: allocators that die, program name, last error text, formatting helpers. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static const char *progname = "img";
static int die_status = 1;
static _Thread_local char errbuf[1024];   /* per thread: workers fail independently */

static void __attribute__((noreturn)) oom(void)
{
	fprintf(stderr, "%s: out of memory\n", progname);
	exit(die_status);
}

void img_util_set_die_status(int status)
{
	die_status = status;
}

void img_util_die_oom(void)
{
	oom();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) oom();
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p) oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) oom();
	return p;
}

void *xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size) oom();
	return xrealloc(p, nmemb * size);
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p) oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p) oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) oom();
	va_end(ap);
	return s;
}

void *img_util_grow(void *p, size_t need, size_t *cap, size_t elsize)
{
	size_t c = *cap;

	if (need <= c)
		return p;
	c = c ? c : 16;
	while (c < need) {
		if (c > SIZE_MAX / 2) oom();
		c *= 2;
	}
	p = xreallocarray(p, c, elsize);
	*cap = c;
	return p;
}

void img_util_setprogname(const char *argv0)
{
	const char *p;
	if (!argv0 || !*argv0) return;
	p = strrchr(argv0, '/');
	progname = p ? p + 1 : argv0;
}

const char *img_util_progname(void)
{
	return progname;
}

/* The arguments may point into errbuf (a message wrapping the last one, as in
 * img_seterr("x: %s", img_errmsg())): format into a scratch buffer, then copy. */
static void vseterr(const char *fmt, va_list ap)
{
	char tmp[sizeof errbuf];
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	memcpy(errbuf, tmp, sizeof errbuf);
}

void img_seterr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vseterr(fmt, ap);
	va_end(ap);
}

int img_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vseterr(fmt, ap);
	va_end(ap);
	return -1;
}

void img_seterr_errno(const char *fmt, ...)
{
	int e = errno;
	size_t n;
	va_list ap;
	char tmp[sizeof errbuf];
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	snprintf(tmp + n, sizeof tmp - n, ": %s", strerror(e));
	memcpy(errbuf, tmp, sizeof errbuf);
	errno = e;
}

void img_seterr_prefix(const char *fmt, ...)
{
	char tmp[sizeof errbuf];
	const char *m;
	int e = errno;
	size_t n, ml;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	m = img_errmsg();
	ml = strlen(m);
	if (n + 2 + ml >= sizeof tmp)
		ml = n + 2 < sizeof tmp ? sizeof tmp - 3 - n : 0;
	if (n + 2 < sizeof tmp) {
		memcpy(tmp + n, ": ", 2);
		memcpy(tmp + n + 2, m, ml);
		tmp[n + 2 + ml] = '\0';
	}
	memcpy(errbuf, tmp, sizeof errbuf);
	errno = e;
}

const char *img_errmsg(void)
{
	return errbuf[0] ? errbuf : "unknown error";
}

void img_util_list_options(FILE *f, const struct option *opts)
{
	for (; opts->name; opts++) {
		if (strcmp(opts->name, "list-options") == 0) continue;
		fprintf(f, "--%s%s\n", opts->name, opts->has_arg == required_argument ? "=" : "");
	}
}

const char *img_util_human_size(uint64_t n, char *buf, size_t len)
{
	static const char *units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1000.0 && u < 6) {
		v /= 1000.0;
		u++;
	}
	if (u == 0) snprintf(buf, len, "%lluB", (unsigned long long)n);
	else if (v < 10) snprintf(buf, len, "%.3g%s", v, units[u]);
	else snprintf(buf, len, "%.3g%s", v, units[u]);
	return buf;
}

static int parse_rfc3339(const char *s, time_t *out)
{
	struct tm tm;
	const char *p;
	int off = 0;

	memset(&tm, 0, sizeof tm);
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p) return -1;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) p++;
	}
	if (*p == '+' || *p == '-') {
		int h, m;
		if (sscanf(p + 1, "%2d:%2d", &h, &m) != 2) return -1;
		off = (h * 3600 + m * 60) * (*p == '-' ? -1 : 1);
	} else if (*p != 'Z' && *p != 'z') {
		return -1;
	}
	*out = timegm(&tm) - off;
	return 0;
}

/* As docker's units.HumanDuration, followed by " ago". */
const char *img_util_human_age(const char *rfc3339, char *buf, size_t len)
{
	time_t t, now = time(NULL);
	long long d, h;

	if (!rfc3339 || parse_rfc3339(rfc3339, &t) < 0) {
		snprintf(buf, len, "N/A");
		return buf;
	}
	d = (long long)(now - t);
	h = (d + 1800) / 3600;
	if (d < 1) snprintf(buf, len, "Less than a second ago");
	else if (d == 1) snprintf(buf, len, "1 second ago");
	else if (d < 60) snprintf(buf, len, "%lld seconds ago", d);
	else if (d / 60 == 1) snprintf(buf, len, "About a minute ago");
	else if (d < 3600) snprintf(buf, len, "%lld minutes ago", d / 60);
	else if (h == 1) snprintf(buf, len, "About an hour ago");
	else if (d < 3600 * 48) snprintf(buf, len, "%lld hours ago", d / 3600);
	else if (d < 3600 * 24 * 7 * 2) snprintf(buf, len, "%lld days ago", d / 86400);
	else if (d < 3600 * 24 * 30 * 2) snprintf(buf, len, "%lld weeks ago", d / (86400 * 7));
	else if (d < 3600 * 24 * 365 * 2) snprintf(buf, len, "%lld months ago", d / (86400 * 30));
	else snprintf(buf, len, "%lld years ago", d / (86400 * 365));
	return buf;
}

const char *img_util_rfc3339(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm)) {
		snprintf(buf, len, "1970-01-01T00:00:00Z");
		return buf;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

int64_t img_util_source_date_epoch(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (!s || !*s) return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0) return -1;
	return v;
}

char *img_util_escape(const char *s)
{
	size_t n = strlen(s), i, o = 0;
	char *r = xmalloc(n * 4 + 1);

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\\') {
			o += (size_t)sprintf(r + o, "\\%03o", c);
		} else {
			r[o++] = (char)c;
		}
	}
	r[o] = 0;
	return r;
}

char *img_util_path_fold(const char *p, int strict)
{
	char *out = xmalloc(strlen(p) + 1);
	size_t n = 0;

	while (*p) {
		size_t cl;
		while (*p == '/')
			p++;
		cl = strcspn(p, "/");
		if (cl == 0 || (cl == 1 && p[0] == '.')) {
			/* nothing */
		} else if (cl == 2 && p[0] == '.' && p[1] == '.') {
			if (n == 0 && strict) {
				free(out);
				return NULL;
			}
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, cl);
			n += cl;
		}
		p += cl;
	}
	out[n] = '\0';
	return out;
}

char *img_util_escape_cut(const char *s)
{
	char *e = img_util_escape(s);
	size_t n = strlen(e), cut = IMG_SHOWN_MAX - 3;

	if (n <= IMG_SHOWN_MAX)
		return e;
	/* not inside a UTF-8 sequence */
	while (cut > 0 && ((unsigned char)e[cut] & 0xC0) == 0x80)
		cut--;
	memcpy(e + cut, "\xe2\x80\xa6", 4);   /* U+2026 and the NUL */
	return e;
}

const char *img_util_shown(const char *s)
{
	static _Thread_local char buf[4][IMG_SHOWN_MAX + 8];
	static _Thread_local unsigned next;
	char *e = img_util_escape_cut(s ? s : ""), *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "%s", e);
	free(e);
	return b;
}
