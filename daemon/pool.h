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
	int in_flight;   /* submitted (running or queued), result not yet taken back */
	bool maybe_more; /* the last claim found jobs, or a NOTIFY/poll came since */
	bool claiming;   /* a claim for this pool is in flight */
	bool rewake;     /* a NOTIFY/poll came while it was: claim again after it */
	double avg_run_us; /* moving average of handler run time; < 0: no sample yet */
	struct bf_executor *exec;
};

/* Starts the pool's threads.  NULL (logged) on failure. */
struct bf_pool *pool_new(const struct bf_queue_config *q, struct bf_result_sink *sink);
/* Joins the threads (waits for running handlers).  NULL is a no-op. */
void pool_free(struct bf_pool *pool);

/* Jobs a pool may hold beyond its running ones, claimed ahead so that
 * fast jobs are claimed and finished in big batches.  Sized so the queued
 * jobs take about POOL_PREFETCH_WINDOW_US to run: none for slow jobs (a
 * newly enqueued urgent job never waits behind a long local queue), up to
 * POOL_PREFETCH_MAX for very fast ones. */
#define POOL_PREFETCH_WINDOW_US 10000.0
#define POOL_PREFETCH_MAX 1000
int pool_prefetch(const struct bf_pool *pool);

/* How many jobs a claim for this pool may take now. */
static inline int pool_claim_room(const struct bf_pool *pool)
{
	int cap = pool->concurrency + pool_prefetch(pool);
	return cap > pool->in_flight ? cap - pool->in_flight : 0;
}

/* Whether a claim is worth sending now: a free slot for slow jobs; for
 * fast ones, once half the jobs claimed ahead have started, so that claims
 * stay big (each costs a round trip and a commit) and the next batch
 * arrives before the threads run dry. */
static inline bool pool_wants_claim(const struct bf_pool *pool)
{
	int room = pool_claim_room(pool);
	int half = pool_prefetch(pool) / 2;
	return room > 0 && room >= half;
}

/* Takes back the jobs no thread has started yet (shutdown); caller owns the
 * list (linked by ->next) and must return them to the database. */
struct bf_job *pool_take_queued(struct bf_pool *pool);

/* Changes the concurrency (reload): growing starts threads; shrinking lets
 * running jobs finish and claims fewer.  -1 (logged) if threads cannot be
 * started; the pool keeps its old concurrency then. */
__attribute__((warn_unused_result)) int pool_set_concurrency(struct bf_pool *pool, int concurrency);

/* Hands a claimed job to a worker thread. */
void pool_submit(struct bf_pool *pool, struct bf_job *job);
/* Accounts for a job whose result came back (updates the run-time average). */
void pool_job_done(struct bf_pool *pool, const struct bf_job *job);

#endif /* BACKFILLD_POOL_H */
