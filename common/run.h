/* run: the store's run area, .img/run (design.md §3), where img-run keeps the unpacked
 * images its containers share (images/<manifest hex>/rootfs, never written once made)
 * and the containers' bundles (containers/<name>/: config.json, rootfs, upper, work and
 * "image", the descriptor of the manifest the container was made from, which img-gc
 * keeps). Tools reach the run area only through these functions. */
#ifndef IMG_RUN_H
#define IMG_RUN_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include "digest.h"
#include "store.h"

/* 1 when name is a valid container name ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 128). */
int img_run_name_valid(const char *name);

/* The unpacked image of manifest m: .img/run/images/<hex>/rootfs. When it is missing it
 * is made under an exclusive lock (a second img-run of the same image waits, then uses
 * it): fill(arg, rootfd) writes it into a temp directory that is renamed into place only
 * when fill returned 0. *made says whether fill ran; *rootfs (absolute, caller frees)
 * its path. 0, or -1 with img_errmsg(). */
int img_run_image(struct img_store *s, const struct img_digest *m,
                  int (*fill)(void *arg, int rootfd), void *arg, int *made,
                  char **rootfs);

/* The runc program on $PATH (new string, caller frees), or NULL. */
char *img_run_find_runc(void);

/* 1 when runc has state for the container name (under its default --root: /run/runc
 * for root, else $XDG_RUNTIME_DIR/runc). */
int img_run_runc_knows(const char *name);

/* A new container directory .img/run/containers/<name> (0700) whose "image" file holds
 * desc, and whose "lock" file *lockfd holds locked (the caller keeps it open as long as
 * the container may not yet be known to runc; then img-gc leaves it alone). *dir
 * (absolute, caller frees). -1 with errno EEXIST when it exists. */
int img_run_container_new(struct img_store *s, const char *name, json_t *desc,
                          char **dir, int *lockfd);
/* Remove the container directories that nobody holds locked and runc does not know
 * (after runc delete, or a reboot); with dry_run only count them. 0 or -1. */
int img_run_prune_containers(struct img_store *s, int dry_run, size_t *removed);
/* 1 when the container's directory exists, 0 when not. */
int img_run_container_exists(struct img_store *s, const char *name);
/* Make the name free: a directory left by a container that runc no longer knows and
 * nobody holds is removed. 0, or -1 with img_errmsg() ("container 'NAME' exists"). */
int img_run_container_reclaim(struct img_store *s, const char *name);
/* Remove a container's directory, its rootfs unmounted first when it is a mount.
 * A missing one is no error. 0 or -1. */
int img_run_container_remove(struct img_store *s, const char *name);
/* The names of the container directories (*names: array and strings the caller frees).
 * 0 or -1. */
int img_run_containers(struct img_store *s, char ***names, size_t *n);
/* The descriptor in a container's "image" file: new reference, or NULL (img_errmsg). */
json_t *img_run_container_image(struct img_store *s, const char *name);
/* Remove the unpacked images for which keep(arg, manifest) is 0. *removed counts them.
 * 0 or -1. */
int img_run_prune_images(struct img_store *s,
                         int (*keep)(void *arg, const struct img_digest *m), void *arg,
                         size_t *removed);

/* Mount an overlay on dir/rootfs: lowerdir lower, upperdir dir/upper, workdir dir/work
 * (paths without ',' or ':'). 0, or -1 with errno. */
int img_run_overlay(const char *lower, const char *dir);
/* fork and exec argv[0] with stdin in (-1: ours) and stdout and stderr out (-1: ours);
 * the child gets the default SIGINT, SIGTERM and SIGHUP. The pid, or -1 with
 * img_errmsg() ("cannot run PROG: why") when the fork or the exec failed (the child is
 * reaped then). */
pid_t img_run_spawn(const char *const *argv, int in, int out);
/* Wait for pid: its exit status, 128 + the signal that killed it, or 1. */
int img_run_wait(pid_t pid);
/* runc run (--keep when keep) of the bundle dir as container name, in the foreground,
 * stdin in, stdout and stderr out (-1: ours). SIGINT, SIGTERM and SIGHUP are passed on
 * (handlers installed here); a container still running 5 s later is killed. The
 * container's status, or -1 with img_errmsg() when runc cannot be started. */
int img_run_runc(const char *runc, const char *dir, const char *name, int keep, int in,
                 int out);

/* The build cache (.img/run/cache): a step's key -> the manifest digest of the image it
 * made. get: 1 and *out when key is known, else 0. put: 0 or -1. The images themselves
 * are blobs that img-gc may remove: the caller checks that they are still there. */
int img_run_build_cache_get(struct img_store *s, const struct img_digest *key,
                            struct img_digest *out);
int img_run_build_cache_put(struct img_store *s, const struct img_digest *key,
                            const struct img_digest *m);

#endif
