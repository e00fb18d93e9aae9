/* ring: a bounded ring of buffers, one producer, several consumers (see ring.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"
#include "ring.h"

#define HUGE_ALIGN ((size_t)2 << 20)
#define PRODUCER IMG_RING_MAX_CONSUMERS      /* the producer, as a waiter */

struct img_ring {
	pthread_mutex_t mu;
	pthread_cond_t cv[IMG_RING_MAX_CONSUMERS + 1];  /* one per waiter */
	unsigned waiting;           /* waiters asleep (bit PRODUCER: the producer) */
	unsigned nslot, ncons, batch;
	size_t size;
	unsigned char *arena;
	size_t *len;
	/* the stream */
	unsigned active;            /* consumers taking part */
	unsigned long tail;         /* slots published */
	unsigned long pos[IMG_RING_MAX_CONSUMERS];  /* slots released, per consumer */
	unsigned long want;         /* the producer sleeps until busy <= want */
	int end, stopped;
	char *why;                  /* the first stop's message */
	/* the producer's own */
	int held;                   /* it holds slot tail % nslot */
	size_t fill;                /* bytes img_ring_write put in it */
};

struct img_ring *img_ring_new(unsigned nslot, size_t slot_size, unsigned nconsumer)
{
	struct img_ring *r = xcalloc(1, sizeof *r);
	size_t total, align = 4096;
	void *m;

	if (nslot == 0 || slot_size == 0 || nconsumer == 0 || nconsumer > IMG_RING_MAX_CONSUMERS ||
	    slot_size > ((size_t)-1 - HUGE_ALIGN) / nslot)
		img_util_die_oom();
	total = (size_t)nslot * slot_size;
	if (total % HUGE_ALIGN == 0)
		align = HUGE_ALIGN;
	if (posix_memalign(&m, align, total) != 0)
		img_util_die_oom();
	if (align == HUGE_ALIGN)
		(void)madvise(m, total, MADV_HUGEPAGE);   /* fewer page faults and TLB misses */
	r->arena = m;
	r->len = xcalloc(nslot, sizeof *r->len);
	r->nslot = nslot;
	r->ncons = nconsumer;
	r->size = slot_size;
	r->batch = nslot / 2 ? nslot / 2 : 1;
	pthread_mutex_init(&r->mu, NULL);
	for (unsigned i = 0; i <= IMG_RING_MAX_CONSUMERS; i++)
		pthread_cond_init(&r->cv[i], NULL);
	r->end = 1;                 /* no stream before img_ring_open */
	return r;
}

void img_ring_free(struct img_ring *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i <= IMG_RING_MAX_CONSUMERS; i++)
		pthread_cond_destroy(&r->cv[i]);
	pthread_mutex_destroy(&r->mu);
	free(r->arena);
	free(r->len);
	free(r->why);
	free(r);
}

size_t img_ring_slot_size(const struct img_ring *r)
{
	return r->size;
}

void img_ring_open(struct img_ring *r, unsigned mask)
{
	pthread_mutex_lock(&r->mu);
	r->active = mask & ((1u << r->ncons) - 1);
	r->tail = 0;
	memset(r->pos, 0, sizeof r->pos);
	r->end = r->stopped = 0;
	free(r->why);
	r->why = NULL;
	r->held = 0;
	r->fill = 0;
	pthread_mutex_unlock(&r->mu);
}

/* ---- waiting and waking (mu held) ---- */

static void sleep_on(struct img_ring *r, unsigned who)
{
	r->waiting |= 1u << who;
	pthread_cond_wait(&r->cv[who], &r->mu);
	r->waiting &= ~(1u << who);
}

static void wake(struct img_ring *r, unsigned who)
{
	who &= r->waiting;
	for (unsigned i = 0; who; i++, who >>= 1)
		if (who & 1)
			pthread_cond_signal(&r->cv[i]);
}

/* Published slots not yet released by every consumer taking part. */
static unsigned long busy(const struct img_ring *r)
{
	unsigned long b = 0;

	for (unsigned c = 0; c < r->ncons; c++)
		if ((r->active & (1u << c)) && r->tail - r->pos[c] > b)
			b = r->tail - r->pos[c];
	return b;
}

/* A consumer released or left: wake the producer once what it waits for is there. */
static void wake_producer(struct img_ring *r)
{
	if ((r->waiting & (1u << PRODUCER)) && busy(r) <= r->want)
		wake(r, 1u << PRODUCER);
}

/* Consumers with at least min slots to take. */
static unsigned ready(const struct img_ring *r, unsigned long min)
{
	unsigned m = 0;

	for (unsigned c = 0; c < r->ncons; c++)
		if ((r->active & (1u << c)) && r->tail - r->pos[c] >= min)
			m |= 1u << c;
	return m;
}

/* -1 with the stop's message as img_errmsg(); mu held. */
static int stopped(struct img_ring *r)
{
	img_seterr("%s", r->why ? r->why : "stopped");
	return -1;
}

/* ---- the producer ---- */

int img_ring_slot(struct img_ring *r, void **buf)
{
	int rc = 0;

	if (r->held) {              /* held and tail are the producer's to change: no lock */
		*buf = r->arena + (r->tail % r->nslot) * r->size;
		return 0;
	}
	pthread_mutex_lock(&r->mu);
	/* room for one slot; once full, sleep until half the ring is free */
	r->want = r->nslot - r->batch;
	while (!r->stopped && busy(r) >= r->nslot)
		sleep_on(r, PRODUCER);
	r->held = !r->stopped;
	if (r->stopped)
		rc = stopped(r);
	else
		*buf = r->arena + (r->tail % r->nslot) * r->size;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int img_ring_put(struct img_ring *r, size_t len)
{
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	if (r->stopped) {
		rc = stopped(r);
	} else {
		r->len[r->tail % r->nslot] = len < r->size ? len : r->size;
		r->tail++;
		r->held = 0;
		r->fill = 0;
		/* a consumer is woken once it has half a ring to take: a wake-up costs more
		 * than a slot's wait */
		wake(r, ready(r, r->batch));
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int img_ring_write(struct img_ring *r, const void *buf, size_t n)
{
	const unsigned char *b = buf;

	while (n) {
		void *slot;
		size_t take;

		if (img_ring_slot(r, &slot) < 0)
			return -1;
		take = r->size - r->fill;           /* fill: the producer's own */
		if (take > n)
			take = n;
		memcpy((unsigned char *)slot + r->fill, b, take);
		r->fill += take;
		b += take;
		n -= take;
		if (r->fill == r->size && img_ring_put(r, r->fill) < 0)
			return -1;
	}
	return 0;
}

int img_ring_flush(struct img_ring *r)
{
	return r->fill ? img_ring_put(r, r->fill) : 0;
}

int img_ring_end(struct img_ring *r)
{
	int rc = img_ring_flush(r);

	pthread_mutex_lock(&r->mu);
	if (r->stopped) {
		rc = stopped(r);
	} else {
		r->end = 1;
		wake(r, r->active);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int img_ring_drain(struct img_ring *r)
{
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	r->want = 0;
	wake(r, ready(r, 1));       /* below the batch: they would not be woken otherwise */
	while (!r->stopped && busy(r) > 0)
		sleep_on(r, PRODUCER);
	if (r->stopped)
		rc = stopped(r);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* ---- consumers ---- */

int img_ring_take(struct img_ring *r, unsigned c, const void **buf, size_t *len)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	while (!r->stopped && (r->active & (1u << c)) && r->pos[c] == r->tail && !r->end)
		sleep_on(r, c);
	if (r->stopped) {
		rc = stopped(r);
	} else if (!(r->active & (1u << c)) || r->pos[c] == r->tail) {
		rc = 0;
	} else {
		unsigned i = (unsigned)(r->pos[c] % r->nslot);
		*buf = r->arena + (size_t)i * r->size;
		*len = r->len[i];
		rc = 1;
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void img_ring_release(struct img_ring *r, unsigned c)
{
	pthread_mutex_lock(&r->mu);
	if ((r->active & (1u << c)) && r->pos[c] != r->tail) {
		r->pos[c]++;
		wake_producer(r);
	}
	pthread_mutex_unlock(&r->mu);
}

int img_ring_consume(struct img_ring *r, unsigned c,
                     int (*sink)(void *arg, const void *buf, size_t n), void *arg)
{
	const void *b;
	size_t n;
	int rc;

	while ((rc = img_ring_take(r, c, &b, &n)) > 0) {
		if (sink(arg, b, n) < 0) {
			img_ring_stop(r);   /* the producer and the other consumers too */
			return -1;
		}
		img_ring_release(r, c);
	}
	return rc;
}

void img_ring_leave(struct img_ring *r, unsigned c)
{
	pthread_mutex_lock(&r->mu);
	r->active &= ~(1u << c);
	wake_producer(r);
	pthread_mutex_unlock(&r->mu);
}

void img_ring_stop(struct img_ring *r)
{
	pthread_mutex_lock(&r->mu);
	if (!r->stopped) {
		r->stopped = 1;
		r->why = xstrdup(img_errmsg());
		wake(r, r->waiting);
	}
	pthread_mutex_unlock(&r->mu);
}
