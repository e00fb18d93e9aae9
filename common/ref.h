/* ref: docker image references: parse, normalize, format (formats.md §6). */
#ifndef IMG_REF_H
#define IMG_REF_H

/* A normalized reference. All strings owned; tag or digest may be NULL, not both
 * after img_ref_parse (":latest" is added when neither is given). */
struct img_ref {
	char *domain;   /* "docker.io", "localhost:5000", "Registry.Example.com" */
	char *path;     /* "library/nginx" */
	char *tag;      /* "v3" or NULL */
	char *digest;   /* "sha256:..." or NULL; when set, a typed tag is dropped */
};

/* Parse and normalize as docker's ParseNormalizedNamed + TagNameOnly.
 * 0, or -1 with img_errmsg() ("invalid reference format", "repository name must be
 * lowercase", ...). A 64-hex string is refused (it is an ID, see img_ref_is_id). */
int img_ref_parse(const char *s, struct img_ref *r);
void img_ref_release(struct img_ref *r);

/* New strings, caller frees. */
char *img_ref_canonical(const struct img_ref *r); /* docker.io/library/nginx:v3 | ...@sha256:... */
char *img_ref_familiar(const struct img_ref *r);  /* nginx:v3 */
char *img_ref_repo(const struct img_ref *r);      /* docker.io/library/nginx */
char *img_ref_familiar_repo(const struct img_ref *r); /* nginx */

/* Shortcut: canonical string of s, or NULL with img_errmsg(). Caller frees. */
char *img_ref_normalize(const char *s);

/* 1 if s is a bare tag as an OCI layout's org.opencontainers.image.ref.name may hold
 * ("v1", "latest": no '/', ':' or '@'): a tag of no known repository. */
int img_ref_is_bare_tag(const char *s);

/* The name an archive's index.json entry gives its image (the one rule, img(7)):
 * io.containerd.image.name (ctr) when set, else org.opencontainers.image.ref.name (refname).
 * A bare tag names base:TAG when base (a repository) is given, else nothing; *bare (if
 * non-NULL) points at refname when it is a bare tag, NULL otherwise. Anything else is a reference, normalized as docker does (no
 * tag means latest); a digest-only reference names nothing. *canon: a new canonical
 * name, or NULL for none. 0, or -1 with img_errmsg() for an invalid name. */
int img_ref_archive_name(const char *ctr, const char *refname, const char *base,
                         char **canon, const char **bare);

/* 1 if s looks like an image ID or digest prefix rather than a name:
 * "sha256:<1..64 hex>" or 1..64 lower-case hex with no name-like parse preference.
 * Exactly 64 hex is always an ID. */
int img_ref_is_id(const char *s);

/* 1 if a canonical name matches a user pattern as `docker image ls PATTERN` does:
 * the pattern (normalized, tag optional) names the repository, and the tag if given. */
int img_ref_match(const char *canonical, const char *pattern);

#endif
