/* pool: worker threads running queued tasks. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util.h"
#include "pool.h"

struct log {
	atomic_uint ran;            /* tasks run */
	atomic_uint bad_worker;     /* a worker number out of range */
	unsigned nth;
	size_t order[64];           /* items in the order they ran (one thread) */
	int fail_item;              /* this item fails; -1 none */
	unsigned char seen[1000];
};

static int task(void *arg, size_t item, unsigned worker)
{
	struct log *l = arg;
	unsigned i = atomic_fetch_add(&l->ran, 1);

	if (worker >= (l->nth ? l->nth : 1))
		atomic_fetch_add(&l->bad_worker, 1);
	if (i < 64)
		l->order[i] = item;
	if (item < sizeof l->seen)
		l->seen[item]++;            /* each item a task of its own: no race */
	if ((int)item == l->fail_item) {
		img_seterr("task %zu failed", item);
		return -1;
	}
	return 0;
}

TEST(pool_runs_in_order_on_one_thread)
{
	struct img_pool *p = img_pool_new(1, "t-pool");
	struct log l = { .nth = 1, .fail_item = -1 };

	IMG_ASSERT_EQ_INT(img_pool_threads(p), 1);
	for (size_t i = 0; i < 40; i++)
		img_pool_add(p, task, &l, i);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
	IMG_ASSERT_EQ_INT(atomic_load(&l.ran), 40);
	for (size_t i = 0; i < 40; i++)
		IMG_ASSERT_EQ_INT(l.order[i], i);
	img_pool_free(p);
}

TEST(pool_many_threads_every_task_once)
{
	struct img_pool *p = img_pool_new(8, "t-pool");
	struct log *l = xcalloc(1, sizeof *l);

	l->nth = img_pool_threads(p);
	l->fail_item = -1;
	IMG_ASSERT_EQ_INT(l->nth, 8);
	for (int round = 0; round < 3; round++) {
		memset(l->seen, 0, sizeof l->seen);
		for (size_t i = 0; i < 1000; i++)
			img_pool_add(p, task, l, i);
		IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
		for (size_t i = 0; i < 1000; i++)
			IMG_ASSERT_EQ_INT(l->seen[i], 1);
	}
	IMG_ASSERT_EQ_INT(atomic_load(&l->ran), 3000);
	IMG_ASSERT_EQ_INT(atomic_load(&l->bad_worker), 0);
	img_pool_free(p);
	free(l);
}

TEST(pool_failure_drops_the_rest)
{
	struct img_pool *p = img_pool_new(1, "t-pool");
	struct log l = { .nth = 1, .fail_item = 5 };

	for (size_t i = 0; i < 20; i++)
		img_pool_add(p, task, &l, i);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "task 5 failed");
	IMG_ASSERT_EQ_INT(atomic_load(&l.ran), 6);       /* 0..5, then nothing */
	/* ready for more */
	l.fail_item = -1;
	img_pool_add(p, task, &l, 30);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
	IMG_ASSERT_EQ_INT(atomic_load(&l.ran), 7);
	IMG_ASSERT_EQ_INT(l.seen[30], 1);
	img_pool_free(p);
}

TEST(pool_failure_many_threads)
{
	struct img_pool *p = img_pool_new(4, "t-pool");
	struct log *l = xcalloc(1, sizeof *l);

	l->nth = 4;
	l->fail_item = 0;
	for (size_t i = 0; i < 1000; i++)
		img_pool_add(p, task, l, i);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "task 0 failed");
	IMG_ASSERT(atomic_load(&l->ran) >= 1 && atomic_load(&l->ran) <= 1000);
	img_pool_free(p);
	free(l);
}

TEST(pool_without_threads_runs_on_the_caller)
{
	struct img_pool *p = img_pool_new(0, "t-pool");
	struct log l = { .nth = 0, .fail_item = -1 };

	IMG_ASSERT_EQ_INT(img_pool_threads(p), 0);
	for (size_t i = 0; i < 5; i++)
		img_pool_add(p, task, &l, i);
	IMG_ASSERT_EQ_INT(img_pool_wait(p), 0);
	IMG_ASSERT_EQ_INT(atomic_load(&l.ran), 5);
	img_pool_add(p, task, &l, 9);
	img_pool_free(p);                            /* runs what is left, then frees */
	IMG_ASSERT_EQ_INT(atomic_load(&l.ran), 6);
	IMG_ASSERT_EQ_INT(atomic_load(&l.bad_worker), 0);
}

TEST(pool_free_waits_for_running_tasks)
{
	struct img_pool *p = img_pool_new(3, "t-pool");
	struct log *l = xcalloc(1, sizeof *l);

	l->nth = 3;
	l->fail_item = 7;
	for (size_t i = 0; i < 100; i++)
		img_pool_add(p, task, l, i);
	img_pool_free(p);                            /* no wait: the failure is dropped */
	IMG_ASSERT(atomic_load(&l->ran) >= 1);
	free(l);
}
