/* digest: strict "alg:hex" parsing and streaming SHA-256/512 through OpenSSL EVP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "digest.h"
#include "util.h"

static const struct { const char *name; size_t hexlen; } algs[] = {
	[IMG_SHA256] = { "sha256", 64 },
	[IMG_SHA512] = { "sha512", 128 },
};

int img_is_hex(const char *s, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
	}
	return s[n] == 0;
}

int img_digest_parse(const char *s, struct img_digest *out)
{
	size_t i;
	if (!s) {
		img_seterr("missing digest");
		return -1;
	}
	for (i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		size_t l = strlen(algs[i].name);
		if (strncmp(s, algs[i].name, l) == 0 && s[l] == ':' &&
		    strlen(s + l + 1) == algs[i].hexlen && img_is_hex(s + l + 1, algs[i].hexlen)) {
			out->alg = (enum img_alg)i;
			memcpy(out->str, s, l + 1 + algs[i].hexlen + 1);
			return 0;
		}
	}
	img_seterr("invalid digest '%s'", img_shown(s));
	return -1;
}

const char *img_digest_hex(const struct img_digest *d)
{
	return strchr(d->str, ':') + 1;
}

char *img_digest_blobpath(const struct img_digest *d)
{
	return xasprintf("blobs/%s/%s", algs[d->alg].name, img_digest_hex(d));
}

int img_digest_eq(const struct img_digest *a, const struct img_digest *b)
{
	return a->alg == b->alg && strcmp(a->str, b->str) == 0;
}

struct img_hash {
	EVP_MD_CTX *ctx;
	enum img_alg alg;
	uint64_t bytes;
};

static const EVP_MD *md_of(enum img_alg alg)
{
	return alg == IMG_SHA512 ? EVP_sha512() : EVP_sha256();
}

struct img_hash *img_hash_new(enum img_alg alg)
{
	struct img_hash *h = xcalloc(1, sizeof *h);
	h->alg = alg;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, md_of(alg), NULL) != 1) {
		img_seterr("cannot initialize %s", algs[alg].name);
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

void img_hash_update(struct img_hash *h, const void *buf, size_t n)
{
	EVP_DigestUpdate(h->ctx, buf, n);
	h->bytes += n;
}

int img_hash_sink(void *arg, const void *buf, size_t n)
{
	img_hash_update(arg, buf, n);
	return 0;
}

void img_hash_final(struct img_hash *h, struct img_digest *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;
	size_t o;

	EVP_DigestFinal_ex(h->ctx, md, &len);
	o = (size_t)sprintf(out->str, "%s:", algs[h->alg].name);
	for (i = 0; i < len; i++)
		o += (size_t)sprintf(out->str + o, "%02x", md[i]);
	out->alg = h->alg;
}

void img_hash_reset(struct img_hash *h)
{
	EVP_DigestInit_ex(h->ctx, md_of(h->alg), NULL);
	h->bytes = 0;
}

uint64_t img_hash_bytes(const struct img_hash *h)
{
	return h->bytes;
}

void img_hash_free(struct img_hash *h)
{
	if (!h) return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void img_digest_buf(const void *buf, size_t n, struct img_digest *out)
{
	unsigned char md[32];
	size_t i, o;

	EVP_Digest(buf, n, md, NULL, EVP_sha256(), NULL);
	o = (size_t)sprintf(out->str, "sha256:");
	for (i = 0; i < 32; i++)
		o += (size_t)sprintf(out->str + o, "%02x", md[i]);
	out->alg = IMG_SHA256;
}
