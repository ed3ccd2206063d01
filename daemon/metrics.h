/* metrics.h -- backfilld's Prometheus metrics: counters and the job-duration
 * histogram, updated on the event loop's thread only (no locks, no atomics),
 * and their text exposition together with the gauges a scrape supplies.
 *
 * Labels take only queue names of the configuration and task names of
 * loaded plugins, registered up front: an update naming anything else is
 * dropped (and warned about once), so the number of series stays bounded
 * whatever the jobs table holds.  The registry is one per process, like
 * the log level: the dispatcher, the janitor and the admin endpoint all
 * count into it without a handle passed around. */
#ifndef BACKFILLD_METRICS_H
#define BACKFILLD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What became of a job whose handler returned. */
enum bf_metrics_outcome {
	METRICS_OUTCOME_COMPLETED = 0, /* succeeded: the row is gone */
	METRICS_OUTCOME_RETRIED = 1,   /* runs again after its backoff */
	METRICS_OUTCOME_DEAD = 2,      /* moved to the dead-letter queue */
};

/* Which database connection an event happened on (label "connection"). */
enum bf_metrics_conn {
	METRICS_CONN_JOBS = 0,  /* the job loop's: dispatcher, janitor, start-up migration */
	METRICS_CONN_ADMIN = 1, /* the admin endpoint's own */
};

/* Clears every value and registration and records the start time. */
void metrics_init(void);
/* Frees the registry (exit, tests).  Counting after it starts afresh. */
void metrics_free(void);

/* Label values allowed from now on (copied; a repeat is a no-op). */
void metrics_register_queue(const char *queue);
void metrics_register_task(const char *task);

/* n jobs of queue and task were claimed (handed to the pool). */
void metrics_jobs_claimed(const char *queue, const char *task, int n);
/* A job's result was recorded; seconds: the handler's run time. */
void metrics_job_finished(const char *queue, const char *task, enum bf_metrics_outcome outcome,
                          double seconds);
/* A lost connection was re-established. */
void metrics_db_reconnect(enum bf_metrics_conn conn);
/* A statement or a connection attempt failed. */
void metrics_db_error(enum bf_metrics_conn conn);
/* The stale-lock cleanup released this many locks of unknown owners. */
void metrics_cleanup_released(int serial_locks, int job_locks);
/* recover_dead_workers released this many jobs of dead daemons. */
void metrics_dead_workers_recovered(int jobs);
/* The DLQ processor moved this many exhausted jobs to the DLQ. */
void metrics_dlq_swept(int jobs);

/* A worker pool as the dispatcher sees it at scrape time. */
struct bf_metrics_pool {
	const char *queue; /* borrowed */
	int concurrency;
	int in_flight; /* claimed and not yet taken back: running or waiting for a thread */
};

/* Jobs of one queue in the database (counts are capped by the caller). */
struct bf_metrics_queue_depth {
	const char *queue; /* borrowed */
	int64_t ready;     /* due, unlocked, attempts left */
	int64_t scheduled; /* unlocked, attempts left, run_at in the future */
	int64_t running;   /* locked by some daemon */
};

/* The gauges a scrape adds to the counters; everything borrowed. */
struct bf_metrics_snapshot {
	const struct bf_metrics_pool *pools;
	size_t npools;
	const struct bf_metrics_queue_depth *queues; /* NULL: unknown, not rendered */
	size_t nqueues;
	int64_t dlq_jobs; /* < 0: unknown, not rendered */
	bool up;          /* the database answered the last check */
};

/* The bucket bounds of backfill_job_duration_seconds, in seconds. */
extern const double metrics_duration_buckets[];
extern const size_t metrics_nduration_buckets;

/* Writes the Prometheus text exposition (format 0.0.4) of every metric. */
void metrics_render(const struct bf_metrics_snapshot *snap, FILE *out);

#endif /* BACKFILLD_METRICS_H */
