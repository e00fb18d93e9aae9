/* reg-api: the distribution endpoints (formats.md §8) over reg.c's requests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "util.h"
#include "reg.h"
#include "reg-int.h"

#define ERRBODY_CAP IMG_REG_ERRBODY_CAP

/* ---- operations ---- */

static char *scope_of(const char *name, const char *actions)
{
	return xasprintf("repository:%s:%s", name, actions);
}

int img_reg_api_ping(struct img_reg_conn *c)
{
	struct img_reg_req q = { .method = "GET", .fd = -1, .mem_cap = ERRBODY_CAP };
	int rc;

	q.what = c->r->host;
	q.url = xasprintf("%s/v2/", c->r->base);
	rc = img_reg_do(c, &q);
	img_reg_req_release(&q);
	return rc;
}

int img_reg_api_get_manifest(struct img_reg_conn *c, const char *name, const char *ref, size_t cap,
                             char **buf, size_t *len, char **media_type, char **digest)
{
	struct img_reg_req q = { .method = "GET", .fd = -1, .mem_cap = cap };
	char *scope = scope_of(name, "pull"), *what = xasprintf("manifest %s:%s", name, ref);
	int rc;

	*buf = NULL;
	*len = 0;
	*media_type = *digest = NULL;
	q.scope = scope;
	q.what = what;
	q.url = xasprintf("%s/v2/%s/manifests/%s", c->r->base, name, ref);
	q.hdrs = curl_slist_append(NULL, img_reg_accept);
	rc = img_reg_do(c, &q);
	if (rc == 0) {
		*buf = q.mem ? q.mem : xstrdup("");
		*len = q.mlen;
		q.mem = NULL;
		if (q.ctype) {
			q.ctype[strcspn(q.ctype, "; ")] = '\0';
			*media_type = q.ctype;
			q.ctype = NULL;
		}
		*digest = q.digest;
		q.digest = NULL;
	}
	img_reg_req_release(&q);
	free(scope);
	free(what);
	return rc;
}

int img_reg_api_put_manifest(struct img_reg_conn *c, const char *name, const char *ref,
                             const char *media_type, const void *buf, size_t len)
{
	struct img_reg_req q = { .method = "PUT", .fd = -1, .mem_cap = ERRBODY_CAP, .has_body = 1 };
	char *scope = scope_of(name, "pull,push"), *what = xasprintf("manifest %s:%s", name, ref);
	char *ct = xasprintf("Content-Type: %s", media_type);
	int rc;

	q.scope = scope;
	q.what = what;
	q.body = buf;
	q.body_len = len;
	q.url = xasprintf("%s/v2/%s/manifests/%s", c->r->base, name, ref);
	q.hdrs = curl_slist_append(NULL, ct);
	rc = img_reg_do(c, &q);
	img_reg_req_release(&q);
	free(ct);
	free(scope);
	free(what);
	return rc;
}

int img_reg_api_get_blob(struct img_reg_conn *c, const char *name, const struct img_digest *d,
                         uint64_t offset, img_reg_sink sink, void *arg)
{
	char *scope = scope_of(name, "pull"), *what = xasprintf("blob %s", d->str), range[64];
	int rc = -1, tries = 0;

	for (;;) {
		struct img_reg_req q = { .method = "GET", .fd = -1, .mem_cap = ERRBODY_CAP };
		q.scope = scope;
		q.what = what;
		q.sink = sink;
		q.sink_arg = arg;
		q.sink_off = offset;
		q.url = xasprintf("%s/v2/%s/blobs/%s", c->r->base, name, d->str);
		if (offset > 0) {
			snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)offset);
			q.hdrs = curl_slist_append(NULL, range);
			q.ranged = 1;
		}
		rc = img_reg_do(c, &q);
		/* A connection broken after some bytes: go on from there. */
		if (rc < 0 && q.transport && q.sunk > 0 && tries++ < c->r->o.retries + 2) {
			offset = q.sink_off;
			img_reg_req_release(&q);
			continue;
		}
		img_reg_req_release(&q);
		break;
	}
	free(scope);
	free(what);
	return rc;
}

int img_reg_api_has_blob(struct img_reg_conn *c, const char *name, const struct img_digest *d,
                         int64_t *size)
{
	struct img_reg_req q = { .method = "HEAD", .fd = -1, .mem_cap = ERRBODY_CAP, .allow404 = 1 };
	char *scope = scope_of(name, "pull,push"), *what = xasprintf("blob %s", d->str);
	curl_off_t cl = -1;
	int rc;

	q.scope = scope;
	q.what = what;
	q.url = xasprintf("%s/v2/%s/blobs/%s", c->r->base, name, d->str);
	rc = img_reg_do(c, &q);
	if (rc == 0) {
		rc = q.status == 404 ? 0 : 1;
		curl_easy_getinfo(c->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (size)
			*size = cl;
	}
	img_reg_req_release(&q);
	free(scope);
	free(what);
	return rc;
}

/* POST an upload (query: "" or "?mount=...&from=..."): 201 (*location NULL when mounted)
 * or 202 with *location. 0 or -1. */
static int start_upload(struct img_reg_conn *c, struct img_reg_req *q, const char *name,
                        const char *query, char **location)
{
	int rc;

	q->method = "POST";
	q->url = xasprintf("%s/v2/%s/blobs/uploads/%s", c->r->base, name, query);
	rc = img_reg_do(c, q);
	*location = NULL;
	if (rc < 0)
		return -1;
	if (q->status == 202) {
		if (!q->location || !(*location = img_reg_resolve(q->url, q->location))) {
			img_seterr("%s: the registry gave no upload location", q->what);
			return -1;
		}
	}
	return 0;
}

int img_reg_api_mount_blob(struct img_reg_conn *c, const char *name, const struct img_digest *d,
                           const char *from)
{
	struct img_reg_req q = { .fd = -1, .mem_cap = ERRBODY_CAP };
	char *scope = xasprintf("repository:%s:pull,push repository:%s:pull", name, from);
	char *what = xasprintf("blob %s", d->str), *query, *loc = NULL, *e;
	int rc;

	e = curl_easy_escape(c->h, from, 0);
	query = xasprintf("?mount=%s&from=%s", d->str, e);
	curl_free(e);
	q.scope = scope;
	q.what = what;
	rc = start_upload(c, &q, name, query, &loc);
	if (rc == 0)
		rc = q.status == 201 ? 1 : 0;
	free(loc);
	img_reg_req_release(&q);
	free(query);
	free(scope);
	free(what);
	return rc;
}

static char *with_digest(const char *loc, const struct img_digest *d)
{
	return xasprintf("%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', d->str);
}

int img_reg_api_put_blob(struct img_reg_conn *c, const char *name, const struct img_digest *d,
                         int fd, uint64_t size, uint64_t chunk,
                         void (*done)(void *arg, uint64_t n), void *arg)
{
	struct img_reg_req q = { .fd = -1, .mem_cap = ERRBODY_CAP };
	char *scope = scope_of(name, "pull,push"), *what = xasprintf("blob %s", d->str);
	char *loc = NULL, cr[96];
	uint64_t off = 0, n;
	int rc = -1;

	q.scope = scope;
	q.what = what;
	if (start_upload(c, &q, name, "", &loc) < 0)
		goto out;
	if (!loc) {
		img_seterr("%s: the registry did not start an upload (HTTP %ld)", what, q.status);
		goto out;
	}
	while (chunk > 0 && size > chunk && off < size) {
		n = size - off < chunk ? size - off : chunk;
		img_reg_req_release(&q);
		memset(&q, 0, sizeof(q));
		q = (struct img_reg_req){ .method = "PATCH", .fd = fd, .fd_off = off, .fd_len = n,
		                  .has_body = 1, .mem_cap = ERRBODY_CAP, .scope = scope, .what = what,
		                  .sent = done, .sent_arg = arg };
		q.url = xstrdup(loc);
		snprintf(cr, sizeof(cr), "Content-Range: %llu-%llu", (unsigned long long)off,
		         (unsigned long long)(off + n - 1));
		q.hdrs = curl_slist_append(NULL, cr);
		q.hdrs = curl_slist_append(q.hdrs, "Content-Type: application/octet-stream");
		if (img_reg_do(c, &q) < 0)
			goto out;
		if (q.location) {
			char *nl = img_reg_resolve(q.url, q.location);
			if (nl) {
				free(loc);
				loc = nl;
			}
		}
		off += n;
	}
	img_reg_req_release(&q);
	q = (struct img_reg_req){ .method = "PUT", .fd = off < size ? fd : -1, .fd_off = off,
	                  .fd_len = size - off, .has_body = 1, .mem_cap = ERRBODY_CAP,
	                  .scope = scope, .what = what, .sent = done, .sent_arg = arg };
	q.url = with_digest(loc, d);
	q.hdrs = curl_slist_append(NULL, "Content-Type: application/octet-stream");
	rc = img_reg_do(c, &q);
out:
	img_reg_req_release(&q);
	free(loc);
	free(scope);
	free(what);
	return rc;
}
