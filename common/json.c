/* json: strict parsing (size cap, no duplicate keys, depth cap, UTF-8) and typed accessors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json.h"
#include "util.h"

static int depth_ok(const json_t *j, int depth)
{
	size_t i;
	const char *k;
	json_t *v;

	if (depth > IMG_JSON_MAX_DEPTH) return 0;
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if (!depth_ok(v, depth + 1)) return 0;
	} else if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v)
			if (!depth_ok(v, depth + 1)) return 0;
	}
	return 1;
}

json_t *img_json_parse(const void *buf, size_t len, size_t cap)
{
	json_error_t e;
	json_t *j;

	if (len > cap) {
		img_seterr("JSON document larger than %zu bytes", cap);
		return NULL;
	}
	if (memchr(buf, 0, len)) {
		img_seterr("JSON document contains a NUL byte");
		return NULL;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		img_seterr("invalid JSON: %s (line %d, column %d)", e.text, e.line, e.column);
		return NULL;
	}
	if (!depth_ok(j, 1)) {
		json_decref(j);
		img_seterr("JSON nested deeper than %d levels", IMG_JSON_MAX_DEPTH);
		return NULL;
	}
	return j;
}

int img_json_read_capped(int fd, size_t cap, char **bufp, size_t *lenp)
{
	size_t len = 0, size = 65536;
	char *buf = xmalloc(size);
	ssize_t r;

	for (;;) {
		if (len == size) {
			if (size > cap) break;
			size *= 2;
			buf = xrealloc(buf, size);
		}
		r = read(fd, buf + len, size - len);
		if (r < 0) {
			if (errno == EINTR) continue;
			img_seterr_errno("read");
			free(buf);
			return -1;
		}
		if (r == 0) break;
		len += (size_t)r;
		if (len > cap) break;
	}
	if (len > cap) {
		free(buf);
		img_seterr("larger than %zu bytes", cap);
		errno = EFBIG;
		return -1;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

json_t *img_json_parse_fd(int fd, size_t cap)
{
	char *buf;
	size_t len;
	json_t *j;

	if (img_json_read_capped(fd, cap, &buf, &len) < 0) {
		if (errno == EFBIG) img_seterr("JSON document larger than %zu bytes", cap);
		return NULL;
	}
	j = img_json_parse(buf, len, cap);
	free(buf);
	return j;
}

static int get(json_t *obj, const char *key, json_t **v)
{
	if (!json_is_object(obj)) {
		img_seterr("'%s': parent is not an object", key);
		return -1;
	}
	*v = json_object_get(obj, key);
	if (!*v || json_is_null(*v)) return 1;
	return 0;
}

int img_json_str(json_t *obj, const char *key, const char **out)
{
	json_t *v;
	int r = get(obj, key, &v);
	if (r) return r;
	if (!json_is_string(v)) {
		img_seterr("'%s' is not a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int img_json_int(json_t *obj, const char *key, int64_t *out)
{
	json_t *v;
	json_int_t i;
	int r = get(obj, key, &v);
	if (r) return r;
	if (!json_is_integer(v)) {
		img_seterr("'%s' is not an integer", key);
		return -1;
	}
	i = json_integer_value(v);
	if (i < 0 || i > IMG_MAX_SIZE) {
		img_seterr("'%s' out of range (%lld)", key, (long long)i);
		return -1;
	}
	*out = (int64_t)i;
	return 0;
}

int img_json_obj(json_t *obj, const char *key, json_t **out)
{
	json_t *v;
	int r = get(obj, key, &v);
	if (r) return r;
	if (!json_is_object(v)) {
		img_seterr("'%s' is not an object", key);
		return -1;
	}
	*out = v;
	return 0;
}

int img_json_arr(json_t *obj, const char *key, json_t **out)
{
	json_t *v;
	int r = get(obj, key, &v);
	if (r) return r;
	if (!json_is_array(v)) {
		img_seterr("'%s' is not an array", key);
		return -1;
	}
	*out = v;
	return 0;
}

char *img_json_dump(const json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (!s)
		img_util_die_oom();
	if (len) *len = strlen(s);
	return s;
}

void img_json_fold_keys(json_t *obj, const char *const *keys)
{
	for (; *keys; keys++) {
		const char *k;
		json_t *v;
		if (!json_is_object(obj) || json_object_get(obj, *keys))
			continue;
		json_object_foreach(obj, k, v) {
			if (strcasecmp(k, *keys) == 0) {
				json_object_set(obj, *keys, v);
				break;
			}
		}
	}
}

/* Length of the UTF-8 sequence at s (n bytes left), or 0 when it is not valid UTF-8
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

json_t *img_json_string_lossy(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0;
	char *buf;
	json_t *j = json_string(s);

	if (j)
		return j;
	buf = xmalloc(3 * n + 1);
	while (i < n) {
		size_t l = utf8_len(p + i, n - i);
		if (l) {
			memcpy(buf + o, p + i, l);
			o += l;
			i += l;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	buf[o] = '\0';
	j = json_string(buf);
	free(buf);
	return j ? j : json_string("");
}
