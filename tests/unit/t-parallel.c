#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util.h"
#include "parallel.h"

struct ctx {
	pthread_mutex_t mu;
	int done[100];
	int inits, finis;
	size_t fail_at;
};

static void *init(void *arg)
{
	struct ctx *c = arg;
	pthread_mutex_lock(&c->mu);
	c->inits++;
	pthread_mutex_unlock(&c->mu);
	return c;
}

static void fini(void *arg, void *state)
{
	struct ctx *c = arg;
	(void)state;
	pthread_mutex_lock(&c->mu);
	c->finis++;
	pthread_mutex_unlock(&c->mu);
}

static int work(void *arg, void *state, size_t i)
{
	struct ctx *c = arg;
	if (state != arg)
		return -1;
	if (i == c->fail_at) {
		img_seterr("item %zu failed", i);
		return -1;
	}
	pthread_mutex_lock(&c->mu);
	c->done[i]++;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

TEST(parallel_all_once)
{
	static const struct img_parallel_ops ops = { init, fini, work };
	struct ctx c = { .fail_at = (size_t)-1 };
	int i;

	pthread_mutex_init(&c.mu, NULL);
	IMG_ASSERT(img_parallel_run(100, 4, &ops, &c) == 0);
	for (i = 0; i < 100; i++)
		IMG_ASSERT_EQ_INT(c.done[i], 1);
	IMG_ASSERT_EQ_INT(c.inits, 4);
	IMG_ASSERT_EQ_INT(c.finis, 4);
	/* fewer items than jobs: one thread per item */
	memset(c.done, 0, sizeof(c.done));
	c.inits = c.finis = 0;
	IMG_ASSERT(img_parallel_run(2, 8, &ops, &c) == 0);
	IMG_ASSERT_EQ_INT(c.inits, 2);
	IMG_ASSERT(img_parallel_run(0, 8, &ops, &c) == 0);
	pthread_mutex_destroy(&c.mu);
}

TEST(parallel_first_error)
{
	static const struct img_parallel_ops ops = { init, fini, work };
	struct ctx c = { .fail_at = 0 };

	pthread_mutex_init(&c.mu, NULL);
	IMG_ASSERT(img_parallel_run(50, 1, &ops, &c) < 0);
	IMG_ASSERT_EQ_STR(img_errmsg(), "item 0 failed");
	IMG_ASSERT_EQ_INT(c.done[1], 0);      /* one thread: nothing after the failure */
	IMG_ASSERT_EQ_INT(c.finis, 1);
	pthread_mutex_destroy(&c.mu);
}
