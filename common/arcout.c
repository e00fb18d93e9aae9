/* arcout: deterministic tar writer over libarchive, restricted pax (ustar unless a field
 * needs pax). Output goes through img_io_write_all or a sink, so write errors (EPIPE, ENOSPC)
 * come back as errors with errno kept. */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "util.h"
#include "io.h"
#include "arcout.h"

struct img_arcout {
	struct archive *a;
	int fd;
	img_sink_fn sink;
	void *arg;
	int64_t mtime;
	uint64_t bytes;
	int failed, closed;
	int discard;         /* being freed unclosed: write nothing more */
	int werr;            /* errno of a failed write */
	char *sink_err;      /* the sink's error text */
	int64_t left;        /* data bytes the current entry still expects */
	char *cur;           /* current entry's name, for messages */
};

/* Headers are written under a UTF-8 LC_CTYPE (thread-local, whatever the program's locale):
 * names that are valid UTF-8 go into pax records as they are, as Docker writes them; only
 * other byte strings get "hdrcharset=BINARY". The output does not depend on the locale. */
static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static int ao_write_header(struct archive *a, struct archive_entry *e)
{
	locale_t old = (locale_t)0;
	int r;

	pthread_once(&utf8_once, utf8_init);
	if (utf8_locale)
		old = uselocale(utf8_locale);
	r = archive_write_header(a, e);
	if (utf8_locale)
		uselocale(old);
	return r;
}

static la_ssize_t ao_write(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct img_arcout *o = arg;

	if (o->discard)
		return (la_ssize_t)n;
	if (o->sink) {
		if (o->sink(o->arg, buf, n) < 0) {
			free(o->sink_err);
			o->sink_err = xstrdup(img_errmsg());
			o->werr = errno ? errno : EIO;
			archive_set_error(a, o->werr, "%s", o->sink_err);
			return -1;
		}
	} else if (img_io_write_all(o->fd, buf, n) < 0) {
		o->werr = errno;
		archive_set_error(a, errno, "write error: %s", strerror(errno));
		return -1;
	}
	o->bytes += n;
	return (la_ssize_t)n;
}

static int ao_fail(struct img_arcout *o)
{
	int en = o->werr;

	o->failed = 1;
	if (o->sink_err)
		img_seterr("%s", o->sink_err);
	else if (o->werr)
		img_seterr("%s", strerror(o->werr));
	else
		img_seterr("cannot write tar: %s", archive_error_string(o->a));
	errno = en ? en : EIO;
	return -1;
}

static struct img_arcout *ao_new(int fd, img_sink_fn sink, void *arg, int64_t mtime)
{
	struct img_arcout *o = xcalloc(1, sizeof *o);

	o->fd = fd;
	o->sink = sink;
	o->arg = arg;
	o->mtime = mtime;
	o->a = archive_write_new();
	if (!o->a) {
		img_seterr("cannot create a tar writer");
		free(o);
		return NULL;
	}
	/* xattrs as SCHILY.xattr.NAME records only, as Docker, containerd and GNU tar write
	 * them (libarchive's default adds a LIBARCHIVE.xattr copy of each). */
	if (archive_write_set_format_pax_restricted(o->a) != ARCHIVE_OK ||
	    archive_write_set_format_option(o->a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
	    archive_write_add_filter_none(o->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(o->a, 1024 * 1024) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(o->a, 1) != ARCHIVE_OK) {
		img_seterr("tar writer: %s", archive_error_string(o->a));
		goto fail;
	}
	if (archive_write_open2(o->a, o, NULL, ao_write, NULL, NULL) != ARCHIVE_OK) {
		ao_fail(o);
		goto fail;
	}
	return o;
fail:
	archive_write_free(o->a);
	free(o->sink_err);
	free(o);
	return NULL;
}

struct img_arcout *img_arcout_new_fd(int fd, int64_t mtime)
{
	return ao_new(fd, NULL, NULL, mtime);
}

struct img_arcout *img_arcout_new_sink(img_sink_fn sink, void *arg, int64_t mtime)
{
	return ao_new(-1, sink, arg, mtime);
}

/* The previous regular file must have received all its bytes. */
static int ao_check_done(struct img_arcout *o)
{
	if (o->failed || o->closed) {
		img_seterr("tar writer used after %s", o->failed ? "an error" : "close");
		return -1;
	}
	if (o->left > 0) {
		img_seterr("tar entry '%s': %lld bytes of data missing", img_util_shown(o->cur),
		           (long long)o->left);
		o->failed = 1;
		return -1;
	}
	return 0;
}

int img_arcout_entry(struct img_arcout *o, struct archive_entry *e)
{
	int r;
	const char *name;

	if (ao_check_done(o) < 0)
		return -1;
	name = archive_entry_pathname(e);
	if (!name || !*name) {
		img_seterr("tar entry without a name");
		return -1;
	}
	r = ao_write_header(o->a, e);
	if (r < ARCHIVE_WARN)
		return ao_fail(o);
	free(o->cur);
	o->cur = xstrdup(name ? name : "");
	o->left = 0;
	if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) &&
	    archive_entry_size(e) > 0)
		o->left = archive_entry_size(e);
	return 0;
}

static struct archive_entry *ao_entry(struct img_arcout *o, const char *path, mode_t type, int mode)
{
	struct archive_entry *e = archive_entry_new();

	if (!e) {
		img_seterr("out of memory");
		return NULL;
	}
	archive_entry_copy_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, (mode_t)mode);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, o->mtime, 0);
	return e;
}

int img_arcout_dir(struct img_arcout *o, const char *path)
{
	struct archive_entry *e;
	int r;

	if (ao_check_done(o) < 0)
		return -1;
	e = ao_entry(o, path, AE_IFDIR, 0755);
	if (!e)
		return -1;
	r = img_arcout_entry(o, e);
	archive_entry_free(e);
	return r;
}

int img_arcout_file(struct img_arcout *o, const char *path, int64_t size, int mode)
{
	struct archive_entry *e;
	int r;

	if (ao_check_done(o) < 0)
		return -1;
	if (size < 0) {
		img_seterr("tar entry '%s': negative size", path);
		return -1;
	}
	e = ao_entry(o, path, AE_IFREG, mode);
	if (!e)
		return -1;
	archive_entry_set_size(e, size);
	r = img_arcout_entry(o, e);
	archive_entry_free(e);
	return r;
}

int img_arcout_data(struct img_arcout *o, const void *buf, size_t n)
{
	const char *p = buf;

	if (o->failed || o->closed) {
		img_seterr("tar writer used after %s", o->failed ? "an error" : "close");
		return -1;
	}
	if ((uint64_t)n > (uint64_t)o->left) {
		img_seterr("tar entry '%s': more data than its size", img_util_shown(o->cur));
		o->failed = 1;
		return -1;
	}
	while (n > 0) {
		la_ssize_t w = archive_write_data(o->a, p, n);
		if (w <= 0)
			return ao_fail(o);
		p += w;
		n -= (size_t)w;
		o->left -= w;
	}
	return 0;
}

int img_arcout_buf(struct img_arcout *o, const char *path, const void *buf, size_t n, int mode)
{
	if (img_arcout_file(o, path, (int64_t)n, mode) < 0)
		return -1;
	return img_arcout_data(o, buf, n);
}

int img_arcout_close(struct img_arcout *o)
{
	if (ao_check_done(o) < 0)
		return -1;
	if (archive_write_close(o->a) != ARCHIVE_OK)
		return ao_fail(o);
	o->closed = 1;
	return 0;
}

void img_arcout_free(struct img_arcout *o)
{
	if (!o)
		return;
	o->discard = 1;   /* archive_write_free closes: no trailer after an abort */
	archive_write_free(o->a);
	free(o->sink_err);
	free(o->cur);
	free(o);
}

uint64_t img_arcout_bytes(const struct img_arcout *o)
{
	return o->bytes;
}
