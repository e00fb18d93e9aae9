/* ref: docker image references (formats.md §6), as distribution/reference's
 * ParseNormalizedNamed followed by ParseDockerRef/TagNameOnly. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "ref.h"
#include "util.h"

#define REF_PATH_MAX 255     /* remote-name length (without the domain) */
#define REF_TAG_MAX 128

static const char default_domain[] = "docker.io";
static const char legacy_domain[] = "index.docker.io";
static const char official_prefix[] = "library/";

static int is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(int c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int is_hexc(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return 1;
	return 0;
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static int valid_domain_component(const char *s, size_t n)
{
	if (n == 0 || !is_alnum((unsigned char)s[0]) || !is_alnum((unsigned char)s[n - 1]))
		return 0;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* domain := ( domain-name | "[" [a-fA-F0-9:]+ "]" ) [ ":" [0-9]+ ] */
static int valid_domain(const char *s, size_t n)
{
	size_t hostlen, i;

	if (n == 0)
		return 0;
	if (s[0] == '[') {
		const char *end = memchr(s, ']', n);
		if (!end || end == s + 1)
			return 0;
		for (const char *p = s + 1; p < end; p++)
			if (!is_hexc((unsigned char)*p) && *p != ':')
				return 0;
		hostlen = (size_t)(end - s) + 1;
	} else {
		const char *colon = memchr(s, ':', n);
		size_t start = 0;
		hostlen = colon ? (size_t)(colon - s) : n;
		for (i = 0; i <= hostlen; i++) {
			if (i == hostlen || s[i] == '.') {
				if (!valid_domain_component(s + start, i - start))
					return 0;
				start = i + 1;
			}
		}
	}
	if (hostlen == n)
		return 1;
	if (s[hostlen] != ':' || hostlen + 1 == n)
		return 0;
	for (i = hostlen + 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )* */
static int valid_path_component(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_lower_alnum((unsigned char)s[0]))
		return 0;
	while (i < n) {
		while (i < n && is_lower_alnum((unsigned char)s[i]))
			i++;
		if (i == n)
			return 1;
		/* a separator, then at least one alnum */
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return 0;
		}
		if (i == n || !is_lower_alnum((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* remote-name := path-component ( "/" path-component )* */
static int valid_path(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '/') {
			if (!valid_path_component(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

/* tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static int valid_tag(const char *s, size_t n)
{
	if (n == 0 || n > REF_TAG_MAX)
		return 0;
	if (!is_alnum((unsigned char)s[0]) && s[0] != '_')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

/* digest := [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)* ":" [0-9a-fA-F]{32,}
 * (the grammar only; the algorithm and exact length are checked afterwards). */
static int valid_digest_syntax(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t alen, i;

	if (!colon)
		return 0;
	alen = (size_t)(colon - s);
	i = 0;
	for (;;) {
		if (i >= alen || !isalpha((unsigned char)s[i]))
			return 0;
		i++;
		while (i < alen && is_alnum((unsigned char)s[i]))
			i++;
		if (i == alen)
			break;
		if (!strchr("-_+.", s[i]))
			return 0;
		i++;
	}
	if (n - alen - 1 < 32)
		return 0;
	for (i = alen + 1; i < n; i++)
		if (!is_hexc((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Spans of a remainder "path[:tag][@digest]". */
struct spans {
	const char *path, *tag, *digest;
	size_t pathlen, taglen, digestlen;
	int has_tag, has_digest;
};

/* 1 if "domain/remainder" matches the reference grammar; fills sp. */
static int match_remainder(const char *domain, size_t domainlen, const char *rem, struct spans *sp)
{
	const char *at = strchr(rem, '@');
	size_t leftlen = at ? (size_t)(at - rem) : strlen(rem);
	const char *colon = memchr(rem, ':', leftlen);

	memset(sp, 0, sizeof(*sp));
	sp->path = rem;
	sp->pathlen = colon ? (size_t)(colon - rem) : leftlen;
	if (colon) {
		sp->has_tag = 1;
		sp->tag = colon + 1;
		sp->taglen = leftlen - sp->pathlen - 1;
	}
	if (at) {
		sp->has_digest = 1;
		sp->digest = at + 1;
		sp->digestlen = strlen(at + 1);
	}
	if (!valid_domain(domain, domainlen))
		return 0;
	if (!valid_path(sp->path, sp->pathlen))
		return 0;
	if (sp->has_tag && !valid_tag(sp->tag, sp->taglen))
		return 0;
	if (sp->has_digest && !valid_digest_syntax(sp->digest, sp->digestlen))
		return 0;
	return 1;
}

static int is_identifier(const char *s)
{
	return img_digest_is_hex(s, 64);
}

/* The parser; *typed_tag tells whether the input carried a tag itself. */
static int ref_parse(const char *s, struct img_ref *r, int *typed_tag)
{
	const char *slash, *rem;
	char *domain = NULL, *remainder = NULL, *lower = NULL;
	size_t i;
	struct spans sp;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (typed_tag)
		*typed_tag = 0;
	if (!s || !*s) {
		img_seterr("repository name must have at least one component");
		return -1;
	}
	if (is_identifier(s)) {
		img_seterr("invalid repository name, cannot specify 64-byte hexadecimal strings");
		return -1;
	}

	/* splitDockerDomain */
	slash = strchr(s, '/');
	if (!slash || (!memchr(s, '.', (size_t)(slash - s)) && !memchr(s, ':', (size_t)(slash - s)) &&
		       !((size_t)(slash - s) == 9 && strncmp(s, "localhost", 9) == 0) &&
		       !has_upper(s, (size_t)(slash - s)))) {
		domain = xstrdup(default_domain);
		rem = s;
	} else {
		domain = xstrndup(s, (size_t)(slash - s));
		rem = slash + 1;
	}
	if (strcmp(domain, legacy_domain) == 0) {
		free(domain);
		domain = xstrdup(default_domain);
	}
	if (strcmp(domain, default_domain) == 0 && !strchr(rem, '/'))
		remainder = xasprintf("%s%s", official_prefix, rem);
	else
		remainder = xstrdup(rem);

	/* the remote name (up to the first ':') must be lower-case */
	{
		const char *c = strchr(remainder, ':');
		if (has_upper(remainder, c ? (size_t)(c - remainder) : strlen(remainder))) {
			img_seterr("repository name must be lowercase");
			goto out;
		}
	}

	/* Parse(domain + "/" + remainder) */
	if (!match_remainder(domain, strlen(domain), remainder, &sp)) {
		struct spans sp2;
		char *ldom = xstrdup(domain);
		lower = xstrdup(remainder);
		for (i = 0; ldom[i]; i++)
			ldom[i] = (char)tolower((unsigned char)ldom[i]);
		for (i = 0; lower[i]; i++)
			lower[i] = (char)tolower((unsigned char)lower[i]);
		if (match_remainder(ldom, strlen(ldom), lower, &sp2))
			img_seterr("repository name must be lowercase");
		else
			img_seterr("invalid reference format");
		free(ldom);
		goto out;
	}
	if (sp.pathlen > REF_PATH_MAX) {
		img_seterr("repository name must not be more than %d characters", REF_PATH_MAX);
		goto out;
	}
	if (sp.has_digest) {
		struct img_digest d;
		if (img_digest_parse(sp.digest, &d) < 0)
			goto out;
		r->digest = xstrdup(d.str);
	}
	r->domain = domain;
	domain = NULL;
	r->path = xstrndup(sp.path, sp.pathlen);
	if (sp.has_tag && typed_tag)
		*typed_tag = 1;
	/* ParseDockerRef drops a tag given with a digest; TagNameOnly adds latest. */
	if (!r->digest)
		r->tag = sp.has_tag ? xstrndup(sp.tag, sp.taglen) : xstrdup("latest");
	ret = 0;
out:
	free(domain);
	free(remainder);
	free(lower);
	return ret;
}

int img_ref_parse(const char *s, struct img_ref *r)
{
	return ref_parse(s, r, NULL);
}

void img_ref_release(struct img_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

static char *with_suffix(char *repo, const struct img_ref *r)
{
	char *s;

	if (r->digest)
		s = xasprintf("%s@%s", repo, r->digest);
	else if (r->tag)
		s = xasprintf("%s:%s", repo, r->tag);
	else
		return repo;
	free(repo);
	return s;
}

char *img_ref_repo(const struct img_ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

char *img_ref_familiar_repo(const struct img_ref *r)
{
	const char *p = r->path;

	if (strcmp(r->domain, default_domain) != 0)
		return img_ref_repo(r);
	if (strncmp(p, official_prefix, sizeof(official_prefix) - 1) == 0 &&
	    !strchr(p + sizeof(official_prefix) - 1, '/'))
		p += sizeof(official_prefix) - 1;
	return xstrdup(p);
}

char *img_ref_canonical(const struct img_ref *r)
{
	return with_suffix(img_ref_repo(r), r);
}

char *img_ref_familiar(const struct img_ref *r)
{
	return with_suffix(img_ref_familiar_repo(r), r);
}

char *img_ref_normalize(const char *s)
{
	struct img_ref r;
	char *c;

	if (img_ref_parse(s, &r) < 0)
		return NULL;
	c = img_ref_canonical(&r);
	img_ref_release(&r);
	return c;
}

int img_ref_is_id(const char *s)
{
	size_t n;

	if (!s)
		return 0;
	if (strncmp(s, "sha256:", 7) == 0) {
		n = strlen(s + 7);
		return n >= 1 && n <= 64 && img_digest_is_hex(s + 7, n);
	}
	n = strlen(s);
	return n >= 4 && n <= 64 && img_digest_is_hex(s, n);
}

static int glob_match(const char *pattern, const char *s)
{
	return s && fnmatch(pattern, s, FNM_PATHNAME) == 0;
}

int img_ref_match(const char *canonical, const char *pattern)
{
	struct img_ref c, p;
	char *fam = NULL, *famrepo = NULL, *repo = NULL, *prepo = NULL;
	int typed_tag = 0, m = 0;

	if (!canonical || !pattern)
		return 0;
	if (img_ref_parse(canonical, &c) < 0)
		/* not a reference: plain glob on the raw string */
		return strcmp(canonical, pattern) == 0 || glob_match(pattern, canonical);

	/* As docker's FamiliarMatch: the familiar string, then the familiar name; and
	 * the canonical forms too, so "docker.io/library/ng*" works. */
	fam = img_ref_familiar(&c);
	famrepo = img_ref_familiar_repo(&c);
	repo = img_ref_repo(&c);
	if (glob_match(pattern, fam) || glob_match(pattern, famrepo) ||
	    glob_match(pattern, canonical) || glob_match(pattern, repo)) {
		m = 1;
		goto out;
	}
	/* A plain name: compare normalized ("library/nginx", "docker.io/nginx:v3", ...).
	 * Glob characters are never part of a name, but for an IPv6 domain's brackets
	 * ("[::1]:5000/app"), which fnmatch reads as a set: a name is always a name. */
	if (ref_parse(pattern, &p, &typed_tag) == 0) {
		prepo = img_ref_repo(&p);
		m = strcmp(prepo, repo) == 0;
		if (m && p.digest)
			m = c.digest && strcmp(p.digest, c.digest) == 0;
		else if (m && typed_tag)
			m = c.tag && strcmp(p.tag, c.tag) == 0;
		img_ref_release(&p);
	}
out:
	free(fam);
	free(famrepo);
	free(repo);
	free(prepo);
	img_ref_release(&c);
	return m;
}

int img_ref_is_bare_tag(const char *s)
{
	return s && *s && !strpbrk(s, "/:@");
}

int img_ref_archive_name(const char *ctr, const char *refname, const char *base,
                         char **canon, const char **bare)
{
	const char *s = ctr;
	char *joined = NULL;
	struct img_ref r;

	*canon = NULL;
	if (bare)
		*bare = img_ref_is_bare_tag(refname) ? refname : NULL;
	if (!s) {
		s = refname;
		if (!s)
			return 0;
		if (img_ref_is_bare_tag(s)) {
			if (!base)
				return 0;
			s = joined = xasprintf("%s:%s", base, refname);
		}
	}
	if (img_ref_parse(s, &r) < 0) {
		free(joined);
		return -1;
	}
	if (r.tag && !r.digest)
		*canon = img_ref_canonical(&r);
	img_ref_release(&r);
	free(joined);
	return 0;
}
