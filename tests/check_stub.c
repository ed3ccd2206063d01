/*
 * check_stub.c -- unit tests for plugin-api/stub (libbackfill-plugin-stub),
 * side by side with the daemon's own loader: the same plugins
 * (build/plugins/{noop,log}.so, the test plugins of tests/plugins/) run through the stub and
 * through loader_load_file + loader_run_job must give the same outcome,
 * last_error, retry delay and log line; the stub refuses what the loader
 * refuses; its host table has every member the daemon's has.  The build
 * directory comes from $BF_BUILD ("build" by default); run from the
 * repository root.
 */
#include "config.h"
#include "job.h"
#include "loader.h"
#include "log.h"

#include <backfill/plugin_stub.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_files.h"
#include "check_tmpdir.h"

static char tmpdir[] = "/tmp/check_stub.XXXXXX";

/* ---- helpers ------------------------------------------------------------ */

static const char *build_path(const char *sub, const char *name)
{
	static char path[PATH_MAX];
	const char *b = getenv("BF_BUILD");
	snprintf(path, sizeof(path), "%s/%s%s.so", b && b[0] ? b : "build", sub, name);
	return path;
}

#define PLUGIN(name) build_path("plugins/", name)
#define TEST_PLUGIN(name) build_path("tests/plugins/", name)

/* What the daemon logs (fd 2) while fn(arg) runs; caller frees. */
static char *daemon_log_of(void (*fn)(void *), void *arg)
{
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	fn(arg);
	return check_capture_end(&c);
}

/* A daemon config whose only content is ini (plugin sections); caller
 * frees. */
static struct bf_config *daemon_config(const char *ini)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cfg.XXXXXX", tmpdir);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
	close(fd);
	const struct bf_config_override ov[] = {{"plugin-dir", tmpdir}};
	const struct bf_config_args args = {
		.path = path, .path_required = true, .environ = NULL, .overrides = ov, .noverrides = 1};
	struct bf_config *cfg = NULL;
	char *err = NULL;
	ck_assert_msg(config_load(&args, &cfg, &err) == 0, "config_load: %s", err ? err : "");
	unlink(path);
	return cfg;
}

/* A daemon job for task, as dispatch.c builds one from a claimed row. */
static struct bf_job *daemon_job(const struct bf_loader *l, const char *task, const char *payload,
                                 int64_t id, const char *queue, int attempt, int max_attempts)
{
	struct bf_job *j = calloc(1, sizeof(*j));
	ck_assert_ptr_nonnull(j);
	j->id = id;
	j->task = strdup(task);
	j->queue = strdup(queue);
	j->payload = strdup(payload);
	j->payload_len = strlen(payload);
	j->attempts = attempt;
	j->max_attempts = max_attempts;
	j->handler = loader_find_task(l, task);
	ck_assert_ptr_nonnull(j->handler);
	return j;
}

/* The stub's outcome (BF_JOB_*) for the daemon's. */
static int32_t stub_outcome_of(enum bf_job_outcome o)
{
	switch (o) {
	case JOB_OUTCOME_DONE: return BF_JOB_OK;
	case JOB_OUTCOME_RETRY: return BF_JOB_RETRY;
	case JOB_OUTCOME_FAIL: return BF_JOB_FAIL;
	}
	return -1;
}

/* ---- the host table ------------------------------------------------------ */

/* Every pointer-sized slot after the header is set in the stub's table
 * exactly when it is in the daemon's: a member appended to plugin.h and
 * served by the daemon must be served by the stub too. */
START_TEST(host_table_matches_daemon)
{
	struct bf_stub *stub = bf_stub_new();
	const struct bf_host_api *s = bf_stub_host(stub);
	const struct bf_host_api *d = &loader_host_api;
	ck_assert_uint_eq(s->struct_size, sizeof(struct bf_host_api));
	ck_assert_uint_eq(s->struct_size, d->struct_size);
	ck_assert_uint_eq(s->abi_major, d->abi_major);
	ck_assert_uint_eq(s->abi_minor, d->abi_minor);
	const size_t first = offsetof(struct bf_host_api, log);
	size_t slots = 0;
	for (size_t off = first; off + sizeof(void *) <= sizeof(struct bf_host_api);
	     off += sizeof(void *), slots++) {
		void *sp, *dp;
		memcpy(&sp, (const char *)s + off, sizeof(sp));
		memcpy(&dp, (const char *)d + off, sizeof(dp));
		ck_assert_msg(dp != NULL, "daemon host table: slot at offset %zu is empty", off);
		ck_assert_msg(sp != NULL, "stub host table: slot at offset %zu is empty (the daemon "
		                          "serves it)", off);
	}
	ck_assert_uint_eq(slots, 19); /* ABI 1.0: log .. job_log */
	ck_assert(BF_HOST_HAS(s, job_log));
	bf_stub_free(stub);
}
END_TEST

/* ---- noop and log: the in-tree plugins ---------------------------------- */

START_TEST(noop_as_the_daemon_runs_it)
{
	struct bf_stub *stub = bf_stub_new();
	ck_assert_int_eq(bf_stub_load_file(stub, PLUGIN("noop")), BF_OK);
	ck_assert_str_eq(bf_stub_load_error(stub), "");
	ck_assert_str_eq(bf_stub_plugin(stub)->name, "noop");
	ck_assert_uint_eq(bf_stub_task_count(stub), 1);
	ck_assert_str_eq(bf_stub_task_name(stub, 0), "noop");
	ck_assert_ptr_null(bf_stub_task_name(stub, 1));

	bf_job *job = bf_stub_job_new(stub, "noop", NULL);
	ck_assert_int_eq(bf_stub_job_status(job), -1);
	ck_assert_ptr_null(bf_stub_job_error(job));
	ck_assert_int_eq(bf_stub_run(stub, job), BF_JOB_OK);
	ck_assert_int_eq(bf_stub_job_status(job), BF_JOB_OK);
	ck_assert_ptr_null(bf_stub_job_error(job));
	ck_assert_int_eq(bf_stub_job_retry_delay_ms(job), -1);
	ck_assert_int_eq(bf_stub_job_dead(job), 0);
	ck_assert_uint_eq(bf_stub_log_count(stub), 0);
	ck_assert_uint_eq(bf_stub_violations(stub), 0);

	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, PLUGIN("noop"), NULL), 0);
	struct bf_job *dj = daemon_job(l, "noop", "{}", 1, "bulk", 1, 8);
	loader_run_job(dj);
	ck_assert_int_eq(stub_outcome_of(dj->outcome), bf_stub_job_status(job));
	ck_assert_ptr_null(dj->error);
	job_free(dj);
	loader_free(l);

	/* a task the plugin did not register: failed, and said why */
	bf_job *other = bf_stub_job_new(stub, "nope", NULL);
	ck_assert_int_eq(bf_stub_run(stub, other), BF_JOB_FAIL);
	ck_assert_ptr_nonnull(strstr(bf_stub_job_error(other), "no handler for task \"nope\""));
	bf_stub_job_free(other);
	bf_stub_job_free(job);
	bf_stub_free(stub);
	bf_stub_free(NULL);
	bf_stub_job_free(NULL);
}
END_TEST

struct log_run {
	struct bf_loader *loader;
	const char *payload;
};

static void run_log_in_daemon(void *arg)
{
	const struct log_run *r = arg;
	struct bf_job *dj = daemon_job(r->loader, "log", r->payload, 42, "fast", 2, 5);
	loader_run_job(dj);
	ck_assert_int_eq(dj->outcome, JOB_OUTCOME_DONE);
	job_free(dj);
}

/* The log plugin's line, through the stub, is the daemon's line. */
START_TEST(log_line_is_the_daemons)
{
	const char *payload = "{\"to\": \"a@example.com\", \"n\": [1, 2]}";
	struct bf_stub *stub = bf_stub_new();
	ck_assert_int_eq(bf_stub_load_file(stub, PLUGIN("log")), BF_OK);
	bf_job *job = bf_stub_job_new(stub, "log", payload);
	bf_stub_job_set_id(job, 42);
	bf_stub_job_set_queue(job, "fast");
	bf_stub_job_set_attempts(job, 2, 5);
	ck_assert_int_eq(bf_stub_run(stub, job), BF_JOB_OK);
	ck_assert_uint_eq(bf_stub_log_count(stub), 1);
	ck_assert_int_eq(bf_stub_log_level(stub, 0), BF_LOG_INFO);
	ck_assert_int_eq(bf_stub_log_job(stub, 0), 42);
	ck_assert_str_eq(bf_stub_log_line(stub, 0),
	                 "job 42 (log, queue fast, attempt 2/5): payload {\"to\": \"a@example.com\", "
	                 "\"n\": [1, 2]}");
	ck_assert_str_eq(bf_stub_log_message(stub, 0),
	                 "payload {\"to\": \"a@example.com\", \"n\": [1, 2]}");
	ck_assert_int_eq(bf_stub_log_find(stub, 0, "a@example.com"), 0);
	ck_assert_int_eq(bf_stub_log_find(stub, 1, "a@example.com"), -1);
	ck_assert_int_eq(bf_stub_log_find(stub, 0, "nothing like it"), -1);

	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, PLUGIN("log"), NULL), 0);
	log_set_format(LOG_FORMAT_TEXT);
	log_set_level(LOG_LEVEL_INFO);
	struct log_run r = {l, payload};
	char *daemon = daemon_log_of(run_log_in_daemon, &r);
	char want[2048];
	snprintf(want, sizeof(want), " info %s\n", bf_stub_log_line(stub, 0));
	ck_assert_msg(strstr(daemon, want) != NULL, "daemon logged [%s], stub [%s]", daemon, want);
	free(daemon);
	loader_free(l);

	bf_stub_log_clear(stub);
	ck_assert_uint_eq(bf_stub_log_count(stub), 0);
	ck_assert_ptr_null(bf_stub_log_line(stub, 0));
	bf_stub_job_free(job);
	bf_stub_free(stub);
}
END_TEST

/* Handlers may run on many threads at once: the stub's log keeps every
 * line. */
struct thread_arg {
	struct bf_stub *stub;
	int failures;
};

static void *run_many(void *p)
{
	struct thread_arg *a = p;
	for (int i = 0; i < 200; i++) {
		bf_job *job = bf_stub_job_new(a->stub, "log", "{\"i\": 1}");
		if (bf_stub_run(a->stub, job) != BF_JOB_OK)
			a->failures++;
		bf_stub_job_free(job);
	}
	return NULL;
}

START_TEST(log_from_threads)
{
	struct bf_stub *stub = bf_stub_new();
	ck_assert_int_eq(bf_stub_load_file(stub, PLUGIN("log")), BF_OK);
	/* job ids come from the stub: make them before the threads start */
	pthread_t t[4];
	struct thread_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thread_arg){stub, 0};
		ck_assert_int_eq(pthread_create(&t[i], NULL, run_many, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].failures, 0);
	}
	ck_assert_uint_eq(bf_stub_log_count(stub), 800);
	ck_assert_uint_eq(bf_stub_violations(stub), 0);
	bf_stub_free(stub);
}
END_TEST

/* ---- outcomes, errors, delays: testtasks through both hosts -------------- */

START_TEST(outcomes_match_daemon)
{
	static const struct {
		const char *payload;
		int attempt, max;
		int32_t outcome;
		int dead;
	} cases[] = {
	    {"{}", 1, 8, BF_JOB_OK, 0},
	    {"{\"result\": \"ok\", \"error\": \"ignored on success\"}", 1, 8, BF_JOB_OK, 0},
	    {"{\"result\": \"retry\"}", 1, 8, BF_JOB_RETRY, 0},
	    {"{\"result\": \"retry\", \"error\": \"busy\", \"retry_delay_ms\": 250}", 2, 8, BF_JOB_RETRY, 0},
	    {"{\"result\": \"retry\", \"retry_delay_ms\": -5}", 8, 8, BF_JOB_RETRY, 1},
	    {"{\"fail_until_attempt\": 3}", 2, 3, BF_JOB_RETRY, 0},
	    {"{\"fail_until_attempt\": 3}", 3, 3, BF_JOB_OK, 0},
	    {"{\"result\": \"fail\"}", 1, 8, BF_JOB_FAIL, 1},
	    {"{\"result\": \"fail\", \"error\": \"caf\\u00e9 is closed\"}", 1, 8, BF_JOB_FAIL, 1},
	    {"{\"result\": \"bad\"}", 1, 8, BF_JOB_FAIL, 1},
	    {"{\"result\": \"bad\", \"error\": \"odd\"}", 1, 8, BF_JOB_FAIL, 1},
	};
	char record[PATH_MAX], ini[PATH_MAX + 64];
	snprintf(record, sizeof(record), "%s/record", tmpdir);
	snprintf(ini, sizeof(ini), "[testtasks]\nrecord_file = %s\n", record);

	struct bf_stub *stub = bf_stub_new();
	ck_assert_int_eq(bf_stub_config_set(stub, "record_file", "/nonexistent/dir/x"), BF_OK);
	ck_assert_int_eq(bf_stub_config_set(stub, "record_file", record), BF_OK); /* last wins */
	ck_assert_int_eq(bf_stub_load_file(stub, TEST_PLUGIN("testtasks")), BF_OK);
	ck_assert_int_eq(bf_stub_config_set(stub, "late", "x"), BF_ERR_STATE);
	ck_assert_uint_eq(bf_stub_task_count(stub), 2);
	ck_assert_str_eq(bf_stub_task_name(stub, 1), "test.record2");

	struct bf_config *cfg = daemon_config(ini);
	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, TEST_PLUGIN("testtasks"), cfg), 0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bf_job *job = bf_stub_job_new(stub, "test.record", cases[i].payload);
		bf_stub_job_set_attempts(job, cases[i].attempt, cases[i].max);
		int32_t outcome = bf_stub_run(stub, job);
		ck_assert_msg(outcome == cases[i].outcome, "%s: stub outcome %d", cases[i].payload,
		              (int)outcome);
		ck_assert_int_eq(bf_stub_job_dead(job), cases[i].dead);

		struct bf_job *dj = daemon_job(l, "test.record", cases[i].payload, 1, "bulk",
		                               cases[i].attempt, cases[i].max);
		loader_run_job(dj);
		ck_assert_msg(stub_outcome_of(dj->outcome) == outcome, "%s: daemon %d, stub %d",
		              cases[i].payload, (int)dj->outcome, (int)outcome);
		/* what the daemon records: no error for a success */
		const char *derr = dj->outcome == JOB_OUTCOME_DONE ? NULL : dj->error;
		const char *serr = bf_stub_job_error(job);
		ck_assert_msg((derr == NULL) == (serr == NULL) && (!derr || strcmp(derr, serr) == 0),
		              "%s: daemon error [%s], stub [%s]", cases[i].payload, derr ? derr : "(null)",
		              serr ? serr : "(null)");
		ck_assert_int_eq(bf_stub_job_retry_delay_ms(job), dj->retry_delay_ms);
		job_free(dj);

		/* a second run starts clean */
		if (i == 3) {
			ck_assert_int_eq(bf_stub_job_retry_delay_ms(job), 250);
			bf_stub_job_set_attempts(job, 1, 1);
			ck_assert_int_eq(bf_stub_run(stub, job), BF_JOB_RETRY);
			ck_assert_int_eq(bf_stub_job_dead(job), 1);
		}
		bf_stub_job_free(job);
	}
	ck_assert_uint_eq(bf_stub_violations(stub), 0);
	loader_free(l);
	config_free(cfg);
	bf_stub_free(stub); /* shutdown() closes the record file */
}
END_TEST

/* ---- last_error text: the stub's sanitising is job_set_error's ---------- */

static const struct bf_host_api *err_host;
static const char *err_text;

static int32_t err_handle(bf_job *job, void *data)
{
	(void)data;
	err_host->job_set_error(job, err_text);
	return BF_JOB_RETRY;
}

static int32_t err_init(bf_plugin_ctx *ctx, const struct bf_host_api *host, void **state)
{
	(void)state;
	err_host = host;
	return host->register_task(ctx, "err", err_handle, NULL);
}

static const struct bf_plugin err_plugin = {sizeof(struct bf_plugin), BF_PLUGIN_MAGIC,
                                            BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR, "err", "1",
                                            err_init, NULL};

static const struct bf_plugin *err_entry(uint32_t major, uint32_t minor)
{
	(void)major;
	(void)minor;
	return &err_plugin;
}

START_TEST(error_text_is_job_set_errors)
{
	static char long_ascii[5000], long_utf8[5000];
	memset(long_ascii, 'x', sizeof(long_ascii) - 1);
	/* 2-byte characters from offset 1: one straddles the 4000-byte cut */
	long_utf8[0] = 'a';
	for (size_t i = 1; i + 2 < sizeof(long_utf8); i += 2) {
		long_utf8[i] = (char)0xc3;
		long_utf8[i + 1] = (char)0xa9;
	}
	const char *texts[] = {
	    "plain",
	    "",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "bad \xff byte",
	    "overlong \xc0\xaf slash",
	    "surrogate \xed\xa0\x80 half",
	    "beyond \xf4\x90\x80\x80 U+10FFFF",
	    "cut \xe2\x82",
	    "tab\tnewline\n",
	    long_ascii,
	    long_utf8,
	};
	struct bf_stub *stub = bf_stub_new();
	ck_assert_int_eq(bf_stub_load_entry(stub, err_entry), BF_OK);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		err_text = texts[i];
		bf_job *job = bf_stub_job_new(stub, "err", NULL);
		ck_assert_int_eq(bf_stub_run(stub, job), BF_JOB_RETRY);
		struct bf_job dj = {0};
		job_set_error(&dj, texts[i]);
		ck_assert_msg(strcmp(bf_stub_job_error(job), dj.error) == 0,
		              "text %zu: stub [%.80s] (%zu bytes), daemon [%.80s] (%zu bytes)", i,
		              bf_stub_job_error(job), strlen(bf_stub_job_error(job)), dj.error,
		              strlen(dj.error));
		ck_assert_uint_le(strlen(dj.error), 4000);
		free(dj.error);
		bf_stub_job_free(job);
	}
	bf_stub_free(stub);
}
END_TEST

/* ---- loading: the stub refuses what the loader refuses ------------------ */

struct load_arg {
	const char *path;
	int rc;
};

static void daemon_load(void *p)
{
	struct load_arg *a = p;
	struct bf_loader *l = loader_new();
	a->rc = loader_load_file(l, a->path, NULL);
	loader_free(l);
}

static void expect_both_refuse(const char *path, int32_t want_rc, const char *needle)
{
	struct bf_stub *stub = bf_stub_new();
	int32_t rc = bf_stub_load_file(stub, path);
	ck_assert_msg(rc == want_rc, "%s: stub returned %d, expected %d (%s)", path, (int)rc,
	              (int)want_rc, bf_stub_load_error(stub));
	ck_assert_msg(strstr(bf_stub_load_error(stub), needle) != NULL,
	              "%s: stub said [%s], expected [%s]", path, bf_stub_load_error(stub), needle);
	ck_assert_ptr_null(bf_stub_plugin(stub));
	ck_assert_uint_eq(bf_stub_task_count(stub), 0);
	bf_stub_free(stub);

	struct load_arg a = {path, 0};
	char *log = daemon_log_of(daemon_load, &a);
	ck_assert_msg(a.rc < 0, "the daemon's loader accepted %s", path);
	ck_assert_msg(strstr(log, needle) != NULL, "daemon said [%s], expected [%s]", log, needle);
	free(log);
}

START_TEST(refuses_what_the_loader_refuses)
{
	expect_both_refuse(TEST_PLUGIN("bad_magic"), BF_STUB_REFUSED, "bad magic 0x504c4642");
	expect_both_refuse(TEST_PLUGIN("bad_major"), BF_STUB_REFUSED, "plugin ABI 2.0 is incompatible");
	/* one wording for both (plugin-api/host/host_rules.c) */
	expect_both_refuse(TEST_PLUGIN("bad_major"), BF_STUB_REFUSED,
	                   "; rebuild the plugin against the installed <backfill/plugin.h>");
	expect_both_refuse(TEST_PLUGIN("short_struct"), BF_STUB_REFUSED, "struct bf_plugin is 8 bytes");
	expect_both_refuse(TEST_PLUGIN("no_entry"), BF_STUB_REFUSED, "exports no backfill_plugin_entry()");
	expect_both_refuse(TEST_PLUGIN("init_fails"), BF_ERR_INVALID, "init failed");
	/* testtasks without its record_file: init's own error code */
	expect_both_refuse(TEST_PLUGIN("testtasks"), BF_ERR_INVALID, "init failed");

	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/nope.so", tmpdir);
	expect_both_refuse(path, BF_STUB_REFUSED, "cannot stat");

	/* world-writable: a copy of noop, mode 0666 */
	char copy[PATH_MAX];
	check_copy_file(PLUGIN("noop"), tmpdir, "noop-ww.so", 0666, copy, sizeof(copy));
	expect_both_refuse(copy, BF_STUB_REFUSED, "world-writable");
	ck_assert_int_eq(chmod(copy, 0644), 0);
	struct bf_stub *stub = bf_stub_new();
	ck_assert_int_eq(bf_stub_load_file(stub, copy), BF_OK);
	/* one plugin per stub */
	ck_assert_int_eq(bf_stub_load_file(stub, PLUGIN("log")), BF_ERR_STATE);
	ck_assert_str_eq(bf_stub_plugin(stub)->name, "noop");
	bf_stub_free(stub);
}
END_TEST

struct second_load {
	struct bf_loader *l;
	const char *path;
	int rc;
};

static void daemon_load_second(void *p)
{
	struct second_load *a = p;
	a->rc = loader_load_file(a->l, a->path, NULL);
}

/* A task name another plugin holds: noop's init fails as in the daemon
 * (tests/plugins/dup_task registers "noop" too). */
START_TEST(reserved_task_is_taken)
{
	struct bf_stub *stub = bf_stub_new();
	ck_assert_int_eq(bf_stub_reserve_task(stub, "noop"), BF_OK);
	ck_assert_int_eq(bf_stub_reserve_task(stub, "bad name"), BF_ERR_INVALID);
	ck_assert_int_eq(bf_stub_load_file(stub, PLUGIN("noop")), BF_ERR_EXISTS);
	ck_assert_ptr_nonnull(strstr(bf_stub_load_error(stub), "init failed (-2)"));
	ck_assert_int_ge(bf_stub_log_find(stub, 0, "plugin noop: noop: task \"noop\" is already "
	                                           "registered by another plugin"),
	                 0);
	bf_stub_free(stub);

	/* the daemon: noop after dup_task is refused, for the same reason */
	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, TEST_PLUGIN("dup_task"), NULL), 0);
	struct second_load sl = {l, PLUGIN("noop"), 0};
	char *log = daemon_log_of(daemon_load_second, &sl);
	ck_assert_int_lt(sl.rc, 0);
	ck_assert_ptr_nonnull(strstr(log, "noop: task \"noop\" is already registered by another plugin"));
	ck_assert_ptr_nonnull(strstr(log, "init failed (-2)"));
	free(log);
	loader_free(l);
}
END_TEST

/* ---- contract violations ------------------------------------------------ */

static const struct bf_host_api *bad_host;
static bf_plugin_ctx *bad_ctx;
static bf_job *kept_job;

static int32_t bad_handle(bf_job *job, void *data)
{
	(void)data;
	kept_job = job; /* wrong: the job is the host's only while this runs */
	bad_host->register_task(bad_ctx, "late", bad_handle, NULL); /* wrong: outside init */
	return BF_JOB_OK;
}

static void *use_kept_job(void *p)
{
	(void)p;
	bad_host->job_id(kept_job);
	return NULL;
}

static int32_t bad_handle_threaded(bf_job *job, void *data)
{
	(void)data;
	kept_job = job;
	pthread_t t;
	pthread_create(&t, NULL, use_kept_job, NULL); /* wrong: another thread */
	pthread_join(t, NULL);
	return 7; /* unknown status: a permanent failure */
}

static int32_t bad_init(bf_plugin_ctx *ctx, const struct bf_host_api *host, void **state)
{
	(void)state;
	bad_host = host;
	bad_ctx = ctx;
	ck_assert_uint_eq(host->config_count(ctx), 1);
	ck_assert_str_eq(host->config_key(ctx, 0), "k");
	ck_assert_str_eq(host->config_value(ctx, 0), "v");
	ck_assert_ptr_null(host->config_key(ctx, 1));
	ck_assert_int_eq(host->register_task(ctx, "", bad_handle, NULL), BF_ERR_INVALID);
	ck_assert_int_eq(host->register_task(ctx, "a b", bad_handle, NULL), BF_ERR_INVALID);
	ck_assert_int_eq(host->register_task(ctx, "bad", bad_handle, NULL), BF_OK);
	ck_assert_int_eq(host->register_task(ctx, "bad", bad_handle, NULL), BF_ERR_EXISTS);
	ck_assert_int_eq(host->register_task(ctx, "bad.threaded", bad_handle_threaded, NULL), BF_OK);
	host->log(ctx, 99, "level clamped to debug");
	return BF_OK;
}

static const struct bf_plugin bad_plugin = {sizeof(struct bf_plugin), BF_PLUGIN_MAGIC,
                                            BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR, "bad", "1",
                                            bad_init, NULL};

static const struct bf_plugin *bad_entry(uint32_t major, uint32_t minor)
{
	(void)major;
	(void)minor;
	return &bad_plugin;
}

START_TEST(violations_are_counted)
{
	struct bf_stub *stub = bf_stub_new();
	ck_assert_int_eq(bf_stub_config_set(stub, "k", "v"), BF_OK);
	ck_assert_int_eq(bf_stub_load_entry(stub, bad_entry), BF_OK);
	ck_assert_int_eq(bf_stub_log_level(stub, 0), BF_LOG_ERROR); /* "" refused */
	long clamped = bf_stub_log_find(stub, 0, "plugin bad: level clamped to debug");
	ck_assert_int_ge(clamped, 0);
	ck_assert_int_eq(bf_stub_log_level(stub, (size_t)clamped), BF_LOG_DEBUG);
	ck_assert_int_eq(bf_stub_log_job(stub, (size_t)clamped), BF_STUB_NO_JOB);
	ck_assert_uint_eq(bf_stub_violations(stub), 0);

	/* config_* after init */
	ck_assert_uint_eq(bad_host->config_count(bad_ctx), 0);
	ck_assert_uint_eq(bf_stub_violations(stub), 1);

	bf_job *job = bf_stub_job_new(stub, "bad", NULL);
	ck_assert_int_eq(bf_stub_run(stub, job), BF_JOB_OK);
	ck_assert_uint_eq(bf_stub_violations(stub), 2); /* register_task in a handler */
	ck_assert_uint_eq(bf_stub_task_count(stub), 2);
	bad_host->job_payload(kept_job, NULL); /* after the handler returned */
	ck_assert_uint_eq(bf_stub_violations(stub), 3);
	ck_assert_int_ge(bf_stub_log_find(stub, 0, "job_payload() on job 1 after its handler returned"), 0);

	bf_job *t = bf_stub_job_new(stub, "bad.threaded", NULL);
	ck_assert_int_eq(bf_stub_run(stub, t), BF_JOB_FAIL);
	ck_assert_int_eq(bf_stub_job_status(t), 7);
	ck_assert_str_eq(bf_stub_job_error(t),
	                 "handler of plugin bad returned unknown status 7 (treated as permanent failure)");
	ck_assert_uint_eq(bf_stub_violations(stub), 4);
	ck_assert_int_ge(bf_stub_log_find(stub, 0, "job_id() on job 2 from a thread other than"), 0);
	bf_stub_job_free(t);
	bf_stub_job_free(job);
	bf_stub_free(stub);
}
END_TEST

/* The job fields a handler reads are the ones the test set. */
static const struct bf_host_api *fields_host;
static char fields_seen[512];

static int32_t fields_handle(bf_job *job, void *data)
{
	(void)data;
	const struct bf_host_api *h = fields_host;
	size_t len = 0;
	const char *p = h->job_payload(job, &len);
	snprintf(fields_seen, sizeof(fields_seen), "%lld %s %s %s %zu %d/%d %d %lld %s %s %d",
	         (long long)h->job_id(job), h->job_task(job), h->job_queue(job), p, len,
	         (int)h->job_attempt(job), (int)h->job_max_attempts(job), (int)h->job_priority(job),
	         (long long)h->job_run_at_us(job), h->job_key(job) ? h->job_key(job) : "-",
	         h->job_serial_key(job) ? h->job_serial_key(job) : "-",
	         (int)h->job_stop_requested(job));
	return BF_JOB_OK;
}

static int32_t fields_init(bf_plugin_ctx *ctx, const struct bf_host_api *host, void **state)
{
	(void)state;
	fields_host = host;
	return host->register_task(ctx, "fields", fields_handle, NULL);
}

static const struct bf_plugin fields_plugin = {sizeof(struct bf_plugin), BF_PLUGIN_MAGIC,
                                               BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR, "fields",
                                               "1", fields_init, NULL};

static const struct bf_plugin *fields_entry(uint32_t major, uint32_t minor)
{
	(void)major;
	(void)minor;
	return &fields_plugin;
}

START_TEST(job_fields_reach_the_handler)
{
	struct bf_stub *stub = bf_stub_new();
	ck_assert_int_eq(bf_stub_load_entry(stub, fields_entry), BF_OK);
	bf_job *job = bf_stub_job_new(stub, "fields", NULL);
	ck_assert_int_eq(bf_stub_run(stub, job), BF_JOB_OK);
	ck_assert_ptr_nonnull(strstr(fields_seen, "1 fields bulk {} 2 1/8 0 "));
	ck_assert_ptr_nonnull(strstr(fields_seen, " - - 0"));

	bf_stub_job_set_id(job, 77);
	bf_stub_job_set_queue(job, "fast");
	bf_stub_job_set_attempts(job, 0, -3);
	bf_stub_job_set_priority(job, -20);
	bf_stub_job_set_run_at_us(job, 1234567);
	bf_stub_job_set_job_key(job, "k1");
	bf_stub_job_set_serial_key(job, "s1");
	bf_stub_job_set_stop(job, BF_STOP_DRAIN);
	ck_assert_int_eq(bf_stub_run(stub, job), BF_JOB_OK);
	ck_assert_str_eq(fields_seen, "77 fields fast {} 2 1/1 -20 1234567 k1 s1 1");
	bf_stub_job_set_job_key(job, NULL);
	ck_assert_int_eq(bf_stub_run(stub, job), BF_JOB_OK);
	ck_assert_str_eq(fields_seen, "77 fields fast {} 2 1/1 -20 1234567 - s1 1");
	bf_stub_job_free(job);
	bf_stub_free(stub);
}
END_TEST

static Suite *stub_suite(void)
{
	Suite *s = suite_create("stub");
	TCase *tc = tcase_create("stub");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, host_table_matches_daemon);
	tcase_add_test(tc, noop_as_the_daemon_runs_it);
	tcase_add_test(tc, log_line_is_the_daemons);
	tcase_add_test(tc, log_from_threads);
	tcase_add_test(tc, outcomes_match_daemon);
	tcase_add_test(tc, error_text_is_job_set_errors);
	tcase_add_test(tc, refuses_what_the_loader_refuses);
	tcase_add_test(tc, reserved_task_is_taken);
	tcase_add_test(tc, violations_are_counted);
	tcase_add_test(tc, job_fields_reach_the_handler);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_in_tmpdir(stub_suite(), tmpdir);
}
