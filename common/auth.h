/* auth: registry credentials in the auth file docker and podman share
 * ({"auths": {"HOST": {"auth": base64("user:password")}}}). */
#ifndef IMG_AUTH_H
#define IMG_AUTH_H

/* The file img-login writes: authfile if non-NULL, else $REGISTRY_AUTH_FILE, else
 * ~/.docker/config.json. New string, caller frees; NULL (img_errmsg) without $HOME. */
char *img_auth_file(const char *authfile);

/* The credentials of a registry host ("docker.io", "host:5000") from authfile if non-NULL,
 * else from $REGISTRY_AUTH_FILE and then ~/.docker/config.json. An entry's key may be the
 * host or a URL naming it ("https://index.docker.io/v1/" for docker.io). *user and *pass
 * are new strings the caller frees (and clears: img_auth_free). 1 found, 0 none, -1 with
 * img_errmsg() when a file cannot be read or is not valid. */
int img_auth_lookup(const char *authfile, const char *host, char **user, char **pass);
/* Clear and free a secret. NULL-safe. */
void img_auth_free(char *secret);

/* Store the credentials of host in file: the file (mode 0600; its directory 0700 when
 * made) is replaced atomically, every other entry and key kept. 0 or -1. */
int img_auth_store(const char *file, const char *host, const char *user, const char *pass);
/* Remove the entry of host (every key naming it). 1 removed, 0 there was none, -1. */
int img_auth_remove(const char *file, const char *host);

/* The key docker writes for host ("https://index.docker.io/v1/" for docker.io, else host).
 * Static string or host itself. */
const char *img_auth_key(const char *host);

#endif
