/* ring: a bounded ring of buffers from one producer thread to several consumer threads.
 * Every consumer taking part in a stream takes every slot, in order; a slot is filled
 * again only once each of them has released it. The one way threads of img wait for
 * each other (with img_pool, which runs them): each party sleeps on its own condition
 * and is woken only when what it waits for may have come, in batches of half a ring
 * (a producer once half the ring is free, a consumer once half of it is there for it,
 * or at the end of the stream); img_ring_stop() is the one way to stop them on error.
 *
 * A stream: img_ring_open() (no thread inside the ring), the producer fills slots
 * (img_ring_slot + img_ring_put, or img_ring_write) and ends with img_ring_end(); each
 * consumer loops img_ring_take + img_ring_release until take returns 0. Any party may
 * img_ring_stop() the stream: every wait then returns -1. A ring may carry any number
 * of streams, one after the other. */
#ifndef IMG_RING_H
#define IMG_RING_H

#include <stddef.h>

#define IMG_RING_MAX_CONSUMERS 16

struct img_ring;

/* A ring of nslot slots of slot_size bytes each (one arena, 4 KiB aligned for O_DIRECT;
 * 2 MiB aligned and huge-page backed when it is made of 2 MiB pages), for up to nconsumer
 * consumers (1 .. IMG_RING_MAX_CONSUMERS), numbered from 0. Dies on out of memory like
 * xmalloc. The caller frees it with img_ring_free(). */
struct img_ring *img_ring_new(unsigned nslot, size_t slot_size, unsigned nconsumer);
/* Free a ring no thread uses any more. NULL-safe. */
void img_ring_free(struct img_ring *r);
size_t img_ring_slot_size(const struct img_ring *r);

/* Start a stream for the consumers in mask (bit c: consumer c takes part); clears the
 * end and any stop of the previous stream. No thread may be inside the ring meanwhile:
 * every consumer of the previous stream has seen its end (or stop). */
void img_ring_open(struct img_ring *r, unsigned mask);

/* ---- the producer (one thread) ---- */

/* The next slot to fill, once every consumer has released it: *buf points to its
 * slot_size bytes, which belong to the producer until img_ring_put(); a slot already
 * put may still be read by the producer until it asks for the next one. Asking again
 * without a put gives the same slot, at once (a stop is then seen at the put). 0, or -1
 * when the stream was stopped (img_errmsg() says why). */
int img_ring_slot(struct img_ring *r, void **buf);
/* Publish the slot img_ring_slot() gave, holding len bytes (len <= slot_size). 0 or -1
 * (stopped). */
int img_ring_put(struct img_ring *r, size_t len);
/* Copy n bytes of buf (borrowed) into the stream: slots are filled in full and published
 * as they fill. 0 or -1 (stopped). */
int img_ring_write(struct img_ring *r, const void *buf, size_t n);
/* Publish the partly filled slot of img_ring_write(), if any. 0 or -1 (stopped). */
int img_ring_flush(struct img_ring *r);
/* Flush, then end the stream: consumers take what is left, then 0. 0 or -1 (stopped). */
int img_ring_end(struct img_ring *r);
/* Wait until every consumer has released every slot published so far (the stream goes
 * on). 0 or -1 (stopped). */
int img_ring_drain(struct img_ring *r);

/* ---- consumer c (one thread each) ---- */

/* The next slot for consumer c: 1 with *buf and *len set (the bytes are borrowed until
 * img_ring_release), 0 at the end of the stream (or when c takes no part in it), -1 when
 * the stream was stopped (img_errmsg() says why). */
int img_ring_take(struct img_ring *r, unsigned c, const void **buf, size_t *len);
/* Consumer c is done with the slot it took. */
void img_ring_release(struct img_ring *r, unsigned c);
/* Consumer c's whole loop: hand every slot in order to sink(arg, bytes, len) (an
 * img_sink_fn; the bytes are borrowed for the call) until the end of the stream. 0 at
 * the end, or -1: the stream was stopped, or sink failed (then it stops the stream with
 * the sink's img_errmsg()). */
int img_ring_consume(struct img_ring *r, unsigned c,
                     int (*sink)(void *arg, const void *buf, size_t n), void *arg);
/* Consumer c takes no further part in this stream (it has nothing more to do): it no
 * longer holds the producer back, and its next take returns 0. */
void img_ring_leave(struct img_ring *r, unsigned c);

/* ---- any party ---- */

/* Stop the stream on error: the producer's and every consumer's waits return -1 from now
 * on, with img_errmsg() set to the caller's img_errmsg() at the first stop. Idempotent. */
void img_ring_stop(struct img_ring *r);

#endif
