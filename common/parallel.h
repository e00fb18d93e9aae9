/* parallel: items [0, n) worked on by up to `jobs` threads (the caller's among them),
 * each thread with its own state; the first failure stops the rest. */
#ifndef IMG_PARALLEL_H
#define IMG_PARALLEL_H

#include <stddef.h>

struct img_parallel_ops {
	/* Per-thread state (e.g. a connection), made in the thread; may be NULL. */
	void *(*init)(void *arg);
	void (*fini)(void *arg, void *state);
	/* Work on item i: 0, or -1 with img_errmsg() (then no new item is started). */
	int (*work)(void *arg, void *state, size_t i);
};

/* Run ops over items [0, n) on min(jobs, n) threads. 0, or -1 with the first failure's
 * img_errmsg() (copied into the calling thread). */
int img_parallel_run(size_t n, int jobs, const struct img_parallel_ops *ops, void *arg);

#endif
