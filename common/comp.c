/* comp: compression sniffing and streaming (de)compression (see comp.h).
 * gzip: ISA-L (igzip) for reading and for levels 0-3, zlib for levels 4-9; zstd: libzstd;
 * xz: liblzma (read only); bzip2: libarchive's in-process bzip2 reader on a helper thread
 * (read only; libbz2 itself is not a direct dependency). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <isa-l/igzip_lib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "util.h"
#include "digest.h"
#include "comp.h"
#include "pool.h"
#include "ring.h"

#define IMG_LAYER_OBUF (256 * 1024)     /* decompressor / compressor output buffer */
#define IMG_CHUNK_MAX (1u << 30)        /* ISA-L and zlib take 32-bit lengths */
/* ISA-L deflate input chunk. Each chunk ends with a sync flush: ISA-L then decides per
 * chunk between coded and stored blocks, so incompressible data (most of a big layer of
 * media or binaries) is stored and inflates ~5x faster, for ~0.01% more output on text. */
#define IMG_ISAL_IN (1024 * 1024)
/* The compressor's output buffer holds a whole chunk stored: ISA-L only chooses a stored
 * block when the output space for it is there. */
#define IMG_COMPW_OBUF (IMG_ISAL_IN + 64 * 1024)
#define IMG_ZSTD_WINDOWLOG_MAX 27       /* 128 MiB: zstd --long and level 22 decode */
#define IMG_XZ_MEMLIMIT (256u << 20)

/* ---- sniffing ---- */

enum img_comp img_comp_sniff(const void *buf, size_t n)
{
	const unsigned char *p = buf;

	if (n >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 0x08)
		return IMG_COMP_GZIP;
	if (n >= 3 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h')
		return IMG_COMP_BZIP2;
	if (n >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0)
		return IMG_COMP_XZ;
	if (n >= 4) {
		uint32_t m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		             (uint32_t)p[3] << 24;
		if (m == 0xfd2fb528u || (m & 0xfffffff0u) == 0x184d2a50u)
			return IMG_COMP_ZSTD;
	}
	return IMG_COMP_NONE;
}

const char *img_comp_name(enum img_comp c)
{
	switch (c) {
	case IMG_COMP_NONE: return "none";
	case IMG_COMP_GZIP: return "gzip";
	case IMG_COMP_ZSTD: return "zstd";
	case IMG_COMP_XZ: return "xz";
	case IMG_COMP_BZIP2: return "bzip2";
	}
	return "unknown";
}

int img_comp_parse(const char *s, enum img_comp *c)
{
	if (strcmp(s, "gzip") == 0)
		*c = IMG_COMP_GZIP;
	else if (strcmp(s, "zstd") == 0)
		*c = IMG_COMP_ZSTD;
	else if (strcmp(s, "none") == 0)
		*c = IMG_COMP_NONE;
	else {
		char *e = img_util_escape_cut(s);
		img_seterr("unsupported compression '%s' (gzip, zstd or none)", e);
		free(e);
		return -1;
	}
	return 0;
}

const char *img_comp_media_type(enum img_comp c)
{
	switch (c) {
	case IMG_COMP_NONE: return "application/vnd.oci.image.layer.v1.tar";
	case IMG_COMP_GZIP: return "application/vnd.oci.image.layer.v1.tar+gzip";
	case IMG_COMP_ZSTD: return "application/vnd.oci.image.layer.v1.tar+zstd";
	default: return NULL;
	}
}

/* ---- bzip2 through libarchive on a helper thread ----
 * libarchive pulls its input; img_decomp is pushed. The helper thread (an img_pool of
 * one) runs the libarchive reader; two img_rings of one slot carry descriptors of bytes,
 * never the bytes: the caller's input chunk to the reader, and the reader's output blocks
 * back, with an empty descriptor when the reader is done with the input and wants more.
 * The caller waits for that before it returns (the chunk is only borrowed), forwarding
 * every output block to the sink itself: the sink and all error reporting run on the
 * caller's thread, and at most one side runs at a time. */
struct bz_blk {
	const void *p;
	size_t n;
};

struct bz_pipe {
	struct img_pool *pool;
	struct img_ring *in;        /* caller -> reader: the chunk to read */
	struct img_ring *out;       /* reader -> caller: a block, or {NULL, 0}: want input */
	struct archive *a;
	int in_held;                /* reader: libarchive reads the chunk it took */
};

/* Reader: pass a descriptor to the caller. 0 or -1 (stopped). */
static int bz_send(struct bz_pipe *p, const void *buf, size_t n)
{
	void *slot;

	if (img_ring_slot(p->out, &slot) < 0)
		return -1;
	*(struct bz_blk *)slot = (struct bz_blk){ buf, n };
	return img_ring_put(p->out, sizeof(struct bz_blk));
}

static ssize_t bz_read_cb(struct archive *a, void *arg, const void **buf)
{
	struct bz_pipe *p = arg;
	const void *v;
	size_t len;
	int r;

	(void)a;
	if (p->in_held)
		img_ring_release(p->in, 0);   /* libarchive is done with the last chunk */
	p->in_held = 0;
	if (bz_send(p, NULL, 0) < 0)
		return -1;
	r = img_ring_take(p->in, 0, &v, &len);
	if (r <= 0)
		return r;                     /* 0: the input ended */
	p->in_held = 1;
	*buf = ((const struct bz_blk *)v)->p;
	return (ssize_t)((const struct bz_blk *)v)->n;
}

static int bz_thread(void *arg, size_t item, unsigned worker)
{
	struct bz_pipe *p = arg;
	struct archive_entry *ae;
	const void *buf;
	size_t n;
	int64_t off;
	int r;
	void *slot;

	(void)item;
	(void)worker;
	if (archive_read_open1(p->a) != ARCHIVE_OK)
		goto afail;
	if (archive_filter_code(p->a, 0) != ARCHIVE_FILTER_BZIP2) {
		img_seterr("invalid bzip2 data: not a bzip2 stream");
		goto fail;
	}
	r = archive_read_next_header(p->a, &ae);
	if (r == ARCHIVE_EOF) {
		img_seterr("truncated bzip2 stream");
		goto fail;
	}
	if (r < ARCHIVE_WARN)
		goto afail;
	for (;;) {
		/* the caller is done with the last block: libarchive may reuse its memory */
		if (img_ring_slot(p->out, &slot) < 0)
			return -1;
		r = archive_read_data_block(p->a, &buf, &n, &off);
		if (r == ARCHIVE_EOF)
			return img_ring_end(p->out);
		if (r < ARCHIVE_WARN)
			goto afail;
		if (bz_send(p, buf, n) < 0)
			return -1;              /* the caller gave up (sink error) */
	}
afail: {
		const char *s = archive_error_string(p->a);
		if (s && (strstr(s, "runcated") || strstr(s, "remature")))
			img_seterr("truncated bzip2 stream");
		else
			img_seterr("invalid bzip2 data: %s", s ? s : "unknown error");
	}
fail:
	img_ring_stop(p->out);              /* the caller reads why */
	return -1;
}

/* ---- decompression ---- */

struct img_decomp {
	enum img_comp c;
	uint64_t max_out, out;
	img_sink_fn sink;
	void *arg;
	unsigned char *obuf;
	int failed;
	/* gzip */
	struct inflate_state *gz;
	int gz_idle;          /* between members: the last one ended, nothing of a new one */
	uint64_t gz_members;
	/* zstd */
	ZSTD_DStream *zd;
	size_t zlast;
	int zfed;
	/* xz */
	lzma_stream xz;
	int xz_init;
	/* bzip2 */
	struct bz_pipe *bz;
};

static int dc_emit(struct img_decomp *d, const void *buf, size_t n)
{
	if (n == 0)
		return 0;
	if (d->max_out && (d->out + n > d->max_out || d->out + n < d->out)) {
		img_seterr("decompressed size exceeds limit (%llu bytes)",
		           (unsigned long long)d->max_out);
		return -1;
	}
	d->out += n;
	return d->sink(d->arg, buf, n);
}

static void bz_pipe_free(struct bz_pipe *p)
{
	if (!p)
		return;
	if (p->in) {
		/* stop the reader if it still runs: no more input, no room for output */
		img_ring_stop(p->in);
		img_ring_stop(p->out);
	}
	img_pool_free(p->pool);
	img_ring_free(p->in);
	img_ring_free(p->out);
	if (p->a)
		archive_read_free(p->a);
	free(p);
}

static struct bz_pipe *bz_pipe_new(void)
{
	struct bz_pipe *p = xcalloc(1, sizeof *p);
	const void *v;
	size_t len;

	p->a = archive_read_new();
	if (!p->a)
		goto fail;
	if (archive_read_support_filter_bzip2(p->a) != ARCHIVE_OK) {
		img_seterr("bzip2 is not supported in-process by this libarchive");
		goto fail;
	}
	if (archive_read_support_format_raw(p->a) != ARCHIVE_OK ||
	    archive_read_set_read_callback(p->a, bz_read_cb) != ARCHIVE_OK ||
	    archive_read_set_callback_data(p->a, p) != ARCHIVE_OK) {
		img_seterr("bzip2 reader: %s", archive_error_string(p->a));
		goto fail;
	}
	p->pool = img_pool_new(1, "bzip2");
	if (img_pool_threads(p->pool) != 1) {
		img_seterr("cannot start the bzip2 reader");
		goto fail;
	}
	p->in = img_ring_new(1, sizeof(struct bz_blk), 1);
	p->out = img_ring_new(1, sizeof(struct bz_blk), 1);
	img_ring_open(p->in, 1);
	img_ring_open(p->out, 1);
	/* archive_read_open1 pulls the first bytes: it runs on the thread; its first
	 * request for input comes before any */
	img_pool_add(p->pool, bz_thread, p, 0);
	if (img_ring_take(p->out, 0, &v, &len) <= 0) {
		img_seterr("cannot start the bzip2 reader");
		goto fail;
	}
	img_ring_release(p->out, 0);
	return p;
fail:
	bz_pipe_free(p);
	return NULL;
}

/* Hand input to the bzip2 reader (eof: no more input) and forward its output until it
 * wants more input (or, at eof, until it is done). */
static int bz_push(struct img_decomp *d, const void *buf, size_t n, int eof)
{
	struct bz_pipe *p = d->bz;
	const void *v;
	size_t len;
	int r;

	if (eof) {
		img_ring_end(p->in);
	} else {
		void *slot;
		img_ring_slot(p->in, &slot);    /* free: the reader asked for input */
		*(struct bz_blk *)slot = (struct bz_blk){ buf, n };
		img_ring_put(p->in, sizeof(struct bz_blk));
	}
	while ((r = img_ring_take(p->out, 0, &v, &len)) > 0) {
		struct bz_blk b = *(const struct bz_blk *)v;
		if (!b.p) {
			img_ring_release(p->out, 0);
			if (!eof)
				return 0;           /* the chunk is read: it wants more */
			continue;
		}
		r = dc_emit(d, b.p, b.n);
		img_ring_release(p->out, 0);
		if (r < 0) {
			img_ring_stop(p->in);
			img_ring_stop(p->out);
			return -1;
		}
	}
	if (r < 0)
		return -1;                      /* the reader failed: img_errmsg() says why */
	if (!eof) {
		/* the stream ended before its input did */
		img_seterr("invalid bzip2 data: trailing data after the stream");
		return -1;
	}
	return 0;
}

struct img_decomp *img_comp_dec_new(enum img_comp c, uint64_t max_out, img_sink_fn sink, void *arg)
{
	struct img_decomp *d = xcalloc(1, sizeof *d);

	d->c = c;
	d->max_out = max_out;
	d->sink = sink;
	d->arg = arg;
	switch (c) {
	case IMG_COMP_NONE:
		break;
	case IMG_COMP_GZIP:
		d->gz = xmalloc(sizeof *d->gz);
		isal_inflate_init(d->gz);
		d->gz->crc_flag = ISAL_GZIP;
		d->obuf = xmalloc(IMG_LAYER_OBUF);
		break;
	case IMG_COMP_ZSTD:
		d->zd = ZSTD_createDStream();
		if (!d->zd || ZSTD_isError(ZSTD_initDStream(d->zd)) ||
		    ZSTD_isError(ZSTD_DCtx_setParameter(d->zd, ZSTD_d_windowLogMax,
		                                        IMG_ZSTD_WINDOWLOG_MAX))) {
			img_seterr("cannot initialize the zstd decoder");
			goto fail;
		}
		d->obuf = xmalloc(IMG_LAYER_OBUF);
		break;
	case IMG_COMP_XZ: {
		lzma_stream init = LZMA_STREAM_INIT;
		d->xz = init;
		if (lzma_stream_decoder(&d->xz, IMG_XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK) {
			img_seterr("cannot initialize the xz decoder");
			goto fail;
		}
		d->xz_init = 1;
		d->obuf = xmalloc(IMG_LAYER_OBUF);
		break;
	}
	case IMG_COMP_BZIP2:
		d->bz = bz_pipe_new();
		if (!d->bz)
			goto fail;
		break;
	default:
		img_seterr("unknown compression");
		goto fail;
	}
	return d;
fail:
	img_comp_dec_free(d);
	return NULL;
}

static int gz_write(struct img_decomp *d, const unsigned char *buf, size_t n)
{
	struct inflate_state *st = d->gz;
	int stalls = 0;

	st->next_in = (uint8_t *)buf;
	st->avail_in = (uint32_t)n;
	for (;;) {
		uint32_t in_before;
		size_t got;
		int r;

		if (d->gz_idle) {
			if (st->avail_in == 0)
				break;
			/* another member follows: it must be gzip again */
			uint8_t *ni = st->next_in;
			uint32_t ai = st->avail_in;
			isal_inflate_reset(st);
			st->crc_flag = ISAL_GZIP;
			st->next_in = ni;
			st->avail_in = ai;
			d->gz_idle = 0;
		}
		in_before = st->avail_in;
		st->next_out = d->obuf;
		st->avail_out = IMG_LAYER_OBUF;
		r = isal_inflate(st);
		if (r < 0) {
			if (d->gz_members > 0 && r == ISAL_INVALID_WRAPPER)
				img_seterr("invalid gzip data: garbage after member %llu",
				           (unsigned long long)d->gz_members);
			else if (r == ISAL_INCORRECT_CHECKSUM)
				img_seterr("invalid gzip data: checksum mismatch");
			else
				img_seterr("invalid gzip data (error %d)", r);
			return -1;
		}
		got = IMG_LAYER_OBUF - st->avail_out;
		if (dc_emit(d, d->obuf, got) < 0)
			return -1;
		if (st->block_state == ISAL_BLOCK_FINISH) {
			d->gz_idle = 1;
			d->gz_members++;
			continue;
		}
		if (st->avail_in == 0 && st->avail_out != 0)
			break;
		if (got == 0 && st->avail_in == in_before && ++stalls > 2) {
			img_seterr("invalid gzip data: decoder made no progress");
			return -1;
		}
	}
	return 0;
}

static int zstd_write(struct img_decomp *d, const void *buf, size_t n)
{
	ZSTD_inBuffer in = { buf, n, 0 };

	if (n)
		d->zfed = 1;
	for (;;) {
		ZSTD_outBuffer out = { d->obuf, IMG_LAYER_OBUF, 0 };
		size_t r = ZSTD_decompressStream(d->zd, &out, &in);
		if (ZSTD_isError(r)) {
			img_seterr("invalid zstd data: %s", ZSTD_getErrorName(r));
			return -1;
		}
		d->zlast = r;
		if (dc_emit(d, d->obuf, out.pos) < 0)
			return -1;
		if (in.pos == in.size && out.pos < out.size)
			break;
	}
	return 0;
}

static int xz_code(struct img_decomp *d, const void *buf, size_t n, lzma_action act)
{
	d->xz.next_in = buf;
	d->xz.avail_in = n;
	for (;;) {
		lzma_ret r;
		d->xz.next_out = d->obuf;
		d->xz.avail_out = IMG_LAYER_OBUF;
		r = lzma_code(&d->xz, act);
		if (dc_emit(d, d->obuf, IMG_LAYER_OBUF - d->xz.avail_out) < 0)
			return -1;
		if (r == LZMA_STREAM_END)
			return 0;
		if (r == LZMA_BUF_ERROR && act == LZMA_FINISH) {
			img_seterr("truncated xz stream");
			return -1;
		}
		if (r == LZMA_MEMLIMIT_ERROR) {
			img_seterr("xz data needs more than %u MiB to decode", IMG_XZ_MEMLIMIT >> 20);
			return -1;
		}
		if (r != LZMA_OK && r != LZMA_BUF_ERROR) {
			img_seterr("invalid xz data (error %d)", (int)r);
			return -1;
		}
		if (d->xz.avail_in == 0 && d->xz.avail_out != 0 && act == LZMA_RUN)
			return 0;
		if (r == LZMA_BUF_ERROR) {
			img_seterr("invalid xz data: decoder made no progress");
			return -1;
		}
	}
}

int img_comp_dec_write(struct img_decomp *d, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	int r = 0;

	if (d->failed) {
		img_seterr("decompressor used after an error");
		return -1;
	}
	while (n > 0 && r == 0) {
		size_t k = n > IMG_CHUNK_MAX ? IMG_CHUNK_MAX : n;
		switch (d->c) {
		case IMG_COMP_NONE: r = dc_emit(d, p, k); break;
		case IMG_COMP_GZIP: r = gz_write(d, p, k); break;
		case IMG_COMP_ZSTD: r = zstd_write(d, p, k); break;
		case IMG_COMP_XZ: r = xz_code(d, p, k, LZMA_RUN); break;
		case IMG_COMP_BZIP2: r = bz_push(d, p, k, 0); break;
		}
		p += k;
		n -= k;
	}
	if (r < 0)
		d->failed = 1;
	return r;
}

int img_comp_dec_finish(struct img_decomp *d)
{
	int r = 0;

	if (d->failed) {
		img_seterr("decompressor used after an error");
		return -1;
	}
	switch (d->c) {
	case IMG_COMP_NONE:
		break;
	case IMG_COMP_GZIP:
		if (!d->gz_idle || d->gz_members == 0) {
			img_seterr("truncated gzip stream");
			r = -1;
		}
		break;
	case IMG_COMP_ZSTD:
		if (!d->zfed || d->zlast != 0) {
			img_seterr("truncated zstd stream");
			r = -1;
		}
		break;
	case IMG_COMP_XZ:
		r = xz_code(d, NULL, 0, LZMA_FINISH);
		break;
	case IMG_COMP_BZIP2:
		r = bz_push(d, NULL, 0, 1);
		break;
	}
	if (r < 0)
		d->failed = 1;
	return r;
}

uint64_t img_comp_dec_out(const struct img_decomp *d)
{
	return d->out;
}

void img_comp_dec_free(struct img_decomp *d)
{
	if (!d)
		return;
	free(d->gz);
	if (d->zd)
		ZSTD_freeDStream(d->zd);
	if (d->xz_init)
		lzma_end(&d->xz);
	bz_pipe_free(d->bz);
	free(d->obuf);
	free(d);
}

/* ---- compression ---- */

struct img_compw {
	enum img_comp c;
	img_sink_fn sink;
	void *arg;
	unsigned char *obuf;
	int failed, finished;
	/* gzip via ISA-L, fed in fixed-size chunks so that the output does not depend on
	 * the caller's write sizes */
	struct isal_zstream *iz;
	unsigned char *lvlbuf;
	unsigned char *ibuf;
	size_t ibuf_n;
	/* gzip via zlib */
	z_stream *zs;
	/* zstd */
	ZSTD_CCtx *zc;
};

struct img_compw *img_comp_enc_new(enum img_comp c, int level, img_sink_fn sink, void *arg)
{
	struct img_compw *w = xcalloc(1, sizeof *w);

	w->c = c;
	w->sink = sink;
	w->arg = arg;
	switch (c) {
	case IMG_COMP_NONE:
		break;
	case IMG_COMP_GZIP:
		if (level < -1 || level > 9) {
			img_seterr("invalid gzip level %d (0-9)", level);
			goto fail;
		}
		w->obuf = xmalloc(IMG_COMPW_OBUF);
		if (level <= 3) {
			static const uint32_t lvlsz[4] = {
				ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT,
				ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT,
			};
			if (level < 0)
				level = 1;
			w->iz = xmalloc(sizeof *w->iz);
			w->ibuf = xmalloc(IMG_ISAL_IN);
			isal_deflate_init(w->iz);
			w->iz->level = (uint32_t)level;
			w->iz->gzip_flag = IGZIP_GZIP;   /* header: mtime 0, no name */
			w->iz->flush = SYNC_FLUSH;       /* see IMG_ISAL_IN */
			if (lvlsz[level]) {
				w->lvlbuf = xmalloc(lvlsz[level]);
				w->iz->level_buf = w->lvlbuf;
				w->iz->level_buf_size = lvlsz[level];
			}
		} else {
			w->zs = xcalloc(1, sizeof *w->zs);
			if (deflateInit2(w->zs, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
				free(w->zs);
				w->zs = NULL;
				img_seterr("cannot initialize the gzip compressor");
				goto fail;
			}
		}
		break;
	case IMG_COMP_ZSTD:
		if (level < -1 || level > 19) {
			img_seterr("invalid zstd level %d (1-19)", level);
			goto fail;
		}
		if (level <= 0)
			level = 3;
		w->zc = ZSTD_createCCtx();
		if (!w->zc ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, level)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_nbWorkers, 0))) {
			img_seterr("cannot initialize the zstd compressor");
			goto fail;
		}
		w->obuf = xmalloc(IMG_COMPW_OBUF);
		break;
	default:
		img_seterr("cannot write %s compression", img_comp_name(c));
		goto fail;
	}
	return w;
fail:
	img_comp_enc_free(w);
	return NULL;
}

static int cw_emit(struct img_compw *w, size_t n)
{
	return n ? w->sink(w->arg, w->obuf, n) : 0;
}

static int isal_run(struct img_compw *w, const void *buf, size_t n, int end)
{
	struct isal_zstream *z = w->iz;

	z->next_in = (uint8_t *)buf;
	z->avail_in = (uint32_t)n;
	z->end_of_stream = (uint16_t)end;
	for (;;) {
		int r;
		z->next_out = w->obuf;
		z->avail_out = IMG_COMPW_OBUF;
		r = isal_deflate(z);
		if (r != COMP_OK) {
			img_seterr("gzip compression failed (error %d)", r);
			return -1;
		}
		if (cw_emit(w, IMG_COMPW_OBUF - z->avail_out) < 0)
			return -1;
		if (end) {
			if (z->internal_state.state == ZSTATE_END)
				return 0;
		} else if (z->avail_in == 0 && z->avail_out != 0) {
			return 0;
		}
	}
}

/* Feed ISA-L exactly IMG_ISAL_IN bytes at a time: from the caller's buffer when it is
 * aligned to the pending chunk, else through ibuf. */
static int isal_write(struct img_compw *w, const unsigned char *p, size_t n)
{
	while (n > 0) {
		if (w->ibuf_n == 0 && n >= IMG_ISAL_IN) {
			if (isal_run(w, p, IMG_ISAL_IN, 0) < 0)
				return -1;
			p += IMG_ISAL_IN;
			n -= IMG_ISAL_IN;
			continue;
		}
		size_t k = IMG_ISAL_IN - w->ibuf_n;
		if (k > n)
			k = n;
		memcpy(w->ibuf + w->ibuf_n, p, k);
		w->ibuf_n += k;
		p += k;
		n -= k;
		if (w->ibuf_n == IMG_ISAL_IN) {
			w->ibuf_n = 0;
			if (isal_run(w, w->ibuf, IMG_ISAL_IN, 0) < 0)
				return -1;
		}
	}
	return 0;
}

static int zlib_run(struct img_compw *w, const void *buf, size_t n, int flush)
{
	z_stream *z = w->zs;

	z->next_in = (Bytef *)buf;
	z->avail_in = (uInt)n;
	for (;;) {
		int r;
		z->next_out = w->obuf;
		z->avail_out = IMG_COMPW_OBUF;
		r = deflate(z, flush);
		if (r == Z_STREAM_ERROR) {
			img_seterr("gzip compression failed");
			return -1;
		}
		if (cw_emit(w, IMG_COMPW_OBUF - z->avail_out) < 0)
			return -1;
		if (flush == Z_FINISH) {
			if (r == Z_STREAM_END)
				return 0;
		} else if (z->avail_in == 0 && z->avail_out != 0) {
			return 0;
		}
	}
}

static int zstd_run(struct img_compw *w, const void *buf, size_t n, ZSTD_EndDirective e)
{
	ZSTD_inBuffer in = { buf, n, 0 };

	for (;;) {
		ZSTD_outBuffer out = { w->obuf, IMG_COMPW_OBUF, 0 };
		size_t r = ZSTD_compressStream2(w->zc, &out, &in, e);
		if (ZSTD_isError(r)) {
			img_seterr("zstd compression failed: %s", ZSTD_getErrorName(r));
			return -1;
		}
		if (cw_emit(w, out.pos) < 0)
			return -1;
		if (e == ZSTD_e_end ? r == 0 : in.pos == in.size)
			return 0;
	}
}

int img_comp_enc_write(struct img_compw *w, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	int r = 0;

	if (w->failed || w->finished) {
		img_seterr("compressor used after %s", w->failed ? "an error" : "finish");
		return -1;
	}
	while (n > 0 && r == 0) {
		size_t k = n > IMG_CHUNK_MAX ? IMG_CHUNK_MAX : n;
		switch (w->c) {
		case IMG_COMP_GZIP:
			r = w->iz ? isal_write(w, p, k) : zlib_run(w, p, k, Z_NO_FLUSH);
			break;
		case IMG_COMP_ZSTD:
			r = zstd_run(w, p, k, ZSTD_e_continue);
			break;
		default:
			r = w->sink(w->arg, p, k);
			break;
		}
		p += k;
		n -= k;
	}
	if (r < 0)
		w->failed = 1;
	return r;
}

int img_comp_enc_finish(struct img_compw *w)
{
	int r = 0;

	if (w->failed || w->finished) {
		img_seterr("compressor used after %s", w->failed ? "an error" : "finish");
		return -1;
	}
	switch (w->c) {
	case IMG_COMP_GZIP:
		r = w->iz ? isal_run(w, w->ibuf, w->ibuf_n, 1) : zlib_run(w, NULL, 0, Z_FINISH);
		break;
	case IMG_COMP_ZSTD:
		r = zstd_run(w, NULL, 0, ZSTD_e_end);
		break;
	default:
		break;
	}
	if (r < 0)
		w->failed = 1;
	else
		w->finished = 1;
	return r;
}

void img_comp_enc_free(struct img_compw *w)
{
	if (!w)
		return;
	free(w->iz);
	free(w->lvlbuf);
	free(w->ibuf);
	if (w->zs) {
		deflateEnd(w->zs);
		free(w->zs);
	}
	if (w->zc)
		ZSTD_freeCCtx(w->zc);
	free(w->obuf);
	free(w);
}
