/* mark: reachability from index entries (see mark.h). */
#include <stdlib.h>
#include <string.h>

#include "mark.h"
#include "run.h"
#include "json.h"
#include "util.h"

static void unsafe(struct img_mark *m, char *why)
{
	if (!m->unsafe)
		m->why = why;
	else
		free(why);
	m->unsafe = 1;
}

static int mark_cb(struct img_store *s, const struct img_desc *d, int depth, void *arg)
{
	struct img_mark *m = arg;
	enum img_kind k = img_image_mt_kind(d->media_type);
	struct img_dset_entry *e;
	struct img_doc doc;
	char *buf = NULL;
	size_t len, idx;
	int isnew, present;

	(void)depth;
	e = img_dset_add(&m->set, &d->digest, &isnew);
	idx = (size_t)(e - m->set.e);
	if (m->visit && m->visit(m, s, d, idx, isnew) < 0)
		return -1;
	e = &m->set.e[idx];
	if (k != IMG_KIND_MANIFEST && k != IMG_KIND_INDEX)
		return 0;
	if (e->flags & IMG_MARK_EXPANDED)
		return 1;
	e->flags |= IMG_MARK_EXPANDED;
	if (m->no_probe)
		return 0;
	/* The walk goes on past a document it cannot read: find out whether the blob is
	 * absent (nothing below it to keep) or damaged (what it holds is unknown). */
	present = img_blob_has(s, &d->digest, NULL);
	if (present == 0)
		return 0;
	if (present < 0 || img_blob_read(s, &d->digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0 ||
	    img_image_doc_parse(buf, len, d->media_type, &doc) < 0) {
		char *path = img_digest_blobpath(&d->digest);

		unsafe(m, strstr(img_errmsg(), img_digest_hex(&d->digest)) ?
		          xstrdup(img_errmsg()) : xasprintf("%s: %s", path, img_errmsg()));
		free(path);
		free(buf);
		return 0;
	}
	img_image_doc_release(&doc);
	free(buf);
	return 0;
}

int img_mark_desc(struct img_mark *m, struct img_store *s, const struct img_desc *d)
{
	return img_store_walk(s, d, IMG_WALK_TOLERANT, mark_cb, m);
}

int img_mark_index(struct img_mark *m, struct img_store *s, json_t *index,
                   int (*pick)(json_t *entry, void *arg), void *arg)
{
	json_t *manifests = json_object_get(index, "manifests"), *e;
	struct img_desc d;
	size_t i;

	if (!json_is_array(manifests)) {
		unsafe(m, xstrdup("index.json: no manifests array"));
		return 0;
	}
	json_array_foreach(manifests, i, e) {
		if (pick && !pick(e, arg))
			continue;
		if (img_image_desc_parse(e, &d) < 0) {
			unsafe(m, xasprintf("index.json: entry %zu: %s", i, img_errmsg()));
			continue;
		}
		if (img_mark_desc(m, s, &d) < 0)
			return -1;
	}
	return 0;
}

void img_mark_clear(struct img_mark *m)
{
	img_dset_clear(&m->set);
	free(m->why);
	m->why = NULL;
	m->unsafe = 0;
}

int img_mark_containers(struct img_mark *m, struct img_store *s)
{
	char **names;
	size_t n;
	int ret = 0;

	if (img_run_containers(s, &names, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *j = ret == 0 ? img_run_container_image(s, names[i]) : NULL;
		struct img_desc d;
		if (ret == 0 && (!j || img_image_desc_parse(j, &d) < 0)) {
			if (!m->unsafe) {
				m->unsafe = 1;
				m->why = xasprintf("container '%s': %s", names[i], img_errmsg());
			}
		} else if (ret == 0 && img_mark_desc(m, s, &d) < 0) {
			ret = -1;
		}
		json_decref(j);
		free(names[i]);
	}
	free(names);
	return ret;
}
