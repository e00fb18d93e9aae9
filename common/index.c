/* index: name edits of an OCI index document (see index.h). JSON only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util.h"
#include "ref.h"
#include "image.h"
#include "index.h"

static json_t *manifests_of(json_t *index)
{
	json_t *m = json_is_object(index) ? json_object_get(index, "manifests") : NULL;
	return json_is_array(m) ? m : NULL;
}

const char *img_index_entry_annotation(json_t *entry, const char *key)
{
	json_t *a = json_is_object(entry) ? json_object_get(entry, "annotations") : NULL;
	json_t *v = json_is_object(a) ? json_object_get(a, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *img_index_entry_digest(json_t *entry)
{
	json_t *v = json_is_object(entry) ? json_object_get(entry, "digest") : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *img_index_entry_name(json_t *entry, char *buf, size_t len)
{
	const char *v;
	char *canon = NULL;

	v = img_index_entry_annotation(entry, IMG_ANN_CTR_NAME);
	if (v && *v && strncmp(v, "moby-dangling@", 14) != 0)
		canon = img_ref_normalize(v);
	if (!canon) {
		v = img_index_entry_annotation(entry, IMG_ANN_REF_NAME);
		/* A bare tag (no '/', no ':') names no repository: the entry is unnamed. */
		if (v && *v && (strchr(v, '/') || strchr(v, ':')))
			canon = img_ref_normalize(v);
	}
	if (!canon)
		return NULL;
	if (strlen(canon) >= len) {
		free(canon);
		return NULL;
	}
	strcpy(buf, canon);
	free(canon);
	return buf;
}

int img_index_entry_named(json_t *entry)
{
	return img_index_entry_annotation(entry, IMG_ANN_REF_NAME) ||
	       img_index_entry_annotation(entry, IMG_ANN_CTR_NAME);
}

void img_index_entry_set_name(json_t *entry, const char *name)
{
	json_t *a = json_object_get(entry, "annotations");

	if (!name) {
		if (!json_is_object(a))
			return;
		json_object_del(a, IMG_ANN_REF_NAME);
		json_object_del(a, IMG_ANN_CTR_NAME);
		if (json_object_size(a) == 0)
			json_object_del(entry, "annotations");
		return;
	}
	if (!json_is_object(a)) {
		a = json_object();
		json_object_set_new(entry, "annotations", a);
	}
	json_object_set_new(a, IMG_ANN_REF_NAME, json_string(name));
	json_object_set_new(a, IMG_ANN_CTR_NAME, json_string(name));
}

/* Normalizing only prefixes a domain and "library/" and adds ":latest": the last path
 * component's name (before ':' or '@') never changes. A cheap necessary condition for
 * raw to normalize to canon, so most entries need no normalization. */
static int lastname_eq(const char *raw, const char *canon)
{
	const char *a = strrchr(raw, '/'), *b = strrchr(canon, '/');
	size_t la, lb;

	a = a ? a + 1 : raw;
	b = b ? b + 1 : canon;
	la = strcspn(a, ":@");
	lb = strcspn(b, ":@");
	return la == lb && memcmp(a, b, la) == 0;
}

static int entry_has_name(json_t *entry, const char *name)
{
	const char *ctr = img_index_entry_annotation(entry, IMG_ANN_CTR_NAME);
	const char *ref = img_index_entry_annotation(entry, IMG_ANN_REF_NAME);
	const char *n;
	char buf[512];

	if (!(ctr && lastname_eq(ctr, name)) && !(ref && lastname_eq(ref, name)))
		return 0;
	n = img_index_entry_name(entry, buf, sizeof(buf));
	return n && strcmp(n, name) == 0;
}

long img_index_find_name(json_t *index, const char *canon)
{
	json_t *arr = manifests_of(index), *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (entry_has_name(v, canon))
			return (long)i;
	return -1;
}

static ssize_t array_find(json_t *arr, json_t *item)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (v == item)
			return (ssize_t)i;
	return -1;
}

/* Drop each entry of list (just unnamed) that another entry's digest makes redundant. */
static void drop_redundant(json_t *arr, json_t **list, size_t n)
{
	size_t k, j;

	for (k = n; k-- > 0; ) {
		ssize_t i = array_find(arr, list[k]);
		const char *d = img_index_entry_digest(list[k]), *vd;
		int other = 0;
		json_t *v;

		if (i < 0)
			continue;
		if (d) {
			json_array_foreach(arr, j, v)
				if ((ssize_t)j != i && (vd = img_index_entry_digest(v)) && strcmp(vd, d) == 0)
					other = 1;
		}
		if (other)
			json_array_remove(arr, (size_t)i);
	}
}

/* Strip canon from every entry that holds it; those entries, in a new array (caller
 * frees), and their number. */
static json_t **strip_name(json_t *arr, const char *canon, size_t *ns)
{
	json_t **stripped = xcalloc(json_array_size(arr) + 1, sizeof(*stripped)), *v;
	size_t i;

	*ns = 0;
	json_array_foreach(arr, i, v) {
		if (entry_has_name(v, canon)) {
			img_index_entry_set_name(v, NULL);
			stripped[(*ns)++] = v;
		}
	}
	return stripped;
}

static json_t *manifests_or_fail(json_t *index)
{
	json_t *arr = manifests_of(index);

	if (!arr) {
		img_seterr("index has no 'manifests' array");
		errno = EINVAL;
	}
	return arr;
}

int img_index_set_name(json_t *index, const char *name, json_t *desc)
{
	json_t *arr = manifests_or_fail(index), *v, *target = NULL, **stripped;
	const char *d = img_index_entry_digest(desc), *vd;
	char *canon, nbuf[512];
	size_t i, ns, k;
	struct img_desc pd;

	if (!arr || img_image_desc_parse(desc, &pd) < 0)
		return -1;
	if (!(canon = img_ref_normalize(name))) {
		img_seterr_prefix("invalid name '%s'", name);
		errno = EINVAL;
		return -1;
	}
	stripped = strip_name(arr, canon, &ns);
	/* Reuse an unnamed entry with the same digest (possibly the one just stripped). */
	json_array_foreach(arr, i, v) {
		vd = img_index_entry_digest(v);
		if (vd && strcmp(vd, d) == 0 && !img_index_entry_name(v, nbuf, sizeof(nbuf))) {
			target = v;
			break;
		}
	}
	if (!target) {
		target = json_deep_copy(desc);
		img_index_entry_set_name(target, NULL);
		json_array_append_new(arr, target);
	}
	img_index_entry_set_name(target, canon);
	for (k = i = 0; k < ns; k++)
		if (stripped[k] != target)
			stripped[i++] = stripped[k];
	drop_redundant(arr, stripped, i);
	free(stripped);
	free(canon);
	return 0;
}

int img_index_add_unnamed(json_t *index, json_t *desc)
{
	json_t *arr = manifests_or_fail(index), *v, *copy;
	const char *d = img_index_entry_digest(desc), *vd;
	struct img_desc pd;
	size_t i;

	if (!arr || img_image_desc_parse(desc, &pd) < 0)
		return -1;
	json_array_foreach(arr, i, v)
		if ((vd = img_index_entry_digest(v)) && strcmp(vd, d) == 0)
			return 0;
	copy = json_deep_copy(desc);
	img_index_entry_set_name(copy, NULL);
	json_array_append_new(arr, copy);
	return 0;
}

int img_index_put(json_t *index, json_t *desc, const char *const *names, size_t n)
{
	size_t k;

	if (n == 0)
		return img_index_add_unnamed(index, desc);
	for (k = 0; k < n; k++)
		if (img_index_set_name(index, names[k], desc) < 0)
			return -1;
	return 0;
}

int img_index_remove_name(json_t *index, const char *name)
{
	json_t *arr = manifests_of(index), **stripped;
	char *canon;
	size_t ns;

	if (!arr || !(canon = img_ref_normalize(name)))
		return 0;
	stripped = strip_name(arr, canon, &ns);
	drop_redundant(arr, stripped, ns);
	free(stripped);
	free(canon);
	return ns > 0;
}

static int is_digest(json_t *entry, const char *digest)
{
	const char *d = img_index_entry_digest(entry);

	return d && strcmp(d, digest) == 0;
}

void img_index_remove_image(json_t *index, const char *digest, img_index_name_fn fn,
                            void *arg, json_t **deleted)
{
	json_t *arr = manifests_of(index), *e;
	const char *name, *subj;
	char nbuf[512];
	size_t i;

	if (deleted)
		*deleted = NULL;
	json_array_foreach(arr, i, e) {
		if (!is_digest(e, digest))
			continue;
		if (deleted && !*deleted)
			*deleted = json_deep_copy(e);
		if (fn && (name = img_index_entry_name(e, nbuf, sizeof(nbuf))))
			fn(name, arg);
	}
	for (i = json_array_size(arr); i-- > 0;) {
		e = json_array_get(arr, i);
		subj = img_index_entry_annotation(e, IMG_ANN_CTR_SUBJECT);
		if (is_digest(e, digest) ||
		    (subj && strcmp(subj, digest) == 0 && !img_index_entry_named(e)))
			json_array_remove(arr, i);
	}
}

int img_index_untag(json_t *index, const char *canon, img_index_name_fn fn, void *arg,
                    json_t **deleted)
{
	json_t *arr = manifests_of(index), *e, **stripped;
	char *dig = NULL;
	size_t i, ns;
	int named = 0;

	if (deleted)
		*deleted = NULL;
	if (!arr)
		return 0;
	stripped = strip_name(arr, canon, &ns);
	for (i = 0; i < ns && !dig; i++)
		if (img_index_entry_digest(stripped[i]))
			dig = xstrdup(img_index_entry_digest(stripped[i]));
	free(stripped);
	if (!dig)
		return 0;
	if (fn)
		fn(canon, arg);
	json_array_foreach(arr, i, e)
		if (is_digest(e, dig) && img_index_entry_named(e))
			named = 1;
	if (!named) {
		img_index_remove_image(index, dig, fn, arg, deleted);
	} else {
		/* Entries that lost the name and share their digest with a named one go. */
		for (i = json_array_size(arr); i-- > 0;) {
			e = json_array_get(arr, i);
			if (is_digest(e, dig) && !img_index_entry_named(e))
				json_array_remove(arr, i);
		}
	}
	free(dig);
	return 1;
}
