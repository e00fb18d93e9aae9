/* Fuzz target "json": the JSON image model. The first byte picks what the rest is:
 *   0  a manifest or index (img_image_doc_parse, with every expected media type)
 *   1  an image config (img_image_config_parse)
 *   2  docker-save's manifest.json [NUL repositories], in an archive beside a config and
 *      a layer, read by img-load (--check and a load) and by arcimg
 *   3  an OCI index.json [NUL oci-layout], in an archive beside a manifest, config, layer
 *   4  index.json NUL manifest.json, both in one archive
 * In 2-4, "@C", "@L", "@M" stand for the hex digests of the config, layer and manifest,
 * and "@c", "@l", "@m" for their sizes, so that a document can name the blobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "fuzz.h"

struct blob {
	unsigned char *p;
	size_t n;
	struct img_digest d;
	char size[24];
};
static struct blob layer, config, manifest;
static char *tarpath;

static void blob_set(struct blob *b, unsigned char *p, size_t n)
{
	b->p = p;
	b->n = n;
	img_digest_buf(p, n, &b->d);
	snprintf(b->size, sizeof(b->size), "%zu", n);
}

static void init(void)
{
	struct fuzz_buf t = { 0 };
	struct img_arcout *a;
	char *s;

	if (tarpath)
		return;
	a = img_arcout_new_sink(fuzz_buf_sink, &t, 0);
	if (!a || img_arcout_dir(a, "etc") < 0 ||
	    img_arcout_buf(a, "etc/hello", "hello\n", 6, 0644) < 0 || img_arcout_close(a) < 0)
		abort();
	img_arcout_free(a);
	blob_set(&layer, t.p, t.n);
	s = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"]},"
	              "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]},"
	              "\"history\":[{\"created_by\":\"fuzz\"}]}", layer.d.str);
	blob_set(&config, (unsigned char *)s, strlen(s));
	s = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\","
	              "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
	              "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
	              IMG_MT_OCI_MANIFEST, IMG_MT_OCI_CONFIG, config.d.str, config.n,
	              IMG_MT_OCI_LAYER, layer.d.str, layer.n);
	blob_set(&manifest, (unsigned char *)s, strlen(s));
	tarpath = xasprintf("%s/json.tar", fuzz_dir());
}

/* The document with the @ tokens replaced. */
static char *subst(const uint8_t *p, size_t n, size_t *outn)
{
	struct fuzz_buf b = { 0 };

	for (size_t i = 0; i < n; i++) {
		const char *r = NULL;
		if (p[i] == '@' && i + 1 < n) {
			switch (p[i + 1]) {
			case 'C': r = img_digest_hex(&config.d); break;
			case 'L': r = img_digest_hex(&layer.d); break;
			case 'M': r = img_digest_hex(&manifest.d); break;
			case 'c': r = config.size; break;
			case 'l': r = layer.size; break;
			case 'm': r = manifest.size; break;
			}
		}
		if (r) {
			fuzz_buf_sink(&b, r, strlen(r));
			i++;
		} else {
			fuzz_buf_sink(&b, &p[i], 1);
		}
	}
	fuzz_buf_sink(&b, "", 1);
	*outn = b.n - 1;
	return (char *)b.p;
}

static int add(struct img_arcout *a, const char *path, const void *p, size_t n)
{
	return img_arcout_buf(a, path, p, n, 0644);
}

static int add_blob(struct img_arcout *a, const struct blob *b)
{
	char path[128];

	snprintf(path, sizeof(path), "blobs/sha256/%s", img_digest_hex(&b->d));
	return add(a, path, b->p, b->n);
}

static void archive(int mode, const uint8_t *p, size_t n)
{
	const uint8_t *nul = memchr(p, '\0', n);
	size_t n1 = nul ? (size_t)(nul - p) : n, l1, l2 = 0;
	char *d1 = subst(p, n1, &l1), *d2 = nul ? subst(nul + 1, n - n1 - 1, &l2) : NULL;
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct fuzz_buf t = { 0 };
	struct img_arcout *a = img_arcout_new_sink(fuzz_buf_sink, &t, 0);
	char legacy[128];
	int fd, r;

	if (!a)
		abort();
	snprintf(legacy, sizeof(legacy), "%s/layer.tar", img_digest_hex(&layer.d));
	r = add_blob(a, &config) | add_blob(a, &layer);
	if (mode == 2) {
		r |= add(a, legacy, layer.p, layer.n) | add(a, "manifest.json", d1, l1);
		if (d2)
			r |= add(a, "repositories", d2, l2);
	} else {
		r |= add_blob(a, &manifest);
		r |= d2 && mode == 3 ? add(a, "oci-layout", d2, l2)
		                     : add(a, "oci-layout", layout, sizeof(layout) - 1);
		r |= add(a, "index.json", d1, l1);
		if (d2 && mode == 4)
			r |= add(a, "manifest.json", d2, l2);
	}
	if (r < 0 || img_arcout_close(a) < 0)
		abort();
	img_arcout_free(a);
	free(d1);
	free(d2);

	if (fuzz_write_file(tarpath, t.p, t.n) < 0)
		abort();
	fuzz_img_load(tarpath, mode == 2 ? NULL : "linux/arm64", 1);
	fd = fuzz_memfd(t.p, t.n);
	if (fd >= 0) {
		fuzz_arcimg(fd);
		close(fd);
	}
	free(t.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const expect[] = {
		NULL, IMG_MT_OCI_MANIFEST, IMG_MT_OCI_INDEX, IMG_MT_DOCKER_MANIFEST, IMG_MT_DOCKER_LIST,
	};
	struct img_platform host;
	struct img_doc doc;
	struct img_config c;
	char buf[256];

	if (size < 1)
		return 0;
	init();
	switch (data[0] % 5) {
	case 0:
		img_image_platform_host(&host);
		for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
			if (img_image_doc_parse(data + 1, size - 1, expect[i], &doc) < 0)
				continue;
			for (size_t j = 0; j < doc.n; j++) {
				(void)img_image_desc_annotation(&doc.items[j], IMG_ANN_REF_NAME);
				(void)img_image_mt_kind(doc.items[j].media_type);
				if (doc.items[j].has_platform) {
					(void)img_image_platform_format(&doc.items[j].platform, buf, sizeof(buf));
					(void)img_image_platform_match(&host, &doc.items[j].platform);
				}
			}
			img_image_doc_release(&doc);
		}
		break;
	case 1:
		if (img_image_config_parse(data + 1, size - 1, &c) == 0) {
			struct img_digest chain;
			img_image_chain_id(c.diff_ids, c.ndiff, &chain);
			(void)img_image_platform_format(&c.platform, buf, sizeof(buf));
			img_image_config_release(&c);
		}
		break;
	default:
		archive(data[0] % 5, data + 1, size - 1);
		break;
	}
	return 0;
}
