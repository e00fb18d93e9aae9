/* bundle: the OCI runtime bundle's config.json (runtime-spec 1.0) for an image: the
 * process from the image config (Entrypoint + Cmd, Env, WorkingDir, User) with the
 * overrides of img-run, the user and groups resolved through the rootfs's /etc/passwd and
 * /etc/group (read as data, through the rootfs fd, never following a link out of it), a
 * hostname, the default mounts (/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys) and
 * namespaces (pid, network, ipc, uts, mount), docker's default capabilities. */
#ifndef IMG_BUNDLE_H
#define IMG_BUNDLE_H

#include <stddef.h>
#include <jansson.h>
#include "image.h"

struct img_bundle_opts {
	char *const *cmd;          /* CMD ARG... replacing the image's Cmd (NULL: keep) */
	size_t ncmd;
	const char *entrypoint;    /* replaces Entrypoint ("" clears it) and the image's Cmd */
	char *const *env;          /* K=V (a bare K takes the caller's value, if any) */
	size_t nenv;
	const char *workdir;       /* absolute, or NULL */
	const char *user;          /* USER[:GROUP], names or numbers, or NULL */
	const char *hostname;      /* NULL: "img" */
	const char *rootfs;        /* root.path, NULL: "rootfs" */
	int terminal;
	int readonly;
};

/* config.json for the image config c, its rootfs open as rootfd. New reference, or NULL
 * with img_errmsg() (no command, a user or group the rootfs does not know, a relative
 * working directory). */
json_t *img_bundle_config(const struct img_config *c, int rootfd,
                          const struct img_bundle_opts *o);
/* Write doc as config.json in dirfd (temp, fsync, rename). 0 or -1. */
int img_bundle_write(int dirfd, json_t *doc);

/* Resolve USER[:GROUP] through the rootfs's /etc/passwd and /etc/group: uid, gid, the
 * supplementary groups that list the user (*gids, caller frees, *ngids), its home
 * (caller frees; "/" when unknown). 0 or -1 with img_errmsg(). */
int img_bundle_user(int rootfd, const char *user, unsigned *uid, unsigned *gid,
                    unsigned **gids, size_t *ngids, char **home);

#endif
