/* digest: "alg:hex" parsing and streaming sha256/sha512 (OpenSSL EVP). */
#ifndef IMG_DIGEST_H
#define IMG_DIGEST_H

#include <stddef.h>
#include <stdint.h>

enum img_alg { IMG_SHA256 = 0, IMG_SHA512 = 1 };

/* A validated digest: str is "sha256:<64 hex>" or "sha512:<128 hex>", lower-case. */
struct img_digest {
	enum img_alg alg;
	char str[7 + 128 + 1];
};

/* Strict parse: only sha256/sha512, exact length, lower-case hex.
 * 0, or -1 with img_errmsg() ("invalid digest 'x'"). Safe to build a path from. */
int img_digest_parse(const char *s, struct img_digest *out);
/* The hex part of d (points into d->str). */
const char *img_digest_hex(const struct img_digest *d);
/* "blobs/sha256/<hex>" relative path; a new string the caller frees. */
char *img_digest_blobpath(const struct img_digest *d);
int img_digest_eq(const struct img_digest *a, const struct img_digest *b);
/* 1 if s is a lower-case hex string of exactly n chars. */
int img_digest_is_hex(const char *s, size_t n);

/* Streaming hash. new never fails (it aborts when out of memory, as xmalloc). */
struct img_hash;
struct img_hash *img_digest_hash_new(enum img_alg alg);
void img_digest_hash_update(struct img_hash *h, const void *buf, size_t n);
/* The same as a byte sink (img_sink_fn, img_ring_consume): arg is the struct img_hash *.
 * Always 0. */
int img_digest_hash_sink(void *arg, const void *buf, size_t n);
/* Finish into out; the hash may then be reset with img_digest_hash_reset. */
void img_digest_hash_final(struct img_hash *h, struct img_digest *out);
void img_digest_hash_reset(struct img_hash *h);
uint64_t img_digest_hash_bytes(const struct img_hash *h);    /* bytes fed since reset */
void img_digest_hash_free(struct img_hash *h);

/* One-shot sha256 of a buffer. */
void img_digest_buf(const void *buf, size_t n, struct img_digest *out);

#endif
