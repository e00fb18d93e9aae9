/* json: strict jansson parsing with size and depth caps, and typed accessors. */
#ifndef IMG_JSON_H
#define IMG_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define IMG_JSON_MAX_BLOB    (4u << 20)   /* manifest, index, config blob */
#define IMG_JSON_MAX_ARCHIVE (16u << 20)  /* archive index.json, manifest.json, repositories */
#define IMG_JSON_MAX_DEPTH   64
#define IMG_MAX_SIZE         ((int64_t)1 << 53)

/* Parse buf[0..len) as one JSON document: len must be <= cap, valid UTF-8,
 * no duplicate keys, nesting <= IMG_JSON_MAX_DEPTH, no NUL.
 * Returns a new reference (json_decref it), or NULL with img_errmsg(). */
json_t *img_json_parse(const void *buf, size_t len, size_t cap);
/* Read all of fd (at most cap bytes, else error "larger than N bytes") and parse. */
json_t *img_json_parse_fd(int fd, size_t cap);
/* Read up to cap bytes of fd into a new buffer (caller frees); -1 when larger. */
int img_json_read_capped(int fd, size_t cap, char **buf, size_t *len);

/* Accessors. An absent key and a JSON null both count as absent.
 * Each returns 0 found, 1 absent (*out untouched), -1 wrong type (img_errmsg names the key). */
int img_json_str(json_t *obj, const char *key, const char **out);
int img_json_int(json_t *obj, const char *key, int64_t *out);   /* integer, 0 <= v <= 2^53 */
int img_json_obj(json_t *obj, const char *key, json_t **out);
int img_json_arr(json_t *obj, const char *key, json_t **out);

/* A JSON string of s, which may hold any bytes but NUL (a file name): each byte that is
 * not part of valid UTF-8 becomes U+FFFD, as Go's encoding/json writes it. Never NULL. */
json_t *img_json_string_lossy(const char *s);

/* Keys as Go's encoding/json matches them (docker, skopeo and podman read manifest.json so):
 * for each of keys (NULL-terminated) that obj lacks, the first key equal to it but for case
 * is copied under the exact name. For documents read, never written back. */
void img_json_fold_keys(json_t *obj, const char *const *keys);

/* Serialize a document we author: compact, keys in insertion order, no trailing newline.
 * Caller frees. */
char *img_json_dump(const json_t *j, size_t *len);

#endif
