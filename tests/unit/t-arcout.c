/* arcout: xattrs are written once, as SCHILY.xattr records (as Docker and containerd do). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include "test.h"
#include "util.h"
#include "arcout.h"

struct mem {
	char *p;
	size_t n;
};

static int mem_sink(void *arg, const void *buf, size_t n)
{
	struct mem *m = arg;

	m->p = xrealloc(m->p, m->n + n);
	memcpy(m->p + m->n, buf, n);
	m->n += n;
	return 0;
}

static size_t count(const struct mem *m, const char *needle)
{
	size_t k = strlen(needle), c = 0;

	for (size_t i = 0; i + k <= m->n; i++)
		if (memcmp(m->p + i, needle, k) == 0)
			c++;
	return c;
}

TEST(arcout_xattr_schily_only)
{
	struct mem m = { 0 };
	struct img_arcout *o = img_arcout_new_sink(mem_sink, &m, 0);
	struct archive_entry *e = archive_entry_new();
	struct archive *r;
	struct archive_entry *re;
	const char *name;
	const void *val;
	size_t vlen;
	int nx = 0;

	IMG_ASSERT(o != NULL);
	archive_entry_copy_pathname(e, "bin/ping");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_size(e, 3);
	archive_entry_xattr_add_entry(e, "security.capability", "\x01\x00\x00\x02", 4);
	archive_entry_xattr_add_entry(e, "user.note", "hi", 2);
	IMG_ASSERT_EQ_INT(img_arcout_entry(o, e), 0);
	IMG_ASSERT_EQ_INT(img_arcout_data(o, "abc", 3), 0);
	IMG_ASSERT_EQ_INT(img_arcout_close(o), 0);
	img_arcout_free(o);
	archive_entry_free(e);

	/* the pax header holds each xattr once, under its SCHILY name */
	IMG_ASSERT_EQ_INT(count(&m, "SCHILY.xattr.security.capability="), 1);
	IMG_ASSERT_EQ_INT(count(&m, "SCHILY.xattr.user.note=hi\n"), 1);
	IMG_ASSERT_EQ_INT(count(&m, "LIBARCHIVE.xattr"), 0);

	/* and a reader gets them back */
	r = archive_read_new();
	archive_read_support_format_tar(r);
	IMG_ASSERT_EQ_INT(archive_read_open_memory(r, m.p, m.n), ARCHIVE_OK);
	IMG_ASSERT_EQ_INT(archive_read_next_header(r, &re), ARCHIVE_OK);
	IMG_ASSERT_EQ_STR(archive_entry_pathname(re), "bin/ping");
	archive_entry_xattr_reset(re);
	while (archive_entry_xattr_next(re, &name, &val, &vlen) == ARCHIVE_OK) {
		nx++;
		if (strcmp(name, "user.note") == 0)
			IMG_ASSERT(vlen == 2 && memcmp(val, "hi", 2) == 0);
		else if (strcmp(name, "security.capability") == 0)
			IMG_ASSERT(vlen == 4 && memcmp(val, "\x01\x00\x00\x02", 4) == 0);
		else
			IMG_ASSERT(!"unexpected xattr");
	}
	IMG_ASSERT_EQ_INT(nx, 2);
	archive_read_free(r);
	free(m.p);
}

/* Without xattrs (or other long fields) no pax header at all: plain ustar. */
TEST(arcout_plain_entry_no_pax)
{
	struct mem m = { 0 };
	struct img_arcout *o = img_arcout_new_sink(mem_sink, &m, 0);

	IMG_ASSERT(o != NULL);
	IMG_ASSERT_EQ_INT(img_arcout_buf(o, "etc/hostname", "box\n", 4, 0644), 0);
	IMG_ASSERT_EQ_INT(img_arcout_close(o), 0);
	img_arcout_free(o);
	IMG_ASSERT_EQ_INT(count(&m, "xattr"), 0);
	IMG_ASSERT(m.n >= 512);
	IMG_ASSERT(m.p[156] == '0');                    /* typeflag: a regular file, no 'x' */
	IMG_ASSERT(memcmp(m.p + 257, "ustar", 5) == 0);
	free(m.p);
}
