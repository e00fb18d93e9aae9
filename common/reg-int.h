/* reg-int: what reg.c (transport, auth) and reg-api.c (the endpoints)
 * share. Private to those two files. */
#ifndef IMG_REG_INT_H
#define IMG_REG_INT_H

#include <pthread.h>
#include <time.h>
#include <curl/curl.h>
#include "reg.h"

#define IMG_REG_ERRBODY_CAP (64u << 10)
#define MAX_TOKENS    16

struct token {
	char *scope;      /* the cache key: the scopes asked for, space-separated */
	char *value;
	time_t expires;
};

struct img_reg {
	char *host;       /* API host[:port] */
	char *base;       /* "https://host" or "http://host" */
	struct img_reg_opts o;
	char *user, *pass;
	char *cainfo;                /* the PEM of every CA of the cert dir, or NULL */
	size_t cainfo_len;
	char *sslcert, *sslkey;
	pthread_mutex_t mu;
	int basic;        /* the registry asked for Basic: send it on every request */
	struct token tokens[MAX_TOKENS];
	size_t ntokens;
};

struct img_reg_conn {
	struct img_reg *r;
	CURL *h;
	char curlerr[CURL_ERROR_SIZE];
};

/* One HTTP exchange and what came back. */
struct img_reg_req {
	const char *method;
	char *url;                   /* absolute, owned */
	const char *scope;           /* what a token must allow ("repository:x:pull") */
	const char *what;            /* for messages: "manifest tiny:1" */
	struct curl_slist *hdrs;     /* caller's headers (never Authorization) */
	const char *body;            /* request body in memory ... */
	size_t body_len;
	int fd;                      /* ... or from a file (fd >= 0) */
	uint64_t fd_off, fd_len, fd_pos;
	int has_body;
	void (*sent)(void *, uint64_t);
	void *sent_arg;
	img_reg_sink sink;           /* 2xx body: to the sink, or into mem */
	void *sink_arg;
	uint64_t sink_off;           /* blob offset of the next byte given to the sink */
	uint64_t sunk;               /* bytes given to the sink by this request */
	int sink_failed;
	int ranged;                  /* a Range was asked: a 200 answer starts at byte 0 */
	int allow404;                /* a 404 is an answer (HEAD of a blob), not an error */
	int transport;
	int sent_basic;              /* the last exchange carried Basic credentials */               /* the last failure was the connection's, not HTTP's */
	size_t mem_cap;
	CURL *curl;                  /* the handle performing it */
	/* response */
	long status;
	char *location, *ctype, *digest, *www, *retry_after;
	char *mem;
	size_t mlen;
	int overflow;
};

/* q to the registry: credentials only to its own origin, redirects followed (GET, HEAD),
 * one new authentication after a 401, retries on connection errors, 429 and 5xx as long
 * as no body byte went to the sink. 0 (2xx, or 404 with allow404), or -1. */
int img_reg_do(struct img_reg_conn *c, struct img_reg_req *q);
void img_reg_req_release(struct img_reg_req *q);
/* A Location (absolute or relative) against base. New string or NULL. */
char *img_reg_resolve(const char *base, const char *loc);

#endif
