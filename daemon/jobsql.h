/* jobsql.h -- the statements a running daemon sends: register and
 * heartbeat, claim a batch, finish a batch, return jobs, recover dead
 * workers.  Each wraps one SQL function of sql/003_worker.sql. */
#ifndef BACKFILLD_JOBSQL_H
#define BACKFILLD_JOBSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct bf_job;

/* Prepares every statement on a fresh connection.  On failure, *migration
 * (if not NULL) names the migration that creates what the failing
 * statement calls, and db->sqlstate says why. */
__attribute__((warn_unused_result)) int jobsql_prepare(struct bf_db *db, const char **migration);

/* Sends a claim of up to limit due jobs of queue for the given tasks (a
 * text[] literal) without waiting; 0, or -1 on a database error.  When its
 * result is in, jobsql_claim_parse appends the jobs to *list (linked by
 * ->next) and returns how many. */
__attribute__((warn_unused_result)) int jobsql_claim_send(struct bf_db *db, const char *worker, const char *queue,
                                                          const char *tasks_literal, int limit);
int jobsql_claim_parse(const PGresult *r, struct bf_job **list);
/* Records the outcome of every job in list (success, retry with backoff or
 * the handler's delay, dead-letter).  One statement, one transaction, so a
 * failed call recorded nothing and is safe to repeat (every change is
 * guarded by the owner).  _send sends it without waiting, _parse reads the
 * counts from its result; jobsql_finish does both and waits.  -1 on error. */
__attribute__((warn_unused_result)) int jobsql_finish_send(struct bf_db *db, const char *worker,
                                                           const struct bf_job *list);
__attribute__((warn_unused_result)) int jobsql_finish_parse(const PGresult *r, int *completed, int *retried,
                                                            int *dead);
__attribute__((warn_unused_result)) int jobsql_finish(struct bf_db *db, const char *worker, const struct bf_job *list,
                                                      int *completed, int *retried, int *dead);
/* Returns jobs (attempt refunded).  ids: a bigint[] literal. */
__attribute__((warn_unused_result)) int jobsql_return(struct bf_db *db, const char *worker, const char *ids_literal);
/* Returns every job this worker holds except those listed. */
__attribute__((warn_unused_result)) int jobsql_return_except(struct bf_db *db, const char *worker,
                                                             const char *keep_literal, int *returned);

__attribute__((warn_unused_result)) int jobsql_register(struct bf_db *db, const char *worker, const char *host, int pid,
                                                        const char *queues_literal, int timeout_s);
/* *alive is false when the row was gone (this daemon was declared dead). */
__attribute__((warn_unused_result)) int jobsql_heartbeat(struct bf_db *db, const char *worker, bool *alive);
__attribute__((warn_unused_result)) int jobsql_recover_dead(struct bf_db *db, const char *worker, int *released);
__attribute__((warn_unused_result)) int jobsql_unregister(struct bf_db *db, const char *worker);

/* Moves up to max_jobs exhausted, unlocked jobs to the dlq. */
__attribute__((warn_unused_result)) int jobsql_dlq_sweep(struct bf_db *db, int max_jobs, int *moved);
/* Releases serial-key and job locks of workers that are not registered. */
__attribute__((warn_unused_result)) int jobsql_release_stale_locks(struct bf_db *db, int queue_timeout_s,
                                                                   int job_timeout_s, int *serial_released,
                                                                   int *jobs_released);

/* A schedule's row in known_crontabs; times in unix seconds (floored). */
struct bf_cron_known {
	char *id;
	int64_t known_since;
	int64_t last_execution; /* -1: never */
};

struct bf_cron_schedule;

/* Records schedule ids not seen before (known since now) and returns every
 * given id's row (caller frees with jobsql_cron_known_free).  ids: a
 * text[] literal. */
__attribute__((warn_unused_result)) int jobsql_cron_register(struct bf_db *db, const char *ids_literal,
                                                             struct bf_cron_known **rows, size_t *nrows);
void jobsql_cron_known_free(struct bf_cron_known *rows, size_t nrows);

/* Enqueues occurrence ts (unix seconds) of schedule s unless some daemon
 * already did (one transaction: cron_fire).  *job_id: the job, or -1 when
 * it was already enqueued. */
__attribute__((warn_unused_result)) int jobsql_cron_fire(struct bf_db *db, const struct bf_cron_schedule *s,
                                                         int64_t ts, bool backfilled, int64_t *job_id);

#endif /* BACKFILLD_JOBSQL_H */
