/* ring: one producer, several consumers (threads of an img_pool). */
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util.h"
#include "ring.h"
#include "pool.h"

/* The byte at offset i of the test stream. */
static unsigned char byte_at(unsigned long i)
{
	return (unsigned char)(i * 7 + i / 251);
}

struct cons {
	struct img_ring *r;
	unsigned long got;          /* bytes taken */
	unsigned long slots;
	int bad;                    /* a byte out of order */
	long fail_after;            /* consumer fails (stops the ring) after this many slots; -1 never */
	long leave_after;           /* consumer leaves after this many slots; -1 never */
	int rc;                     /* what its last take returned */
	char msg[64];
};

static int consume(void *arg, size_t c, unsigned worker)
{
	struct cons *k = &((struct cons *)arg)[c];
	const void *b;
	size_t n;
	int r;

	(void)worker;
	while ((r = img_ring_take(k->r, (unsigned)c, &b, &n)) > 0) {
		const unsigned char *p = b;
		for (size_t i = 0; i < n; i++)
			if (p[i] != byte_at(k->got + i))
				k->bad = 1;
		k->got += n;
		k->slots++;
		img_ring_release(k->r, (unsigned)c);
		if (k->fail_after >= 0 && k->slots == (unsigned long)k->fail_after) {
			img_seterr("consumer %zu failed", c);
			img_ring_stop(k->r);
			k->rc = -1;
			return -1;
		}
		if (k->leave_after >= 0 && k->slots == (unsigned long)k->leave_after) {
			img_ring_leave(k->r, (unsigned)c);
			/* a consumer that left sees the end */
			k->rc = img_ring_take(k->r, (unsigned)c, &b, &n);
			return 0;
		}
	}
	k->rc = r;
	if (r < 0)
		snprintf(k->msg, sizeof k->msg, "%s", img_errmsg());
	return r < 0 ? -1 : 0;
}

/* Write total bytes in pieces of odd sizes; 0 or -1 (stopped). */
static int produce(struct img_ring *r, unsigned long total)
{
	unsigned char buf[3001];
	unsigned long off = 0;
	size_t step = 1;

	while (off < total) {
		size_t n = step;
		if (n > total - off)
			n = (size_t)(total - off);
		for (size_t i = 0; i < n; i++)
			buf[i] = byte_at(off + i);
		if (img_ring_write(r, buf, n) < 0)
			return -1;
		off += n;
		step = step * 3 % sizeof buf + 1;
	}
	return img_ring_end(r);
}

static void cons_init(struct cons *k, unsigned n, struct img_ring *r)
{
	memset(k, 0, n * sizeof *k);
	for (unsigned i = 0; i < n; i++) {
		k[i].r = r;
		k[i].fail_after = k[i].leave_after = -1;
	}
}

TEST(ring_order_three_consumers)
{
	struct img_ring *r = img_ring_new(4, 1000, 3);
	struct img_pool *p = img_pool_new(3, "t-ring");
	struct cons k[3];
	int rc;

	IMG_ASSERT_EQ_INT(img_pool_threads(p), 3);
	cons_init(k, 3, r);
	img_ring_open(r, 7);
	for (size_t c = 0; c < 3; c++)
		img_pool_add(p, consume, k, c);
	rc = produce(r, 123457);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
	img_pool_free(p);
	img_ring_free(r);
	IMG_ASSERT_EQ_INT(rc, 0);
	for (int c = 0; c < 3; c++) {
		IMG_ASSERT_EQ_INT(k[c].bad, 0);
		IMG_ASSERT_EQ_INT(k[c].got, 123457);
		IMG_ASSERT_EQ_INT(k[c].slots, 124);        /* full slots, then the rest */
		IMG_ASSERT_EQ_INT(k[c].rc, 0);
	}
}

TEST(ring_many_consumers_many_streams)
{
	enum { N = IMG_RING_MAX_CONSUMERS };
	struct img_ring *r = img_ring_new(8, 512, N);
	struct img_pool *p = img_pool_new(N, "t-ring");
	struct cons k[N];

	IMG_ASSERT_EQ_INT(img_pool_threads(p), N);
	for (unsigned long s = 0; s < 20; s++) {
		unsigned mask = s == 0 ? (1u << N) - 1 : (unsigned)(s * 2654435761u) & ((1u << N) - 1);
		unsigned long total = s * 4099;           /* stream 0 is empty */
		cons_init(k, N, r);
		img_ring_open(r, mask);
		for (size_t c = 0; c < N; c++)
			img_pool_add(p, consume, k, c);
		IMG_ASSERT_EQ_INT(produce(r, total), 0);
		IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
		for (unsigned c = 0; c < N; c++) {
			IMG_ASSERT_EQ_INT(k[c].bad, 0);
			IMG_ASSERT_EQ_INT(k[c].got, (mask & (1u << c)) ? total : 0);
			IMG_ASSERT_EQ_INT(k[c].rc, 0);
		}
	}
	img_pool_free(p);
	img_ring_free(r);
}

TEST(ring_consumer_error_stops_all)
{
	struct img_ring *r = img_ring_new(4, 100, 3);
	struct img_pool *p = img_pool_new(3, "t-ring");
	struct cons k[3];
	int rc;

	cons_init(k, 3, r);
	k[1].fail_after = 5;
	img_ring_open(r, 7);
	for (size_t c = 0; c < 3; c++)
		img_pool_add(p, consume, k, c);
	rc = produce(r, 1000000);                   /* far more than the ring holds */
	IMG_ASSERT_EQ_INT(rc, -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "consumer 1 failed");
	IMG_ASSERT_EQ_INT(img_pool_wait(p), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "consumer 1 failed");
	IMG_ASSERT_EQ_INT(k[1].slots, 5);
	for (int c = 0; c < 3; c += 2) {
		IMG_ASSERT_EQ_INT(k[c].rc, -1);
		IMG_ASSERT_EQ_STR(k[c].msg, "consumer 1 failed");
		IMG_ASSERT(k[c].slots <= 5 + 4);          /* at most a ring past the failure */
		IMG_ASSERT_EQ_INT(k[c].bad, 0);
	}
	/* the ring and the pool serve the next stream */
	cons_init(k, 3, r);
	img_ring_open(r, 5);
	img_pool_add(p, consume, k, 0);
	img_pool_add(p, consume, k, 2);
	IMG_ASSERT_EQ_INT(produce(r, 5000), 0);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
	IMG_ASSERT_EQ_INT(k[0].got, 5000);
	IMG_ASSERT_EQ_INT(k[2].got, 5000);
	img_pool_free(p);
	img_ring_free(r);
}

TEST(ring_producer_stop)
{
	struct img_ring *r = img_ring_new(2, 64, 2);
	struct img_pool *p = img_pool_new(2, "t-ring");
	struct cons k[2];
	unsigned char buf[64] = { 0 };

	cons_init(k, 2, r);
	img_ring_open(r, 3);
	img_pool_add(p, consume, k, 0);
	img_pool_add(p, consume, k, 1);
	for (int i = 0; i < 10; i++) {
		for (int j = 0; j < 64; j++)
			buf[j] = byte_at((unsigned long)(i * 64 + j));
		IMG_ASSERT_EQ_INT(img_ring_write(r, buf, 64), 0);
	}
	img_seterr("input: read error");
	img_ring_stop(r);
	IMG_ASSERT_EQ_INT(img_ring_write(r, buf, 1), -1);
	IMG_ASSERT_EQ_INT(img_ring_end(r), -1);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "input: read error");
	for (int c = 0; c < 2; c++) {
		IMG_ASSERT_EQ_INT(k[c].rc, -1);
		IMG_ASSERT_EQ_STR(k[c].msg, "input: read error");
		IMG_ASSERT_EQ_INT(k[c].bad, 0);
	}
	img_pool_free(p);
	img_ring_free(r);
}

TEST(ring_leave_frees_the_producer)
{
	struct img_ring *r = img_ring_new(2, 10, 2);
	struct img_pool *p = img_pool_new(2, "t-ring");
	struct cons k[2];

	cons_init(k, 2, r);
	k[0].leave_after = 1;
	img_ring_open(r, 3);
	img_pool_add(p, consume, k, 0);
	img_pool_add(p, consume, k, 1);
	IMG_ASSERT_EQ_INT(produce(r, 10000), 0);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
	IMG_ASSERT_EQ_INT(k[0].slots, 1);
	IMG_ASSERT_EQ_INT(k[0].rc, 0);
	IMG_ASSERT_EQ_INT(k[1].got, 10000);
	IMG_ASSERT_EQ_INT(k[1].bad, 0);
	img_pool_free(p);
	img_ring_free(r);
}

/* img-save's way: the producer fills slots itself, reads them after the put, and waits
 * at points until everything put is consumed. */
struct summer {
	struct img_ring *r;
	unsigned long sum, n;
};

static int sum_slots(void *arg, size_t item, unsigned worker)
{
	struct summer *s = arg;
	const void *b;
	size_t n;
	int r;

	(void)item;
	(void)worker;
	while ((r = img_ring_take(s->r, 0, &b, &n)) > 0) {
		for (size_t i = 0; i < n; i++)
			s->sum += ((const unsigned char *)b)[i];
		s->n += n;
		img_ring_release(s->r, 0);
	}
	return r;
}

TEST(ring_slots_and_drain)
{
	struct img_ring *r = img_ring_new(4, 4096, 1);
	struct img_pool *p = img_pool_new(1, "t-ring");
	struct summer s = { .r = r };
	unsigned long want = 0, bytes = 0;

	IMG_ASSERT_EQ_INT(img_ring_slot_size(r), 4096);
	img_ring_open(r, 1);
	img_pool_add(p, sum_slots, &s, 0);
	for (int i = 0; i < 50; i++) {
		unsigned char *b;
		void *v, *again;
		size_t n = (size_t)(i * 37 % 4096) + 1;
		IMG_ASSERT_EQ_INT(img_ring_slot(r, &v), 0);
		IMG_ASSERT_EQ_INT(img_ring_slot(r, &again), 0);
		IMG_ASSERT(v == again);                  /* asked twice: the same slot */
		IMG_ASSERT(((uintptr_t)v & 4095) == 0);
		b = v;
		memset(b, i, n);
		IMG_ASSERT_EQ_INT(img_ring_put(r, n), 0);
		IMG_ASSERT_EQ_INT(b[n - 1], i);          /* still the producer's to read */
		want += (unsigned long)i * n;
		bytes += n;
		if (i % 7 == 0) {
			IMG_ASSERT_EQ_INT(img_ring_drain(r), 0);
			IMG_ASSERT_EQ_INT(s.n, bytes);       /* all consumed; no lock needed now */
			IMG_ASSERT_EQ_INT(s.sum, want);
		}
	}
	IMG_ASSERT_EQ_INT(img_ring_end(r), 0);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
	IMG_ASSERT_EQ_INT(s.n, bytes);
	IMG_ASSERT_EQ_INT(s.sum, want);
	img_pool_free(p);
	img_ring_free(r);
}

TEST(ring_huge_arena)
{
	struct img_ring *r = img_ring_new(4, 1u << 20, 1);
	void *v;

	img_ring_open(r, 1);
	IMG_ASSERT_EQ_INT(img_ring_slot(r, &v), 0);
	IMG_ASSERT(((uintptr_t)v & ((2u << 20) - 1)) == 0);
	img_ring_free(r);
}

/* img_ring_consume: the whole consumer loop; a sink that fails stops the stream. */
struct counter {
	struct img_ring *r;
	unsigned long bytes, fail_at;   /* fail once past fail_at bytes; 0 never */
};

static int count_sink(void *arg, const void *buf, size_t n)
{
	struct counter *k = arg;

	(void)buf;
	k->bytes += n;
	if (k->fail_at && k->bytes > k->fail_at) {
		img_seterr("disk full");
		return -1;
	}
	return 0;
}

static int consume_all(void *arg, size_t c, unsigned worker)
{
	struct counter *k = &((struct counter *)arg)[c];

	(void)worker;
	return img_ring_consume(k->r, (unsigned)c, count_sink, k);
}

TEST(ring_consume_sink_failure)
{
	struct img_ring *r = img_ring_new(4, 100, 2);
	struct img_pool *p = img_pool_new(2, "t-ring");
	struct counter k[2] = { { r, 0, 0 }, { r, 0, 0 } };

	img_ring_open(r, 3);
	img_pool_add(p, consume_all, k, 0);
	img_pool_add(p, consume_all, k, 1);
	IMG_ASSERT_EQ_INT(produce(r, 7777), 0);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
	IMG_ASSERT_EQ_INT(k[0].bytes, 7777);
	IMG_ASSERT_EQ_INT(k[1].bytes, 7777);

	k[0].bytes = k[1].bytes = 0;
	k[1].fail_at = 1000;
	img_ring_open(r, 3);
	img_pool_add(p, consume_all, k, 0);
	img_pool_add(p, consume_all, k, 1);
	IMG_ASSERT_EQ_INT(produce(r, 1000000), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "disk full");
	IMG_ASSERT_EQ_INT(img_pool_wait(p), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "disk full");
	IMG_ASSERT(k[0].bytes <= 1100 + 400);
	img_pool_free(p);
	img_ring_free(r);
}

/* The producer as a task of a pool, the consumer on the caller's thread (the layer
 * reader's shape): a consumer that stops early frees the producer blocked on a full
 * ring, and img_pool_free then joins it; the stop's message stays the consumer's. */
struct prod {
	struct img_ring *r;
	unsigned long total;
	int rc;
};

static int produce_task(void *arg, size_t item, unsigned worker)
{
	struct prod *p = arg;

	(void)item;
	(void)worker;
	p->rc = produce(p->r, p->total);
	return 0;
}

TEST(ring_producer_task_stopped_by_consumer)
{
	for (int round = 0; round < 20; round++) {
		struct img_ring *r = img_ring_new(4, 100, 1);
		struct img_pool *p = img_pool_new(1, "t-ring");
		struct prod pr = { r, 1000000, 1 };
		struct cons k;
		const void *b;
		size_t n;

		cons_init(&k, 1, r);
		img_ring_open(r, 1);
		img_pool_add(p, produce_task, &pr, 0);
		for (int i = 0; i < round; i++) {
			IMG_ASSERT_EQ_INT(img_ring_take(r, 0, &b, &n), 1);
			for (size_t j = 0; j < n; j++)
				if (((const unsigned char *)b)[j] != byte_at(k.got + j))
					k.bad = 1;
			k.got += n;
			img_ring_release(r, 0);
		}
		img_seterr("reader: done early");
		img_ring_stop(r);
		img_pool_free(p);
		IMG_ASSERT_EQ_INT(pr.rc, -1);
		IMG_ASSERT_EQ_INT(k.bad, 0);
		IMG_ASSERT_EQ_STR(img_errmsg(), "reader: done early");
		img_ring_free(r);
	}
}

/* A producer task that fails ends the stream after the data before the failure: the
 * consumer takes all of it, then sees the end (the failure is told beside the ring). */
TEST(ring_producer_task_ends_after_its_data)
{
	struct img_ring *r = img_ring_new(4, 100, 1);
	struct img_pool *p = img_pool_new(1, "t-ring");
	struct prod pr = { r, 12345, 1 };
	struct cons k;

	cons_init(&k, 1, r);
	img_ring_open(r, 1);
	img_pool_add(p, produce_task, &pr, 0);
	IMG_ASSERT_EQ_INT(consume(&k, 0, 0), 0);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
	IMG_ASSERT_EQ_INT(pr.rc, 0);
	IMG_ASSERT_EQ_INT(k.got, 12345);
	IMG_ASSERT_EQ_INT(k.bad, 0);
	IMG_ASSERT_EQ_INT(k.rc, 0);
	img_pool_free(p);
	img_ring_free(r);
}
