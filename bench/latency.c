/*
 * latency -- the latency client of bench/backfilld-bench (libpq).
 *
 *   latency URL SCHEMA STAMPFILE [SAMPLES=200 [WARMUP=20 [GAP_MS=10 [QUEUE=fast]]]]
 *
 * Enqueues WARMUP + SAMPLES jobs of task "stamp", one at a time, each with a
 * plain autocommit
 *   INSERT INTO SCHEMA.jobs (task, queue, payload)
 *   VALUES ('stamp', QUEUE, '{"seq": S, "t_us": T}')
 * on one dedicated connection, followed by a GAP_MS pause.  For each it keeps
 * T (CLOCK_REALTIME just before sending) and the time the INSERT returned,
 * i.e. its commit was acknowledged.  The stamp plugin (bench/plugins/stamp.c)
 * appends "S <handler entry time>" to STAMPFILE; once every job has a line
 * the two are joined on S.  The WARMUP first jobs are not counted.
 *
 * Prints three lines (nearest-rank percentiles, as the peer harness):
 *   latency: ... from=insert_commit_ack to=handler_start
 *   latency_from_send: ... from=insert_send to=handler_start
 *   insert_rtt: ... from=insert_send to=insert_commit_ack
 * Exit status 0, or 1 (message on stderr) if a job did not run within 30 s,
 * ran twice or a statement failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(double ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000.0) * 1e6)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the ceil(p/100 * n)-th smallest. */
static double rank(const double *sorted, int n, double p)
{
	int k = (int)ceil(p / 100.0 * n);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return sorted[k - 1];
}

static void report(const char *name, double *v, int n, const char *from, const char *to)
{
	double sum = 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	for (int i = 0; i < n; i++)
		sum += v[i];
	printf("%s: p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f mean_ms=%.3f min_ms=%.3f max_ms=%.3f "
	       "samples=%d from=%s to=%s\n",
	       name, rank(v, n, 50), rank(v, n, 95), rank(v, n, 99), sum / n, v[0], v[n - 1], n, from,
	       to);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: latency URL SCHEMA STAMPFILE [SAMPLES [WARMUP [GAP_MS [QUEUE]]]]\n");
		return 2;
	}
	const char *url = argv[1], *schema = argv[2], *stampfile = argv[3];
	int samples = argc > 4 ? atoi(argv[4]) : 200;
	int warmup = argc > 5 ? atoi(argv[5]) : 20;
	double gap_ms = argc > 6 ? strtod(argv[6], NULL) : 10;
	const char *queue = argc > 7 ? argv[7] : "fast";
	if (samples < 1 || warmup < 0) {
		fprintf(stderr, "latency: bad SAMPLES or WARMUP\n");
		return 2;
	}
	int total = warmup + samples;

	PGconn *c = PQconnectdb(url);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "latency: cannot connect: %s", c ? PQerrorMessage(c) : "\n");
		return 1;
	}
	char *ident = PQescapeIdentifier(c, schema, strlen(schema));
	char sql[512];
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s.jobs (task, queue, payload) VALUES ('stamp', $1, $2::jsonb)", ident);
	PQfreemem(ident);

	int64_t *send_us = calloc((size_t)total, sizeof(int64_t));
	int64_t *ack_us = calloc((size_t)total, sizeof(int64_t));
	int64_t *start_us = calloc((size_t)total, sizeof(int64_t));
	double *v = calloc((size_t)samples, sizeof(double));
	if (!send_us || !ack_us || !start_us || !v)
		return 1;

	for (int s = 0; s < total; s++) {
		char payload[96];
		int64_t t = realtime_us();
		snprintf(payload, sizeof(payload), "{\"seq\": %d, \"t_us\": %" PRId64 "}", s, t);
		const char *params[2] = {queue, payload};
		PGresult *r = PQexecParams(c, sql, 2, NULL, params, NULL, NULL, 0);
		int64_t ack = realtime_us();
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "latency: insert failed: %s", PQerrorMessage(c));
			return 1;
		}
		PQclear(r);
		send_us[s] = t;
		ack_us[s] = ack;
		sleep_ms(gap_ms);
	}
	PQfinish(c);

	/* wait for every handler's line */
	int seen = 0;
	for (int tries = 0; tries < 3000 && seen < total; tries++) {
		if (tries)
			sleep_ms(10);
		FILE *f = fopen(stampfile, "r");
		if (!f)
			continue;
		memset(start_us, 0, (size_t)total * sizeof(int64_t));
		seen = 0;
		long long seq;
		int64_t at;
		while (fscanf(f, "%lld %" SCNd64, &seq, &at) == 2) {
			if (seq < 0 || seq >= total)
				continue;
			if (start_us[seq]) {
				fprintf(stderr, "latency: job seq %lld ran twice\n", seq);
				return 1;
			}
			start_us[seq] = at;
			seen++;
		}
		fclose(f);
	}
	if (seen < total) {
		fprintf(stderr, "latency: only %d of %d jobs ran within 30 s (%s)\n", seen, total,
		        stampfile);
		return 1;
	}

	for (int i = 0; i < samples; i++)
		v[i] = (double)(start_us[warmup + i] - ack_us[warmup + i]) / 1000.0;
	report("latency", v, samples, "insert_commit_ack", "handler_start");
	for (int i = 0; i < samples; i++)
		v[i] = (double)(start_us[warmup + i] - send_us[warmup + i]) / 1000.0;
	report("latency_from_send", v, samples, "insert_send", "handler_start");
	for (int i = 0; i < samples; i++)
		v[i] = (double)(ack_us[warmup + i] - send_us[warmup + i]) / 1000.0;
	report("insert_rtt", v, samples, "insert_send", "insert_commit_ack");
	free(send_us);
	free(ack_us);
	free(start_us);
	free(v);
	return 0;
}
