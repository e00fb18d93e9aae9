/* arcin: streaming archive reader over libarchive. Only in-process decompressors are
 * enabled (gzip, bzip2, xz, zstd): never an external program. Entry names are cleaned
 * and checked before a caller sees them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "util.h"
#include "arcin.h"

#define IMG_ARCIN_BLOCK (1024 * 1024)
#define IMG_ZERO_BUF (64 * 1024)

static const unsigned char zeros[IMG_ZERO_BUF];

int img_arcin_path_clean(const char *in, int flags, char **out)
{
	size_t len = strlen(in);
	char *res = xmalloc(len + 1), *e = NULL;
	size_t n = 0;
	const char *p = in;

	*out = NULL;
	if (*p == '/') {
		if (!(flags & IMG_ARCIN_STRIP_ABS)) {
			e = img_util_escape_cut(in);
			img_seterr("absolute path '%s'", e);
			goto fail;
		}
		while (*p == '/')
			p++;
	}
	while (*p) {
		const char *s = strchr(p, '/');
		size_t cl = s ? (size_t)(s - p) : strlen(p);
		if (cl == 0 || (cl == 1 && p[0] == '.')) {
			/* empty or "." component: dropped */
		} else if (cl == 2 && p[0] == '.' && p[1] == '.') {
			e = img_util_escape_cut(in);
			img_seterr("path '%s' contains '..'", e);
			goto fail;
		} else {
			if (n)
				res[n++] = '/';
			memcpy(res + n, p, cl);
			n += cl;
		}
		p += cl;
		if (*p == '/')
			p++;
	}
	res[n] = '\0';
	*out = res;
	return 0;
fail:
	free(e);
	free(res);
	return -1;
}

struct img_arcin {
	struct archive *a;
	int fd;
	unsigned char *ibuf;
	int64_t raw;        /* bytes read from fd */
	int empty;          /* a read of fd found its end before any byte: no input at all
	                     * (not merely nothing read yet, nor a read error) */
	int flags;
	int nentries;
	int in_entry;       /* an entry's data may be read */
	int eof;            /* end of archive seen */
	char *path, *link;
	struct img_blocks blocks;   /* data blocks of the current entry */
	/* partial reads for img_arcin_read */
	const unsigned char *rbuf;
	size_t rbuf_n;
};

/* libarchive's private error codes (archive_platform.h) */
#ifndef ARCHIVE_ERRNO_FILE_FORMAT
#define ARCHIVE_ERRNO_FILE_FORMAT EILSEQ
#endif
#ifndef ARCHIVE_ERRNO_MISC
#define ARCHIVE_ERRNO_MISC (-1)
#endif

struct archive *img_arcin_la_new(int raw)
{
	struct archive *a = archive_read_new();

	if (!a) {
		img_seterr("cannot create an archive reader");
		return NULL;
	}
	/* ARCHIVE_WARN here would mean "through an external program": refuse that */
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_bzip2(a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
		img_seterr("libarchive lacks an in-process decompressor (gzip, bzip2, xz, zstd)");
		archive_read_free(a);
		return NULL;
	}
	if ((raw ? archive_read_support_format_raw(a) : archive_read_support_format_tar(a)) !=
	    ARCHIVE_OK) {
		img_seterr("archive reader: %s", archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

void img_arcin_seterr_from(struct archive *a, const char *why, int first, int empty)
{
	const char *s = why ? why : archive_error_string(a);
	int en = archive_errno(a);

	if (!s)
		s = "unknown error";
	if (strstr(s, "runcated") || strstr(s, "remature end") || strstr(s, "nexpected end") ||
	    strstr(s, "nexpected EOF") || strstr(s, "No progress is possible"))
		img_seterr("truncated archive");
	else if (why)
		img_seterr("%s", why);
	else if (first && (en == ARCHIVE_ERRNO_FILE_FORMAT || en == ARCHIVE_ERRNO_MISC ||
	                   strstr(s, "Unrecognized archive format")))
		img_seterr(empty ? "not a tar archive (empty input)" : "not a tar archive");
	else if (en > 0 && en != ARCHIVE_ERRNO_FILE_FORMAT)
		img_seterr("cannot read archive: %s", s);
	else
		img_seterr("invalid archive: %s", s);
}

static void arcin_seterr(struct img_arcin *r)
{
	img_arcin_seterr_from(r->a, NULL, r->nentries == 0 && !(r->flags & IMG_ARCIN_RAW), r->empty);
}

static la_ssize_t arcin_read_cb(struct archive *a, void *arg, const void **buf)
{
	struct img_arcin *r = arg;
	ssize_t n;

	do
		n = read(r->fd, r->ibuf, IMG_ARCIN_BLOCK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	if (n == 0 && r->raw == 0)
		r->empty = 1;
	r->raw += n;
	*buf = r->ibuf;
	return n;
}

int img_arcin_open_fd(int fd, int flags, struct img_arcin **out)
{
	struct img_arcin *r = xcalloc(1, sizeof *r);

	*out = NULL;
	r->fd = fd;
	r->flags = flags;
	if (!(r->a = img_arcin_la_new(flags & IMG_ARCIN_RAW))) {
		free(r);
		return -1;
	}
	r->ibuf = xmalloc(IMG_ARCIN_BLOCK);
	if (archive_read_open(r->a, r, NULL, arcin_read_cb, NULL) != ARCHIVE_OK) {
		arcin_seterr(r);
		archive_read_free(r->a);
		free(r->ibuf);
		free(r);
		return -1;
	}
	*out = r;
	return 0;
}

static enum img_ent_type ent_type(struct archive_entry *ae)
{
	if (archive_entry_hardlink(ae))
		return IMG_ENT_HARDLINK;
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG: return IMG_ENT_FILE;
	case AE_IFDIR: return IMG_ENT_DIR;
	case AE_IFLNK: return IMG_ENT_SYMLINK;
	case AE_IFCHR: return IMG_ENT_CHR;
	case AE_IFBLK: return IMG_ENT_BLK;
	case AE_IFIFO: return IMG_ENT_FIFO;
	default: return IMG_ENT_OTHER;
	}
}

int img_arcin_entry_from(struct archive_entry *ae, int flags, int n, char **path, char **link,
                         struct img_arcin_entry *e)
{
	const char *name = archive_entry_pathname(ae);

	memset(e, 0, sizeof(*e));
	*path = *link = NULL;
	if (!name)
		name = archive_entry_pathname_utf8(ae);
	if (!name) {
		img_seterr("archive entry %d has no name", n);
		return -1;
	}
	if (img_arcin_path_clean(name, flags, path) < 0)
		return -1;
	e->type = ent_type(ae);
	if (e->type == IMG_ENT_HARDLINK) {
		const char *t = archive_entry_hardlink(ae);
		if (img_arcin_path_clean(t, flags, link) < 0) {
			char *x = img_util_escape_cut(name);
			img_seterr_prefix("hard link '%s'", x);
			free(x);
			return -1;
		}
		if ((*link)[0] == '\0') {
			char *x = img_util_escape_cut(name);
			img_seterr("hard link '%s' points at the root", x);
			free(x);
			return -1;
		}
	} else if (e->type == IMG_ENT_SYMLINK) {
		const char *t = archive_entry_symlink(ae);
		if (!t)
			t = archive_entry_symlink_utf8(ae);
		*link = xstrdup(t ? t : "");
	}
	e->path = *path;
	e->link = *link;
	e->size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : -1;
	e->mode = archive_entry_perm(ae) & 07777;
	e->uid = archive_entry_uid(ae);
	e->gid = archive_entry_gid(ae);
	e->mtime = archive_entry_mtime(ae);
	e->ae = ae;
	return 0;
}

int img_arcin_next(struct img_arcin *r, struct img_arcin_entry *e)
{
	struct archive_entry *ae;
	int rc;

	memset(e, 0, sizeof *e);
	if (r->eof)
		return 0;
	free(r->path);
	free(r->link);
	r->path = r->link = NULL;
	r->in_entry = 0;
	rc = archive_read_next_header(r->a, &ae);
	if (rc == ARCHIVE_EOF) {
		if (r->nentries == 0 && !(r->flags & IMG_ARCIN_RAW) && r->empty) {
			img_seterr("not a tar archive (empty input)");
			return -1;
		}
		r->eof = 1;
		return 0;
	}
	if (rc < ARCHIVE_WARN) {
		arcin_seterr(r);
		return -1;
	}
	if (img_arcin_entry_from(ae, r->flags, r->nentries + 1, &r->path, &r->link, e) < 0)
		return -1;
	r->nentries++;
	r->in_entry = 1;
	img_arcin_blocks_begin(&r->blocks, e->type == IMG_ENT_FILE ? e->size : 0);
	r->rbuf = NULL;
	r->rbuf_n = 0;
	return 1;
}

void img_arcin_blocks_begin(struct img_blocks *b, int64_t size)
{
	memset(b, 0, sizeof(*b));
	b->size = size;
}

int img_arcin_blocks_next(struct img_blocks *b, struct archive *a, const char *path,
                          const void **buf, size_t *n)
{
	*buf = NULL;
	*n = 0;
	for (;;) {
		if (!b->have_blk && !b->data_eof) {
			const void *blk;
			size_t bn;
			la_int64_t off;
			int rc = archive_read_data_block(a, &blk, &bn, &off);
			if (rc == ARCHIVE_EOF) {
				b->data_eof = 1;
			} else if (rc < ARCHIVE_WARN) {
				return -2;
			} else {
				if (off < b->pos) {
					char *x = img_util_escape_cut(path);
					img_seterr("invalid archive: overlapping data blocks in '%s'", x);
					free(x);
					return -1;
				}
				b->blk = blk;
				b->blk_n = bn;
				b->blk_off = off;
				b->have_blk = 1;
			}
		}
		if (b->have_blk && b->blk_off > b->pos) {
			/* a sparse hole before the block: zeros */
			int64_t gap = b->blk_off - b->pos;
			*buf = zeros;
			*n = gap > IMG_ZERO_BUF ? IMG_ZERO_BUF : (size_t)gap;
			b->pos += (int64_t)*n;
			return 1;
		}
		if (b->have_blk) {
			b->have_blk = 0;
			if (b->blk_n == 0)
				continue;
			*buf = b->blk;
			*n = b->blk_n;
			b->pos += (int64_t)b->blk_n;
			return 1;
		}
		/* the data's end: a trailing hole up to the declared size */
		if (b->size > b->pos) {
			int64_t gap = b->size - b->pos;
			*buf = zeros;
			*n = gap > IMG_ZERO_BUF ? IMG_ZERO_BUF : (size_t)gap;
			b->pos += (int64_t)*n;
			return 1;
		}
		return 0;
	}
}

int img_arcin_block(struct img_arcin *r, const void **buf, size_t *n)
{
	int rc;

	*buf = NULL;
	*n = 0;
	if (!r->in_entry)
		return 0;
	rc = img_arcin_blocks_next(&r->blocks, r->a, r->path, buf, n);
	if (rc == -2) {
		arcin_seterr(r);
		return -1;
	}
	return rc;
}

ssize_t img_arcin_read(struct img_arcin *r, void *buf, size_t n)
{
	size_t k;

	if (n == 0)
		return 0;
	if (r->rbuf_n == 0) {
		const void *b;
		size_t bn;
		int rc = img_arcin_block(r, &b, &bn);
		if (rc <= 0)
			return rc;
		r->rbuf = b;
		r->rbuf_n = bn;
	}
	k = n < r->rbuf_n ? n : r->rbuf_n;
	memcpy(buf, r->rbuf, k);
	r->rbuf += k;
	r->rbuf_n -= k;
	return (ssize_t)k;
}

const char *img_arcin_filter(struct img_arcin *r)
{
	int n = archive_filter_count(r->a);

	if (n <= 1)
		return "none";
	return archive_filter_name(r->a, 0);
}

int64_t img_arcin_offset(struct img_arcin *r)
{
	return r->raw;
}

int64_t img_arcin_data_offset(struct img_arcin *r, const struct img_arcin_entry *e)
{
	/* the tar reader has consumed the entry's headers, and nothing of its data */
	if (archive_filter_count(r->a) > 1 || !e->ae || archive_entry_sparse_count(e->ae) > 0)
		return -1;
	return (int64_t)archive_filter_bytes(r->a, 0);
}

void img_arcin_free(struct img_arcin *r)
{
	if (!r)
		return;
	archive_read_free(r->a);
	free(r->ibuf);
	free(r->path);
	free(r->link);
	free(r);
}
