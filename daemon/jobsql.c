/* jobsql.c -- prepared statements for the claim/finish path and worker
 * bookkeeping.  The logic lives in SQL functions (sql/003_worker.sql). */
#include "jobsql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "crontab.h"
#include "job.h"
#include "log.h"

struct stmt {
	const char *name;
	const char *text; /* "@." stands for the quoted schema */
	int nparams;
	const char *migration; /* the one that creates what it calls */
};

static const struct stmt statements[] = {
    {"bf_claim",
     "SELECT id, task, queue, payload::text, priority, "
     "(extract(epoch FROM run_at) * 1000000)::int8, attempts, max_attempts, job_key, serial_key, "
     "(extract(epoch FROM locked_at) * 1000000)::int8 "
     "FROM @.claim_jobs($1, $2, $3::text[], $4) ORDER BY priority, run_at, id",
     4, "007_task_claim"},
    {"bf_finish",
     "SELECT completed, retried, dead FROM @.finish_jobs($1, $2::bigint[], $3::bigint[], "
     "$4::smallint[], $5::text[], $6::float8[])",
     6, "006_finish_token"},
    {"bf_return", "SELECT @.return_jobs($1, $2::bigint[])", 2, "006_finish_token"},
    {"bf_return_except", "SELECT @.return_jobs_except($1, $2::bigint[])", 2, "006_finish_token"},
    {"bf_register",
     "SELECT @.worker_register($1, $2, $3::int, $4, $5::text[], make_interval(secs => $6::int))",
     6, "003_worker"},
    {"bf_heartbeat", "SELECT @.worker_heartbeat($1)", 1, "003_worker"},
    {"bf_recover", "SELECT @.recover_dead_workers($1)", 1, "003_worker"},
    {"bf_unregister", "SELECT @.worker_unregister($1)", 1, "003_worker"},
    {"bf_dlq_sweep", "SELECT @.dlq_sweep($1::int)", 1, "004_dlq"},
    {"bf_release_stale",
     "SELECT serial_locks_released, jobs_released FROM @.release_stale_locks("
     "make_interval(secs => $1::int), make_interval(secs => $2::int))",
     2, "004_dlq"},
    {"bf_cron_register",
     "SELECT id, floor(extract(epoch FROM known_since))::int8, "
     "floor(extract(epoch FROM last_execution))::int8 FROM @.cron_register($1::text[])",
     1, "005_cron"},
    {"bf_cron_fire",
     "SELECT @.cron_fire($1, to_timestamp($2::float8), $3::boolean, $4, $5::jsonb, $6, $7::int, "
     "$8::int, $9, $10)",
     10, "005_cron"},
};

int jobsql_prepare(struct bf_db *db, const char **migration)
{
	for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
		struct bf_buf sql = {0};
		const char *t = statements[i].text;
		for (const char *at; (at = strstr(t, "@.")) != NULL; t = at + 1) {
			buf_append(&sql, t, (size_t)(at - t));
			buf_append(&sql, db->schema_q, strlen(db->schema_q));
		}
		buf_append(&sql, t, strlen(t));
		int rc = db_prepare(db, statements[i].name, sql.data, statements[i].nparams);
		buf_free(&sql);
		if (rc < 0) {
			if (migration)
				*migration = statements[i].migration;
			return -1;
		}
	}
	return 0;
}

static char *dup_value(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return NULL;
	char *s = strdup(PQgetvalue(r, row, col));
	if (!s)
		abort();
	return s;
}

int jobsql_claim_send(struct bf_db *db, const char *worker, const char *queue,
                      const char *tasks_literal, int limit)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = {worker, queue, tasks_literal, lim};
	return db_send_prepared(db, "claim", "bf_claim", 4, params);
}

int jobsql_claim_parse(const PGresult *r, struct bf_job **list)
{
	int n = PQntuples(r);
	struct bf_job **tail = list;
	while (*tail)
		tail = &(*tail)->next;
	for (int i = 0; i < n; i++) {
		struct bf_job *j = calloc(1, sizeof(*j));
		if (!j)
			abort();
		j->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		j->task = dup_value(r, i, 1);
		j->queue = dup_value(r, i, 2);
		j->payload = dup_value(r, i, 3);
		j->payload_len = strlen(j->payload);
		j->priority = atoi(PQgetvalue(r, i, 4));
		j->run_at_us = strtoll(PQgetvalue(r, i, 5), NULL, 10);
		j->attempts = atoi(PQgetvalue(r, i, 6));
		j->max_attempts = atoi(PQgetvalue(r, i, 7));
		j->job_key = dup_value(r, i, 8);
		j->serial_key = dup_value(r, i, 9);
		j->claimed_us = strtoll(PQgetvalue(r, i, 10), NULL, 10);
		j->retry_delay_ms = -1;
		*tail = j;
		tail = &j->next;
	}
	return n;
}

int jobsql_finish_send(struct bf_db *db, const char *worker, const struct bf_job *list)
{
	struct bf_buf ids = {0}, claimed = {0}, outcomes = {0}, errors = {0}, delays = {0};
	buf_append(&ids, "{", 1);
	buf_append(&claimed, "{", 1);
	buf_append(&outcomes, "{", 1);
	buf_append(&errors, "{", 1);
	buf_append(&delays, "{", 1);
	/* finish_jobs reads errors and delays only when a job did not succeed:
	 * a batch of successes sends them empty (less for the server to parse) */
	bool all_done = true;
	for (const struct bf_job *j = list; j && all_done; j = j->next)
		all_done = j->outcome == JOB_OUTCOME_DONE;
	for (const struct bf_job *j = list; j; j = j->next) {
		const char *sep = j == list ? "" : ",";
		buf_printf(&ids, "%s%lld", sep, (long long)j->id);
		buf_printf(&claimed, "%s%lld", sep, (long long)j->claimed_us);
		buf_printf(&outcomes, "%s%d", sep, (int)j->outcome);
		if (all_done)
			continue;
		buf_append(&errors, sep, strlen(sep));
		buf_array_text(&errors, j->outcome == JOB_OUTCOME_DONE ? NULL : j->error);
		double delay = j->retry_delay_ms >= 0 ? (double)j->retry_delay_ms / 1000.0
		                                      : backoff_job_delay_s(j->attempts);
		buf_printf(&delays, "%s%.3f", sep, delay);
	}
	buf_append(&ids, "}", 1);
	buf_append(&claimed, "}", 1);
	buf_append(&outcomes, "}", 1);
	buf_append(&errors, "}", 1);
	buf_append(&delays, "}", 1);
	const char *params[] = {worker, ids.data, claimed.data, outcomes.data, errors.data, delays.data};
	int rc = db_send_prepared(db, "finish", "bf_finish", 6, params);
	buf_free(&ids);
	buf_free(&claimed);
	buf_free(&outcomes);
	buf_free(&errors);
	buf_free(&delays);
	return rc;
}

int jobsql_finish_parse(const PGresult *r, int *completed, int *retried, int *dead)
{
	if (PQntuples(r) != 1)
		return -1;
	*completed = atoi(PQgetvalue(r, 0, 0));
	*retried = atoi(PQgetvalue(r, 0, 1));
	*dead = atoi(PQgetvalue(r, 0, 2));
	return 0;
}

int jobsql_finish(struct bf_db *db, const char *worker, const struct bf_job *list, int *completed,
                  int *retried, int *dead)
{
	PGresult *r = NULL;
	if (jobsql_finish_send(db, worker, list) < 0 || db_wait_result(db, "finish", &r) < 0 || !r)
		return -1;
	int rc = jobsql_finish_parse(r, completed, retried, dead);
	PQclear(r);
	return rc;
}

/* Runs a one-row, one-column statement; copies the value into out. */
static int exec_scalar(struct bf_db *db, const char *what, const char *name, int n,
                       const char *const *params, char *out, size_t size)
{
	PGresult *r = db_exec_prepared(db, what, name, n, params);
	if (!r)
		return -1;
	if (out && size)
		snprintf(out, size, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return 0;
}

int jobsql_return(struct bf_db *db, const char *worker, const char *ids_literal)
{
	const char *params[] = {worker, ids_literal};
	return exec_scalar(db, "return jobs", "bf_return", 2, params, NULL, 0);
}

int jobsql_return_except(struct bf_db *db, const char *worker, const char *keep_literal, int *returned)
{
	const char *params[] = {worker, keep_literal};
	char v[32];
	if (exec_scalar(db, "return unknown jobs", "bf_return_except", 2, params, v, sizeof(v)) < 0)
		return -1;
	*returned = atoi(v);
	return 0;
}

int jobsql_register(struct bf_db *db, const char *worker, const char *host, int pid,
                    const char *queues_literal, int timeout_s)
{
	char pids[16], ts[16];
	snprintf(pids, sizeof(pids), "%d", pid);
	snprintf(ts, sizeof(ts), "%d", timeout_s);
	const char *params[] = {worker, host, pids, BACKFILLD_VERSION, queues_literal, ts};
	return exec_scalar(db, "register worker", "bf_register", 6, params, NULL, 0);
}

int jobsql_heartbeat(struct bf_db *db, const char *worker, bool *alive)
{
	const char *params[] = {worker};
	char v[8];
	if (exec_scalar(db, "heartbeat", "bf_heartbeat", 1, params, v, sizeof(v)) < 0)
		return -1;
	*alive = v[0] == 't';
	return 0;
}

int jobsql_recover_dead(struct bf_db *db, const char *worker, int *released)
{
	const char *params[] = {worker};
	char v[32];
	if (exec_scalar(db, "recover dead workers", "bf_recover", 1, params, v, sizeof(v)) < 0)
		return -1;
	*released = atoi(v);
	return 0;
}

int jobsql_unregister(struct bf_db *db, const char *worker)
{
	const char *params[] = {worker};
	return exec_scalar(db, "unregister worker", "bf_unregister", 1, params, NULL, 0);
}

int jobsql_dlq_sweep(struct bf_db *db, int max_jobs, int *moved)
{
	char n[16], v[32];
	snprintf(n, sizeof(n), "%d", max_jobs);
	const char *params[] = {n};
	if (exec_scalar(db, "DLQ sweep", "bf_dlq_sweep", 1, params, v, sizeof(v)) < 0)
		return -1;
	*moved = atoi(v);
	return 0;
}

int jobsql_release_stale_locks(struct bf_db *db, int queue_timeout_s, int job_timeout_s,
                               int *serial_released, int *jobs_released)
{
	char q[16], j[16];
	snprintf(q, sizeof(q), "%d", queue_timeout_s);
	snprintf(j, sizeof(j), "%d", job_timeout_s);
	const char *params[] = {q, j};
	PGresult *r = db_exec_prepared(db, "stale-lock cleanup", "bf_release_stale", 2, params);
	if (!r)
		return -1;
	*serial_released = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
	*jobs_released = PQntuples(r) ? atoi(PQgetvalue(r, 0, 1)) : 0;
	PQclear(r);
	return 0;
}

int jobsql_cron_register(struct bf_db *db, const char *ids_literal, struct bf_cron_known **rows, size_t *nrows)
{
	*rows = NULL;
	*nrows = 0;
	const char *params[] = {ids_literal};
	PGresult *r = db_exec_prepared(db, "register cron schedules", "bf_cron_register", 1, params);
	if (!r)
		return -1;
	int n = PQntuples(r);
	if (n > 0) {
		*rows = calloc((size_t)n, sizeof(**rows));
		if (!*rows)
			abort();
	}
	for (int i = 0; i < n; i++) {
		struct bf_cron_known *k = &(*rows)[i];
		k->id = dup_value(r, i, 0);
		k->known_since = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		k->last_execution = PQgetisnull(r, i, 2) ? -1 : strtoll(PQgetvalue(r, i, 2), NULL, 10);
	}
	*nrows = (size_t)n;
	PQclear(r);
	return 0;
}

void jobsql_cron_known_free(struct bf_cron_known *rows, size_t nrows)
{
	for (size_t i = 0; rows && i < nrows; i++)
		free(rows[i].id);
	free(rows);
}

int jobsql_cron_fire(struct bf_db *db, const struct bf_cron_schedule *s, int64_t ts, bool backfilled,
                     int64_t *job_id)
{
	char tss[24], prio[16], max[16];
	snprintf(tss, sizeof(tss), "%lld", (long long)ts);
	snprintf(prio, sizeof(prio), "%d", s->priority);
	snprintf(max, sizeof(max), "%d", s->max_attempts);
	const char *params[] = {s->id,    tss,  backfilled ? "t" : "f", s->task, s->payload, s->queue,
	                        prio,     s->max_attempts > 0 ? max : NULL, s->job_key, s->job_key_mode};
	PGresult *r = db_exec_prepared(db, "enqueue a recurring job", "bf_cron_fire", 10, params);
	if (!r)
		return -1;
	*job_id = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
	PQclear(r);
	return 0;
}
