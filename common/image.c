/* image: media types, descriptors, manifests, indexes, configs, platforms (formats.md §2). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "util.h"
#include "digest.h"
#include "json.h"
#include "image.h"

/* ---- media types ---- */

static const struct {
	const char *mt;
	enum img_kind kind;
} media_types[] = {
	{ IMG_MT_OCI_MANIFEST, IMG_KIND_MANIFEST },
	{ IMG_MT_DOCKER_MANIFEST, IMG_KIND_MANIFEST },
	{ IMG_MT_OCI_INDEX, IMG_KIND_INDEX },
	{ IMG_MT_DOCKER_LIST, IMG_KIND_INDEX },
	{ IMG_MT_OCI_CONFIG, IMG_KIND_CONFIG },
	{ IMG_MT_DOCKER_CONFIG, IMG_KIND_CONFIG },
	{ IMG_MT_OCI_LAYER, IMG_KIND_LAYER },
	{ IMG_MT_OCI_LAYER_GZIP, IMG_KIND_LAYER },
	{ IMG_MT_OCI_LAYER_ZSTD, IMG_KIND_LAYER },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_KIND_LAYER },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_KIND_LAYER },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_KIND_LAYER },
	{ IMG_MT_DOCKER_LAYER, IMG_KIND_LAYER },
	{ IMG_MT_DOCKER_LAYER_GZIP, IMG_KIND_LAYER },
	{ "application/vnd.docker.image.rootfs.diff.tar.zstd", IMG_KIND_LAYER },
	{ "application/vnd.docker.image.rootfs.foreign.diff.tar", IMG_KIND_LAYER },
	{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_KIND_LAYER },
};

enum img_kind img_image_mt_kind(const char *media_type)
{
	size_t i;

	if (!media_type)
		return IMG_KIND_OTHER;
	for (i = 0; i < sizeof(media_types) / sizeof(media_types[0]); i++)
		if (strcmp(media_type, media_types[i].mt) == 0)
			return media_types[i].kind;
	return IMG_KIND_OTHER;
}

/* RFC 6838 as the OCI schema writes it:
 * ^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$ */
static int mt_part(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > 127)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 1; i < n; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (!strchr("!#$&^_.+-", c) || c == '\0')
			return 0;
	}
	return 1;
}

static int mt_valid(const char *s)
{
	const char *slash = strchr(s, '/');

	if (!slash)
		return 0;
	return mt_part(s, (size_t)(slash - s)) && mt_part(slash + 1, strlen(slash + 1));
}

/* ---- platforms ---- */

static int plat_word(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* containerd/platforms normalization (formats.md §2.3). */
static void plat_normalize(struct img_platform *p)
{
	char *a = p->arch, *v = p->variant;

	lower(p->os);
	if (strcmp(p->os, "macos") == 0)
		strcpy(p->os, "darwin");
	lower(a);
	if (strcmp(a, "i386") == 0) {
		strcpy(a, "386");
		v[0] = '\0';
	} else if (strcmp(a, "x86_64") == 0 || strcmp(a, "x86-64") == 0 || strcmp(a, "amd64") == 0) {
		strcpy(a, "amd64");
		if (strcmp(v, "v1") == 0)
			v[0] = '\0';
	} else if (strcmp(a, "aarch64") == 0 || strcmp(a, "arm64") == 0) {
		strcpy(a, "arm64");
		if (strcmp(v, "8") == 0 || strcmp(v, "v8") == 0 || strcmp(v, "v8.0") == 0)
			v[0] = '\0';
		else if (strcmp(v, "9") == 0 || strcmp(v, "9.0") == 0 || strcmp(v, "v9.0") == 0)
			strcpy(v, "v9");
	} else if (strcmp(a, "armhf") == 0) {
		strcpy(a, "arm");
		strcpy(v, "v7");
	} else if (strcmp(a, "armel") == 0) {
		strcpy(a, "arm");
		strcpy(v, "v6");
	} else if (strcmp(a, "arm") == 0) {
		if (v[0] == '\0' || strcmp(v, "7") == 0)
			strcpy(v, "v7");
		else if (strcmp(v, "5") == 0 || strcmp(v, "6") == 0 || strcmp(v, "8") == 0) {
			char d = v[0];
			v[0] = 'v';
			v[1] = d;
			v[2] = '\0';
		}
	}
}

static int plat_set(char *dst, size_t cap, const char *src, size_t n, const char *what,
                    const char *whole)
{
	if (!plat_word(src, n) || n >= cap) {
		img_seterr("invalid platform '%s': bad %s", whole, what);
		return -1;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static const char *const known_os[] = {
	"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux",
	"netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "macos",
};

int img_image_platform_parse(const char *s, struct img_platform *p)
{
	const char *parts[3];
	size_t lens[3], np = 0;
	const char *c = s, *slash;
	struct img_platform host;

	memset(p, 0, sizeof(*p));
	if (!s || !*s) {
		img_seterr("invalid platform '': empty");
		return -1;
	}
	for (;;) {
		if (np == 3) {
			img_seterr("invalid platform '%s': too many components", s);
			return -1;
		}
		slash = strchr(c, '/');
		parts[np] = c;
		lens[np] = slash ? (size_t)(slash - c) : strlen(c);
		np++;
		if (!slash)
			break;
		c = slash + 1;
	}
	if (np == 1) {
		size_t i;
		int is_os = 0;
		for (i = 0; i < sizeof(known_os) / sizeof(known_os[0]); i++)
			if (strlen(known_os[i]) == lens[0] && strncasecmp(known_os[i], parts[0], lens[0]) == 0)
				is_os = 1;
		if (is_os) {
			img_image_platform_host(&host);
			if (plat_set(p->os, sizeof(p->os), parts[0], lens[0], "os", s) < 0)
				return -1;
			strcpy(p->arch, host.arch);
			strcpy(p->variant, host.variant);
		} else {
			strcpy(p->os, "linux");
			if (plat_set(p->arch, sizeof(p->arch), parts[0], lens[0], "architecture", s) < 0)
				return -1;
		}
	} else {
		if (plat_set(p->os, sizeof(p->os), parts[0], lens[0], "os", s) < 0 ||
		    plat_set(p->arch, sizeof(p->arch), parts[1], lens[1], "architecture", s) < 0)
			return -1;
		if (np == 3 && plat_set(p->variant, sizeof(p->variant), parts[2], lens[2], "variant", s) < 0)
			return -1;
	}
	plat_normalize(p);
	return 0;
}

void img_image_platform_host(struct img_platform *p)
{
	struct utsname u;

	memset(p, 0, sizeof(*p));
	strcpy(p->os, "linux");
	if (uname(&u) == 0 && plat_word(u.machine, strlen(u.machine)) &&
	    strlen(u.machine) < sizeof(p->arch)) {
		const char *m = u.machine;
		if (strcmp(m, "armv7l") == 0 || strcmp(m, "armv7") == 0)
			strcpy(p->arch, "armhf");
		else if (strcmp(m, "armv6l") == 0)
			strcpy(p->arch, "armel");
		else if (strcmp(m, "armv5tel") == 0 || strcmp(m, "armv5l") == 0) {
			strcpy(p->arch, "arm");
			strcpy(p->variant, "v5");
		} else if (strcmp(m, "i686") == 0 || strcmp(m, "i586") == 0 || strcmp(m, "i486") == 0)
			strcpy(p->arch, "386");
		else
			strcpy(p->arch, m);   /* x86_64, aarch64, ppc64le, s390x, riscv64... */
	} else {
#if defined(__x86_64__)
		strcpy(p->arch, "amd64");
#elif defined(__aarch64__)
		strcpy(p->arch, "arm64");
#else
		strcpy(p->arch, "unknown");
#endif
	}
	plat_normalize(p);
}

const char *img_image_platform_format(const struct img_platform *p, char *buf, size_t len)
{
	if (p->variant[0])
		snprintf(buf, len, "%s/%s/%s", p->os, p->arch, p->variant);
	else
		snprintf(buf, len, "%s/%s", p->os, p->arch);
	return buf;
}

/* "vN" -> N, "" -> dflt, else -1. */
static int variant_level(const char *v, int dflt)
{
	char *end;
	long n;

	if (!v[0])
		return dflt;
	if (v[0] != 'v' || v[1] < '0' || v[1] > '9')
		return -1;
	n = strtol(v + 1, &end, 10);
	if (*end || n > 1000)
		return -1;
	return (int)n;
}

/* arm64 "vM[.m]" -> M*100+m, "" -> 800. */
static int arm64_level(const char *v)
{
	char *end;
	long maj, min = 0;

	if (!v[0])
		return 800;
	if (v[0] != 'v' || v[1] < '0' || v[1] > '9')
		return -1;
	maj = strtol(v + 1, &end, 10);
	if (*end == '.') {
		if (end[1] < '0' || end[1] > '9')
			return -1;
		min = strtol(end + 1, &end, 10);
	}
	if (*end || maj > 100 || min > 99)
		return -1;
	return (int)(maj * 100 + min);
}

static int osversion_match(const char *want, const char *have)
{
	size_t n = strlen(want);

	if (!want[0] || !have[0])
		return 1;
	if (strncmp(want, have, n) == 0 && (have[n] == '\0' || have[n] == '.'))
		return 1;
	n = strlen(have);
	return strncmp(want, have, n) == 0 && want[n] == '.';
}

int img_image_platform_match(const struct img_platform *want, const struct img_platform *have)
{
	int w, h;

	if (strcmp(want->os, have->os) != 0)
		return 0;
	if (strcmp(want->os, "windows") == 0 && !osversion_match(want->osversion, have->osversion))
		return 0;
	if (strcmp(want->arch, have->arch) == 0) {
		if (strcmp(want->variant, have->variant) == 0)
			return 1;
		if (strcmp(want->arch, "amd64") == 0) {
			w = variant_level(want->variant, 1);
			h = variant_level(have->variant, 1);
			return w > 0 && h > 0 && h <= w;
		}
		if (strcmp(want->arch, "arm") == 0) {
			w = variant_level(want->variant, 7);
			h = variant_level(have->variant, 7);
			return w > 0 && h >= 5 && h <= w;
		}
		if (strcmp(want->arch, "arm64") == 0) {
			w = arm64_level(want->variant);
			h = arm64_level(have->variant);
			return w > 0 && h > 0 && h <= w;
		}
		return 0;
	}
	if (strcmp(want->arch, "amd64") == 0 && strcmp(have->arch, "386") == 0)
		return 1;
	return 0;
}

static int plat_field(json_t *obj, const char *key, char *dst, size_t cap, int required)
{
	const char *v;
	int r = img_json_str(obj, key, &v);

	if (r < 0)
		return -1;
	if (r > 0) {
		if (required) {
			img_seterr("platform: missing '%s'", key);
			return -1;
		}
		dst[0] = '\0';
		return 0;
	}
	if (!required && !*v) {
		dst[0] = '\0';
		return 0;
	}
	if (!plat_word(v, strlen(v)) || strlen(v) >= cap) {
		img_seterr("platform: invalid '%s'", key);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

int img_image_platform_from_json(json_t *obj, struct img_platform *p)
{
	memset(p, 0, sizeof(*p));
	if (!json_is_object(obj)) {
		img_seterr("platform: not an object");
		return -1;
	}
	if (plat_field(obj, "architecture", p->arch, sizeof(p->arch), 1) < 0 ||
	    plat_field(obj, "os", p->os, sizeof(p->os), 1) < 0 ||
	    plat_field(obj, "variant", p->variant, sizeof(p->variant), 0) < 0 ||
	    plat_field(obj, "os.version", p->osversion, sizeof(p->osversion), 0) < 0)
		return -1;
	plat_normalize(p);
	return 0;
}

/* ---- descriptors ---- */

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Decode standard base64 (padding required). New buffer or NULL when invalid. */
static unsigned char *b64decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s), i, o = 0;
	unsigned char *out;

	if (n % 4)
		return NULL;
	out = xmalloc(n / 4 * 3 + 1);
	for (i = 0; i < n; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]), c, d;
		int last = i + 4 == n;
		if (a < 0 || b < 0)
			goto bad;
		out[o++] = (unsigned char)(a << 2 | b >> 4);
		if (last && s[i + 2] == '=') {
			if (s[i + 3] != '=' || (b & 15))
				goto bad;
			break;
		}
		c = b64val(s[i + 2]);
		if (c < 0)
			goto bad;
		out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
		if (last && s[i + 3] == '=') {
			if (c & 3)
				goto bad;
			break;
		}
		d = b64val(s[i + 3]);
		if (d < 0)
			goto bad;
		out[o++] = (unsigned char)((c & 3) << 6 | d);
	}
	*outlen = o;
	return out;
bad:
	free(out);
	return NULL;
}

int img_image_desc_parse(json_t *obj, struct img_desc *d)
{
	const char *mt, *dg, *data;
	json_t *ann, *plat, *urls, *v;
	const char *key;
	size_t i;
	int r;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(obj)) {
		img_seterr("descriptor is not an object");
		return -1;
	}
	r = img_json_str(obj, "mediaType", &mt);
	if (r < 0)
		return -1;
	if (r > 0) {
		img_seterr("descriptor: missing 'mediaType'");
		return -1;
	}
	if (!mt_valid(mt)) {
		char *e = img_util_escape_cut(mt);
		img_seterr("descriptor: invalid mediaType '%s'", e);
		free(e);
		return -1;
	}
	r = img_json_str(obj, "digest", &dg);
	if (r < 0)
		return -1;
	if (r > 0) {
		img_seterr("descriptor: missing 'digest'");
		return -1;
	}
	if (img_digest_parse(dg, &d->digest) < 0)
		return -1;
	r = img_json_int(obj, "size", &d->size);
	if (r < 0)
		return -1;
	if (r > 0) {
		img_seterr("descriptor %s: missing 'size'", d->digest.str);
		return -1;
	}
	if (d->size < 0 || d->size > IMG_MAX_SIZE) {
		img_seterr("descriptor %s: invalid size", d->digest.str);
		return -1;
	}
	r = img_json_obj(obj, "annotations", &ann);
	if (r < 0)
		return -1;
	if (r == 0) {
		json_object_foreach(ann, key, v) {
			if (!json_is_string(v)) {
				img_seterr("descriptor %s: annotation '%s' is not a string", d->digest.str, key);
				return -1;
			}
		}
	}
	r = img_json_arr(obj, "urls", &urls);
	if (r < 0)
		return -1;
	if (r == 0) {
		json_array_foreach(urls, i, v) {
			if (!json_is_string(v)) {
				img_seterr("descriptor %s: 'urls' holds a non-string", d->digest.str);
				return -1;
			}
		}
	}
	r = img_json_obj(obj, "platform", &plat);
	if (r < 0)
		return -1;
	if (r == 0) {
		if (img_image_platform_from_json(plat, &d->platform) < 0) {
			img_seterr_prefix("descriptor %s", d->digest.str);
			return -1;
		}
		d->has_platform = 1;
	}
	r = img_json_str(obj, "data", &data);
	if (r < 0)
		return -1;
	if (r == 0) {
		size_t n;
		unsigned char *bytes = b64decode(data, &n);
		struct img_hash *h;
		struct img_digest got;

		if (!bytes) {
			img_seterr("descriptor %s: invalid base64 in 'data'", d->digest.str);
			return -1;
		}
		if ((int64_t)n != d->size) {
			free(bytes);
			img_seterr("descriptor %s: 'data' has %zu bytes, size is %lld", d->digest.str,
			           n, (long long)d->size);
			return -1;
		}
		h = img_digest_hash_new(d->digest.alg);
		if (!h) {
			free(bytes);
			return -1;
		}
		img_digest_hash_update(h, bytes, n);
		img_digest_hash_final(h, &got);
		img_digest_hash_free(h);
		free(bytes);
		if (!img_digest_eq(&got, &d->digest)) {
			img_seterr("descriptor %s: 'data' digest mismatch (got %s)", d->digest.str, got.str);
			return -1;
		}
	}
	d->media_type = mt;
	d->json = obj;
	return 0;
}

json_t *img_image_desc_new(const char *media_type, const struct img_digest *d, int64_t size)
{
	json_t *o = json_object();

	json_object_set_new(o, "mediaType", json_string(media_type));
	json_object_set_new(o, "digest", json_string(d->str));
	json_object_set_new(o, "size", json_integer((json_int_t)size));
	return o;
}

int img_image_layout_index(json_t *j)
{
	const char *mt;
	json_t *m;
	int64_t sv;
	int r;

	if (!json_is_object(j))
		return img_fail("not a JSON object");
	if (img_json_int(j, "schemaVersion", &sv) != 0 || sv != 2)
		return img_fail("schemaVersion is not 2");
	if ((r = img_json_str(j, "mediaType", &mt)) < 0 ||
	    (r == 0 && strcmp(mt, IMG_MT_OCI_INDEX) != 0))
		return img_fail("mediaType is not an OCI index");
	if (img_json_arr(j, "manifests", &m) != 0)
		return img_fail("'manifests' is not an array");
	if (json_object_get(j, "config") || json_object_get(j, "layers"))
		return img_fail("has 'config' or 'layers'");
	return 0;
}

const char *const img_manifest_json_keys[] = { "Config", "RepoTags", "Layers", "LayerSources", NULL };

int img_image_desc_not_image(const struct img_desc *d)
{
	const char *t = img_image_desc_annotation(d, "vnd.docker.reference.type");

	if (t && strcmp(t, "attestation-manifest") == 0)
		return 1;
	if (d->has_platform && (strcmp(d->platform.os, "unknown") == 0 ||
	                        strcmp(d->platform.arch, "unknown") == 0))
		return 1;
	if (d->json && json_is_string(json_object_get(d->json, "artifactType")))
		return 1;
	if (img_image_desc_annotation(d, "io.containerd.manifest.subject"))
		return 1;
	return 0;
}

int img_image_platform_rank(const struct img_desc *d, const struct img_platform *want)
{
	enum img_kind k = img_image_mt_kind(d->media_type);

	if ((k != IMG_KIND_MANIFEST && k != IMG_KIND_INDEX) || img_image_desc_not_image(d))
		return 0;
	if (!d->has_platform)
		return 1;
	if (strcmp(d->platform.os, want->os) == 0 && strcmp(d->platform.arch, want->arch) == 0 &&
	    strcmp(d->platform.variant, want->variant) == 0)
		return 3;
	return img_image_platform_match(want, &d->platform) ? 2 : 0;
}

long img_image_index_pick(const struct img_doc *idx, const struct img_platform *want,
                          int (*usable)(void *arg, const struct img_desc *d), void *arg)
{
	long best = -1;
	int best_rank = 0;

	for (size_t i = 0; i < idx->n; i++) {
		int r = img_image_platform_rank(&idx->items[i], want);
		if (r > best_rank && (!usable || usable(arg, &idx->items[i]))) {
			best_rank = r;
			best = (long)i;
		}
	}
	return best;
}

const char *img_image_desc_annotation(const struct img_desc *d, const char *key)
{
	json_t *ann, *v;

	if (!d->json)
		return NULL;
	ann = json_object_get(d->json, "annotations");
	if (!json_is_object(ann))
		return NULL;
	v = json_object_get(ann, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- manifests and indexes ---- */

void img_image_doc_release(struct img_doc *doc)
{
	if (!doc)
		return;
	free(doc->items);
	if (doc->root)
		json_decref(doc->root);
	memset(doc, 0, sizeof(*doc));
}

static int present(json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);
	return v && !json_is_null(v);
}

static int desc_array(json_t *root, const char *key, int required, struct img_doc *doc)
{
	json_t *arr, *v;
	size_t i;
	int r = img_json_arr(root, key, &arr);

	if (r < 0)
		return -1;
	if (r > 0) {
		if (required) {
			img_seterr("missing '%s'", key);
			return -1;
		}
		return 0;
	}
	doc->n = json_array_size(arr);
	doc->items = xcalloc(doc->n ? doc->n : 1, sizeof(*doc->items));
	json_array_foreach(arr, i, v) {
		if (img_image_desc_parse(v, &doc->items[i]) < 0) {
			img_seterr_prefix("%s[%zu]", key, i);
			return -1;
		}
	}
	return 0;
}

#define SCHEMA1_PREFIX "application/vnd.docker.distribution.manifest.v1"

int img_image_doc_parse(const void *buf, size_t len, const char *expect_mt, struct img_doc *doc)
{
	json_t *root, *cfg;
	const char *mt = NULL, *cmt;
	int64_t sv;
	int r, has_manifests, has_config, has_layers;
	enum img_kind kind;

	memset(doc, 0, sizeof(*doc));
	if (len > IMG_JSON_MAX_BLOB) {
		img_seterr("manifest larger than %u bytes", IMG_JSON_MAX_BLOB);
		return -1;
	}
	root = img_json_parse(buf, len, IMG_JSON_MAX_BLOB);
	if (!root)
		return -1;
	doc->root = root;
	if (!json_is_object(root)) {
		img_seterr("manifest is not a JSON object");
		goto fail;
	}
	r = img_json_int(root, "schemaVersion", &sv);
	if (r < 0)
		goto fail;
	if (r > 0) {
		img_seterr("manifest: missing 'schemaVersion'");
		goto fail;
	}
	if (sv == 1) {
		img_seterr("docker schema 1 manifests are not supported");
		goto fail;
	}
	if (sv != 2) {
		img_seterr("manifest: unsupported schemaVersion %lld", (long long)sv);
		goto fail;
	}
	if (img_json_str(root, "mediaType", &mt) < 0)
		goto fail;
	has_manifests = present(root, "manifests");
	has_config = present(root, "config");
	has_layers = present(root, "layers");
	if (has_manifests && (has_config || has_layers)) {
		img_seterr("manifest has both 'manifests' and 'config'/'layers'");
		goto fail;
	}
	if (mt) {
		if (expect_mt && strcmp(mt, expect_mt) != 0) {
			char *e = img_util_escape_cut(mt);
			img_seterr("manifest mediaType '%s' differs from its descriptor's '%s'", e, expect_mt);
			free(e);
			goto fail;
		}
		kind = img_image_mt_kind(mt);
		if (strncmp(mt, SCHEMA1_PREFIX, sizeof(SCHEMA1_PREFIX) - 1) == 0) {
			img_seterr("docker schema 1 manifests are not supported");
			goto fail;
		}
	} else if (expect_mt) {
		kind = img_image_mt_kind(expect_mt);
		mt = expect_mt;
	} else if (has_manifests) {
		kind = IMG_KIND_INDEX;
		mt = IMG_MT_OCI_INDEX;
	} else if (has_config) {
		kind = IMG_KIND_MANIFEST;
		mt = IMG_MT_OCI_MANIFEST;
		cfg = json_object_get(root, "config");
		cmt = json_is_object(cfg) ? json_string_value(json_object_get(cfg, "mediaType")) : NULL;
		if (cmt && strcmp(cmt, IMG_MT_DOCKER_CONFIG) == 0)
			mt = IMG_MT_DOCKER_MANIFEST;
	} else {
		img_seterr("cannot tell the manifest type (no 'mediaType', 'manifests' or 'config')");
		goto fail;
	}
	if (kind != IMG_KIND_MANIFEST && kind != IMG_KIND_INDEX) {
		char *e = img_util_escape_cut(mt);
		img_seterr("unsupported manifest mediaType '%s'", e);
		free(e);
		goto fail;
	}
	doc->kind = kind;
	doc->media_type = mt;
	if (kind == IMG_KIND_INDEX) {
		if (has_config || has_layers) {
			img_seterr("image index has 'config' or 'layers'");
			goto fail;
		}
		if (desc_array(root, "manifests", 1, doc) < 0)
			goto fail;
	} else {
		if (has_manifests) {
			img_seterr("image manifest has 'manifests'");
			goto fail;
		}
		cfg = NULL;
		r = img_json_obj(root, "config", &cfg);
		if (r < 0)
			goto fail;
		if (r > 0) {
			img_seterr("manifest: missing 'config'");
			goto fail;
		}
		if (img_image_desc_parse(cfg, &doc->config) < 0) {
			img_seterr_prefix("config");
			goto fail;
		}
		if (desc_array(root, "layers", 0, doc) < 0)
			goto fail;
	}
	if (present(root, "subject")) {
		json_t *sub;
		if (img_json_obj(root, "subject", &sub) < 0)
			goto fail;
		if (img_image_desc_parse(sub, &doc->subject) < 0) {
			img_seterr_prefix("subject");
			goto fail;
		}
		doc->has_subject = 1;
	}
	if (present(root, "annotations")) {
		json_t *ann, *v;
		const char *key;
		if (img_json_obj(root, "annotations", &ann) < 0)
			goto fail;
		json_object_foreach(ann, key, v) {
			if (!json_is_string(v)) {
				img_seterr("manifest annotation '%s' is not a string", key);
				goto fail;
			}
		}
	}
	return 0;
fail:
	img_image_doc_release(doc);
	return -1;
}

/* ---- configs ---- */

void img_image_config_release(struct img_config *c)
{
	if (!c)
		return;
	free(c->diff_ids);
	if (c->root)
		json_decref(c->root);
	memset(c, 0, sizeof(*c));
}

int img_image_config_parse(const void *buf, size_t len, struct img_config *c)
{
	json_t *root, *rootfs, *ids, *v;
	const char *type, *s;
	size_t i;
	int r;

	memset(c, 0, sizeof(*c));
	if (len > IMG_JSON_MAX_BLOB) {
		img_seterr("config larger than %u bytes", IMG_JSON_MAX_BLOB);
		return -1;
	}
	root = img_json_parse(buf, len, IMG_JSON_MAX_BLOB);
	if (!root)
		return -1;
	c->root = root;
	if (!json_is_object(root)) {
		img_seterr("config is not a JSON object");
		goto fail;
	}
	if (img_image_platform_from_json(root, &c->platform) < 0) {
		img_seterr_prefix("config");
		goto fail;
	}
	r = img_json_obj(root, "rootfs", &rootfs);
	if (r < 0)
		goto fail;
	if (r > 0) {
		img_seterr("config: missing 'rootfs'");
		goto fail;
	}
	r = img_json_str(rootfs, "type", &type);
	if (r < 0)
		goto fail;
	if (r > 0 || strcmp(type, "layers") != 0) {
		img_seterr("config: rootfs.type is not \"layers\"");
		goto fail;
	}
	r = img_json_arr(rootfs, "diff_ids", &ids);
	if (r < 0)
		goto fail;
	if (r > 0) {
		img_seterr("config: missing 'rootfs.diff_ids'");
		goto fail;
	}
	c->ndiff = json_array_size(ids);
	c->diff_ids = xcalloc(c->ndiff ? c->ndiff : 1, sizeof(*c->diff_ids));
	json_array_foreach(ids, i, v) {
		if (!json_is_string(v)) {
			img_seterr("config: rootfs.diff_ids[%zu] is not a string", i);
			goto fail;
		}
		if (img_digest_parse(json_string_value(v), &c->diff_ids[i]) < 0) {
			img_seterr_prefix("config: rootfs.diff_ids[%zu]", i);
			goto fail;
		}
	}
	if (img_json_str(root, "created", &s) < 0)
		goto fail;
	c->created = (img_json_str(root, "created", &s) == 0) ? s : NULL;
	if (img_json_str(root, "author", &s) < 0)
		goto fail;
	if (img_json_arr(root, "history", &c->history) < 0)
		goto fail;
	if (c->history) {
		json_array_foreach(c->history, i, v) {
			if (!json_is_object(v)) {
				img_seterr("config: history[%zu] is not an object", i);
				goto fail;
			}
		}
	}
	if (img_json_obj(root, "config", &c->config) < 0)
		goto fail;
	return 0;
fail:
	img_image_config_release(c);
	return -1;
}

void img_image_chain_id(const struct img_digest *diff_ids, size_t n, struct img_digest *out)
{
	struct img_digest cur;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	cur = diff_ids[0];
	for (i = 1; i < n; i++) {
		char *s = xasprintf("%s %s", cur.str, diff_ids[i].str);
		img_digest_buf(s, strlen(s), &cur);
		free(s);
	}
	*out = cur;
}
