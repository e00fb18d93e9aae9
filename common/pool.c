/* pool: worker threads running queued tasks (see pool.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "pool.h"

struct task {
	img_pool_fn fn;
	void *arg;
	size_t item;
};

struct worker {
	struct img_pool *p;
	unsigned id;
	pthread_t th;
};

struct img_pool {
	pthread_mutex_t mu;
	pthread_cond_t work;        /* workers: a task was queued, or quit */
	pthread_cond_t idle;        /* the waiter: the last task ended */
	struct task *q;
	size_t head, n, cap;        /* tasks q[head .. n) wait to run */
	unsigned running;           /* tasks started, not yet ended */
	int quit;
	char *why;                  /* the first failure's message */
	struct worker *w;
	unsigned nth;
};

/* Run tasks until there are none (mu held on entry and on return). */
static void run_tasks(struct img_pool *p, unsigned worker)
{
	while (p->head < p->n) {
		struct task t = p->q[p->head++];
		int rc;

		p->running++;
		pthread_mutex_unlock(&p->mu);
		rc = t.fn(t.arg, t.item, worker);
		pthread_mutex_lock(&p->mu);
		p->running--;
		if (rc < 0 && !p->why) {
			p->why = xstrdup(img_errmsg());
			p->head = p->n;     /* drop the tasks not yet started */
		}
	}
	if (p->running == 0)
		pthread_cond_broadcast(&p->idle);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct img_pool *p = w->p;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->quit && p->head == p->n)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->head == p->n)
			break;
		run_tasks(p, w->id);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct img_pool *img_pool_new(unsigned nthreads, const char *name)
{
	struct img_pool *p = xcalloc(1, sizeof *p);

	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->w = xcalloc(nthreads ? nthreads : 1, sizeof *p->w);
	for (unsigned i = 0; i < nthreads; i++) {
		struct worker *w = &p->w[p->nth];
		w->p = p;
		w->id = p->nth;
		if (pthread_create(&w->th, NULL, worker_main, w) != 0)
			break;
		if (name)
			(void)pthread_setname_np(w->th, name);
		p->nth++;
	}
	return p;
}

unsigned img_pool_threads(const struct img_pool *p)
{
	return p->nth;
}

void img_pool_add(struct img_pool *p, img_pool_fn fn, void *arg, size_t item)
{
	pthread_mutex_lock(&p->mu);
	if (p->why) {
		pthread_mutex_unlock(&p->mu);   /* a task failed: dropped, like those queued */
		return;
	}
	if (p->head == p->n)
		p->head = p->n = 0;
	IMG_GROW(p->q, p->n + 1, p->cap);
	p->q[p->n++] = (struct task){ fn, arg, item };
	pthread_cond_signal(&p->work);          /* one idle worker is enough for one task */
	pthread_mutex_unlock(&p->mu);
}

int img_pool_wait(struct img_pool *p)
{
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	if (p->nth == 0)
		run_tasks(p, 0);
	while (p->head < p->n || p->running)
		pthread_cond_wait(&p->idle, &p->mu);
	if (p->why) {
		img_seterr("%s", p->why);
		free(p->why);
		p->why = NULL;
		rc = -1;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void img_pool_free(struct img_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	if (p->nth == 0)
		run_tasks(p, 0);
	p->quit = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nth; i++)
		pthread_join(p->w[i].th, NULL);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->mu);
	free(p->why);
	free(p->q);
	free(p->w);
	free(p);
}
