/* digest: strict "alg:hex" parsing and streaming SHA-256/512 through OpenSSL. */
/* SHA256_Init and friends are deprecated in OpenSSL 3 in favour of EVP (see below). */
#define OPENSSL_API_COMPAT 10101
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "digest.h"
#include "util.h"

static const struct { const char *name; size_t hexlen; } algs[] = {
	[IMG_SHA256] = { "sha256", 64 },
	[IMG_SHA512] = { "sha512", 128 },
};

int img_digest_is_hex(const char *s, size_t n)
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
		    strlen(s + l + 1) == algs[i].hexlen && img_digest_is_hex(s + l + 1, algs[i].hexlen)) {
			out->alg = (enum img_alg)i;
			memcpy(out->str, s, l + 1 + algs[i].hexlen + 1);
			return 0;
		}
	}
	img_seterr("invalid digest '%s'", img_util_shown(s));
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

/*
 * The one-shot SHA-256/512 functions, not EVP: they run the same SHA-NI code, but EVP's
 * first digest in a process loads openssl.cnf and initializes the default provider, about
 * 2 ms, which was a third of a short command's time (a no-change img-build, img-ls).
 */
struct img_hash {
	union {
		SHA256_CTX s256;
		SHA512_CTX s512;
	} c;
	enum img_alg alg;
	uint64_t bytes;
};

static void hash_init(struct img_hash *h)
{
	if (h->alg == IMG_SHA512)
		SHA512_Init(&h->c.s512);
	else
		SHA256_Init(&h->c.s256);
	h->bytes = 0;
}

struct img_hash *img_digest_hash_new(enum img_alg alg)
{
	struct img_hash *h = xcalloc(1, sizeof *h);
	h->alg = alg;
	hash_init(h);
	return h;
}

void img_digest_hash_update(struct img_hash *h, const void *buf, size_t n)
{
	if (h->alg == IMG_SHA512)
		SHA512_Update(&h->c.s512, buf, n);
	else
		SHA256_Update(&h->c.s256, buf, n);
	h->bytes += n;
}

int img_digest_hash_sink(void *arg, const void *buf, size_t n)
{
	img_digest_hash_update(arg, buf, n);
	return 0;
}

static void hex_out(struct img_digest *out, enum img_alg alg, const unsigned char *md, size_t len)
{
	static const char hx[] = "0123456789abcdef";
	size_t i, o = strlen(algs[alg].name);

	memcpy(out->str, algs[alg].name, o);
	out->str[o++] = ':';
	for (i = 0; i < len; i++) {
		out->str[o++] = hx[md[i] >> 4];
		out->str[o++] = hx[md[i] & 15];
	}
	out->str[o] = 0;
	out->alg = alg;
}

void img_digest_hash_final(struct img_hash *h, struct img_digest *out)
{
	unsigned char md[SHA512_DIGEST_LENGTH];

	if (h->alg == IMG_SHA512) {
		SHA512_Final(md, &h->c.s512);
		hex_out(out, h->alg, md, SHA512_DIGEST_LENGTH);
	} else {
		SHA256_Final(md, &h->c.s256);
		hex_out(out, h->alg, md, SHA256_DIGEST_LENGTH);
	}
}

void img_digest_hash_reset(struct img_hash *h)
{
	hash_init(h);
}

uint64_t img_digest_hash_bytes(const struct img_hash *h)
{
	return h->bytes;
}

void img_digest_hash_free(struct img_hash *h)
{
	free(h);
}

void img_digest_buf(const void *buf, size_t n, struct img_digest *out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(buf, n, md);
	hex_out(out, IMG_SHA256, md, sizeof md);
}
