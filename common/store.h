/* store: the OCI image layout that holds images (design.md §3).
 *
 * Layout: DIR/oci-layout, DIR/index.json, DIR/blobs/<alg>/<hex>, and private state in
 * DIR/.img/: "lock" (flock: writers shared while they own temp files, img-gc exclusive),
 * "index.lock" (flock: short exclusive hold around each index.json replacement), tmp/.
 * Blobs appear in blobs/ only by rename after their bytes hashed to their name.
 * Only store.c and blob.c touch these directories; tools go through the functions
 * below (and name images with index.h's edits inside img_store_index_update). */
#ifndef IMG_STORE_H
#define IMG_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "digest.h"
#include "image.h"
#include "index.h"

struct img_store;

enum {
	IMG_STORE_CREATE = 1,   /* create the layout if missing */
};

/* Where the store is: opt (-S) if non-NULL, else $IMG_STORE, else $XDG_DATA_HOME/img,
 * else ~/.local/share/img. New string, caller frees. */
char *img_store_default_path(const char *opt);

/* Open (and with IMG_STORE_CREATE create) the layout at dir. Checks oci-layout.
 * Without CREATE a missing store is an error "no image store at DIR" (ENOENT).
 * *out owned by caller, img_store_close frees. 0 or -1. */
int img_store_open(const char *dir, int flags, struct img_store **out);
void img_store_close(struct img_store *s);
const char *img_store_path(const struct img_store *s);

/* Store lock. mode IMG_LOCK_SHARED for writers (held while owning temp files;
 * img_blob_begin takes it automatically), IMG_LOCK_EXCLUSIVE for img-gc.
 * If the lock is busy, waiting(arg) is called once (to say "waiting for the store lock")
 * and the call blocks. 0 or -1. Released by img_store_unlock or close. */
enum { IMG_LOCK_SHARED = 1, IMG_LOCK_EXCLUSIVE = 2 };
int img_store_lock(struct img_store *s, int mode, void (*waiting)(void *), void *arg);
void img_store_unlock(struct img_store *s);
/* The callback used when a lock is busy by functions that lock implicitly
 * (blob_begin, index_update). Default: none (block silently). */
void img_store_set_waiting(struct img_store *s, void (*waiting)(void *), void *arg);

/* ---- blobs (blob.c) ---- */

/* 1 present (and *size set if non-NULL), 0 absent, -1 error. Does not re-hash. */
int img_blob_has(struct img_store *s, const struct img_digest *d, int64_t *size);
/* Open a blob read-only (O_NOFOLLOW). fd or -1 (ENOENT when missing). */
int img_blob_open(struct img_store *s, const struct img_digest *d);
/* Read a whole blob of at most cap bytes and verify its digest. Caller frees *buf. 0 or -1. */
int img_blob_read(struct img_store *s, const struct img_digest *d, size_t cap,
                  char **buf, size_t *len);
/* Verify a blob by streaming it: size (if expect_size >= 0) then digest. 0 ok, -1 bad
 * (img_errmsg says "missing" (errno ENOENT), "not a regular file", "cannot open: ...",
 * "size N, expected M", "read error: ..." or "digest mismatch (got ...)"). */
int img_blob_verify(struct img_store *s, const struct img_digest *d, int64_t expect_size);
/* The same with the caller's scratch, for loops and threads: h (a hash of d's algorithm,
 * reset here; NULL: one is made), buf of bufsz bytes (NULL: one is made); *nread (may be
 * NULL) gets the bytes hashed added. Safe to call from several threads at once. */
int img_blob_verify_with(struct img_store *s, const struct img_digest *d, int64_t expect_size,
                         struct img_hash *h, void *buf, size_t bufsz, uint64_t *nread);

/* The blob writer, the only way bytes enter blobs/: a temp file in .img/tmp (the store
 * lock is taken shared if not held), hashed (sha256, or expect's alg) while written,
 * fsynced and renamed into blobs/ by commit. The directory blobs/<alg> is synced once,
 * before index.json next changes. */
struct img_blob_writer;
enum {
	IMG_BLOB_STREAM  = 1,   /* no buffer: each write goes to the file (many writers may be
	                         * open at little cost); writeback started every 8 MiB */
	IMG_BLOB_DIRECT  = 2,   /* STREAM, and O_DIRECT where the file system takes it: whole
	                         * 4 KiB blocks written from 4 KiB-aligned buffers bypass the
	                         * page cache; anything else falls back to buffered writes */
	IMG_BLOB_TRUSTED = 4,   /* the caller hashes the bytes itself (as they arrive): no
	                         * hashing here; commit must be given the digest */
};
int img_blob_begin(struct img_store *s, struct img_blob_writer **w);
int img_blob_begin_flags(struct img_store *s, int flags, struct img_blob_writer **w);
/* Write n bytes. 0 or -1; after a failure every later write and the commit fail too.
 * A writer may be fed by another thread than the one that began it (one at a time). */
int img_blob_write(struct img_blob_writer *w, const void *buf, size_t n);
uint64_t img_blob_written(const struct img_blob_writer *w);
/* The first write failure ("cannot write 'PATH': why"), or NULL: for a writer fed by
 * another thread, whose img_errmsg() the caller cannot see. Owned by w. */
const char *img_blob_error(const struct img_blob_writer *w);
/* Finish: if expect is non-NULL the digest must match, if expect_size >= 0 the size too.
 * fsync, then rename to blobs/ (a blob already present is kept and the temp removed).
 * *out (may be NULL) gets the digest. Frees w whatever happens. 0 or -1. Writers of one
 * store may be begun and committed on several threads at once (img-pull's workers). */
int img_blob_commit(struct img_blob_writer *w, const struct img_digest *expect,
                    int64_t expect_size, struct img_digest *out);
void img_blob_abort(struct img_blob_writer *w);
/* A writer for blob d that resumes where an earlier, interrupted one stopped: the kept
 * partial file .img/tmp/part-<hex>, flock'ed exclusively while owned (busy: a fresh
 * temp file as img_blob_begin). Its bytes are hashed again and img_blob_written() says
 * how many there are; they are dropped when size >= 0 and they are not fewer than size.
 * Such a file is not removed on a signal, so a killed download resumes; img-gc (store
 * lock exclusive) removes it as any temp file. sha512 digests: a plain writer. 0 or -1. */
int img_blob_begin_resume(struct img_store *s, const struct img_digest *d, int64_t size,
                          struct img_blob_writer **w);
/* Drop what was written and start again from byte 0 (a server that ignored a Range). */
int img_blob_restart(struct img_blob_writer *w);
/* Give up for now: a resumable writer keeps its bytes for a later img_blob_begin_resume;
 * any other writer is aborted. Frees w. */
void img_blob_keep(struct img_blob_writer *w);
/* Store a small buffer as a blob (sha256). 0 or -1. */
int img_blob_put(struct img_store *s, const void *buf, size_t len, struct img_digest *out);

/* Copying blobs out of the store verified (img-save): the reading thread hands each chunk
 * to the caller's sink while the copier's own thread hashes the same chunk (in a ring of
 * a few slots), so that hashing runs beside reading and writing. NULL with img_errmsg()
 * when no thread can start. Free with img_blob_copier_free (NULL is fine). */
struct img_blob_copier;
struct img_blob_copier *img_blob_copier_new(void);
void img_blob_copier_free(struct img_blob_copier *cp);
/* Copy blob d of exactly size bytes: open it and check its size, call begin(arg) (may be
 * NULL), then sink(arg, chunk, n) for each chunk, then check its end and digest.
 * 0; -1 with img_errmsg() when the blob is missing, unreadable, of another size or
 * digest; -2 when begin or sink failed (their img_errmsg()). */
int img_blob_copy(struct img_blob_copier *cp, struct img_store *s, const struct img_digest *d,
                  int64_t size, int (*begin)(void *arg),
                  int (*sink)(void *arg, const void *buf, size_t n), void *arg);

/* Call fn(digest, size, arg) for every blob in blobs/sha256 and blobs/sha512 (regular
 * files named by an exact digest; anything else there is not a blob and left out), in
 * directory order. fn returns 0 to go on, -1 to stop (the listing returns -1).
 * 0, or -1 with img_errmsg() and errno. */
typedef int (*img_blob_list_fn)(const struct img_digest *d, int64_t size, void *arg);
int img_blob_list(struct img_store *s, img_blob_list_fn fn, void *arg);
/* Delete a blob. The caller holds the store lock exclusively (else -1, EPERM) and has
 * made sure nothing references it. 1 deleted, 0 absent, -1 with img_errmsg()
 * ("cannot delete 'blobs/sha256/...': why") and errno. */
int img_blob_remove(struct img_store *s, const struct img_digest *d);
/* Delete everything in .img/tmp (with dry_run only measure it); regular files' bytes are
 * added to *bytes. Unless dry_run the caller holds the store lock exclusively (else -1,
 * EPERM): writers hold it shared while they own temp files, so none is in use.
 * For each entry that cannot be removed, failed(path, arg) (may be NULL) is called with
 * errno set, and the sweep goes on. 0, or -1 when anything failed. */
int img_blob_sweep_tmp(struct img_store *s, int dry_run, uint64_t *bytes,
                       void (*failed)(const char *path, void *arg), void *arg);

/* ---- index.json ---- */

/* Read index.json (strict JSON, 16 MiB cap). New reference. NULL with img_errmsg(). */
json_t *img_store_index(struct img_store *s);
/* Transaction: take index.lock exclusively, re-read index.json, call fn(index, arg);
 * if fn returns 0 write the new index atomically (temp, fsync, rename, fsync dir);
 * if fn returns > 0 write nothing (no change); < 0 abort and return -1.
 * Returns 0 or -1. */
int img_store_index_update(struct img_store *s, int (*fn)(json_t *index, void *arg), void *arg);

/* Resolve what a user typed (design.md §6: name, name@digest, ID or digest prefix of a
 * manifest or config) to index entries. Fills *matches with indexes into
 * index.manifests (caller frees), *n their count (all entries of one image, i.e. all
 * entries with the same digest when resolved by ID). 0 found, -1 with img_errmsg():
 * "no such image: X" (ENOENT), "ambiguous ID prefix X" (EINVAL).
 * By ID, the config digest of each manifest is read from the store. */
int img_store_resolve(struct img_store *s, json_t *index, const char *what,
                      size_t **matches, size_t *n);

/* ---- walks ---- */

/* Visit every descriptor reachable from root (root included), depth first, parents before
 * children: index -> manifests (nested indexes to IMG_MAX_INDEX_DEPTH) ->
 * subject, config, layers. Manifests and indexes are read from the store and parsed;
 * when one is missing or invalid the walk fails (-1) unless IMG_WALK_TOLERANT, in which
 * case fn is still called for it and the walk goes on. fn returns 0 to go on, 1 to not
 * descend into this descriptor, -1 to stop (the walk returns -1).
 * depth is 0 for root. */
enum { IMG_WALK_TOLERANT = 1 };
typedef int (*img_walk_fn)(struct img_store *s, const struct img_desc *d, int depth, void *arg);
int img_store_walk(struct img_store *s, const struct img_desc *root, int flags,
                   img_walk_fn fn, void *arg);

/* For an index entry that is a manifest or an index: pick the image manifest
 * (for an index, the one matching platform, or the host platform when NULL;
 * attestation entries skipped), read it and its config. Caller releases both.
 * 0 or -1 with img_errmsg(); errno is ENOTSUP when the manifest is an artifact's (its
 * config not an image config: a Helm chart, an OCI 1.0 artifact). */
int img_store_image(struct img_store *s, const struct img_desc *top,
                    const struct img_platform *platform,
                    struct img_doc *manifest, struct img_desc *manifest_desc,
                    struct img_config *config);

#endif
