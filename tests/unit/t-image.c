#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include <fcntl.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "json.h"
#include "image.h"

#define D1 "sha256:0a2a3122db41ea792d4559dc10729e941cf70e135918e319973882e369b7f293"
#define D2 "sha256:291532133922ff779c311f42482c9ac76ce61076beadbb66d1e682bf97fc9846"

static int doc(const char *s, const char *mt, struct img_doc *d)
{
	return img_image_doc_parse(s, strlen(s), mt, d);
}

TEST(image_mt_kind)
{
	static const struct { const char *mt; enum img_kind k; } t[] = {
		{ IMG_MT_OCI_MANIFEST, IMG_KIND_MANIFEST },
		{ IMG_MT_DOCKER_MANIFEST, IMG_KIND_MANIFEST },
		{ IMG_MT_OCI_INDEX, IMG_KIND_INDEX },
		{ IMG_MT_DOCKER_LIST, IMG_KIND_INDEX },
		{ IMG_MT_OCI_CONFIG, IMG_KIND_CONFIG },
		{ IMG_MT_DOCKER_CONFIG, IMG_KIND_CONFIG },
		{ IMG_MT_OCI_LAYER, IMG_KIND_LAYER },
		{ IMG_MT_OCI_LAYER_GZIP, IMG_KIND_LAYER },
		{ IMG_MT_OCI_LAYER_ZSTD, IMG_KIND_LAYER },
		{ IMG_MT_DOCKER_LAYER, IMG_KIND_LAYER },
		{ IMG_MT_DOCKER_LAYER_GZIP, IMG_KIND_LAYER },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_KIND_LAYER },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_KIND_LAYER },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_KIND_LAYER },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_KIND_LAYER },
		{ "application/vnd.docker.image.rootfs.diff.tar.zstd", IMG_KIND_LAYER },
		{ "application/vnd.oci.empty.v1+json", IMG_KIND_OTHER },
		{ "application/vnd.docker.distribution.manifest.v1+prettyjws", IMG_KIND_OTHER },
		{ "text/plain", IMG_KIND_OTHER },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		IMG_ASSERT_EQ_INT(img_image_mt_kind(t[i].mt), t[i].k);
	IMG_ASSERT_EQ_INT(img_image_mt_kind(NULL), IMG_KIND_OTHER);
}

TEST(image_platform_normalize)
{
	static const struct { const char *in, *out; } t[] = {
		{ "linux/x86_64", "linux/amd64" },
		{ "linux/x86-64", "linux/amd64" },
		{ "linux/amd64/v1", "linux/amd64" },
		{ "linux/amd64/v3", "linux/amd64/v3" },
		{ "linux/i386", "linux/386" },
		{ "linux/aarch64", "linux/arm64" },
		{ "linux/arm64/8", "linux/arm64" },
		{ "linux/arm64/v8", "linux/arm64" },
		{ "linux/arm64/v8.0", "linux/arm64" },
		{ "linux/arm64/9", "linux/arm64/v9" },
		{ "linux/arm64/9.0", "linux/arm64/v9" },
		{ "linux/arm64/v9.0", "linux/arm64/v9" },
		{ "linux/armhf", "linux/arm/v7" },
		{ "linux/armel", "linux/arm/v6" },
		{ "linux/arm", "linux/arm/v7" },
		{ "linux/arm/7", "linux/arm/v7" },
		{ "linux/arm/5", "linux/arm/v5" },
		{ "linux/arm/6", "linux/arm/v6" },
		{ "linux/arm/8", "linux/arm/v8" },
		{ "Linux/AMD64", "linux/amd64" },
		{ "arm64", "linux/arm64" },
		{ "windows/amd64", "windows/amd64" },
	};
	struct img_platform p;
	char buf[128];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		IMG_ASSERT_EQ_INT(img_image_platform_parse(t[i].in, &p), 0);
		IMG_ASSERT_EQ_STR(img_image_platform_format(&p, buf, sizeof buf), t[i].out);
	}
	static const char *bad[] = { "", "linux/", "/amd64", "linux/amd64/v8/x", "linux/am d64", "a/b/" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		IMG_ASSERT_EQ_INT(img_image_platform_parse(bad[i], &p), -1);

	json_t *j = json_pack("{s:s, s:s, s:s}", "architecture", "aarch64", "os", "linux", "variant", "v8");
	IMG_ASSERT_EQ_INT(img_image_platform_from_json(j, &p), 0);
	IMG_ASSERT_EQ_STR(img_image_platform_format(&p, buf, sizeof buf), "linux/arm64");
	json_decref(j);
	j = json_pack("{s:s}", "os", "linux");
	IMG_ASSERT_EQ_INT(img_image_platform_from_json(j, &p), -1);
	json_decref(j);

	img_image_platform_host(&p);
	IMG_ASSERT_EQ_STR(p.os, "linux");
	IMG_ASSERT(p.arch[0] != '\0');
#if defined(__x86_64__)
	IMG_ASSERT_EQ_STR(p.arch, "amd64");
#elif defined(__aarch64__)
	IMG_ASSERT_EQ_STR(p.arch, "arm64");
#endif
}

static int pm(const char *want, const char *have)
{
	struct img_platform w, h;
	if (img_image_platform_parse(want, &w) < 0 || img_image_platform_parse(have, &h) < 0)
		return -1;
	return img_image_platform_match(&w, &h);
}

TEST(image_platform_match)
{
	IMG_ASSERT_EQ_INT(pm("linux/amd64", "linux/amd64"), 1);
	IMG_ASSERT_EQ_INT(pm("linux/amd64", "linux/x86_64"), 1);
	IMG_ASSERT_EQ_INT(pm("linux/amd64", "linux/arm64"), 0);
	IMG_ASSERT_EQ_INT(pm("linux/amd64", "windows/amd64"), 0);
	IMG_ASSERT_EQ_INT(pm("linux/amd64", "linux/386"), 1);        /* fallback */
	IMG_ASSERT_EQ_INT(pm("linux/386", "linux/amd64"), 0);
	IMG_ASSERT_EQ_INT(pm("linux/amd64/v3", "linux/amd64/v2"), 1);
	IMG_ASSERT_EQ_INT(pm("linux/amd64/v3", "linux/amd64"), 1);
	IMG_ASSERT_EQ_INT(pm("linux/amd64/v2", "linux/amd64/v3"), 0);
	IMG_ASSERT_EQ_INT(pm("linux/amd64", "linux/amd64/v2"), 0);
	IMG_ASSERT_EQ_INT(pm("linux/arm64", "linux/arm64/v8"), 1);   /* v8 is the default */
	IMG_ASSERT_EQ_INT(pm("linux/arm64/v8", "linux/arm64"), 1);
	IMG_ASSERT_EQ_INT(pm("linux/arm64", "linux/arm64/v9"), 0);
	IMG_ASSERT_EQ_INT(pm("linux/arm64/v9", "linux/arm64"), 1);
	IMG_ASSERT_EQ_INT(pm("linux/arm/v7", "linux/arm/v6"), 1);
	IMG_ASSERT_EQ_INT(pm("linux/arm/v7", "linux/arm/v5"), 1);
	IMG_ASSERT_EQ_INT(pm("linux/arm/v6", "linux/arm/v7"), 0);
	IMG_ASSERT_EQ_INT(pm("linux/arm", "linux/armhf"), 1);
	IMG_ASSERT_EQ_INT(pm("linux/arm64", "linux/arm/v7"), 0);
	IMG_ASSERT_EQ_INT(pm("linux/amd64", "unknown/unknown"), 0);
}

TEST(image_desc_parse)
{
	struct img_desc d;
	json_t *j;

	j = json_pack("{s:s, s:s, s:i, s:{s:s}, s:{s:s, s:s}}", "mediaType", IMG_MT_OCI_MANIFEST,
	              "digest", D1, "size", 349, "annotations", "a", "b",
	              "platform", "os", "linux", "architecture", "x86_64");
	IMG_ASSERT_EQ_INT(img_image_desc_parse(j, &d), 0);
	IMG_ASSERT_EQ_STR(d.media_type, IMG_MT_OCI_MANIFEST);
	IMG_ASSERT_EQ_STR(d.digest.str, D1);
	IMG_ASSERT_EQ_INT(d.size, 349);
	IMG_ASSERT_EQ_INT(d.has_platform, 1);
	IMG_ASSERT_EQ_STR(d.platform.arch, "amd64");
	IMG_ASSERT_EQ_STR(img_image_desc_annotation(&d, "a"), "b");
	IMG_ASSERT(img_image_desc_annotation(&d, "zz") == NULL);
	json_decref(j);

	/* null optional fields are absent */
	j = json_pack("{s:s, s:s, s:i, s:n, s:n, s:n}", "mediaType", IMG_MT_OCI_MANIFEST,
	              "digest", D1, "size", 1, "annotations", "platform", "urls");
	IMG_ASSERT_EQ_INT(img_image_desc_parse(j, &d), 0);
	IMG_ASSERT_EQ_INT(d.has_platform, 0);
	json_decref(j);

	static const char *bad[] = {
		"{\"digest\":\"" D1 "\",\"size\":1}",
		"{\"mediaType\":\"nonsense\",\"digest\":\"" D1 "\",\"size\":1}",
		"{\"mediaType\":\"a/b c\",\"digest\":\"" D1 "\",\"size\":1}",
		"{\"mediaType\":\"/b\",\"digest\":\"" D1 "\",\"size\":1}",
		"{\"mediaType\":\"a/b\",\"digest\":\"sha256:../../x\",\"size\":1}",
		"{\"mediaType\":\"a/b\",\"size\":1}",
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\"}",
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":-1}",
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":9007199254740993}",
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":1.5}",
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":\"1\"}",
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":1,\"annotations\":{\"k\":1}}",
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":1,\"annotations\":[]}",
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}",
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":1,\"urls\":[1]}",
		/* data that does not hash to the digest */
		"{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":2,\"data\":\"e30=\"}",
		"[]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		j = json_loads(bad[i], 0, NULL);
		IMG_ASSERT(j != NULL);
		if (img_image_desc_parse(j, &d) != -1) {
			printf("# accepted: %s\n", bad[i]);
			json_decref(j);
			IMG_ASSERT(0);
		}
		json_decref(j);
	}
	/* data verified: "{}" is the empty descriptor */
	j = json_loads("{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":"
	               "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
	               "\"size\":2,\"data\":\"e30=\"}", 0, NULL);
	IMG_ASSERT_EQ_INT(img_image_desc_parse(j, &d), 0);
	json_decref(j);

	struct img_digest dg;
	IMG_ASSERT_EQ_INT(img_digest_parse(D2, &dg), 0);
	j = img_image_desc_new(IMG_MT_OCI_CONFIG, &dg, 488);
	IMG_ASSERT_EQ_INT(img_image_desc_parse(j, &d), 0);
	IMG_ASSERT_EQ_STR(d.media_type, IMG_MT_OCI_CONFIG);
	IMG_ASSERT_EQ_STR(d.digest.str, D2);
	IMG_ASSERT_EQ_INT(d.size, 488);
	json_decref(j);
}

#define CFG "{\"mediaType\":\"" IMG_MT_OCI_CONFIG "\",\"digest\":\"" D2 "\",\"size\":488}"
#define LAYER "{\"mediaType\":\"" IMG_MT_OCI_LAYER_GZIP "\",\"digest\":\"" D1 "\",\"size\":10}"

TEST(image_doc_parse_accepts)
{
	struct img_doc d;

	/* skopeo writes no mediaType: inferred from the config type */
	IMG_ASSERT_EQ_INT(doc("{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[" LAYER "]}",
	                      NULL, &d), 0);
	IMG_ASSERT_EQ_INT(d.kind, IMG_KIND_MANIFEST);
	IMG_ASSERT_EQ_STR(d.media_type, IMG_MT_OCI_MANIFEST);
	IMG_ASSERT_EQ_INT(d.n, 1);
	IMG_ASSERT_EQ_STR(d.items[0].digest.str, D1);
	IMG_ASSERT_EQ_STR(d.config.digest.str, D2);
	img_image_doc_release(&d);

	/* reached through an OCI manifest descriptor, no mediaType: fine */
	IMG_ASSERT_EQ_INT(doc("{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[]}",
	                      IMG_MT_OCI_MANIFEST, &d), 0);
	IMG_ASSERT_EQ_INT(d.n, 0);
	img_image_doc_release(&d);

	/* null optional fields */
	IMG_ASSERT_EQ_INT(doc("{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\","
	                      "\"config\":" CFG ",\"layers\":[" LAYER "],\"subject\":null,"
	                      "\"annotations\":null,\"artifactType\":null,\"manifests\":null}",
	                      IMG_MT_OCI_MANIFEST, &d), 0);
	IMG_ASSERT_EQ_INT(d.has_subject, 0);
	img_image_doc_release(&d);

	/* docker schema 2, inferred from the docker config type */
	IMG_ASSERT_EQ_INT(doc("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" IMG_MT_DOCKER_CONFIG
	                      "\",\"digest\":\"" D2 "\",\"size\":1},\"layers\":[]}", NULL, &d), 0);
	IMG_ASSERT_EQ_STR(d.media_type, IMG_MT_DOCKER_MANIFEST);
	img_image_doc_release(&d);

	/* index, with subject; docker list */
	IMG_ASSERT_EQ_INT(doc("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" IMG_MT_OCI_MANIFEST
	                      "\",\"digest\":\"" D1 "\",\"size\":349,\"platform\":{\"os\":\"linux\","
	                      "\"architecture\":\"arm64\",\"variant\":\"v8\"}}],"
	                      "\"subject\":" CFG "}", NULL, &d), 0);
	IMG_ASSERT_EQ_INT(d.kind, IMG_KIND_INDEX);
	IMG_ASSERT_EQ_STR(d.media_type, IMG_MT_OCI_INDEX);
	IMG_ASSERT_EQ_INT(d.n, 1);
	IMG_ASSERT_EQ_INT(d.items[0].has_platform, 1);
	IMG_ASSERT_EQ_STR(d.items[0].platform.variant, "");
	IMG_ASSERT_EQ_INT(d.has_subject, 1);
	img_image_doc_release(&d);
	IMG_ASSERT_EQ_INT(doc("{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_LIST "\","
	                      "\"manifests\":[]}", IMG_MT_DOCKER_LIST, &d), 0);
	IMG_ASSERT_EQ_INT(d.kind, IMG_KIND_INDEX);
	img_image_doc_release(&d);
}

TEST(image_doc_parse_rejects)
{
	struct img_doc d;
	static const struct { const char *json, *mt, *why; } bad[] = {
		{ "{\"schemaVersion\":2,\"manifests\":[],\"layers\":[" LAYER "]}", NULL, "manifests+layers" },
		{ "{\"schemaVersion\":2,\"manifests\":[],\"config\":" CFG "}", NULL, "manifests+config" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":[],\"layers\":[]}",
		  IMG_MT_OCI_INDEX, "index with layers" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":[]}",
		  IMG_MT_OCI_MANIFEST, "mediaType differs" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_LIST "\",\"manifests\":[]}",
		  IMG_MT_OCI_INDEX, "docker list via OCI index type" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"config\":" CFG ",\"layers\":[]}",
		  IMG_MT_DOCKER_MANIFEST, "oci via docker" },
		{ "{\"schemaVersion\":2,\"manifests\":[]}", IMG_MT_OCI_MANIFEST, "index reached as manifest" },
		{ "{\"schemaVersion\":2,\"config\":" CFG "}", IMG_MT_OCI_INDEX, "manifest reached as index" },
		{ "{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"y\",\"fsLayers\":[]}", NULL, "schema 1" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+json\"}",
		  NULL, "schema 1 media type" },
		{ "{\"schemaVersion\":3,\"config\":" CFG "}", NULL, "schemaVersion 3" },
		{ "{\"config\":" CFG "}", NULL, "no schemaVersion" },
		{ "{\"schemaVersion\":\"2\",\"config\":" CFG "}", NULL, "string schemaVersion" },
		{ "{\"schemaVersion\":2}", NULL, "nothing to infer" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"config\":" CFG "}", NULL, "unknown type" },
		{ "{\"schemaVersion\":2,\"config\":" CFG ",\"config\":" CFG "}", NULL, "duplicate key" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x/y\"}}", NULL, "bad config descriptor" },
		{ "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":{}}", NULL, "layers not an array" },
		{ "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[{}]}", NULL, "bad layer" },
		{ "{\"schemaVersion\":2,\"config\":" CFG ",\"annotations\":{\"a\":[]}}", NULL, "bad annotation" },
		{ "[]", NULL, "not an object" },
		{ "{\"schemaVersion\":2,", NULL, "truncated" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (doc(bad[i].json, bad[i].mt, &d) != -1) {
			printf("# accepted: %s\n", bad[i].why);
			img_image_doc_release(&d);
			IMG_ASSERT(0);
		}
		IMG_ASSERT(d.root == NULL && d.items == NULL);
	}
	/* oversize: a valid manifest padded past 4 MiB */
	size_t n = IMG_JSON_MAX_BLOB + 16;
	char *big = xmalloc(n + 1);
	const char *head = "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[]}";
	memset(big, ' ', n);
	memcpy(big, head, strlen(head));
	big[n] = '\0';
	IMG_ASSERT_EQ_INT(img_image_doc_parse(big, n, NULL, &d), -1);
	IMG_ASSERT(strstr(img_errmsg(), "larger") != NULL);
	/* just under the cap is fine */
	IMG_ASSERT_EQ_INT(img_image_doc_parse(big, IMG_JSON_MAX_BLOB, NULL, &d), 0);
	img_image_doc_release(&d);
	free(big);
}

TEST(image_layout_index)
{
	static const struct { const char *json, *why; } cases[] = {
		{ "{\"schemaVersion\":2,\"manifests\":[]}", NULL },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":[{}]}",
		  NULL },   /* entries are not looked at */
		{ "{\"schemaVersion\":2,\"mediaType\":null,\"manifests\":[]}", NULL },
		{ "[]", "not a JSON object" },
		{ "{\"manifests\":[]}", "schemaVersion is not 2" },
		{ "{\"schemaVersion\":3,\"manifests\":[]}", "schemaVersion is not 2" },
		{ "{\"schemaVersion\":\"2\",\"manifests\":[]}", "schemaVersion is not 2" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_LIST "\",\"manifests\":[]}",
		  "mediaType is not an OCI index" },
		{ "{\"schemaVersion\":2,\"mediaType\":5,\"manifests\":[]}",
		  "mediaType is not an OCI index" },
		{ "{\"schemaVersion\":2}", "'manifests' is not an array" },
		{ "{\"schemaVersion\":2,\"manifests\":null}", "'manifests' is not an array" },
		{ "{\"schemaVersion\":2,\"manifests\":{}}", "'manifests' is not an array" },
		{ "{\"schemaVersion\":2,\"manifests\":[],\"layers\":[]}", "has 'config' or 'layers'" },
		{ "{\"schemaVersion\":2,\"manifests\":[],\"config\":{}}", "has 'config' or 'layers'" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *j = img_json_parse(cases[i].json, strlen(cases[i].json), 1 << 20);
		int r;
		IMG_ASSERT(j != NULL);
		r = img_image_layout_index(j);
		if (!cases[i].why) {
			IMG_ASSERT_EQ_INT(r, 0);
		} else {
			IMG_ASSERT_EQ_INT(r, -1);
			IMG_ASSERT_EQ_STR(img_errmsg(), cases[i].why);
		}
		json_decref(j);
	}
}

TEST(image_config_parse)
{
	struct img_config c;
	const char *ok = "{\"architecture\":\"x86_64\",\"os\":\"linux\",\"variant\":null,"
	                 "\"created\":null,\"author\":null,\"config\":null,\"history\":null,"
	                 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},"
	                 "\"unknown\":{\"x\":1}}";
	IMG_ASSERT_EQ_INT(img_image_config_parse(ok, strlen(ok), &c), 0);
	IMG_ASSERT_EQ_STR(c.platform.arch, "amd64");
	IMG_ASSERT_EQ_INT(c.ndiff, 2);
	IMG_ASSERT_EQ_STR(c.diff_ids[1].str, D2);
	IMG_ASSERT(c.created == NULL && c.history == NULL && c.config == NULL);
	img_image_config_release(&c);

	const char *full = "{\"architecture\":\"arm64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
	                   "\"config\":{\"Cmd\":[\"sh\"]},\"history\":[{\"created_by\":\"x\"}],"
	                   "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	IMG_ASSERT_EQ_INT(img_image_config_parse(full, strlen(full), &c), 0);
	IMG_ASSERT_EQ_STR(c.created, "2024-01-01T00:00:00Z");
	IMG_ASSERT(json_is_array(c.history) && json_is_object(c.config));
	img_image_config_release(&c);

	static const char *bad[] = {
		"{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		"{\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		"{\"architecture\":\"amd64\",\"os\":\"linux\"}",
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}",
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\"}}",
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:abc\"]}}",
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[1]}}",
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"history\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":5,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (img_image_config_parse(bad[i], strlen(bad[i]), &c) != -1) {
			printf("# accepted: %s\n", bad[i]);
			img_image_config_release(&c);
			IMG_ASSERT(0);
		}
	}
}

TEST(image_chain_id_tiny2)
{
	/* tiny:2's config in the skopeo-written layout */
	char *path = img_test_fixture("peers/tiny-oci-layout/blobs/sha256/"
	                        "7d3e3cec81f9670a53936c23992918288fe55e565df4bb9845ab263630aae804");
	int fd = open(path, O_RDONLY);
	char *buf;
	size_t len;
	struct img_config c;
	struct img_digest chain, d;

	if (fd < 0)
		printf("# cannot open %s\n", path);
	free(path);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(img_json_read_capped(fd, IMG_JSON_MAX_BLOB, &buf, &len), 0);
	close(fd);
	img_digest_buf(buf, len, &d);
	IMG_ASSERT_EQ_STR(d.str, "sha256:7d3e3cec81f9670a53936c23992918288fe55e565df4bb9845ab263630aae804");
	IMG_ASSERT_EQ_INT(img_image_config_parse(buf, len, &c), 0);
	free(buf);
	IMG_ASSERT_EQ_INT(c.ndiff, 2);
	IMG_ASSERT_EQ_STR(c.platform.os, "linux");
	IMG_ASSERT_EQ_STR(c.platform.arch, "amd64");
	img_image_chain_id(c.diff_ids, 1, &chain);
	IMG_ASSERT_EQ_STR(chain.str, c.diff_ids[0].str);     /* ChainID(L0) = DiffID(L0) */
	img_image_chain_id(c.diff_ids, 2, &chain);
	/* sha256("sha256:eecc...f6 sha256:e0ac...04") */
	IMG_ASSERT_EQ_STR(chain.str, "sha256:a971f0513fe68f02ed24c611e78cfd786cd590dd4fc7c342defe094647d958a8");
	img_image_config_release(&c);
}

/* The one platform selection: best rank, first among equals; attestations, artifacts and
 * referrers never; what the caller cannot use is passed over. */
static int not_second(void *arg, const struct img_desc *d)
{
	(void)arg;
	return strcmp(d->platform.arch, "arm64") != 0;
}

TEST(image_index_pick)
{
	struct img_doc d;
	struct img_platform amd64, arm64, armv7, s390x;
	const char *idx =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\",\"size\":1,"
	 "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\",\"size\":1,"
	 "\"artifactType\":\"application/spdx+json\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\",\"size\":1,"
	 "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2 "\",\"size\":1,"
	 "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2 "\",\"size\":1,"
	 "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2 "\",\"size\":1,"
	 "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2 "\",\"size\":1}"
	"]}";

	IMG_ASSERT_EQ_INT(doc(idx, NULL, &d), 0);
	IMG_ASSERT_EQ_INT(img_image_platform_parse("linux/amd64", &amd64), 0);
	IMG_ASSERT_EQ_INT(img_image_platform_parse("linux/arm64", &arm64), 0);
	IMG_ASSERT_EQ_INT(img_image_platform_parse("linux/arm/v7", &armv7), 0);
	IMG_ASSERT_EQ_INT(img_image_platform_parse("linux/s390x", &s390x), 0);
	IMG_ASSERT_EQ_INT(img_image_desc_not_image(&d.items[0]), 1);
	IMG_ASSERT_EQ_INT(img_image_desc_not_image(&d.items[1]), 1);
	IMG_ASSERT_EQ_INT(img_image_desc_not_image(&d.items[3]), 0);
	IMG_ASSERT_EQ_INT(img_image_index_pick(&d, &amd64, NULL, NULL), 3);   /* not the artifact */
	IMG_ASSERT_EQ_INT(img_image_index_pick(&d, &arm64, NULL, NULL), 4);
	IMG_ASSERT_EQ_INT(img_image_index_pick(&d, &armv7, NULL, NULL), 5);   /* exact before v6 */
	IMG_ASSERT_EQ_INT(img_image_index_pick(&d, &s390x, NULL, NULL), 6);   /* no platform: last resort */
	IMG_ASSERT_EQ_INT(img_image_index_pick(&d, &arm64, not_second, NULL), 6);
	img_image_doc_release(&d);
}
