/* executor.h -- runs handlers off the event loop.  The threaded executor
 * keeps N worker threads per pool; each takes a job, runs its handler and
 * hands the finished job to a result sink, which wakes the loop through an
 * eventfd.  Worker threads touch nothing but the job they run. */
#ifndef BACKFILLD_EXECUTOR_H
#define BACKFILLD_EXECUTOR_H

#include <stdbool.h>

struct bf_job;
struct bf_executor;
struct bf_result_sink;

/* Finished jobs waiting for the loop.  sink_fd() becomes readable when the
 * sink goes from empty to non-empty. */
struct bf_result_sink *sink_new(void);
void sink_free(struct bf_result_sink *sink);
int sink_fd(const struct bf_result_sink *sink);
/* Takes every finished job (a list linked by ->next, oldest first) and
 * clears the wake-up; NULL if none.  Caller owns the jobs. */
struct bf_job *sink_take_all(struct bf_result_sink *sink);
void sink_push(struct bf_result_sink *sink, struct bf_job *job);

/* Starts `threads` worker threads named after the pool.  Returns NULL (after
 * logging) if a thread cannot be started. */
struct bf_executor *executor_new(const char *name, unsigned threads, struct bf_result_sink *sink);

/* Starts more threads, up to `threads` in all (a reload that grows a
 * pool).  Threads are never stopped before executor_free: a shrunk pool just
 * claims fewer jobs.  -1 (logged) if a thread cannot be started. */
__attribute__((warn_unused_result)) int executor_grow(struct bf_executor *ex, unsigned threads);

/* At most `limit` handlers run at once from now on (a shrunk pool: running
 * ones finish, queued ones wait). */
void executor_set_limit(struct bf_executor *ex, unsigned limit);

/* Queues a job; a free thread runs it.  The executor owns the job until it
 * reaches the sink. */
void executor_submit(struct bf_executor *ex, struct bf_job *job);

/* Takes back every job still waiting for a thread (linked by ->next, in
 * queue order); the caller owns them.  NULL if none. */
struct bf_job *executor_take_queued(struct bf_executor *ex);

/* Stops and joins the threads.  Waits for running handlers: call only when
 * none runs (or accept the wait).  NULL is a no-op. */
void executor_free(struct bf_executor *ex);

#endif /* BACKFILLD_EXECUTOR_H */
