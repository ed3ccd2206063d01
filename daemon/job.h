/* job.h -- a claimed job as it travels from the claim, through a worker
 * thread, to the batched finish. */
#ifndef BACKFILLD_JOB_H
#define BACKFILLD_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <backfill/plugin.h>

struct bf_task;
struct bf_pool;

enum bf_job_outcome {
	JOB_OUTCOME_DONE = 0,  /* handler succeeded: delete */
	JOB_OUTCOME_RETRY = 1, /* run again later (or dead-letter if exhausted) */
	JOB_OUTCOME_FAIL = 2,  /* permanent failure: dead-letter */
};

/* The plugin ABI's opaque bf_job is this struct. */
struct bf_job {
	int64_t id;
	char *task;
	char *queue;
	char *payload;
	size_t payload_len;
	char *job_key;    /* NULL if none */
	char *serial_key; /* NULL if none */
	int attempts;     /* including this run */
	int max_attempts;
	int priority;
	int64_t run_at_us;

	const struct bf_task *handler; /* borrowed from the plugin registry */
	struct bf_pool *pool;          /* borrowed */
	const atomic_int *stop_level;  /* BF_STOP_*, owned by the dispatcher */
	unsigned generation;           /* the dispatcher's registration it was claimed under */
	bool resent;                   /* its finish was in flight when a connection broke */
	int64_t claimed_us;            /* locked_at as claimed: finish_jobs's fencing token */

	/* Set by the worker thread while the handler runs. */
	enum bf_job_outcome outcome;
	char *error;               /* last_error text, or NULL */
	int64_t retry_delay_ms;    /* -1: backoff */
	int64_t started_us, finished_us;

	struct bf_job *next; /* queue links */
};

/* Frees a job and its strings; NULL is a no-op. */
void job_free(struct bf_job *job);

/* Replaces job->error with a copy of msg: NUL-free, valid UTF-8 (invalid bytes
 * become '?'), at most 4000 bytes (bf_host_rules_clean_error, the stub host's
 * rule too).  NULL clears it; so does running out of memory. */
void job_set_error(struct bf_job *job, const char *msg);

#endif /* BACKFILLD_JOB_H */
