/* parallel: a shared counter of items, worker threads, the first error kept. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "parallel.h"

#define MAX_THREADS 64

struct run {
	const struct img_parallel_ops *ops;
	void *arg;
	size_t n, next;
	pthread_mutex_t mu;
	int failed;
	char *err;
};

static void *worker(void *p)
{
	struct run *r = p;
	void *state = r->ops->init ? r->ops->init(r->arg) : NULL;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&r->mu);
		if (r->failed || r->next >= r->n) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		i = r->next++;
		pthread_mutex_unlock(&r->mu);
		if (r->ops->work(r->arg, state, i) < 0) {
			pthread_mutex_lock(&r->mu);
			if (!r->failed) {
				r->failed = 1;
				r->err = xstrdup(img_errmsg());
			}
			pthread_mutex_unlock(&r->mu);
			break;
		}
	}
	if (r->ops->fini)
		r->ops->fini(r->arg, state);
	return NULL;
}

int img_parallel_run(size_t n, int jobs, const struct img_parallel_ops *ops, void *arg)
{
	struct run r = { .ops = ops, .arg = arg, .n = n };
	pthread_t th[MAX_THREADS];
	int started, want;

	if (n == 0)
		return 0;
	want = jobs < 1 ? 1 : jobs > MAX_THREADS ? MAX_THREADS : jobs;
	if ((size_t)want > n)
		want = (int)n;
	pthread_mutex_init(&r.mu, NULL);
	for (started = 0; started < want - 1; started++)
		if (pthread_create(&th[started], NULL, worker, &r) != 0)
			break;
	worker(&r);
	while (started > 0)
		pthread_join(th[--started], NULL);
	pthread_mutex_destroy(&r.mu);
	if (r.failed) {
		img_seterr("%s", r.err);
		free(r.err);
		return -1;
	}
	return 0;
}
