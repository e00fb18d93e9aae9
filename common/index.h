/* index: the one place that edits names in an OCI index document (the store's
 * index.json, or an index being written to an archive). JSON only: no I/O, no store;
 * the store's transaction (img_store_index_update) hands these functions the document.
 *
 * A name is the full normalized reference (docker.io/library/nginx:v3), held by an
 * entry in both org.opencontainers.image.ref.name and io.containerd.image.name. An entry
 * without a name is an unnamed (dangling) image; one with the annotation
 * io.containerd.manifest.subject and no name is a referrer of the image it names. */
#ifndef IMG_INDEX_H
#define IMG_INDEX_H

#include <stddef.h>
#include <jansson.h>

#define IMG_ANN_CTR_SUBJECT "io.containerd.manifest.subject"

/* Borrowed strings of an entry, or NULL: its "digest", its annotation key. */
const char *img_index_entry_digest(json_t *entry);
const char *img_index_entry_annotation(json_t *entry, const char *key);
/* The canonical name of an index entry (io.containerd.image.name, else a normalizable
 * org.opencontainers.image.ref.name), or NULL for an unnamed entry. Borrowed/static
 * into buf: copies into buf (len >= 512) and returns buf, or NULL. */
const char *img_index_entry_name(json_t *entry, char *buf, size_t len);
/* 1 if the entry is named in any way, even by a name that does not normalize (a bare
 * "v3" from docker save), else 0. */
int img_index_entry_named(json_t *entry);
/* Give the entry exactly the name annotations of name (both keys), or none when name is
 * NULL (an annotations object left empty goes). A non-object "annotations" is replaced. */
void img_index_entry_set_name(json_t *entry, const char *name);

/* The position in index.manifests of the entry named canon (canonical), or -1. */
long img_index_find_name(json_t *index, const char *canon);
/* Give name (canonical) to the image desc (a descriptor object, copied): any entry that
 * holds name loses it (and stays, unnamed, unless another entry has its digest);
 * an unnamed entry with the same digest is reused; else a new entry is appended.
 * Both name annotations are set. 0 or -1. */
int img_index_set_name(json_t *index, const char *name, json_t *desc);
/* Add desc unnamed unless an entry with its digest already exists. */
int img_index_add_unnamed(json_t *index, json_t *desc);
/* Put the image desc in the index with the n names (canonical; each as
 * img_index_set_name), or unnamed when n is 0 (img_index_add_unnamed). 0 or -1. */
int img_index_put(json_t *index, json_t *desc, const char *const *names, size_t n);
/* Remove the name from whatever entry holds it; the entry stays unnamed if no other
 * entry has the same digest, else it is dropped. 1 removed, 0 not found. */
int img_index_remove_name(json_t *index, const char *name);

/* Called with each canonical name an image loses (img_index_untag, _remove_image). */
typedef void (*img_index_name_fn)(const char *canon, void *arg);
/* Remove the image whose top digest is digest: every entry with that digest (each of
 * their names is passed to fn, which may be NULL) and the unnamed referrers whose
 * subject it is. *deleted (may be NULL) gets a copy of its first entry, or NULL when
 * there was none (the caller releases it). */
void img_index_remove_image(json_t *index, const char *digest, img_index_name_fn fn,
                            void *arg, json_t **deleted);
/* docker's untag: canon (canonical) leaves every entry that holds it; if that was the
 * image's last name the image goes as img_index_remove_image says, else the entries
 * left unnamed with its digest go. fn (may be NULL) is called with canon and with every
 * name the removed image had. 1 done, 0 no entry holds canon (nothing changed). */
int img_index_untag(json_t *index, const char *canon, img_index_name_fn fn, void *arg,
                    json_t **deleted);

#endif
