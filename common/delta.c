/* delta: the have list and the left-out annotation of a delta archive (see delta.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "digest.h"
#include "json.h"
#include "delta.h"

#define HAVE_LINE_MAX 1024           /* a digest is 135 bytes at most; blanks around it */
#define READ_CHUNK    (64u << 10)

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int img_delta_have_line(struct img_dset *have, const char *line, size_t len, unsigned long lineno)
{
	struct img_digest d;
	char buf[HAVE_LINE_MAX + 1];

	while (len > 0 && blank(*line)) {
		line++;
		len--;
	}
	while (len > 0 && blank(line[len - 1]))
		len--;
	if (len == 0 || line[0] == '#')
		return 0;
	if (len > HAVE_LINE_MAX || memchr(line, '\0', len)) {
		img_seterr("line %lu: not a digest", lineno);
		return -1;
	}
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (img_digest_parse(buf, &d) < 0) {
		img_seterr("line %lu: invalid digest '%s'", lineno, img_util_shown(buf));
		return -1;
	}
	img_dset_add(have, &d, NULL);
	return 0;
}

int img_delta_have_read(int fd, struct img_dset *have)
{
	char *buf = xmalloc(READ_CHUNK + HAVE_LINE_MAX + 1);
	size_t len = 0;
	unsigned long lineno = 1;
	int rc = -1;

	for (;;) {
		ssize_t n = read(fd, buf + len, READ_CHUNK);
		size_t start = 0, i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			img_seterr_errno("read error");
			goto out;
		}
		len += (size_t)n;
		for (i = 0; i < len; i++) {
			if (buf[i] != '\n')
				continue;
			if (img_delta_have_line(have, buf + start, i - start, lineno++) < 0)
				goto out;
			start = i + 1;
		}
		if (n == 0) {   /* the last line may lack its newline */
			rc = img_delta_have_line(have, buf + start, len - start, lineno);
			goto out;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len > HAVE_LINE_MAX) {
			img_seterr("line %lu: not a digest", lineno);
			goto out;
		}
	}
out:
	free(buf);
	return rc;
}

void img_delta_add(struct img_delta *m, const struct img_digest *d, int64_t size)
{
	int isnew;
	struct img_dset_entry *e = img_dset_add(&m->set, d, &isnew);

	if (!isnew)
		return;
	IMG_GROW(m->size, m->set.n, m->size_cap);
	m->size[e - m->set.e] = size;
}

struct img_dset_entry *img_delta_find(const struct img_delta *m, const struct img_digest *d,
                                      int64_t *size)
{
	struct img_dset_entry *e = img_dset_find(&m->set, d);

	if (e && size)
		*size = m->size[e - m->set.e];
	return e;
}

void img_delta_clear(struct img_delta *m)
{
	img_dset_clear(&m->set);
	free(m->size);
	memset(m, 0, sizeof *m);
}

static const struct img_delta *sort_m;   /* for qsort's comparator */

static int idx_cmp(const void *a, const void *b)
{
	return strcmp(sort_m->set.e[*(const size_t *)a].d.str, sort_m->set.e[*(const size_t *)b].d.str);
}

char *img_delta_format(const struct img_delta *m)
{
	size_t *order = xreallocarray(NULL, m->set.n + 1, sizeof *order), len = 0, cap = 0, i;
	char *s = NULL;

	for (i = 0; i < m->set.n; i++)
		order[i] = i;
	sort_m = m;
	qsort(order, m->set.n, sizeof *order, idx_cmp);
	sort_m = NULL;
	IMG_GROW(s, 1, cap);
	s[0] = '\0';
	for (i = 0; i < m->set.n; i++) {
		char item[sizeof m->set.e[0].d.str + 32];
		int n = snprintf(item, sizeof item, "%s%s=%lld", i ? "," : "", m->set.e[order[i]].d.str,
		                 (long long)m->size[order[i]]);

		IMG_GROW(s, len + (size_t)n + 1, cap);
		memcpy(s + len, item, (size_t)n + 1);
		len += (size_t)n;
	}
	free(order);
	return s;
}

int img_delta_parse(const char *value, struct img_delta *m)
{
	const char *p = value;
	struct img_digest prev = { 0 };
	size_t count = 0;

	img_delta_clear(m);
	while (*p) {
		const char *eq = strchr(p, '='), *end;
		char dbuf[sizeof prev.str];
		struct img_digest d;
		int64_t size = 0;

		if (!eq || (size_t)(eq - p) >= sizeof dbuf) {
			img_seterr("item %zu: not DIGEST=SIZE", count + 1);
			goto fail;
		}
		memcpy(dbuf, p, (size_t)(eq - p));
		dbuf[eq - p] = '\0';
		if (img_digest_parse(dbuf, &d) < 0) {
			img_seterr("item %zu: invalid digest '%s'", count + 1, img_util_shown(dbuf));
			goto fail;
		}
		for (end = eq + 1; *end >= '0' && *end <= '9'; end++) {
			size = size * 10 + (*end - '0');
			if (size > IMG_MAX_SIZE)
				break;
		}
		if (end == eq + 1 || (eq[1] == '0' && end - eq > 2) || size > IMG_MAX_SIZE ||
		    (*end && *end != ',') || (*end == ',' && !end[1])) {
			img_seterr("item %zu (%s): invalid size", count + 1, d.str);
			goto fail;
		}
		if (count && strcmp(prev.str, d.str) >= 0) {
			img_seterr("item %zu (%s): not sorted by digest, or twice", count + 1, d.str);
			goto fail;
		}
		img_delta_add(m, &d, size);
		prev = d;
		count++;
		p = *end ? end + 1 : end;
	}
	return 0;
fail:
	img_delta_clear(m);
	return -1;
}

void img_delta_annotate(json_t *index, const struct img_delta *m)
{
	json_t *ann;
	char *v;

	if (m->set.n == 0)
		return;
	ann = json_object_get(index, "annotations");
	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(index, "annotations", ann);
	}
	v = img_delta_format(m);
	json_object_set_new(ann, IMG_ANN_DELTA_MISSING, json_string(v));
	free(v);
}

int img_delta_from_index(json_t *index, struct img_delta *m)
{
	json_t *ann = json_is_object(index) ? json_object_get(index, "annotations") : NULL, *v;

	img_delta_clear(m);
	v = json_is_object(ann) ? json_object_get(ann, IMG_ANN_DELTA_MISSING) : NULL;
	if (!v)
		return 0;
	if (!json_is_string(v)) {
		img_seterr("annotation %s is not a string", IMG_ANN_DELTA_MISSING);
		return -1;
	}
	if (img_delta_parse(json_string_value(v), m) < 0) {
		img_seterr_prefix("annotation %s", IMG_ANN_DELTA_MISSING);
		return -1;
	}
	return m->set.n > 0;
}

char *img_delta_list(const struct img_delta *m, unsigned flag)
{
	size_t len = 0, cap = 0, i;
	char *s = NULL;

	IMG_GROW(s, 1, cap);
	s[0] = '\0';
	for (i = 0; i < m->set.n; i++) {
		const char *d = m->set.e[i].d.str;
		size_t n = strlen(d);

		if ((m->set.e[i].flags & flag) != flag)
			continue;
		IMG_GROW(s, len + n + 3, cap);
		if (len) {
			memcpy(s + len, ", ", 2);
			len += 2;
		}
		memcpy(s + len, d, n + 1);
		len += n;
	}
	return s;
}
