/* registry: an OCI distribution (docker registry v2) client over libcurl (formats.md §8):
 * manifests and blobs down and up, anonymous, basic and bearer-token auth, redirects
 * without credentials to other hosts, retries with backoff.
 *
 * One struct img_reg per registry host, shared by threads (tokens under a mutex); one
 * struct img_reg_conn per thread (a curl handle and its connections). Errors are one line
 * in img_errmsg() with the registry's error code and message; no credential is ever in it. */
#ifndef IMG_REG_H
#define IMG_REG_H

#include <stddef.h>
#include <stdint.h>
#include "digest.h"

struct img_reg_opts {
	int tls_verify;          /* 1: verify certificates (https only, http for loopback) */
	const char *cert_dir;    /* CA (*.crt) and client cert (*.cert, *.key) as docker's
	                          * certs.d/HOST; NULL: /etc/docker/certs.d/HOST,
	                          * /etc/containers/certs.d/HOST when present */
	const char *authfile;    /* NULL: $REGISTRY_AUTH_FILE, then ~/.docker/config.json */
	const char *user;        /* credentials given directly (img-login), or NULL */
	const char *pass;
	int retries;             /* attempts after the first on connection errors, 429, 5xx */
	int timeout;             /* seconds without a byte before a transfer fails (0: 60) */
};

struct img_reg;
struct img_reg_conn;

/* The API host of a reference domain: "docker.io" is registry-1.docker.io. Static or domain. */
const char *img_reg_host(const char *domain);
/* 1 if host ("127.0.0.1:5000", "localhost", "[::1]:5000") is a loopback address. */
int img_reg_is_loopback(const char *host);

/* A client for domain (as in a reference). Reads the credentials of the auth file (unless
 * o->user), decides https or http (http only for loopback or !tls_verify, when https is not
 * spoken there). *out freed with img_reg_free. 0 or -1. */
int img_reg_open(const char *domain, const struct img_reg_opts *o, struct img_reg **out);
void img_reg_free(struct img_reg *r);
/* A connection for one thread. Never NULL. */
struct img_reg_conn *img_reg_conn_new(struct img_reg *r);
void img_reg_conn_free(struct img_reg_conn *c);
/* fn(arg, c, i) for every item i in [0, n) on up to jobs (1..64) threads of an img_pool,
 * each thread with its own connection c (connections are not shared between threads);
 * the first failure stops the items not yet started. 0, or -1 with its img_errmsg(). */
int img_reg_each(struct img_reg *r, size_t n, int jobs,
                 int (*fn)(void *arg, struct img_reg_conn *c, size_t i), void *arg);

/* GET /v2/ with the credentials: 0 when the registry accepts them (img-login). */
int img_reg_api_ping(struct img_reg_conn *c);

/* Every manifest and index type, for Accept. */
extern const char img_reg_accept[];

/* GET a manifest (ref: tag or digest) of repository name, at most cap bytes. *buf (caller
 * frees), *len; *media_type (caller frees; Content-Type without parameters, may be NULL)
 * and *digest (Docker-Content-Digest, caller frees, may be NULL). 0 or -1 (errno ENOENT
 * for 404). */
int img_reg_api_get_manifest(struct img_reg_conn *c, const char *name, const char *ref, size_t cap,
                             char **buf, size_t *len, char **media_type, char **digest);
/* PUT a manifest byte for byte under ref (a tag or its digest). 0 or -1. */
int img_reg_api_put_manifest(struct img_reg_conn *c, const char *name, const char *ref,
                             const char *media_type, const void *buf, size_t len);

/* Blob bytes to a sink: off is where buf starts in the blob (0 again after bytes were
 * given means the server restarted the blob: drop what came before). The sink returns
 * 0, or -1 to stop (its img_errmsg is kept). */
typedef int (*img_reg_sink)(void *arg, uint64_t off, const void *buf, size_t n);
/* GET a blob from byte offset (Range), following redirects (no credentials to another
 * host) and resuming after a broken connection where it stopped. 0 or -1. */
int img_reg_api_get_blob(struct img_reg_conn *c, const char *name, const struct img_digest *d,
                         uint64_t offset, img_reg_sink sink, void *arg);
/* HEAD a blob: 1 present (*size set if non-NULL), 0 absent, -1 error. */
int img_reg_api_has_blob(struct img_reg_conn *c, const char *name, const struct img_digest *d,
                         int64_t *size);
/* Cross-repository mount from repository from: 1 mounted, 0 not (upload it), -1 error. */
int img_reg_api_mount_blob(struct img_reg_conn *c, const char *name, const struct img_digest *d,
                           const char *from);
/* Upload size bytes of fd (from offset 0, read with pread) as blob d: one PUT, or PATCH
 * chunks of chunk bytes when size > chunk (chunk 0: always one PUT). done(arg, n) is
 * called as bytes go out (may be NULL). 0 or -1. */
int img_reg_api_put_blob(struct img_reg_conn *c, const char *name, const struct img_digest *d,
                         int fd, uint64_t size, uint64_t chunk,
                         void (*done)(void *arg, uint64_t n), void *arg);

#endif
