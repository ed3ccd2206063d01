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

void pool_job_done(struct bf_pool *pool)
{
	if (pool->in_flight > 0)
		pool->in_flight--;
}

int pool_set_concurrency(struct bf_pool *pool, int concurrency)
{
	if (concurrency > pool->concurrency && executor_grow(pool->exec, (unsigned)concurrency) < 0)
		return -1;
	pool->concurrency = concurrency;
	pool->maybe_more = true;
	return 0;
}
