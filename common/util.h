/* util: allocators that die, the program name, the last error text, small helpers. */
#ifndef IMG_UTIL_H
#define IMG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <getopt.h>

#define IMG_VERSION "0.1.0"

/* Allocation wrappers: they print "PROG: out of memory" and exit 1 (or the status set
 * with img_util_set_die_status: img-diff's trouble is 2) on failure. The only functions in
 * common/ that may exit. The caller frees what they return. */
void img_util_set_die_status(int status);
void img_util_die_oom(void) __attribute__((noreturn));
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Growth: make room for need elements of elsize bytes in p, whose room is *cap elements
 * (doubling, from 16; dies on overflow or OOM). Returns the array, maybe moved.
 * IMG_GROW(arr, need, cap) is the usual call: IMG_GROW(v, n + 1, cap); v[n++] = x; */
void *img_util_grow(void *p, size_t need, size_t *cap, size_t elsize);
#define IMG_GROW(arr, need, cap) ((arr) = img_util_grow((arr), (need), &(cap), sizeof(*(arr))))

/* Program name, from argv[0] (basename). */
void img_util_setprogname(const char *argv0);
const char *img_util_progname(void);

/* The last error of a common/ call that failed (returned -1 or NULL).
 * common/ never prints: it records one line here and the tool decides.
 * img_seterr formats the text; img_seterr_errno appends ": strerror(errno)". */
void img_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void img_seterr_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "where: why": put the formatted text and ": " before the last error text (the
 * message of a call that failed, said again with what it was working on). */
void img_seterr_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *img_errmsg(void);
/* img_seterr, then -1: "return img_fail(...)" (its arguments may be img_errmsg() itself). */
int img_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print every long option of a getopt table, one per line, "--name" or
 * "--name=" when it takes an argument (the hidden --list-options). */
void img_util_list_options(FILE *f, const struct option *opts);

/* Human size as docker prints it ("1.5MB", 1000-based, 3 significant digits). buf >= 16. */
const char *img_util_human_size(uint64_t n, char *buf, size_t len);
/* "5 minutes ago" style age of an RFC 3339 time; "N/A" when unparsable. buf >= 32. */
const char *img_util_human_age(const char *rfc3339, char *buf, size_t len);
/* RFC 3339 UTC ("2006-01-02T15:04:05Z") of t. buf >= 32. */
const char *img_util_rfc3339(int64_t t, char *buf, size_t len);
/* SOURCE_DATE_EPOCH if set and valid (>= 0), else -1. */
int64_t img_util_source_date_epoch(void);

/* Escape a string for printing on a terminal line: control bytes and
 * non-printables as \ooo. Returns a new string the caller frees. */
char *img_util_escape(const char *s);
/* The same, cut to at most IMG_SHOWN_MAX bytes ("..." as U+2026 where cut): how an error line
 * names a path or any other string from the input. */
#define IMG_SHOWN_MAX 200
char *img_util_escape_cut(const char *s);

/* Path p folded lexically, without the file system: empty and "." components dropped,
 * ".." takes away the component before it; no leading or trailing '/'. A ".." with
 * nothing before it gives NULL when strict, else is dropped (the root is its own
 * parent). A new string (or NULL). */
char *img_util_path_fold(const char *p, int strict);
/* The same in a per-thread buffer, for the "'what': why" of an error line in one call:
 * img_seterr("invalid digest '%s'", img_util_shown(s)). Valid until the fourth next call in
 * the thread (so up to four in one message). NULL shows as "". */
const char *img_util_shown(const char *s);

#endif
