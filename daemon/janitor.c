/* janitor.c -- periodic maintenance: the DLQ processor and stale-lock
 * cleanup (backfill's options, as a safety net beside heartbeats). */
#include "janitor.h"

#include <event2/event.h>
#include <stdlib.h>

#include "config.h"
#include "db.h"
#include "jobsql.h"
#include "log.h"
#include "metrics.h"

#define DLQ_SWEEP_BATCH 100
#define DLQ_BACKOFF_MAX_SHIFT 5 /* wait at most 32x the interval after failures */

struct bf_janitor {
	const struct bf_config *cfg;
	struct bf_db *db;
	struct event *dlq_ev;
	struct event *cleanup_ev;
	int dlq_failures; /* consecutive failed sweeps */
};

static void arm(struct event *ev, int seconds)
{
	struct timeval tv = {seconds, 0};
	evtimer_add(ev, &tv);
}

static void on_dlq(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_janitor *j = arg;
	int interval = j->cfg->dlq_processor_interval_s;
	if (interval <= 0)
		return;
	int moved_total = 0, moved = 0, rc = 0;
	/* a full batch means there may be more: keep going, in batches */
	do {
		rc = db_connected(j->db) ? jobsql_dlq_sweep(j->db, DLQ_SWEEP_BATCH, &moved) : -1;
		if (rc == 0)
			moved_total += moved;
	} while (rc == 0 && moved == DLQ_SWEEP_BATCH);
	metrics_dlq_swept(moved_total);
	if (rc == 0) {
		j->dlq_failures = 0;
		if (moved_total > 0)
			log_warn("DLQ processor: moved %d exhausted job(s) to the dead-letter queue", moved_total);
	} else if (j->dlq_failures < DLQ_BACKOFF_MAX_SHIFT) {
		j->dlq_failures++;
	}
	int wait = interval << j->dlq_failures;
	if (rc < 0)
		log_warn("DLQ processor: sweep failed; next try in %d s", wait);
	arm(j->dlq_ev, wait);
}

static void on_cleanup(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_janitor *j = arg;
	int interval = j->cfg->stale_lock_cleanup_interval_s;
	if (interval <= 0)
		return;
	int serial = 0, jobs = 0;
	if (db_connected(j->db) &&
	    jobsql_release_stale_locks(j->db, j->cfg->stale_queue_lock_timeout_s,
	                               j->cfg->stale_job_lock_timeout_s, &serial, &jobs) == 0) {
		metrics_cleanup_released(serial, jobs);
		if (serial > 0 || jobs > 0)
			log_warn("stale-lock cleanup: released %d serial-key lock(s) and %d job lock(s) "
			         "held by unknown workers",
			         serial, jobs);
	}
	arm(j->cleanup_ev, interval);
}

struct bf_janitor *janitor_new(struct event_base *base, const struct bf_config *cfg, struct bf_db *db)
{
	struct bf_janitor *j = calloc(1, sizeof(*j));
	if (!j)
		abort();
	j->cfg = cfg;
	j->db = db;
	j->dlq_ev = evtimer_new(base, on_dlq, j);
	j->cleanup_ev = evtimer_new(base, on_cleanup, j);
	if (cfg->stale_queue_lock_timeout_s < 60)
		log_warn("stale_queue_lock_timeout = %d s is under 60 s: serial keys of a worker "
		         "without a heartbeat row may be released while its job still runs",
		         cfg->stale_queue_lock_timeout_s);
	if (cfg->stale_job_lock_timeout_s < 300)
		log_error("stale_job_lock_timeout = %d s is under 300 s: jobs of a worker without a "
		          "heartbeat row may run twice; raise it unless this is a test",
		          cfg->stale_job_lock_timeout_s);
	else if (cfg->stale_job_lock_timeout_s < 900)
		log_warn("stale_job_lock_timeout = %d s is under 900 s: long jobs of a worker without "
		         "a heartbeat row may run twice",
		         cfg->stale_job_lock_timeout_s);
	return j;
}

void janitor_start(struct bf_janitor *j)
{
	/* sweep first, so cleanup never sees an exhausted job before the DLQ */
	on_dlq(-1, 0, j);
	on_cleanup(-1, 0, j);
}

void janitor_reconfigure(struct bf_janitor *j, const struct bf_config *cfg)
{
	if (!j)
		return;
	janitor_stop(j);
	j->cfg = cfg;
	j->dlq_failures = 0;
	janitor_start(j);
}

void janitor_stop(struct bf_janitor *j)
{
	if (!j)
		return;
	evtimer_del(j->dlq_ev);
	evtimer_del(j->cleanup_ev);
}

void janitor_free(struct bf_janitor *j)
{
	if (!j)
		return;
	event_free(j->dlq_ev);
	event_free(j->cleanup_ev);
	free(j);
}
