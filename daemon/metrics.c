/* metrics.c -- the metrics registry (counters per queue and task, one
 * duration histogram per queue, plain counters) and its Prometheus text
 * exposition.  Loop thread only. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <backfill/plugin.h>

#include "host/host_rules.h"
#include "log.h"

const double metrics_duration_buckets[] = {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                           5,      10,    30,    60,   300,  1800, 3600};
const size_t metrics_nduration_buckets = sizeof(metrics_duration_buckets) / sizeof(metrics_duration_buckets[0]);
#define NBUCKETS (sizeof(metrics_duration_buckets) / sizeof(metrics_duration_buckets[0]))

/* Counters of one (queue, task) pair. */
struct cell {
	uint64_t claimed, completed, retried, dead;
	bool used; /* rendered only once something happened */
};

struct histogram {
	uint64_t buckets[NBUCKETS]; /* not cumulative; summed when rendered */
	uint64_t count;
	double sum;
};

static struct {
	char **queues;
	size_t nqueues;
	char **tasks;
	size_t ntasks;
	struct cell *cells;          /* [queue][task], row-major */
	struct histogram *durations; /* [queue] */
	uint64_t db_reconnects[2], db_errors[2]; /* [enum bf_metrics_conn] */
	uint64_t serial_locks_released, job_locks_released;
	uint64_t dead_worker_jobs_recovered, dlq_swept;
	double start_unix; /* 0: metrics_init not called */
	bool warned_unknown;
} reg;

static const char *const conn_names[] = {"jobs", "admin"};

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

void metrics_free(void)
{
	for (size_t i = 0; i < reg.nqueues; i++)
		free(reg.queues[i]);
	for (size_t i = 0; i < reg.ntasks; i++)
		free(reg.tasks[i]);
	free(reg.queues);
	free(reg.tasks);
	free(reg.cells);
	free(reg.durations);
	memset(&reg, 0, sizeof(reg));
}

void metrics_init(void)
{
	metrics_free();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	reg.start_unix = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ptrdiff_t find(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (ptrdiff_t)i;
	return -1;
}

void metrics_register_queue(const char *queue)
{
	if (find(reg.queues, reg.nqueues, queue) >= 0)
		return;
	size_t nq = reg.nqueues + 1;
	char **q = realloc(reg.queues, nq * sizeof(*q));
	size_t ncells = nq * reg.ntasks;
	struct cell *cells = realloc(reg.cells, (ncells > 0 ? ncells : 1) * sizeof(*cells));
	struct histogram *h = realloc(reg.durations, nq * sizeof(*h));
	if (!q || !cells || !h)
		abort();
	q[reg.nqueues] = xstrdup(queue);
	memset(&cells[reg.nqueues * reg.ntasks], 0, reg.ntasks * sizeof(*cells));
	memset(&h[reg.nqueues], 0, sizeof(*h));
	reg.queues = q;
	reg.cells = cells;
	reg.durations = h;
	reg.nqueues = nq;
}

void metrics_register_task(const char *task)
{
	if (find(reg.tasks, reg.ntasks, task) >= 0)
		return;
	size_t nt = reg.ntasks + 1;
	char **t = realloc(reg.tasks, nt * sizeof(*t));
	if (!t)
		abort();
	t[reg.ntasks] = xstrdup(task);
	/* a new column: copy the rows over */
	struct cell *cells = xcalloc(reg.nqueues * nt, sizeof(*cells));
	for (size_t q = 0; q < reg.nqueues; q++)
		for (size_t i = 0; i < reg.ntasks; i++)
			cells[q * nt + i] = reg.cells[q * reg.ntasks + i];
	free(reg.cells);
	reg.cells = cells;
	reg.tasks = t;
	reg.ntasks = nt;
}

/* The cell of (queue, task), or NULL (warned once) if either is unknown. */
static struct cell *cell_for(const char *queue, const char *task, ptrdiff_t *queue_idx)
{
	ptrdiff_t q = find(reg.queues, reg.nqueues, queue);
	ptrdiff_t t = find(reg.tasks, reg.ntasks, task);
	if (q < 0 || t < 0) {
		if (!reg.warned_unknown)
			log_warn("metrics: %s \"%.128s\" %s; its jobs are not counted (reported once)",
			         q < 0 ? "queue" : "task", q < 0 ? queue : task,
			         q < 0 ? "is not configured" : "belongs to no loaded plugin");
		reg.warned_unknown = true;
		return NULL;
	}
	if (queue_idx)
		*queue_idx = q;
	struct cell *c = &reg.cells[(size_t)q * reg.ntasks + (size_t)t];
	c->used = true;
	return c;
}

void metrics_jobs_claimed(const char *queue, const char *task, int n)
{
	struct cell *c = cell_for(queue, task, NULL);
	if (c && n > 0)
		c->claimed += (uint64_t)n;
}

void metrics_job_finished(const char *queue, const char *task, enum bf_metrics_outcome outcome,
                          double seconds)
{
	ptrdiff_t q;
	struct cell *c = cell_for(queue, task, &q);
	if (!c)
		return;
	switch (outcome) {
	case METRICS_OUTCOME_COMPLETED:
		c->completed++;
		break;
	case METRICS_OUTCOME_RETRIED:
		c->retried++;
		break;
	case METRICS_OUTCOME_DEAD:
		c->dead++;
		break;
	}
	if (!(seconds >= 0) || isinf(seconds)) /* also NaN */
		seconds = 0;
	struct histogram *h = &reg.durations[q];
	size_t b = 0;
	while (b < NBUCKETS && seconds > metrics_duration_buckets[b])
		b++;
	if (b < NBUCKETS)
		h->buckets[b]++;
	h->count++;
	h->sum += seconds;
}

void metrics_db_reconnect(enum bf_metrics_conn conn)
{
	if ((unsigned)conn < 2)
		reg.db_reconnects[conn]++;
}

void metrics_db_error(enum bf_metrics_conn conn)
{
	if ((unsigned)conn < 2)
		reg.db_errors[conn]++;
}

void metrics_cleanup_released(int serial_locks, int job_locks)
{
	if (serial_locks > 0)
		reg.serial_locks_released += (uint64_t)serial_locks;
	if (job_locks > 0)
		reg.job_locks_released += (uint64_t)job_locks;
}

void metrics_dead_workers_recovered(int jobs)
{
	if (jobs > 0)
		reg.dead_worker_jobs_recovered += (uint64_t)jobs;
}

void metrics_dlq_swept(int jobs)
{
	if (jobs > 0)
		reg.dlq_swept += (uint64_t)jobs;
}

/* ---- exposition --------------------------------------------------------- */

/* A label value: backslash, double quote and line feed escaped; bytes that
 * are not UTF-8 (the format's encoding) written as '?'. */
static void put_label_value(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = bf_host_rules_utf8_seq(p, strnlen((const char *)p, 4));
		if (n == 0) {
			fputc('?', out);
			p++;
			continue;
		}
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '"')
			fputs("\\\"", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fwrite(p, 1, n, out);
		p += n;
	}
}

/* HELP and TYPE lines (HELP texts are ours: no escaping needed). */
static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"[,label2="value2"]} -- the value follows. */
static void series(FILE *out, const char *name, const char *l1, const char *v1, const char *l2,
                   const char *v2)
{
	fputs(name, out);
	if (l1) {
		fprintf(out, "{%s=\"", l1);
		put_label_value(out, v1);
		fputc('"', out);
		if (l2) {
			fprintf(out, ",%s=\"", l2);
			put_label_value(out, v2);
			fputc('"', out);
		}
		fputc('}', out);
	}
	fputc(' ', out);
}

static void counter(FILE *out, const char *name, const char *help, uint64_t value)
{
	family(out, name, "counter", help);
	series(out, name, NULL, NULL, NULL, NULL);
	fprintf(out, "%" PRIu64 "\n", value);
}

/* One of the four per-(queue, task) job counters. */
static void job_counter(FILE *out, const char *name, const char *help, size_t field)
{
	family(out, name, "counter", help);
	for (size_t q = 0; q < reg.nqueues; q++) {
		for (size_t t = 0; t < reg.ntasks; t++) {
			const struct cell *c = &reg.cells[q * reg.ntasks + t];
			if (!c->used)
				continue;
			uint64_t v = *(const uint64_t *)(const void *)((const char *)c + field);
			series(out, name, "queue", reg.queues[q], "task", reg.tasks[t]);
			fprintf(out, "%" PRIu64 "\n", v);
		}
	}
}

static void durations(FILE *out)
{
	const char *name = "backfill_job_duration_seconds";
	family(out, name, "histogram", "Run time of job handlers, by queue.");
	for (size_t q = 0; q < reg.nqueues; q++) {
		const struct histogram *h = &reg.durations[q];
		uint64_t cumulative = 0;
		for (size_t b = 0; b < NBUCKETS; b++) {
			char le[32];
			cumulative += h->buckets[b];
			snprintf(le, sizeof(le), "%g", metrics_duration_buckets[b]);
			series(out, "backfill_job_duration_seconds_bucket", "queue", reg.queues[q], "le", le);
			fprintf(out, "%" PRIu64 "\n", cumulative);
		}
		series(out, "backfill_job_duration_seconds_bucket", "queue", reg.queues[q], "le", "+Inf");
		fprintf(out, "%" PRIu64 "\n", h->count);
		series(out, "backfill_job_duration_seconds_sum", "queue", reg.queues[q], NULL, NULL);
		fprintf(out, "%.9g\n", h->sum);
		series(out, "backfill_job_duration_seconds_count", "queue", reg.queues[q], NULL, NULL);
		fprintf(out, "%" PRIu64 "\n", h->count);
	}
}

void metrics_render(const struct bf_metrics_snapshot *snap, FILE *out)
{
	char abi[32];
	snprintf(abi, sizeof(abi), "%u.%u", (unsigned)BF_PLUGIN_ABI_MAJOR, (unsigned)BF_PLUGIN_ABI_MINOR);
	family(out, "backfill_build_info", "gauge", "Version of backfilld and of its plugin ABI; always 1.");
	series(out, "backfill_build_info", "version", BACKFILLD_VERSION, "abi", abi);
	fputs("1\n", out);
	family(out, "backfill_up", "gauge",
	       "1 when the database answered the admin endpoint's last check, else 0.");
	fprintf(out, "backfill_up %d\n", snap->up ? 1 : 0);
	if (reg.start_unix > 0) {
		family(out, "backfill_start_time_seconds", "gauge", "Start time of the daemon, in Unix seconds.");
		fprintf(out, "backfill_start_time_seconds %.3f\n", reg.start_unix);
	}

	job_counter(out, "backfill_jobs_claimed_total", "Jobs claimed, by queue and task.",
	            offsetof(struct cell, claimed));
	job_counter(out, "backfill_jobs_completed_total", "Jobs whose handler succeeded, by queue and task.",
	            offsetof(struct cell, completed));
	job_counter(out, "backfill_jobs_retried_total",
	            "Failed runs that will be retried after a backoff, by queue and task.",
	            offsetof(struct cell, retried));
	job_counter(out, "backfill_jobs_dead_total",
	            "Jobs moved to the dead-letter queue after a run (permanent failure or last "
	            "attempt), by queue and task.",
	            offsetof(struct cell, dead));
	durations(out);

	if (snap->queues) {
		static const char *const states[] = {"ready", "scheduled", "running"};
		family(out, "backfill_queue_jobs", "gauge",
		       "Jobs in the database by configured queue and state: ready (due), scheduled "
		       "(run_at in the future), running (locked); cached up to 2 s, capped.");
		for (size_t i = 0; i < snap->nqueues; i++) {
			const struct bf_metrics_queue_depth *d = &snap->queues[i];
			const int64_t v[] = {d->ready, d->scheduled, d->running};
			for (size_t s = 0; s < 3; s++) {
				series(out, "backfill_queue_jobs", "queue", d->queue, "state", states[s]);
				fprintf(out, "%" PRId64 "\n", v[s]);
			}
		}
	}
	if (snap->dlq_jobs >= 0) {
		family(out, "backfill_dlq_jobs", "gauge",
		       "Rows in the dead-letter queue; cached up to 2 s, capped.");
		fprintf(out, "backfill_dlq_jobs %" PRId64 "\n", snap->dlq_jobs);
	}

	family(out, "backfill_pool_size", "gauge", "Workers (concurrency) of this daemon's pool, by queue.");
	for (size_t i = 0; i < snap->npools; i++) {
		series(out, "backfill_pool_size", "queue", snap->pools[i].queue, NULL, NULL);
		fprintf(out, "%d\n", snap->pools[i].concurrency);
	}
	family(out, "backfill_pool_busy", "gauge", "Workers of the pool holding a job, by queue.");
	for (size_t i = 0; i < snap->npools; i++) {
		const struct bf_metrics_pool *p = &snap->pools[i];
		int busy = p->in_flight < p->concurrency ? p->in_flight : p->concurrency;
		series(out, "backfill_pool_busy", "queue", p->queue, NULL, NULL);
		fprintf(out, "%d\n", busy < 0 ? 0 : busy);
	}

	family(out, "backfill_db_reconnects_total", "counter",
	       "Database connections re-established after a loss, by connection (jobs, admin).");
	for (size_t c = 0; c < 2; c++) {
		series(out, "backfill_db_reconnects_total", "connection", conn_names[c], NULL, NULL);
		fprintf(out, "%" PRIu64 "\n", reg.db_reconnects[c]);
	}
	family(out, "backfill_db_errors_total", "counter",
	       "Failed database statements and connection attempts, by connection (jobs, admin).");
	for (size_t c = 0; c < 2; c++) {
		series(out, "backfill_db_errors_total", "connection", conn_names[c], NULL, NULL);
		fprintf(out, "%" PRIu64 "\n", reg.db_errors[c]);
	}
	counter(out, "backfill_cleanup_serial_locks_released_total",
	        "Serial-key locks of unregistered workers released by the stale-lock cleanup.",
	        reg.serial_locks_released);
	counter(out, "backfill_cleanup_job_locks_released_total",
	        "Job locks of unregistered workers released by the stale-lock cleanup (attempt refunded).",
	        reg.job_locks_released);
	counter(out, "backfill_dead_worker_jobs_recovered_total",
	        "Jobs of daemons whose heartbeat timed out, released to run again.",
	        reg.dead_worker_jobs_recovered);
	counter(out, "backfill_dlq_swept_total",
	        "Exhausted jobs the DLQ processor moved to the dead-letter queue.", reg.dlq_swept);
}
