/* Fuzz target "ref": the string parsers. The input is two strings split at the first
 * newline: references (ref.h) both ways, the first matched against the second as a
 * pattern; digests (digest.h); platforms (image.h); archive member names and whiteouts
 * (arcin.h, layer.h). */
#include <stdlib.h>
#include <string.h>

#include "img.h"
#include "fuzz.h"

/* The first component of s would be read as a registry. */
static int domain_like(const char *s)
{
	size_t n = strcspn(s, "/");

	if (!s[n])
		return 0;
	return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !strncmp(s, "localhost", 9));
}

static void one_ref(const char *s)
{
	struct img_ref r;
	char *c;

	if (img_ref_parse(s, &r) == 0) {
		char *canon = img_ref_canonical(&r), *fam = img_ref_familiar(&r);
		char *repo = img_ref_repo(&r), *frepo = img_ref_familiar_repo(&r);
		/* a canonical name is a fixed point, and it matches itself */
		c = img_ref_normalize(canon);
		if (!c || strcmp(c, canon) != 0)
			abort();
		free(c);
		/* as docker's, the familiar form of docker.io/a.b/c is a.b/c, another name */
		c = img_ref_normalize(fam);
		if (!domain_like(fam) && (!c || strcmp(c, canon) != 0))
			abort();
		free(c);
		if (!img_ref_match(canon, canon) || !img_ref_match(canon, repo))
			abort();
		free(canon);
		free(fam);
		free(repo);
		free(frepo);
		img_ref_release(&r);
	}
	c = img_ref_normalize(s);
	free(c);
	(void)img_ref_is_id(s);
}

static void one_path(const char *s)
{
	struct img_platform p;
	struct img_digest d, d2;
	char buf[256], *out = NULL, *t = NULL;

	/* a digest that parses is safe in a path, and parses again to itself */
	if (img_digest_parse(s, &d) == 0) {
		char *bp = img_digest_blobpath(&d);
		if (strstr(bp, "..") || img_digest_parse(d.str, &d2) != 0 || !img_digest_eq(&d, &d2))
			abort();
		free(bp);
	}
	if (img_image_platform_parse(s, &p) == 0)
		(void)img_image_platform_format(&p, buf, sizeof(buf));
	for (int flags = 0; flags <= IMG_ARCIN_STRIP_ABS; flags += IMG_ARCIN_STRIP_ABS) {
		if (img_arcin_path_clean(s, flags, &out) == 0) {
			/* cleaning is idempotent */
			char *again = NULL;
			if (img_arcin_path_clean(out, flags, &again) != 0 || strcmp(again, out) != 0)
				abort();
			free(again);
			if (img_layer_whiteout(out, &t) > 0)
				free(t);
			t = NULL;
			free(out);
		}
		out = NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t n1 = nl ? (size_t)(nl - (const char *)data) : size;
	char *a = xstrndup((const char *)data, n1);
	char *b = nl ? xstrndup(nl + 1, size - n1 - 1) : NULL;

	one_ref(a);
	one_path(a);
	if (b) {
		(void)img_ref_match(a, b);
		(void)img_ref_match(b, a);
		char *ca = img_ref_normalize(a);
		if (ca) {
			(void)img_ref_match(ca, b);
			free(ca);
		}
	}
	free(a);
	free(b);
	return 0;
}
