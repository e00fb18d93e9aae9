/* delta: what a delta archive leaves out (img(7), DELTA ARCHIVES). The have list (the
 * digests a store holds, one a line, as img-ls --blobs writes it) and the annotation of an
 * archive's index.json that names the layer blobs left out, with their sizes. Text and
 * JSON only; the have list is read from a caller's fd. */
#ifndef IMG_DELTA_H
#define IMG_DELTA_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "digest.h"
#include "dset.h"

/* The annotation of index.json: "sha256:<hex>=<size>" for each blob left out, sorted by
 * digest, joined by ",". */
#define IMG_ANN_DELTA_MISSING "org.img.delta.missing"

/* One line of a have list: a digest, surrounding blanks ignored; an empty line or one
 * whose first non-blank is '#' says nothing. The digest is added to have. 0, or -1 with
 * img_errmsg() "line N: ...". */
int img_delta_have_line(struct img_dset *have, const char *line, size_t len, unsigned long lineno);
/* Every line of fd (not closed) into have. 0, or -1 with img_errmsg() ("line N: ..." for a
 * malformed line, or the read error). */
int img_delta_have_read(int fd, struct img_dset *have);

/* The blobs an archive leaves out: a digest set, size[i] the size of set.e[i]; each entry's
 * flags are free for the caller. A zeroed struct is empty. */
struct img_delta {
	struct img_dset set;
	int64_t *size;
	size_t size_cap;
};

/* Add d (size bytes); a digest already there keeps its first size. */
void img_delta_add(struct img_delta *m, const struct img_digest *d, int64_t size);
/* The entry of d, or NULL; *size (may be NULL) its declared size. */
struct img_dset_entry *img_delta_find(const struct img_delta *m, const struct img_digest *d,
                                      int64_t *size);
void img_delta_clear(struct img_delta *m);

/* The annotation's value for m, sorted by digest. New string. */
char *img_delta_format(const struct img_delta *m);
/* Parse an annotation value strictly (digests, sizes 0..2^53 without leading zeros, sorted,
 * no duplicates, no blanks) into m (cleared first). 0, or -1 with img_errmsg(). */
int img_delta_parse(const char *value, struct img_delta *m);
/* Set (m non-empty) the annotation on the index document index. */
void img_delta_annotate(json_t *index, const struct img_delta *m);
/* The left-out blobs an index document declares, into m (cleared first). 1 when it declares
 * some, 0 none (no such annotation, or an empty one; annotations that are no object are
 * not this module's to judge), -1 with img_errmsg() when the annotation
 * is malformed. */
int img_delta_from_index(json_t *index, struct img_delta *m);

/* The digests of m's entries whose flags have every bit of flag (all when flag is 0), as
 * "sha256:..., sha256:..." in m's order. New string ("" when none). */
char *img_delta_list(const struct img_delta *m, unsigned flag);

#endif
