/*
 * check_metrics.c -- unit tests for daemon/metrics.c: the Prometheus text
 * exposition (format 0.0.4) checked line by line by a small parser of its
 * own (HELP and TYPE before their samples, one group per family, valid
 * names, label escapes, no duplicate series), label escaping, the bounded
 * label sets, the histogram's cumulative buckets, +Inf, _sum and _count,
 * and the gauges a scrape supplies.
 */
#include "metrics.h"

#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---- a strict reader of the exposition -------------------------------------- */

#define MAX_SAMPLES 512
#define MAX_FAMILIES 64

struct sample {
	char series[512]; /* name{labels} exactly as written */
	char name[128];
	char labels[384]; /* between the braces, "" without */
	double value;
};

struct family {
	char name[128];
	char type[16];
	bool help, samples_done;
};

struct exposition {
	struct sample samples[MAX_SAMPLES];
	size_t nsamples;
	struct family families[MAX_FAMILIES];
	size_t nfamilies;
};

static bool name_char(int c, bool first)
{
	return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

static struct family *family_get(struct exposition *e, const char *name)
{
	for (size_t i = 0; i < e->nfamilies; i++)
		if (strcmp(e->families[i].name, name) == 0)
			return &e->families[i];
	return NULL;
}

/* The family a sample belongs to (histogram suffixes stripped). */
static struct family *family_of(struct exposition *e, const char *name)
{
	struct family *f = family_get(e, name);
	if (f)
		return f;
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(name), sl = strlen(suffixes[i]);
		if (n > sl && strcmp(name + n - sl, suffixes[i]) == 0) {
			char base[128];
			snprintf(base, sizeof(base), "%.*s", (int)(n - sl), name);
			f = family_get(e, base);
			if (f && strcmp(f->type, "histogram") == 0)
				return f;
		}
	}
	return NULL;
}

/* Parses text, failing the test on any violation of the format. */
static void parse(const char *text, struct exposition *e)
{
	memset(e, 0, sizeof(*e));
	struct family *current = NULL;
	const char *p = text;
	int lineno = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "last line has no line feed");
		char line[1024];
		size_t len = (size_t)(nl - p);
		ck_assert_msg(len > 0 && len < sizeof(line), "line %d: empty or too long", lineno + 1);
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;
		lineno++;
		if (line[0] == '#') {
			char kind[8], name[128];
			int off = 0;
			ck_assert_msg(sscanf(line, "# %7s %127s %n", kind, name, &off) == 2, "line %d: bad comment: %s",
			              lineno, line);
			for (size_t i = 0; name[i]; i++)
				ck_assert_msg(name_char((unsigned char)name[i], i == 0), "line %d: bad name %s", lineno, name);
			struct family *f = family_get(e, name);
			if (strcmp(kind, "HELP") == 0) {
				ck_assert_msg(!f, "line %d: HELP for %s after its TYPE or twice", lineno, name);
				ck_assert_uint_lt(e->nfamilies, MAX_FAMILIES);
				f = &e->families[e->nfamilies++];
				snprintf(f->name, sizeof(f->name), "%s", name);
				f->help = true;
				ck_assert_msg(off > 0 && line[off], "line %d: empty HELP", lineno);
			} else {
				ck_assert_msg(strcmp(kind, "TYPE") == 0, "line %d: unknown comment %s", lineno, kind);
				if (!f) {
					ck_abort_msg("line %d: TYPE of %s without HELP", lineno, name);
					continue;
				}
				ck_assert_msg(f->help && !f->type[0], "line %d: TYPE of %s twice", lineno, name);
				const char *type = line + off;
				ck_assert_msg(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
				                  strcmp(type, "histogram") == 0,
				              "line %d: type %s", lineno, type);
				memcpy(f->type, type, strlen(type) + 1); /* one of the three */
				if (strcmp(type, "counter") == 0)
					ck_assert_msg(strlen(name) > 6 && strcmp(name + strlen(name) - 6, "_total") == 0,
					              "counter %s does not end in _total", name);
			}
			if (current && current != f)
				current->samples_done = true;
			current = f;
			continue;
		}
		ck_assert_uint_lt(e->nsamples, MAX_SAMPLES);
		struct sample *s = &e->samples[e->nsamples++];
		size_t i = 0;
		while (line[i] && name_char((unsigned char)line[i], i == 0))
			i++;
		ck_assert_msg(i > 0 && i < sizeof(s->name), "line %d: no metric name", lineno);
		memcpy(s->name, line, i);
		s->name[i] = '\0';
		size_t lstart = i;
		if (line[i] == '{') {
			i++;
			for (;;) {
				size_t n0 = i;
				while (name_char((unsigned char)line[i], i == n0) && line[i] != ':')
					i++;
				ck_assert_msg(i > n0, "line %d: bad label name", lineno);
				ck_assert_msg(line[i] == '=' && line[i + 1] == '"', "line %d: expected =\"", lineno);
				i += 2;
				while (line[i] != '"') {
					ck_assert_msg(line[i] != '\0', "line %d: unterminated label value", lineno);
					if (line[i] == '\\') {
						ck_assert_msg(line[i + 1] == '\\' || line[i + 1] == '"' || line[i + 1] == 'n',
						              "line %d: bad escape \\%c", lineno, line[i + 1]);
						i++;
					}
					i++;
				}
				i++;
				if (line[i] == ',') {
					i++;
					continue;
				}
				ck_assert_msg(line[i] == '}', "line %d: expected } or ,", lineno);
				i++;
				break;
			}
			snprintf(s->labels, sizeof(s->labels), "%.*s", (int)(i - lstart - 2), line + lstart + 1);
		}
		snprintf(s->series, sizeof(s->series), "%.*s", (int)i, line);
		ck_assert_msg(line[i] == ' ', "line %d: expected one blank before the value", lineno);
		const char *v = line + i + 1;
		char *end;
		if (strcmp(v, "+Inf") == 0)
			s->value = INFINITY;
		else {
			s->value = strtod(v, &end);
			ck_assert_msg(end != v && *end == '\0', "line %d: bad value \"%s\"", lineno, v);
		}
		struct family *f = family_of(e, s->name);
		ck_assert_msg(f && f->type[0], "line %d: sample %s without HELP/TYPE", lineno, s->name);
		ck_assert_msg(f == current && !f->samples_done, "line %d: samples of %s are not in one group", lineno,
		              f->name);
		for (size_t k = 0; k + 1 < e->nsamples; k++)
			ck_assert_msg(strcmp(e->samples[k].series, s->series) != 0, "line %d: series %s twice", lineno,
			              s->series);
	}
}

static char *render(const struct bf_metrics_snapshot *snap)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	metrics_render(snap, f);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/* The value of a series (exact text, e.g. a{b="c"}); fails if absent. */
static double value(const struct exposition *e, const char *series)
{
	for (size_t i = 0; i < e->nsamples; i++)
		if (strcmp(e->samples[i].series, series) == 0)
			return e->samples[i].value;
	ck_abort_msg("no series %s", series);
	return 0;
}

static bool has(const struct exposition *e, const char *series)
{
	for (size_t i = 0; i < e->nsamples; i++)
		if (strcmp(e->samples[i].series, series) == 0)
			return true;
	return false;
}

static size_t count_prefix(const struct exposition *e, const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < e->nsamples; i++)
		n += strncmp(e->samples[i].series, prefix, strlen(prefix)) == 0;
	return n;
}

static const struct bf_metrics_snapshot empty_snap = {.dlq_jobs = -1};

static void setup(void)
{
	log_set_level(LOG_LEVEL_ERROR); /* the "not counted" warnings are expected here */
	metrics_init();
	metrics_register_queue("fast");
	metrics_register_queue("bulk");
	metrics_register_task("email.send");
}

static void teardown(void) { metrics_free(); }

/* ---- tests -------------------------------------------------------------------- */

START_TEST(fresh_registry_is_valid_and_complete)
{
	char *text = render(&empty_snap);
	struct exposition *e = malloc(sizeof(*e));
	parse(text, e);
	static const char *const families[] = {
	    "backfill_build_info", "backfill_up", "backfill_start_time_seconds", "backfill_jobs_claimed_total",
	    "backfill_jobs_completed_total", "backfill_jobs_retried_total", "backfill_jobs_dead_total",
	    "backfill_job_duration_seconds", "backfill_pool_size", "backfill_pool_busy",
	    "backfill_db_reconnects_total", "backfill_db_errors_total",
	    "backfill_cleanup_serial_locks_released_total", "backfill_cleanup_job_locks_released_total",
	    "backfill_dead_worker_jobs_recovered_total", "backfill_dlq_swept_total"};
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		ck_assert_msg(family_get(e, families[i]) != NULL, "family %s missing", families[i]);
	ck_assert_str_eq(family_get(e, "backfill_job_duration_seconds")->type, "histogram");
	ck_assert_str_eq(family_get(e, "backfill_up")->type, "gauge");
	char build[128];
	snprintf(build, sizeof(build), "backfill_build_info{version=\"%s\",abi=\"1.0\"}", BACKFILLD_VERSION);
	ck_assert(value(e, build) == 1);
	ck_assert(value(e, "backfill_up") == 0);
	ck_assert(value(e, "backfill_start_time_seconds") > 1.6e9);
	/* nothing happened: no job series, but zeroed histograms per queue */
	ck_assert_uint_eq(count_prefix(e, "backfill_jobs_"), 0);
	ck_assert(value(e, "backfill_job_duration_seconds_count{queue=\"fast\"}") == 0);
	ck_assert(value(e, "backfill_job_duration_seconds_bucket{queue=\"bulk\",le=\"+Inf\"}") == 0);
	ck_assert(value(e, "backfill_db_errors_total{connection=\"jobs\"}") == 0);
	ck_assert(value(e, "backfill_db_errors_total{connection=\"admin\"}") == 0);
	/* unknown gauges are left out, not reported as 0 */
	ck_assert_ptr_null(family_get(e, "backfill_queue_jobs"));
	ck_assert_ptr_null(family_get(e, "backfill_dlq_jobs"));
	free(e);
	free(text);
}
END_TEST

START_TEST(job_counters_by_queue_and_task)
{
	metrics_register_task("report.build");
	metrics_jobs_claimed("fast", "email.send", 3);
	metrics_jobs_claimed("fast", "email.send", 2);
	metrics_jobs_claimed("bulk", "report.build", 1);
	metrics_job_finished("fast", "email.send", METRICS_OUTCOME_COMPLETED, 0.002);
	metrics_job_finished("fast", "email.send", METRICS_OUTCOME_COMPLETED, 0.003);
	metrics_job_finished("fast", "email.send", METRICS_OUTCOME_RETRIED, 0.5);
	metrics_job_finished("fast", "email.send", METRICS_OUTCOME_DEAD, 1.0);
	metrics_job_finished("bulk", "report.build", METRICS_OUTCOME_DEAD, 30);
	metrics_db_reconnect(METRICS_CONN_JOBS);
	metrics_db_error(METRICS_CONN_JOBS);
	metrics_db_error(METRICS_CONN_JOBS);
	metrics_db_error(METRICS_CONN_ADMIN);
	metrics_cleanup_released(2, 5);
	metrics_cleanup_released(0, 0);
	metrics_dead_workers_recovered(4);
	metrics_dlq_swept(7);
	metrics_dlq_swept(0);
	char *text = render(&empty_snap);
	struct exposition *e = malloc(sizeof(*e));
	parse(text, e);
	ck_assert(value(e, "backfill_jobs_claimed_total{queue=\"fast\",task=\"email.send\"}") == 5);
	ck_assert(value(e, "backfill_jobs_claimed_total{queue=\"bulk\",task=\"report.build\"}") == 1);
	ck_assert(value(e, "backfill_jobs_completed_total{queue=\"fast\",task=\"email.send\"}") == 2);
	ck_assert(value(e, "backfill_jobs_retried_total{queue=\"fast\",task=\"email.send\"}") == 1);
	ck_assert(value(e, "backfill_jobs_dead_total{queue=\"fast\",task=\"email.send\"}") == 1);
	ck_assert(value(e, "backfill_jobs_dead_total{queue=\"bulk\",task=\"report.build\"}") == 1);
	ck_assert(value(e, "backfill_jobs_completed_total{queue=\"bulk\",task=\"report.build\"}") == 0);
	/* pairs that never ran are not series */
	ck_assert(!has(e, "backfill_jobs_claimed_total{queue=\"bulk\",task=\"email.send\"}"));
	ck_assert(!has(e, "backfill_jobs_claimed_total{queue=\"fast\",task=\"report.build\"}"));
	ck_assert(value(e, "backfill_db_reconnects_total{connection=\"jobs\"}") == 1);
	ck_assert(value(e, "backfill_db_reconnects_total{connection=\"admin\"}") == 0);
	ck_assert(value(e, "backfill_db_errors_total{connection=\"jobs\"}") == 2);
	ck_assert(value(e, "backfill_db_errors_total{connection=\"admin\"}") == 1);
	ck_assert(value(e, "backfill_cleanup_serial_locks_released_total") == 2);
	ck_assert(value(e, "backfill_cleanup_job_locks_released_total") == 5);
	ck_assert(value(e, "backfill_dead_worker_jobs_recovered_total") == 4);
	ck_assert(value(e, "backfill_dlq_swept_total") == 7);
	free(e);
	free(text);
}
END_TEST

START_TEST(labels_only_from_registered_names)
{
	metrics_jobs_claimed("reports", "email.send", 1);      /* queue not configured */
	metrics_jobs_claimed("fast", "free text from a job", 1); /* task of no plugin */
	metrics_job_finished("nope", "nope", METRICS_OUTCOME_DEAD, 1);
	char *text = render(&empty_snap);
	struct exposition *e = malloc(sizeof(*e));
	parse(text, e);
	ck_assert_uint_eq(count_prefix(e, "backfill_jobs_"), 0);
	ck_assert_ptr_null(strstr(text, "reports"));
	ck_assert_ptr_null(strstr(text, "free text"));
	ck_assert_ptr_null(strstr(text, "nope"));
	/* registering twice changes nothing; registering later keeps counts */
	metrics_register_queue("fast");
	metrics_jobs_claimed("fast", "email.send", 2);
	metrics_register_task("late.task");
	metrics_register_queue("late");
	metrics_jobs_claimed("late", "late.task", 1);
	free(text);
	text = render(&empty_snap);
	parse(text, e);
	ck_assert(value(e, "backfill_jobs_claimed_total{queue=\"fast\",task=\"email.send\"}") == 2);
	ck_assert(value(e, "backfill_jobs_claimed_total{queue=\"late\",task=\"late.task\"}") == 1);
	ck_assert_uint_eq(count_prefix(e, "backfill_jobs_claimed_total"), 2);
	ck_assert_uint_eq(count_prefix(e, "backfill_job_duration_seconds_count"), 3);
	free(e);
	free(text);
}
END_TEST

START_TEST(label_values_are_escaped)
{
	/* task names may hold any printable byte (plugin ABI), even quotes */
	metrics_register_task("a\"b\\c\nd");
	metrics_register_task("caf\xc3\xa9");
	metrics_register_task("bad\xff\xfe" "utf8");
	metrics_jobs_claimed("fast", "a\"b\\c\nd", 2);
	metrics_jobs_claimed("fast", "caf\xc3\xa9", 1);
	metrics_jobs_claimed("fast", "bad\xff\xfe" "utf8", 1);
	char *text = render(&empty_snap);
	struct exposition *e = malloc(sizeof(*e));
	parse(text, e);
	ck_assert(value(e, "backfill_jobs_claimed_total{queue=\"fast\",task=\"a\\\"b\\\\c\\nd\"}") == 2);
	ck_assert(value(e, "backfill_jobs_claimed_total{queue=\"fast\",task=\"caf\xc3\xa9\"}") == 1);
	ck_assert(value(e, "backfill_jobs_claimed_total{queue=\"fast\",task=\"bad??utf8\"}") == 1);
	ck_assert_ptr_null(strstr(text, "\xff"));
	free(e);
	free(text);
}
END_TEST

START_TEST(histogram_buckets_are_cumulative)
{
	static const double runs[] = {0.0001, 0.0005, 0.002, 0.002, 0.5, 7, 5000, -1, NAN};
	double sum = 0;
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		metrics_job_finished("bulk", "email.send", METRICS_OUTCOME_COMPLETED, runs[i]);
		sum += runs[i] > 0 ? runs[i] : 0; /* negative and NaN count as 0 s */
	}
	char *text = render(&empty_snap);
	struct exposition *e = malloc(sizeof(*e));
	parse(text, e);
	double prev_le = -1, prev_count = 0;
	size_t nbuckets = 0;
	for (size_t i = 0; i < e->nsamples; i++) {
		const struct sample *s = &e->samples[i];
		if (strcmp(s->name, "backfill_job_duration_seconds_bucket") != 0 ||
		    strncmp(s->labels, "queue=\"bulk\",", 13) != 0)
			continue;
		const char *le = strstr(s->labels, "le=\"");
		ck_assert_ptr_nonnull(le);
		double bound = strncmp(le + 4, "+Inf", 4) == 0 ? INFINITY : strtod(le + 4, NULL);
		ck_assert_msg(bound > prev_le, "bucket bounds not ascending at %s", s->series);
		ck_assert_msg(s->value >= prev_count, "bucket counts not cumulative at %s", s->series);
		prev_le = bound;
		prev_count = s->value;
		nbuckets++;
	}
	ck_assert_uint_eq(nbuckets, metrics_nduration_buckets + 1);
	ck_assert(isinf(prev_le)); /* the last bucket is +Inf */
	ck_assert(value(e, "backfill_job_duration_seconds_bucket{queue=\"bulk\",le=\"+Inf\"}") == 9);
	ck_assert(value(e, "backfill_job_duration_seconds_count{queue=\"bulk\"}") == 9);
	ck_assert(fabs(value(e, "backfill_job_duration_seconds_sum{queue=\"bulk\"}") - sum) < 1e-6);
	/* le is inclusive: 0.0005 falls in 0.0005; 0.0001, -1 and NaN too */
	ck_assert(value(e, "backfill_job_duration_seconds_bucket{queue=\"bulk\",le=\"0.0005\"}") == 4);
	ck_assert(value(e, "backfill_job_duration_seconds_bucket{queue=\"bulk\",le=\"0.005\"}") == 6);
	ck_assert(value(e, "backfill_job_duration_seconds_bucket{queue=\"bulk\",le=\"0.5\"}") == 7);
	ck_assert(value(e, "backfill_job_duration_seconds_bucket{queue=\"bulk\",le=\"10\"}") == 8);
	ck_assert(value(e, "backfill_job_duration_seconds_bucket{queue=\"bulk\",le=\"3600\"}") == 8);
	/* the other queue is untouched */
	ck_assert(value(e, "backfill_job_duration_seconds_count{queue=\"fast\"}") == 0);
	free(e);
	free(text);
}
END_TEST

START_TEST(scrape_gauges)
{
	const struct bf_metrics_pool pools[] = {{"fast", 10, 3}, {"bulk", 5, 40}, {"idle", 0, 0}};
	const struct bf_metrics_queue_depth depth[] = {{"fast", 7, 2, 3}, {"bulk", 10000, 0, 5}};
	const struct bf_metrics_snapshot snap = {
	    .pools = pools, .npools = 3, .queues = depth, .nqueues = 2, .dlq_jobs = 12, .up = true};
	char *text = render(&snap);
	struct exposition *e = malloc(sizeof(*e));
	parse(text, e);
	ck_assert(value(e, "backfill_up") == 1);
	ck_assert(value(e, "backfill_pool_size{queue=\"fast\"}") == 10);
	ck_assert(value(e, "backfill_pool_busy{queue=\"fast\"}") == 3);
	ck_assert(value(e, "backfill_pool_size{queue=\"bulk\"}") == 5);
	ck_assert(value(e, "backfill_pool_busy{queue=\"bulk\"}") == 5); /* claimed ahead is not busy */
	ck_assert(value(e, "backfill_pool_size{queue=\"idle\"}") == 0);
	ck_assert(value(e, "backfill_queue_jobs{queue=\"fast\",state=\"ready\"}") == 7);
	ck_assert(value(e, "backfill_queue_jobs{queue=\"fast\",state=\"scheduled\"}") == 2);
	ck_assert(value(e, "backfill_queue_jobs{queue=\"fast\",state=\"running\"}") == 3);
	ck_assert(value(e, "backfill_queue_jobs{queue=\"bulk\",state=\"ready\"}") == 10000);
	ck_assert(value(e, "backfill_dlq_jobs") == 12);
	ck_assert_str_eq(family_get(e, "backfill_queue_jobs")->type, "gauge");
	free(e);
	free(text);
}
END_TEST

START_TEST(init_resets_everything)
{
	metrics_jobs_claimed("fast", "email.send", 1);
	metrics_db_error(METRICS_CONN_JOBS);
	metrics_init();
	char *text = render(&empty_snap);
	struct exposition *e = malloc(sizeof(*e));
	parse(text, e);
	ck_assert_uint_eq(count_prefix(e, "backfill_jobs_"), 0);
	ck_assert_uint_eq(count_prefix(e, "backfill_job_duration_seconds"), 0); /* no queue registered */
	ck_assert(value(e, "backfill_db_errors_total{connection=\"jobs\"}") == 0);
	metrics_free();
	metrics_free(); /* twice is fine */
	metrics_jobs_claimed("fast", "email.send", 1); /* after free: dropped, no crash */
	free(e);
	free(text);
}
END_TEST

START_TEST(reader_reads_escaped_labels)
{
	/* the reader itself, on a hand-written exposition */
	struct exposition *e = malloc(sizeof(*e));
	parse("# HELP a_total x\n# TYPE a_total counter\na_total{q=\"x\\\"y\"} 1\n", e);
	ck_assert_uint_eq(e->nsamples, 1);
	ck_assert_str_eq(e->samples[0].labels, "q=\"x\\\"y\"");
	free(e);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("exposition");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fresh_registry_is_valid_and_complete);
	tcase_add_test(tc, job_counters_by_queue_and_task);
	tcase_add_test(tc, labels_only_from_registered_names);
	tcase_add_test(tc, label_values_are_escaped);
	tcase_add_test(tc, histogram_buckets_are_cumulative);
	tcase_add_test(tc, scrape_gauges);
	tcase_add_test(tc, init_resets_everything);
	suite_add_tcase(s, tc);
	TCase *reader = tcase_create("reader");
	tcase_add_test(reader, reader_reads_escaped_labels);
	suite_add_tcase(s, reader);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
