/* auth: registry credentials in docker's and podman's auth file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>

#include "util.h"
#include "json.h"
#include "io.h"
#include "auth.h"

#define AUTH_FILE_CAP (16u << 20)

char *img_auth_file(const char *authfile)
{
	const char *e, *home;

	if (authfile)
		return xstrdup(authfile);
	if ((e = getenv("REGISTRY_AUTH_FILE")) && *e)
		return xstrdup(e);
	if (!(home = getenv("HOME")) || !*home) {
		img_seterr("cannot find the auth file: HOME is not set");
		return NULL;
	}
	return xasprintf("%s/.docker/config.json", home);
}

const char *img_auth_key(const char *host)
{
	if (strcmp(host, "docker.io") == 0)
		return "https://index.docker.io/v1/";
	return host;
}

/* The host an auths key names: scheme and path dropped; docker's index names docker.io.
 * Into buf. */
static const char *key_host(const char *key, char *buf, size_t len)
{
	const char *p = key;
	size_t n;

	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	n = strcspn(p, "/");
	if (n >= len)
		n = len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (strcmp(buf, "index.docker.io") == 0 || strcmp(buf, "registry-1.docker.io") == 0)
		snprintf(buf, len, "docker.io");
	return buf;
}

void img_auth_free(char *secret)
{
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
}

/* Read and parse file: the document (new reference), or NULL with *missing set when there
 * is no such file, or NULL (img_errmsg) when it is unreadable or invalid. */
static json_t *read_file(const char *file, int *missing)
{
	json_t *j;
	char *q;
	int fd;

	*missing = 0;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			*missing = 1;
			return NULL;
		}
		q = img_util_escape(file);
		img_seterr_errno("cannot open '%s'", q);
		free(q);
		return NULL;
	}
	j = img_json_parse_fd(fd, AUTH_FILE_CAP);
	close(fd);
	if (!j || !json_is_object(j)) {
		char *m = xstrdup(j ? "not a JSON object" : img_errmsg());
		q = img_util_escape(file);
		img_seterr("%s: %s", q, m);
		free(m);
		free(q);
		json_decref(j);
		return NULL;
	}
	return j;
}

static int decode(const char *b64, char **user, char **pass)
{
	size_t n = strlen(b64), pad = 0;
	unsigned char *out;
	char *colon;
	int len;

	if (n == 0 || n % 4 != 0 || n > 65536)
		return -1;
	if (b64[n - 1] == '=')
		pad++;
	if (n > 1 && b64[n - 2] == '=')
		pad++;
	out = xmalloc(n / 4 * 3 + 1);
	len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
	if (len < 0 || (size_t)len < pad) {
		free(out);
		return -1;
	}
	len -= (int)pad;
	out[len] = '\0';
	if (memchr(out, '\0', (size_t)len) || !(colon = strchr((char *)out, ':'))) {
		explicit_bzero(out, (size_t)len);
		free(out);
		return -1;
	}
	*colon = '\0';
	*user = xstrdup((char *)out);
	*pass = xstrdup(colon + 1);
	explicit_bzero(out, (size_t)len);
	free(out);
	return 0;
}

static int lookup_in(const char *file, const char *host, char **user, char **pass)
{
	json_t *j, *auths, *v;
	const char *key, *b64;
	char hb[256];
	int missing, r = 0;

	if (!(j = read_file(file, &missing)))
		return missing ? 0 : -1;
	if (img_json_obj(j, "auths", &auths) != 0)
		goto out;
	/* The exact key first, then any key naming the host. */
	v = json_object_get(auths, img_auth_key(host));
	if (!json_is_object(v))
		v = json_object_get(auths, host);
	if (!json_is_object(v)) {
		json_t *e;
		v = NULL;
		json_object_foreach(auths, key, e) {
			if (json_is_object(e) && strcmp(key_host(key, hb, sizeof(hb)), host) == 0) {
				v = e;
				break;
			}
		}
	}
	if (!json_is_object(v) || img_json_str(v, "auth", &b64) != 0 || !*b64)
		goto out;
	if (decode(b64, user, pass) < 0) {
		char *q = img_util_escape(file);
		img_seterr("%s: the credentials of %s are not base64 of user:password", q, host);
		free(q);
		r = -1;
		goto out;
	}
	r = 1;
out:
	json_decref(j);
	return r;
}

int img_auth_lookup(const char *authfile, const char *host, char **user, char **pass)
{
	char *f;
	int r;

	*user = *pass = NULL;
	if (authfile)
		return lookup_in(authfile, host, user, pass);
	if ((f = img_auth_file(NULL))) {
		r = lookup_in(f, host, user, pass);
		free(f);
		if (r != 0)
			return r;
	}
	if (getenv("REGISTRY_AUTH_FILE") && getenv("HOME") && *getenv("HOME")) {
		f = xasprintf("%s/.docker/config.json", getenv("HOME"));
		r = lookup_in(f, host, user, pass);
		free(f);
		return r;
	}
	return 0;
}

static int write_file(const char *file, json_t *j)
{
	struct img_out o;
	char *text, *dir, *slash;
	size_t len;
	int rc = -1;

	dir = xstrdup(file);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			char *q = img_util_escape(dir);
			img_seterr_errno("cannot create '%s'", q);
			free(q);
			free(dir);
			return -1;
		}
	}
	free(dir);
	text = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text) {
		img_seterr("cannot serialize the auth file");
		return -1;
	}
	len = strlen(text);
	if (img_io_out_open(&o, file) < 0)
		goto out;
	if (img_io_out_chmod(&o, 0600) < 0) {
		img_io_out_abort(&o);
		goto out;
	}
	if (img_io_write_all(o.fd, text, len) < 0 || img_io_write_all(o.fd, "\n", 1) < 0) {
		char *q = img_util_escape(file);
		img_seterr_errno("cannot write '%s'", q);
		free(q);
		img_io_out_abort(&o);
		goto out;
	}
	if (img_io_out_commit(&o) < 0)
		goto out;
	rc = 0;
out:
	explicit_bzero(text, len);
	free(text);
	return rc;
}

/* Remove every key of auths that names host. Returns how many. */
static int drop_host(json_t *auths, const char *host)
{
	const char *key;
	json_t *v;
	void *tmp;
	char hb[256];
	int n = 0;

	json_object_foreach_safe(auths, tmp, key, v) {
		if (strcmp(key, host) == 0 || strcmp(key_host(key, hb, sizeof(hb)), host) == 0) {
			json_object_del(auths, key);
			n++;
		}
	}
	return n;
}

static json_t *open_doc(const char *file)
{
	int missing;
	json_t *j = read_file(file, &missing);

	if (!j && missing)
		j = json_object();
	return j;
}

int img_auth_store(const char *file, const char *host, const char *user, const char *pass)
{
	json_t *j, *auths, *entry;
	char *plain, *b64;
	size_t n;
	int rc;

	if (strchr(user, ':')) {
		img_seterr("a user name cannot contain ':'");
		return -1;
	}
	if (!(j = open_doc(file)))
		return -1;
	auths = json_object_get(j, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(j, "auths", auths);
	}
	drop_host(auths, host);
	plain = xasprintf("%s:%s", user, pass);
	n = strlen(plain);
	b64 = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain, (int)n);
	explicit_bzero(plain, n);
	free(plain);
	entry = json_object();
	json_object_set_new(entry, "auth", json_string(b64));
	explicit_bzero(b64, strlen(b64));
	free(b64);
	json_object_set_new(auths, img_auth_key(host), entry);
	rc = write_file(file, j);
	json_decref(j);
	return rc;
}

int img_auth_remove(const char *file, const char *host)
{
	json_t *j, *auths;
	int missing, rc = 0;

	if (!(j = read_file(file, &missing)))
		return missing ? 0 : -1;
	auths = json_object_get(j, "auths");
	if (json_is_object(auths) && drop_host(auths, host) > 0)
		rc = write_file(file, j) < 0 ? -1 : 1;
	json_decref(j);
	return rc;
}
