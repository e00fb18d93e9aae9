/* registry: an OCI distribution client over libcurl (formats.md §8, §9). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "util.h"
#include "json.h"
#include "auth.h"
#include "pool.h"
#include "reg.h"
#include "reg-int.h"

#define MAX_REDIRECTS 5
#define ERRBODY_CAP   IMG_REG_ERRBODY_CAP
#define TOKEN_CAP     (1u << 20)
#define CA_CAP        (1u << 20)   /* one CA file of a cert dir */

const char img_reg_accept[] =
	"Accept: application/vnd.oci.image.index.v1+json, "
	"application/vnd.oci.image.manifest.v1+json, "
	"application/vnd.docker.distribution.manifest.list.v2+json, "
	"application/vnd.docker.distribution.manifest.v2+json";

/* ---- small helpers ---- */

const char *img_reg_host(const char *domain)
{
	if (strcmp(domain, "docker.io") == 0 || strcmp(domain, "index.docker.io") == 0)
		return "registry-1.docker.io";
	return domain;
}

int img_reg_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char h[256];
	size_t n;

	if (host[0] == '[') {
		n = strcspn(host + 1, "]");
		snprintf(h, sizeof(h), "%.*s", (int)n, host + 1);
	} else {
		n = strcspn(host, ":");
		snprintf(h, sizeof(h), "%.*s", (int)n, host);
	}
	/* An address, not a name that begins like one (127.example.com is not loopback). */
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return strcmp(h, "localhost") == 0;
}

static char *trimdup(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

static void req_reset_response(struct img_reg_req *q)
{
	free(q->location);
	free(q->ctype);
	free(q->digest);
	free(q->www);
	free(q->retry_after);
	free(q->mem);
	q->location = q->ctype = q->digest = q->www = q->retry_after = q->mem = NULL;
	q->mlen = 0;
	q->overflow = 0;
	q->status = 0;
}

void img_reg_req_release(struct img_reg_req *q)
{
	req_reset_response(q);
	free(q->url);
	curl_slist_free_all(q->hdrs);
}

/* scheme://host[:port] of url, lower-cased, into buf: who may see our credentials. */
static int origin(const char *url, char *buf, size_t len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -1;

	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		snprintf(buf, len, "%s://%s:%s", scheme, host, port);
		for (char *p = buf; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		rc = 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/* A Location (absolute or relative) against base. New string or NULL. */
char *img_reg_resolve(const char *base, const char *loc)
{
	CURLU *u = curl_url();
	char *out = NULL, *res = NULL;

	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
		res = xstrdup(out);
	curl_free(out);
	curl_url_cleanup(u);
	return res;
}

/* ---- curl callbacks ---- */

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct img_reg_req *q = arg;
	size_t len = size * n, k;
	const char *v;
	char **slot = NULL;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		req_reset_response(q);
		return len;
	}
	v = memchr(buf, ':', len);
	if (!v)
		return len;
	k = (size_t)(v - buf);
#define HDR(name, field) (k == sizeof(name) - 1 && strncasecmp(buf, name, k) == 0) slot = &q->field
	if HDR("location", location);
	else if HDR("content-type", ctype);
	else if HDR("docker-content-digest", digest);
	else if HDR("www-authenticate", www);
	else if HDR("retry-after", retry_after);
#undef HDR
	if (slot && !*slot) {
		v = buf + k + 1;
		*slot = trimdup(v, len - k - 1);
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct img_reg_req *q = arg;
	size_t len = size * n;

	if (q->status == 0)
		curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &q->status);
	if (q->sink && q->status >= 200 && q->status < 300) {
		if (q->sunk == 0 && q->ranged && q->status == 200)
			q->sink_off = 0;
		if (q->sink(q->sink_arg, q->sink_off, buf, len) < 0) {
			q->sink_failed = 1;
			return 0;
		}
		q->sink_off += len;
		q->sunk += len;
		return len;
	}
	if (q->mlen + len > q->mem_cap) {
		q->overflow = 1;
		if (q->status >= 200 && q->status < 300)
			return 0;       /* a body over its cap: stop */
		return len;         /* an error body: keep its start */
	}
	q->mem = xrealloc(q->mem, q->mlen + len + 1);
	memcpy(q->mem + q->mlen, buf, len);
	q->mlen += len;
	q->mem[q->mlen] = '\0';
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct img_reg_req *q = arg;
	size_t want = size * n;
	uint64_t left;
	ssize_t got;

	if (q->fd < 0) {
		left = q->body_len - q->fd_pos;
		if (want > left)
			want = (size_t)left;
		memcpy(buf, q->body + q->fd_pos, want);
		q->fd_pos += want;
		return want;
	}
	left = q->fd_len - q->fd_pos;
	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	got = pread(q->fd, buf, want, (off_t)(q->fd_off + q->fd_pos));
	if (got <= 0)
		return CURL_READFUNC_ABORT;
	q->fd_pos += (uint64_t)got;
	if (q->sent)
		q->sent(q->sent_arg, (uint64_t)got);
	return (size_t)got;
}

/* ---- one exchange ---- */

static void set_tls(struct img_reg_conn *c)
{
	struct img_reg *r = c->r;

	if (!r->o.tls_verify) {
		curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->cainfo) {
		/* every CA of the cert dir; the system's stay trusted through the CA path */
		struct curl_blob b = { r->cainfo, r->cainfo_len, CURL_BLOB_NOCOPY };
		curl_easy_setopt(c->h, CURLOPT_CAINFO_BLOB, &b);
	}
	if (r->sslcert && r->sslkey) {
		curl_easy_setopt(c->h, CURLOPT_SSLCERT, r->sslcert);
		curl_easy_setopt(c->h, CURLOPT_SSLKEY, r->sslkey);
	}
}

/* Perform q once at q->url with auth (a header line or NULL). CURLE_* result. */
static CURLcode perform(struct img_reg_conn *c, struct img_reg_req *q, const char *auth)
{
	struct curl_slist *h = NULL, *i;
	CURLcode rc;
	long timeout = c->r->o.timeout > 0 ? c->r->o.timeout : 60;

	curl_easy_reset(c->h);
	req_reset_response(q);
	q->curl = c->h;
	q->fd_pos = 0;
	curl_easy_setopt(c->h, CURLOPT_URL, q->url);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->curlerr);
	curl_easy_setopt(c->h, CURLOPT_USERAGENT, "img/" IMG_VERSION);
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_TIME, timeout);
	curl_easy_setopt(c->h, CURLOPT_BUFFERSIZE, 1L << 20);
	curl_easy_setopt(c->h, CURLOPT_UPLOAD_BUFFERSIZE, 256L << 10);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, q);
	set_tls(c);
	for (i = q->hdrs; i; i = i->next)
		h = curl_slist_append(h, i->data);
	h = curl_slist_append(h, "Expect:");
	if (auth)
		h = curl_slist_append(h, auth);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, h);
	if (strcmp(q->method, "HEAD") == 0) {
		curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(q->method, "GET") == 0) {
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(q->method, "POST") == 0 && !q->has_body) {
		curl_easy_setopt(c->h, CURLOPT_POST, 1L);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(q->method, "DELETE") == 0) {
		curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		/* PUT or PATCH, with a body (maybe empty). */
		curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c->h, CURLOPT_READDATA, q);
		curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE,
		                 (curl_off_t)(!q->has_body ? 0 : q->fd >= 0 ? q->fd_len : q->body_len));
		if (strcmp(q->method, "PUT") != 0)
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, q->method);
	}
	c->curlerr[0] = '\0';
	rc = curl_easy_perform(c->h);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &q->status);
	for (i = h; i; i = i->next)
		if (strncasecmp(i->data, "Authorization:", 14) == 0)
			explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(h);
	return rc;
}

/* ---- authentication ---- */

static char *basic_header(const char *user, const char *pass)
{
	char *plain = xasprintf("%s:%s", user, pass), *b64, *h;
	size_t n = strlen(plain);

	b64 = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain, (int)n);
	h = xasprintf("Authorization: Basic %s", b64);
	explicit_bzero(plain, n);
	explicit_bzero(b64, strlen(b64));
	free(plain);
	free(b64);
	return h;
}

/* The Authorization line for a request needing scope (NULL: none), or NULL. */
static char *auth_header(struct img_reg *r, const char *scope)
{
	char *h = NULL;
	size_t i;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->ntokens; i++) {
		struct token *t = &r->tokens[i];
		if (strcmp(t->scope, scope ? scope : "") == 0 && t->expires > time(NULL)) {
			h = xasprintf("Authorization: Bearer %s", t->value);
			break;
		}
	}
	if (!h && r->basic && r->user)
		h = basic_header(r->user, r->pass);
	pthread_mutex_unlock(&r->mu);
	return h;
}

/* The value of key in a challenge (key="value" pairs after the scheme). New string or NULL. */
static char *chal_param(const char *www, const char *key)
{
	const char *p = strchr(www, ' ');
	size_t kl = strlen(key);

	while (p && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *k = p;
		while (*p && *p != '=' && *p != ',')
			p++;
		if (*p != '=')
			continue;
		size_t klen = (size_t)(p - k);
		p++;
		const char *v;
		size_t vl;
		if (*p == '"') {
			v = ++p;
			while (*p && *p != '"')
				p++;
			vl = (size_t)(p - v);
			if (*p)
				p++;
		} else {
			v = p;
			vl = strcspn(p, ",");
			p += vl;
		}
		if (klen == kl && strncasecmp(k, key, kl) == 0)
			return xstrndup(v, vl);
	}
	return NULL;
}

static int perform_simple(struct img_reg_conn *c, struct img_reg_req *q, const char *auth);

/* The bearer-token flow: GET realm?service=&scope= (Basic credentials if we have them),
 * then keep the token for scope. 0, or -1 with img_errmsg(). */
static int fetch_token(struct img_reg_conn *c, const char *www, const char *scope)
{
	struct img_reg *r = c->r;
	struct img_reg_req q = { .method = "GET", .fd = -1, .mem_cap = TOKEN_CAP, .what = "token" };
	char *realm = chal_param(www, "realm"), *service = chal_param(www, "service");
	char *cscope = chal_param(www, "scope"), *auth = NULL, *url, *e, *tok = NULL;
	const char *t;
	json_t *j = NULL;
	int64_t exp = 60;
	int rc = -1;

	if (!realm || (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)) {
		img_seterr("%s: the registry's token realm is not an http(s) URL", r->host);
		goto out;
	}
	url = xstrdup(realm);
	if (service) {
		e = curl_easy_escape(c->h, service, 0);
		url = xasprintf("%s%cservice=%s", (t = url), strchr(url, '?') ? '&' : '?', e);
		free((char *)t);
		curl_free(e);
	}
	/* Our scopes (space-separated), and the challenge's when it asks another. */
	for (int pass = 0; pass < 2; pass++) {
		const char *src = pass == 0 ? scope : cscope;
		char *dup, *sv = NULL, *one;
		if (!src || (pass == 1 && scope && strstr(scope, src)))
			continue;
		dup = xstrdup(src);
		for (one = strtok_r(dup, " ", &sv); one; one = strtok_r(NULL, " ", &sv)) {
			e = curl_easy_escape(c->h, one, 0);
			url = xasprintf("%s%cscope=%s", (t = url), strchr(url, '?') ? '&' : '?', e);
			free((char *)t);
			curl_free(e);
		}
		free(dup);
	}
	if (r->user) {
		e = curl_easy_escape(c->h, r->user, 0);
		url = xasprintf("%s%caccount=%s", (t = url), strchr(url, '?') ? '&' : '?', e);
		free((char *)t);
		curl_free(e);
		auth = basic_header(r->user, r->pass);
	}
	q.url = url;
	if (!img_reg_is_loopback(r->host) && r->o.tls_verify && strncmp(url, "http://", 7) == 0 &&
	    auth) {
		img_seterr("%s: refusing to send credentials to a plain http token realm", r->host);
		goto out;
	}
	if (perform_simple(c, &q, auth) < 0)
		goto out;
	if (!(j = img_json_parse(q.mem ? q.mem : "", q.mlen, TOKEN_CAP)) || !json_is_object(j) ||
	    (img_json_str(j, "token", &t) != 0 && img_json_str(j, "access_token", &t) != 0) || !*t) {
		img_seterr("%s: the token server's answer has no token", r->host);
		goto out;
	}
	tok = xstrdup(t);
	if (img_json_int(j, "expires_in", &exp) != 0 || exp < 10)
		exp = 60;
	pthread_mutex_lock(&r->mu);
	size_t i;
	for (i = 0; i < r->ntokens; i++)
		if (strcmp(r->tokens[i].scope, scope ? scope : "") == 0)
			break;
	if (i == r->ntokens) {
		if (r->ntokens == MAX_TOKENS) {
			i = 0;
			free(r->tokens[0].scope);
			img_auth_free(r->tokens[0].value);
		} else {
			r->ntokens++;
		}
		r->tokens[i].scope = xstrdup(scope ? scope : "");
	} else {
		img_auth_free(r->tokens[i].value);
	}
	r->tokens[i].value = tok;
	r->tokens[i].expires = time(NULL) + (time_t)exp - 5;
	pthread_mutex_unlock(&r->mu);
	rc = 0;
out:
	json_decref(j);
	img_auth_free(auth);
	img_reg_req_release(&q);
	free(realm);
	free(service);
	free(cscope);
	return rc;
}

/* After a 401 from the registry: 0 to try again with new credentials, -1 with
 * img_errmsg() (a failed token request), 1 nothing to try. */
static int on_challenge(struct img_reg_conn *c, struct img_reg_req *q)
{
	struct img_reg *r = c->r;

	if (!q->www)
		return 1;
	if (strncasecmp(q->www, "Bearer ", 7) == 0)
		return fetch_token(c, q->www, q->scope) < 0 ? -1 : 0;
	if (strncasecmp(q->www, "Basic", 5) == 0 && r->user) {
		/* Refused without them (another thread may have learnt it first): send them.
		 * Refused with them: they are wrong. */
		if (q->sent_basic)
			return 1;
		pthread_mutex_lock(&r->mu);
		r->basic = 1;
		pthread_mutex_unlock(&r->mu);
		return 0;
	}
	return 1;
}

/* ---- requests with redirects, auth and retries ---- */

/* The registry's error for a failed request: "WHAT: CODE: message (HTTP n)". */
static void http_error(struct img_reg_req *q)
{
	json_t *j = NULL, *errs, *e0;
	const char *code = NULL, *msg = NULL;
	char *qc = NULL, *qm = NULL;

	if (q->mem && q->mlen && (j = img_json_parse(q->mem, q->mlen, ERRBODY_CAP)) &&
	    json_is_object(j) && img_json_arr(j, "errors", &errs) == 0 &&
	    json_is_object(e0 = json_array_get(errs, 0))) {
		img_json_str(e0, "code", &code);
		img_json_str(e0, "message", &msg);
	}
	if (code || msg) {
		qc = img_util_escape(code ? code : "");
		qm = img_util_escape(msg ? msg : "");
		img_seterr("%s: %s%s%s (HTTP %ld)", q->what, qc, *qc && *qm ? ": " : "", qm, q->status);
	} else if (q->status == 401) {
		img_seterr("%s: authentication required (HTTP 401)", q->what);
	} else if (q->status == 404) {
		img_seterr("%s: not found (HTTP 404)", q->what);
	} else {
		img_seterr("%s: HTTP %ld", q->what, q->status);
	}
	errno = q->status == 404 ? ENOENT : q->status == 401 || q->status == 403 ? EACCES : EIO;
	free(qc);
	free(qm);
	json_decref(j);
}

static int retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST: case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR: case CURLE_OPERATION_TIMEDOUT: case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static void backoff(int attempt, const char *retry_after)
{
	long ms = 500L << (attempt < 5 ? attempt : 5);
	struct timespec ts;

	if (retry_after && isdigit((unsigned char)*retry_after))
		ms = atol(retry_after) * 1000;
	if (ms > 10000)
		ms = 10000;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static void transport_error(struct img_reg_conn *c, struct img_reg_req *q, CURLcode rc)
{
	if (q->overflow && q->status >= 200 && q->status < 300) {
		img_seterr("%s: larger than %zu bytes", q->what, q->mem_cap);
		errno = EFBIG;
		return;
	}
	img_seterr("%s: %s", q->what, c->curlerr[0] ? c->curlerr : curl_easy_strerror(rc));
	q->transport = 1;
	errno = EIO;
}

/* One request, no redirect, no retry, auth given (token requests). */
static int perform_simple(struct img_reg_conn *c, struct img_reg_req *q, const char *auth)
{
	CURLcode rc = perform(c, q, auth);

	if (rc != CURLE_OK) {
		transport_error(c, q, rc);
		return -1;
	}
	if (q->status < 200 || q->status >= 300) {
		http_error(q);
		return -1;
	}
	return 0;
}

/* q to the registry: credentials only to its own origin, redirects followed (GET, HEAD),
 * one new authentication after a 401, retries on connection errors, 429 and 5xx as long
 * as no body byte went to the sink. 0 (2xx, or 404 with allow404), or -1. */
int img_reg_do(struct img_reg_conn *c, struct img_reg_req *q)
{
	struct img_reg *r = c->r;
	char org[512], cur[512];
	int authed = 0, attempt = 0, hops = 0, redir_ok, same;
	char *auth, *next;
	CURLcode rc;

	if (origin(r->base, org, sizeof(org)) < 0) {
		img_seterr("%s: invalid registry address", r->host);
		return -1;
	}
	redir_ok = strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0;
	q->transport = 0;
	for (;;) {
		same = origin(q->url, cur, sizeof(cur)) == 0 && strcmp(cur, org) == 0;
		auth = same ? auth_header(r, q->scope) : NULL;
		q->sent_basic = auth && strncmp(auth, "Authorization: Basic ", 21) == 0;
		rc = perform(c, q, auth);
		img_auth_free(auth);
		if (q->sink_failed)
			return -1;
		if (rc != CURLE_OK) {
			transport_error(c, q, rc);
			if (retryable(rc) && q->sunk == 0 && attempt < r->o.retries) {
				backoff(attempt++, NULL);
				continue;
			}
			return -1;
		}
		if (redir_ok && q->status >= 300 && q->status < 400 && q->location) {
			if (++hops > MAX_REDIRECTS || !(next = img_reg_resolve(q->url, q->location))) {
				img_seterr("%s: too many or invalid redirects", q->what);
				return -1;
			}
			free(q->url);
			q->url = next;
			continue;
		}
		if (q->status == 401 && same && !authed) {
			int a = on_challenge(c, q);
			authed = 1;
			if (a < 0)
				return -1;
			if (a == 0)
				continue;
		}
		if ((q->status == 429 || q->status >= 500) && q->sunk == 0 &&
		    attempt < r->o.retries) {
			backoff(attempt++, q->retry_after);
			continue;
		}
		if ((q->status >= 200 && q->status < 300) || (q->status == 404 && q->allow404))
			return 0;
		http_error(q);
		return -1;
	}
}

/* ---- the client ---- */

/* certs.d as docker reads it: a CA (*.crt) and a client certificate (*.cert + *.key). */
static void load_cert_dir(struct img_reg *r, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n;

	if (!d)
		return;
	while ((e = readdir(d))) {
		n = strlen(e->d_name);
		if (n > 4 && strcmp(e->d_name + n - 4, ".crt") == 0) {
			char *path = xasprintf("%s/%s", dir, e->d_name), *pem;
			size_t len;
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && img_json_read_capped(fd, CA_CAP, &pem, &len) == 0) {
				r->cainfo = xrealloc(r->cainfo, r->cainfo_len + len + 2);
				memcpy(r->cainfo + r->cainfo_len, pem, len);
				r->cainfo_len += len;
				r->cainfo[r->cainfo_len++] = '\n';
				free(pem);
			}
			if (fd >= 0)
				close(fd);
			free(path);
		} else if (n > 5 && strcmp(e->d_name + n - 5, ".cert") == 0 && !r->sslcert) {
			char *key = xasprintf("%s/%.*s.key", dir, (int)(n - 5), e->d_name);
			if (access(key, R_OK) == 0) {
				r->sslcert = xasprintf("%s/%s", dir, e->d_name);
				r->sslkey = key;
			} else {
				free(key);
			}
		}
	}
	closedir(d);
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int img_reg_open(const char *domain, const struct img_reg_opts *o, struct img_reg **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct img_reg *r;
	struct stat st;
	int found;

	*out = NULL;
	pthread_once(&once, global_init);
	r = xcalloc(1, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	r->o = *o;
	r->o.cert_dir = r->o.authfile = r->o.user = r->o.pass = NULL;
	if (r->o.retries < 0)
		r->o.retries = 0;
	r->host = xstrdup(img_reg_host(domain));
	if (o->cert_dir) {
		if (stat(o->cert_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			char *q = img_util_escape(o->cert_dir);
			img_seterr("cannot use --cert-dir '%s': not a directory", q);
			free(q);
			img_reg_free(r);
			return -1;
		}
		load_cert_dir(r, o->cert_dir);
	} else {
		char *p = xasprintf("/etc/docker/certs.d/%s", domain);
		load_cert_dir(r, p);
		free(p);
		p = xasprintf("/etc/containers/certs.d/%s", domain);
		load_cert_dir(r, p);
		free(p);
	}
	if (o->user) {
		r->user = xstrdup(o->user);
		r->pass = xstrdup(o->pass ? o->pass : "");
	} else if ((found = img_auth_lookup(o->authfile, domain, &r->user, &r->pass)) < 0) {
		img_reg_free(r);
		return -1;
	}
	r->base = xasprintf("https://%s", r->host);
	if (!r->o.tls_verify || img_reg_is_loopback(r->host)) {
		/* As docker's insecure registries: https when spoken, else plain http. On
		 * loopback, plain http is asked first (no credentials in that probe): an https
		 * server answers it with 400. */
		struct img_reg_conn *c = img_reg_conn_new(r);
		struct img_reg_req q = { .method = "GET", .fd = -1, .mem_cap = ERRBODY_CAP, .what = "ping" };
		CURLcode rc;
		int http = 0;

		if (img_reg_is_loopback(r->host)) {
			q.url = xasprintf("http://%s/v2/", r->host);
			rc = perform(c, &q, NULL);
			http = rc == CURLE_OK && q.status != 400;
			img_reg_req_release(&q);
			memset(&q, 0, sizeof(q));
			q = (struct img_reg_req){ .method = "GET", .fd = -1, .mem_cap = ERRBODY_CAP,
			                          .what = "ping" };
		}
		if (!http) {
			q.url = xasprintf("%s/v2/", r->base);
			rc = perform(c, &q, NULL);
			http = rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_RECV_ERROR ||
			       rc == CURLE_GOT_NOTHING;
			img_reg_req_release(&q);
		}
		if (http) {
			free(r->base);
			r->base = xasprintf("http://%s", r->host);
		}
		img_reg_conn_free(c);
	}
	*out = r;
	return 0;
}

void img_reg_free(struct img_reg *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ntokens; i++) {
		free(r->tokens[i].scope);
		img_auth_free(r->tokens[i].value);
	}
	img_auth_free(r->user);
	img_auth_free(r->pass);
	free(r->cainfo);
	free(r->sslcert);
	free(r->sslkey);
	free(r->host);
	free(r->base);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

struct img_reg_conn *img_reg_conn_new(struct img_reg *r)
{
	struct img_reg_conn *c = xcalloc(1, sizeof(*c));

	c->r = r;
	if (!(c->h = curl_easy_init())) {
		fprintf(stderr, "%s: out of memory\n", img_util_progname());
		exit(1);
	}
	return c;
}

void img_reg_conn_free(struct img_reg_conn *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->h);
	free(c);
}


struct each {
	struct img_reg *r;
	struct img_reg_conn **conns;      /* one per worker, made on first use */
	int (*fn)(void *arg, struct img_reg_conn *c, size_t i);
	void *arg;
};

static int each_task(void *arg, size_t i, unsigned worker)
{
	struct each *e = arg;

	if (!e->conns[worker])
		e->conns[worker] = img_reg_conn_new(e->r);
	return e->fn(e->arg, e->conns[worker], i);
}

int img_reg_each(struct img_reg *r, size_t n, int jobs,
                 int (*fn)(void *arg, struct img_reg_conn *c, size_t i), void *arg)
{
	unsigned nj = jobs < 1 ? 1 : jobs > 64 ? 64 : (unsigned)jobs, nw;
	struct each e = { .r = r, .fn = fn, .arg = arg };
	struct img_pool *pool;
	int rc;

	if (n == 0)
		return 0;
	if (nj > n)
		nj = (unsigned)n;
	pool = img_pool_new(nj, "img-registry");
	nw = img_pool_threads(pool) ? img_pool_threads(pool) : 1;
	e.conns = xcalloc(nw, sizeof(*e.conns));
	for (size_t i = 0; i < n; i++)
		img_pool_add(pool, each_task, &e, i);
	rc = img_pool_wait(pool);
	img_pool_free(pool);
	for (unsigned k = 0; k < nw; k++)
		img_reg_conn_free(e.conns[k]);
	free(e.conns);
	return rc;
}
