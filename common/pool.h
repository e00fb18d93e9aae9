/* pool: a small pool of worker threads running tasks from one queue, in the order they
 * were added. A task that fails stops the pool's work: the tasks not yet started are
 * dropped and img_pool_wait() reports the first failure. Tasks that wait for each other
 * (the stages of a pipeline joined by img_ring) each need a thread of their own: add no
 * more of them at once than img_pool_threads(). */
#ifndef IMG_POOL_H
#define IMG_POOL_H

#include <stddef.h>

/* A task: item is the one given to img_pool_add, worker the number of the thread that
 * runs it (0 .. img_pool_threads() - 1; 0 on the caller's thread when the pool has no
 * thread), for state a worker keeps from task to task. 0, or -1 with img_errmsg() set. */
typedef int (*img_pool_fn)(void *arg, size_t item, unsigned worker);

struct img_pool;

/* A pool of up to nthreads threads (named name, borrowed, for debuggers). It may have
 * fewer, even none, when the system will not start them: see img_pool_threads(). Never
 * NULL (dies on out of memory like xmalloc); the caller frees it with img_pool_free(). */
struct img_pool *img_pool_new(unsigned nthreads, const char *name);
/* The threads running. */
unsigned img_pool_threads(const struct img_pool *p);
/* Queue fn(arg, item, worker) (arg borrowed until the task has run); after a failure,
 * until img_pool_wait() reports it, the task is dropped. */
void img_pool_add(struct img_pool *p, img_pool_fn fn, void *arg, size_t item);
/* Wait until every task added has run or been dropped (a pool without threads runs them
 * here, on the caller's thread). 0, or -1 when one failed, with img_errmsg() set to the
 * first failure's; the pool is then ready for new tasks. */
int img_pool_wait(struct img_pool *p);
/* Wait for the tasks (their failures are dropped), end the threads and free. NULL-safe. */
void img_pool_free(struct img_pool *p);

#endif
