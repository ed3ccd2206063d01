/* pool.h -- a worker pool: one per queue this daemon serves, with its own
 * concurrency and executor.  The pool counts its jobs in flight so the
 * dispatcher claims exactly as many jobs as it has free slots. */
#ifndef BACKFILLD_POOL_H
#define BACKFILLD_POOL_H

#include <stdbool.h>

#include "config.h"

struct bf_job;
struct bf_result_sink;

struct bf_pool {
	char name[CONFIG_NAME_MAX]; /* the queue */
	int concurrency;
	int in_flight;   /* submitted, result not yet taken back */
	bool maybe_more; /* the last claim was full, or a NOTIFY/poll came since */
	struct bf_executor *exec;
};

/* Starts the pool's threads.  NULL (logged) on failure. */
struct bf_pool *pool_new(const struct bf_queue_config *q, struct bf_result_sink *sink);
/* Joins the threads (waits for running handlers).  NULL is a no-op. */
void pool_free(struct bf_pool *pool);

static inline int pool_free_slots(const struct bf_pool *pool)
{
	return pool->concurrency > pool->in_flight ? pool->concurrency - pool->in_flight : 0;
}

/* Changes the concurrency (reload): growing starts threads; shrinking lets
 * running jobs finish and claims fewer.  -1 (logged) if threads cannot be
 * started; the pool keeps its old concurrency then. */
__attribute__((warn_unused_result)) int pool_set_concurrency(struct bf_pool *pool, int concurrency);

/* Hands a claimed job to a worker thread. */
void pool_submit(struct bf_pool *pool, struct bf_job *job);
/* Accounts for a job whose result came back. */
void pool_job_done(struct bf_pool *pool);

#endif /* BACKFILLD_POOL_H */
