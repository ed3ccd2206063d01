/*
 * check_loader.c -- unit tests for daemon/loader.c with the real plugins:
 * build/plugins/{noop,log}.so and the test plugins of tests/plugins/ (bad
 * magic, bad ABI major, truncated descriptor, no entry, failing init,
 * duplicate task, testtasks).  Checks what is refused and why (the log
 * line), loader_load on plugin directories, and loader_run_job's mapping
 * of handler results.  The build directory comes from $BF_BUILD ("build"
 * by default); run from the repository root.
 */
#include "config.h"
#include "job.h"
#include "loader.h"
#include "log.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_files.h"
#include "check_tmpdir.h"

static char tmpdir[] = "/tmp/check_loader.XXXXXX";

/* ---- helpers ------------------------------------------------------------ */

static const char *build_dir(void)
{
	const char *b = getenv("BF_BUILD");
	return b && b[0] ? b : "build";
}

/* $BF_BUILD/plugins/NAME.so */
static const char *plugin_path(const char *name)
{
	static char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/plugins/%s.so", build_dir(), name);
	return path;
}

/* $BF_BUILD/tests/plugins/NAME.so */
static const char *test_plugin_path(const char *name)
{
	static char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/tests/plugins/%s.so", build_dir(), name);
	return path;
}

/* A new empty directory under tmpdir, mode 0755. */
static void make_dir(char *path, size_t size)
{
	snprintf(path, size, "%s/dir.XXXXXX", tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(path));
	ck_assert_int_eq(chmod(path, 0755), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

static void expect_contains(const char *text, const char *needle)
{
	ck_assert_msg(strstr(text, needle) != NULL, "log [%s] does not contain [%s]", text, needle);
}

/* A config with plugin_dir = dir and, if ini is not NULL, that ini text
 * (for plugin sections).  Caller frees. */
static struct bf_config *make_config(const char *dir, const char *ini)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cfg.XXXXXX", tmpdir);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	write_file(path, ini ? ini : "", 0600);
	const struct bf_config_override ov[] = {{"plugin-dir", dir ? dir : "/nonexistent"}};
	const struct bf_config_args args = {
		.path = path,
		.path_required = true,
		.environ = NULL,
		.overrides = ov,
		.noverrides = 1,
	};
	struct bf_config *cfg = NULL;
	char *err = NULL;
	int rc = config_load(&args, &cfg, &err);
	ck_assert_msg(rc == 0, "config_load: %s", err ? err : "");
	unlink(path);
	return cfg;
}

/* A config whose [testtasks] record_file is a new file in tmpdir, whose
 * path goes to record. */
static struct bf_config *testtasks_config(const char *dir, char *record, size_t size)
{
	snprintf(record, size, "%s/record.XXXXXX", tmpdir);
	int fd = mkstemp(record);
	ck_assert_int_ge(fd, 0);
	close(fd);
	char ini[PATH_MAX + 64];
	snprintf(ini, sizeof(ini), "[testtasks]\nrecord_file = %s\n", record);
	return make_config(dir, ini);
}

/* Loads path into a new loader; expects refusal with a log line containing
 * needle, and nothing registered. */
static void expect_refused(const char *path, const struct bf_config *cfg, const char *needle)
{
	struct bf_loader *l = loader_new();
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	int rc = loader_load_file(l, path, cfg);
	char *log = check_capture_end(&c);
	ck_assert_msg(rc < 0, "%s was loaded", path);
	ck_assert_uint_eq(loader_ntasks(l), 0);
	ck_assert_uint_eq(loader_nplugins(l), 0);
	ck_assert_ptr_null(loader_task(l, 0));
	ck_assert_ptr_null(loader_plugin_name(l, 0));
	ck_assert_ptr_null(loader_find_task(l, "noop"));
	expect_contains(log, path);
	expect_contains(log, needle);
	free(log);
	/* the loader still works */
	ck_assert_int_eq(loader_load_file(l, plugin_path("noop"), NULL), 0);
	ck_assert_uint_eq(loader_ntasks(l), 1);
	loader_free(l);
}

/* ---- loading one file --------------------------------------------------- */

START_TEST(noop_loads)
{
	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, plugin_path("noop"), NULL), 0);
	ck_assert_uint_eq(loader_nplugins(l), 1);
	ck_assert_str_eq(loader_plugin_name(l, 0), "noop");
	ck_assert_ptr_null(loader_plugin_name(l, 1));
	ck_assert_uint_eq(loader_ntasks(l), 1);
	const struct bf_task *t = loader_find_task(l, "noop");
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_eq(loader_task(l, 0), t);
	ck_assert_ptr_null(loader_task(l, 1));
	ck_assert_str_eq(t->name, "noop");
	ck_assert_ptr_nonnull(t->handler);
	ck_assert_ptr_null(loader_find_task(l, "nope"));
	ck_assert_ptr_null(loader_find_task(l, "noo"));

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	loader_describe(l, f);
	fclose(f);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "# plugin noop 0.1.0 (%s): noop\n", plugin_path("noop"));
	ck_assert_str_eq(text, want);
	free(text);
	loader_free(l);
	loader_free(NULL);
}
END_TEST

START_TEST(refuses_bad_magic)
{
	expect_refused(test_plugin_path("bad_magic"), NULL, "bad magic 0x504c4642");
}
END_TEST

START_TEST(refuses_bad_major)
{
	expect_refused(test_plugin_path("bad_major"), NULL, "plugin ABI 2.0 is incompatible");
}
END_TEST

START_TEST(refuses_short_struct)
{
	expect_refused(test_plugin_path("short_struct"), NULL, "struct bf_plugin is 8 bytes");
}
END_TEST

START_TEST(refuses_no_entry)
{
	expect_refused(test_plugin_path("no_entry"), NULL, "exports no backfill_plugin_entry()");
}
END_TEST

START_TEST(refuses_init_fails)
{
	expect_refused(test_plugin_path("init_fails"), NULL, "init failed");
}
END_TEST

START_TEST(refuses_missing_file)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/nope.so", tmpdir);
	expect_refused(path, NULL, "cannot stat");
}
END_TEST

START_TEST(refuses_non_plugin_file)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	make_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/text.so", dir);
	write_file(path, "not an ELF file\n", 0644);
	expect_refused(path, NULL, "cannot load");
}
END_TEST

START_TEST(refuses_testtasks_without_record_file)
{
	expect_refused(test_plugin_path("testtasks"), NULL, "record_file is required");
}
END_TEST

START_TEST(refuses_dup_task_after_noop)
{
	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, plugin_path("noop"), NULL), 0);
	const struct bf_task *before = loader_find_task(l, "noop");
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	int rc = loader_load_file(l, test_plugin_path("dup_task"), NULL);
	char *log = check_capture_end(&c);
	ck_assert_int_lt(rc, 0);
	ck_assert_uint_eq(loader_nplugins(l), 1);
	ck_assert_uint_eq(loader_ntasks(l), 1);
	ck_assert_ptr_eq(loader_find_task(l, "noop"), before);
	ck_assert_str_eq(loader_plugin_name(l, 0), "noop");
	expect_contains(log, "task \"noop\" is already registered by plugin noop");
	free(log);
	loader_free(l);

	/* the other order: noop is the one refused */
	l = loader_new();
	ck_assert_int_eq(loader_load_file(l, test_plugin_path("dup_task"), NULL), 0);
	check_capture_start(&c, tmpdir);
	rc = loader_load_file(l, plugin_path("noop"), NULL);
	log = check_capture_end(&c);
	ck_assert_int_lt(rc, 0);
	ck_assert_uint_eq(loader_nplugins(l), 1);
	ck_assert_str_eq(loader_plugin_name(l, 0), "dup_task");
	expect_contains(log, "already registered by plugin dup_task");
	free(log);
	loader_free(l);
}
END_TEST

START_TEST(refuses_same_plugin_twice)
{
	char dir[PATH_MAX], copy[PATH_MAX];
	make_dir(dir, sizeof(dir));
	check_copy_file(plugin_path("noop"), dir, "noop-copy.so", 0644, copy, sizeof(copy));
	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, plugin_path("noop"), NULL), 0);
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	int rc = loader_load_file(l, copy, NULL);
	char *log = check_capture_end(&c);
	ck_assert_int_lt(rc, 0);
	ck_assert_uint_eq(loader_nplugins(l), 1);
	ck_assert_uint_eq(loader_ntasks(l), 1);
	expect_contains(log, "a plugin named \"noop\" is already loaded");
	free(log);
	loader_free(l);
}
END_TEST

START_TEST(refuses_world_writable_file)
{
	char dir[PATH_MAX], copy[PATH_MAX];
	make_dir(dir, sizeof(dir));
	check_copy_file(plugin_path("noop"), dir, "noop.so", 0666, copy, sizeof(copy));
	expect_refused(copy, NULL, "world-writable");
	/* the same file, once fixed, loads */
	ck_assert_int_eq(chmod(copy, 0644), 0);
	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, copy, NULL), 0);
	ck_assert_ptr_nonnull(loader_find_task(l, "noop"));
	loader_free(l);
}
END_TEST

/* ---- loading a directory ------------------------------------------------ */

/* loader_load(cfg) must fail, logging needle; *out stays NULL. */
static void expect_load_fails(const struct bf_config *cfg, const char *needle)
{
	struct bf_loader *l = (struct bf_loader *)0x1;
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	int rc = loader_load(cfg, &l);
	char *log = check_capture_end(&c);
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(l);
	expect_contains(log, needle);
	free(log);
}

START_TEST(load_dir_empty_refused)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	make_dir(dir, sizeof(dir));
	struct bf_config *cfg = make_config(dir, NULL);
	expect_load_fails(cfg, "no task handlers in");
	/* files that are not plugins are not looked at */
	snprintf(path, sizeof(path), "%s/README.txt", dir);
	write_file(path, "hello\n", 0644);
	snprintf(path, sizeof(path), "%s/.hidden.so", dir);
	write_file(path, "not loaded\n", 0644);
	snprintf(path, sizeof(path), "%s/x.so.1", dir);
	write_file(path, "not loaded\n", 0644);
	expect_load_fails(cfg, "no task handlers in");
	config_free(cfg);
}
END_TEST

START_TEST(load_dir_missing_refused)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/no-such-dir", tmpdir);
	struct bf_config *cfg = make_config(dir, NULL);
	expect_load_fails(cfg, dir);
	config_free(cfg);
}
END_TEST

START_TEST(load_dir_world_writable_refused)
{
	char dir[PATH_MAX], copy[PATH_MAX];
	make_dir(dir, sizeof(dir));
	check_copy_file(plugin_path("noop"), dir, "noop.so", 0644, copy, sizeof(copy));
	ck_assert_int_eq(chmod(dir, 0777), 0);
	struct bf_config *cfg = make_config(dir, NULL);
	expect_load_fails(cfg, "world-writable");
	config_free(cfg);
}
END_TEST

START_TEST(load_dir_world_writable_plugin_refused)
{
	char dir[PATH_MAX], copy[PATH_MAX];
	make_dir(dir, sizeof(dir));
	check_copy_file(plugin_path("noop"), dir, "noop.so", 0644, copy, sizeof(copy));
	check_copy_file(plugin_path("log"), dir, "log.so", 0646, copy, sizeof(copy));
	struct bf_config *cfg = make_config(dir, NULL);
	expect_load_fails(cfg, "world-writable");
	config_free(cfg);
}
END_TEST

START_TEST(load_dir_with_noop_and_log)
{
	char dir[PATH_MAX], copy[PATH_MAX], path[PATH_MAX + 32];
	make_dir(dir, sizeof(dir));
	check_copy_file(plugin_path("noop"), dir, "noop.so", 0755, copy, sizeof(copy));
	check_copy_file(plugin_path("log"), dir, "log.so", 0644, copy, sizeof(copy));
	snprintf(path, sizeof(path), "%s/README.txt", dir);
	write_file(path, "not a plugin\n", 0644);
	check_copy_file(test_plugin_path("bad_magic"), dir, ".hidden.so", 0644, copy, sizeof(copy));
	struct bf_config *cfg = make_config(dir, NULL);
	struct bf_loader *l = NULL;
	ck_assert_int_eq(loader_load(cfg, &l), 0);
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(loader_ntasks(l), 2);
	ck_assert_uint_eq(loader_nplugins(l), 2);
	ck_assert_str_eq(loader_plugin_name(l, 0), "log"); /* alphabetical */
	ck_assert_str_eq(loader_plugin_name(l, 1), "noop");
	ck_assert_ptr_nonnull(loader_find_task(l, "noop"));
	ck_assert_ptr_nonnull(loader_find_task(l, "log"));
	loader_free(l);
	config_free(cfg);
}
END_TEST

START_TEST(load_dir_with_one_bad_plugin_refused)
{
	char dir[PATH_MAX], copy[PATH_MAX];
	make_dir(dir, sizeof(dir));
	check_copy_file(plugin_path("noop"), dir, "noop.so", 0644, copy, sizeof(copy));
	check_copy_file(test_plugin_path("bad_major"), dir, "bad_major.so", 0644, copy, sizeof(copy));
	struct bf_config *cfg = make_config(dir, NULL);
	expect_load_fails(cfg, "is incompatible");
	config_free(cfg);
}
END_TEST

START_TEST(load_dir_section_without_plugin_refused)
{
	char dir[PATH_MAX], copy[PATH_MAX];
	make_dir(dir, sizeof(dir));
	check_copy_file(plugin_path("noop"), dir, "noop.so", 0644, copy, sizeof(copy));
	struct bf_config *cfg = make_config(dir, "[nosuchplugin]\nx = 1\n");
	expect_load_fails(cfg, "section [nosuchplugin] is neither a backfilld section nor a loaded "
	                       "plugin's");
	config_free(cfg);
	/* a section for a loaded plugin is fine */
	cfg = make_config(dir, "[noop]\nx = 1\n");
	struct bf_loader *l = NULL;
	ck_assert_int_eq(loader_load(cfg, &l), 0);
	ck_assert_ptr_nonnull(l);
	loader_free(l);
	config_free(cfg);
}
END_TEST

START_TEST(load_dir_passes_plugin_section)
{
	char dir[PATH_MAX], copy[PATH_MAX], record[PATH_MAX];
	make_dir(dir, sizeof(dir));
	check_copy_file(test_plugin_path("testtasks"), dir, "testtasks.so", 0644, copy, sizeof(copy));
	struct bf_config *cfg = testtasks_config(dir, record, sizeof(record));
	struct bf_loader *l = NULL;
	ck_assert_int_eq(loader_load(cfg, &l), 0);
	ck_assert_uint_eq(loader_ntasks(l), 2);
	ck_assert_ptr_nonnull(loader_find_task(l, "test.record"));
	ck_assert_ptr_nonnull(loader_find_task(l, "test.record2"));
	loader_free(l);
	config_free(cfg);
}
END_TEST

/* ---- running jobs -------------------------------------------------------- */

static struct bf_job *make_job(const struct bf_task *t, int64_t id, const char *payload)
{
	ck_assert_ptr_nonnull(t);
	struct bf_job *job = calloc(1, sizeof(*job));
	ck_assert_ptr_nonnull(job);
	job->id = id;
	job->task = strdup(t->name);
	job->queue = strdup("fast");
	job->payload = strdup(payload);
	job->payload_len = strlen(payload);
	job->attempts = 1;
	job->max_attempts = 25;
	job->run_at_us = 1700000000000000LL;
	job->handler = t;
	job->retry_delay_ms = 99; /* loader_run_job resets it */
	job->outcome = (enum bf_job_outcome)42;
	return job;
}

START_TEST(run_noop_job)
{
	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, plugin_path("noop"), NULL), 0);
	struct bf_job *job = make_job(loader_find_task(l, "noop"), 1, "{}");
	loader_run_job(job);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_DONE);
	ck_assert_ptr_null(job->error);
	ck_assert_int_eq(job->retry_delay_ms, -1);
	job_free(job);
	loader_free(l);
}
END_TEST

struct testtasks {
	struct bf_loader *loader;
	struct bf_config *cfg;
	char record[PATH_MAX];
	const struct bf_task *task;
};

static void testtasks_load(struct testtasks *tt)
{
	tt->cfg = testtasks_config(NULL, tt->record, sizeof(tt->record));
	tt->loader = loader_new();
	ck_assert_int_eq(loader_load_file(tt->loader, test_plugin_path("testtasks"), tt->cfg), 0);
	tt->task = loader_find_task(tt->loader, "test.record");
	ck_assert_ptr_nonnull(tt->task);
}

static void testtasks_free(struct testtasks *tt)
{
	loader_free(tt->loader);
	config_free(tt->cfg);
}

/* Runs payload on test.record; returns the job (caller frees). */
static struct bf_job *run(const struct testtasks *tt, int64_t id, const char *payload)
{
	struct bf_job *job = make_job(tt->task, id, payload);
	loader_run_job(job);
	return job;
}

START_TEST(run_testtasks_results)
{
	struct testtasks tt;
	testtasks_load(&tt);

	struct bf_job *job = run(&tt, 11, "{}");
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_DONE);
	ck_assert_ptr_null(job->error);
	ck_assert_int_eq(job->retry_delay_ms, -1);
	job_free(job);

	job = run(&tt, 12, "{\"result\":\"retry\",\"error\":\"boom\"}");
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_str_eq(job->error, "boom");
	ck_assert_int_eq(job->retry_delay_ms, -1);
	job_free(job);

	job = run(&tt, 13, "{\"result\":\"bad\"}");
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_FAIL);
	ck_assert_ptr_nonnull(job->error);
	expect_contains(job->error, "unknown status 77");
	expect_contains(job->error, "testtasks");
	job_free(job);

	job = run(&tt, 14, "{\"result\":\"bad\",\"error\":\"why\"}");
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_FAIL);
	expect_contains(job->error, "unknown status 77");
	expect_contains(job->error, "why");
	job_free(job);

	job = run(&tt, 15, "{\"result\":\"fail\"}");
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_FAIL);
	ck_assert_ptr_nonnull(job->error);
	ck_assert_uint_gt(strlen(job->error), 0);
	job_free(job);

	job = run(&tt, 16, "{\"result\":\"fail\",\"error\":\"caf\\u00e9 down\"}");
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_FAIL);
	ck_assert_str_eq(job->error, "caf\xc3\xa9 down");
	job_free(job);

	job = run(&tt, 17, "{\"result\":\"retry\"}");
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_ptr_nonnull(job->error);
	ck_assert_uint_gt(strlen(job->error), 0);
	job_free(job);

	job = run(&tt, 18, "{\"result\":\"retry\",\"retry_delay_ms\":1234}");
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_int_eq(job->retry_delay_ms, 1234);
	job_free(job);

	job = run(&tt, 19, "{\"result\":\"retry\",\"retry_delay_ms\":-5}");
	ck_assert_int_eq(job->retry_delay_ms, -1); /* negative: the backoff */
	job_free(job);

	/* the handler ran with this job's fields: see the record file */
	char *rec = check_read_file(tt.record);
	expect_contains(rec, "start 11 fast 1 ");
	expect_contains(rec, "end 11 fast 1 ");
	expect_contains(rec, "start 18 fast 1 ");
	expect_contains(rec, "end 19 fast 1 ");
	free(rec);
	testtasks_free(&tt);
}
END_TEST

START_TEST(run_testtasks_stop_requested)
{
	struct testtasks tt;
	testtasks_load(&tt);
	atomic_int stop = BF_STOP_ABORT;
	struct bf_job *job = make_job(tt.task, 21, "{\"sleep_ms\":10000}");
	job->stop_level = &stop;
	loader_run_job(job);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_str_eq(job->error, "aborted while sleeping");
	job_free(job);

	job = make_job(tt.task, 22, "{\"fail_until_attempt\":3}");
	job->attempts = 2;
	loader_run_job(job);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_str_eq(job->error, "attempt 2 failed");
	job_free(job);
	testtasks_free(&tt);
}
END_TEST

static Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");

	TCase *file = tcase_create("file");
	tcase_add_test(file, noop_loads);
	tcase_add_test(file, refuses_bad_magic);
	tcase_add_test(file, refuses_bad_major);
	tcase_add_test(file, refuses_short_struct);
	tcase_add_test(file, refuses_no_entry);
	tcase_add_test(file, refuses_init_fails);
	tcase_add_test(file, refuses_missing_file);
	tcase_add_test(file, refuses_non_plugin_file);
	tcase_add_test(file, refuses_testtasks_without_record_file);
	tcase_add_test(file, refuses_dup_task_after_noop);
	tcase_add_test(file, refuses_same_plugin_twice);
	tcase_add_test(file, refuses_world_writable_file);
	suite_add_tcase(s, file);

	TCase *dir = tcase_create("dir");
	tcase_add_test(dir, load_dir_empty_refused);
	tcase_add_test(dir, load_dir_missing_refused);
	tcase_add_test(dir, load_dir_world_writable_refused);
	tcase_add_test(dir, load_dir_world_writable_plugin_refused);
	tcase_add_test(dir, load_dir_with_noop_and_log);
	tcase_add_test(dir, load_dir_with_one_bad_plugin_refused);
	tcase_add_test(dir, load_dir_section_without_plugin_refused);
	tcase_add_test(dir, load_dir_passes_plugin_section);
	suite_add_tcase(s, dir);

	TCase *run_tc = tcase_create("run");
	tcase_add_test(run_tc, run_noop_job);
	tcase_add_test(run_tc, run_testtasks_results);
	tcase_add_test(run_tc, run_testtasks_stop_requested);
	suite_add_tcase(s, run_tc);

	return s;
}

int main(void)
{
	log_set_level(LOG_LEVEL_WARN); /* no "plugin loaded" lines */
	return check_run_in_tmpdir(loader_suite(), tmpdir);
}
