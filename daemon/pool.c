/* pool.c -- per-queue worker pools. */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>

#include "executor.h"
#include "job.h"

struct bf_pool *pool_new(const struct bf_queue_config *q, struct bf_result_sink *sink)
{
	struct bf_pool *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	snprintf(p->name, sizeof(p->name), "%s", q->name);
	p->concurrency = q->concurrency;
	p->maybe_more = true;
	p->avg_run_us = -1.0;
	p->exec = executor_new(q->name, (unsigned)q->concurrency, sink);
	if (!p->exec) {
		free(p);
		return NULL;
	}
	return p;
}

void pool_free(struct bf_pool *pool)
{
	if (!pool)
		return;
	executor_free(pool->exec);
	free(pool);
}

void pool_submit(struct bf_pool *pool, struct bf_job *job)
{
	job->pool = pool;
	pool->in_flight++;
	executor_submit(pool->exec, job);
}

void pool_job_done(struct bf_pool *pool, const struct bf_job *job)
{
	if (pool->in_flight > 0)
		pool->in_flight--;
	double us = (double)(job->finished_us - job->started_us);
	if (us < 0)
		us = 0;
	pool->avg_run_us = pool->avg_run_us < 0 ? us : 0.9 * pool->avg_run_us + 0.1 * us;
}

int pool_prefetch(const struct bf_pool *pool)
{
	if (pool->concurrency <= 0 || pool->avg_run_us < 0)
		return 0;
	double per_thread = POOL_PREFETCH_WINDOW_US / (pool->avg_run_us > 1.0 ? pool->avg_run_us : 1.0);
	double n = per_thread * pool->concurrency;
	return n >= POOL_PREFETCH_MAX ? POOL_PREFETCH_MAX : (int)n;
}

struct bf_job *pool_take_queued(struct bf_pool *pool)
{
	struct bf_job *list = executor_take_queued(pool->exec);
	for (struct bf_job *j = list; j; j = j->next)
		if (pool->in_flight > 0)
			pool->in_flight--;
	return list;
}

int pool_set_concurrency(struct bf_pool *pool, int concurrency)
{
	if (concurrency > pool->concurrency && executor_grow(pool->exec, (unsigned)concurrency) < 0)
		return -1;
	executor_set_limit(pool->exec, (unsigned)concurrency);
	pool->concurrency = concurrency;
	pool->maybe_more = true;
	return 0;
}
