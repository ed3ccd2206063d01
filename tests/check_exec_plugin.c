/*
 * check_exec_plugin.c -- the exec plugin ($BF_BUILD/plugins/exec.so) loaded
 * by the daemon's loader and run on real programs (shell scripts written to
 * a temporary directory): every configuration error its README lists, and
 * each row of its result table -- exit 0, 75, other statuses, a signal, a
 * program that cannot start, the timeout and a forced stop -- with what the
 * program gets (payload on stdin, BACKFILL_* environment) and what becomes
 * of its output (stdout lines logged, cut and counted; the stderr tail as
 * the error).  Also the log plugin's payload line.  Run from the repository
 * root; the build directory comes from $BF_BUILD ("build" by default).
 */
#include "config.h"
#include "job.h"
#include "loader.h"
#include "log.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_files.h"
#include "check_tmpdir.h"

static char tmpdir[] = "/tmp/check_exec_plugin.XXXXXX";

/* ---- helpers ------------------------------------------------------------ */

static const char *plugin_path(const char *name)
{
	static char path[PATH_MAX];
	const char *b = getenv("BF_BUILD");
	snprintf(path, sizeof(path), "%s/plugins/%s.so", b && b[0] ? b : "build", name);
	return path;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* tmpdir/name */
static const char *tmp_path(const char *name)
{
	static char paths[4][PATH_MAX];
	static int next;
	char *p = paths[next++ % 4];
	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	return p;
}

/* The test program: `job.sh MODE [ARG]`, behaving as MODE says.  It keeps
 * what it got in tmpdir/got.JOB_ID.{stdin,env}. */
static const char job_script[] =
    "#!/bin/sh\n"
    "dir=$(dirname \"$0\")\n"
    "case $1 in\n"
    "echo)\n"
    "  cat > \"$dir/got.$BACKFILL_JOB_ID.stdin\"\n"
    "  env | grep -E '^BACKFILL_(JOB_ID|TASK|QUEUE|ATTEMPT|MAX_ATTEMPTS|PRIORITY|JOB_KEY|SERIAL_KEY)=' |\n"
    "    sort > \"$dir/got.$BACKFILL_JOB_ID.env\"\n"
    "  printf 'first line\\n'\n"
    "  printf 'tab\\there bell\\007 cr\\r\\n'\n"
    "  printf 'arg [%s]\\n' \"$2\"\n"
    "  printf 'no newline at the end'\n"
    "  exit 0 ;;\n"
    "tempfail) echo 'database busy, try later' >&2; exit 75 ;;\n"
    "fail) exit 3 ;;\n"
    "fail_stderr) i=0; while [ $i -lt 300 ]; do echo \"error line $i\" >&2; i=$((i+1)); done; exit 4 ;;\n"
    "signal) kill -KILL $$ ;;\n"
    "sleep) sleep 30 & echo $! > \"$dir/got.$BACKFILL_JOB_ID.child\"; wait ;;\n"
    "term_ignored) trap '' TERM; echo started; sleep 30 ;;\n"
    "no_stdin) exit 0 ;;\n"
    "chatty) i=0; while [ $i -lt 1005 ]; do echo \"line $i\"; i=$((i+1)); done\n"
    "  head -c 2500 /dev/zero | tr '\\0' x; echo; exit 0 ;;\n"
    "esac\n"
    "exit 99\n";

static void expect_contains(const char *text, const char *needle)
{
	ck_assert_msg(strstr(text, needle) != NULL, "[%s] does not contain [%s]", text, needle);
}

static struct bf_config *make_config(const char *ini)
{
	const char *path = tmp_path("cfg.ini");
	write_file(path, ini, 0600);
	const struct bf_config_override ov[] = {{"plugin-dir", tmpdir}, {"cron-file", ""}};
	const struct bf_config_args args = {
	    .path = path, .path_required = true, .environ = NULL, .overrides = ov, .noverrides = 2,
	};
	struct bf_config *cfg = NULL;
	char *err = NULL;
	int rc = config_load(&args, &cfg, &err);
	ck_assert_msg(rc == 0, "config_load: %s", err ? err : "");
	unlink(path);
	return cfg;
}

/* Loads exec.so with the [exec] section given; expects it refused with a
 * log line containing needle. */
static void expect_refused(const char *section, const char *needle)
{
	char ini[2048];
	snprintf(ini, sizeof(ini), "[exec]\n%s\n", section);
	struct bf_config *cfg = make_config(ini);
	struct bf_loader *l = loader_new();
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	int rc = loader_load_file(l, plugin_path("exec"), cfg);
	char *log = check_capture_end(&c);
	ck_assert_msg(rc < 0, "exec.so loaded with [%s]", section);
	ck_assert_uint_eq(loader_ntasks(l), 0);
	expect_contains(log, needle);
	free(log);
	loader_free(l);
	config_free(cfg);
}

/* exec.so with tasks on job.sh, plus the settings given. */
struct exec_env {
	struct bf_config *cfg;
	struct bf_loader *loader;
};

static void exec_load(struct exec_env *e, const char *settings)
{
	char script[256];
	snprintf(script, sizeof(script), "%s", tmp_path("job.sh"));
	write_file(script, job_script, 0755);
	char ini[8192];
	snprintf(ini, sizeof(ini),
	         "[exec]\n%s\n"
	         "task.echo = %s echo \"two words\"\n"
	         "task.tempfail = %s tempfail\n"
	         "task.fail = %s fail\n"
	         "task.fail_stderr = %s fail_stderr\n"
	         "task.signal = %s signal\n"
	         "task.sleep = %s sleep\n"
	         "task.term_ignored = %s term_ignored\n"
	         "task.no_stdin = %s no_stdin\n"
	         "task.chatty = %s chatty\n",
	         settings, script, script, script, script, script, script, script, script, script);
	e->cfg = make_config(ini);
	e->loader = loader_new();
	ck_assert_int_eq(loader_load_file(e->loader, plugin_path("exec"), e->cfg), 0);
	ck_assert_uint_eq(loader_ntasks(e->loader), 9);
}

static void exec_unload(struct exec_env *e)
{
	loader_free(e->loader);
	config_free(e->cfg);
}

static struct bf_job *make_job(const struct bf_loader *l, const char *task, int64_t id, const char *payload)
{
	const struct bf_task *t = loader_find_task(l, task);
	ck_assert_msg(t != NULL, "no task %s", task);
	struct bf_job *job = calloc(1, sizeof(*job));
	ck_assert_ptr_nonnull(job);
	job->id = id;
	job->task = strdup(task);
	job->queue = strdup("bulk");
	job->payload = strdup(payload);
	job->payload_len = strlen(payload);
	job->attempts = 2;
	job->max_attempts = 5;
	job->priority = -7;
	job->handler = t;
	return job;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- configuration ------------------------------------------------------ */

START_TEST(config_errors_refused)
{
	char script[256];
	snprintf(script, sizeof(script), "%s", tmp_path("job.sh"));
	write_file(script, job_script, 0755);
	write_file(tmp_path("plain.txt"), "not a program\n", 0644);
	char line[PATH_MAX + 64];

	expect_refused("task.x = bin/true", "program \"bin/true\" is not an absolute path");
	expect_refused("task.x = /nonexistent/program", "program \"/nonexistent/program\": No such file");
	snprintf(line, sizeof(line), "task.x = %s", tmpdir);
	expect_refused(line, "is not a regular file");
	snprintf(line, sizeof(line), "task.x = %s", tmp_path("plain.txt"));
	expect_refused(line, "is not executable");
	expect_refused("task. = /bin/true", "missing task name after \"task.\"");
	expect_refused("task.x =", "[exec] task.x: empty command");
	expect_refused("task.x = \"\"", "program \"\" is not an absolute path");
	expect_refused("task.x = \"/bin/true", "task.x: ");
	expect_refused("task.x = /bin/echo a|b", "task.x: ");
	expect_refused("timeout = soon", "timeout: \"soon\" is not a number of seconds");
	expect_refused("timeout = 31536001", "timeout: \"31536001\"");
	expect_refused("timeout = -1", "timeout: \"-1\"");
	expect_refused("max_error_bytes = 4001", "max_error_bytes: \"4001\" is not a number from 0 to 4000");
	expect_refused("max_error_bytes =", "max_error_bytes: \"\"");
	expect_refused("retries = 3", "unknown key \"retries\"");
}
END_TEST

START_TEST(no_tasks_is_fine)
{
	struct bf_config *cfg = make_config("[exec]\ntimeout = 10\n");
	struct bf_loader *l = loader_new();
	log_set_level(LOG_LEVEL_INFO);
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	int rc = loader_load_file(l, plugin_path("exec"), cfg);
	char *log = check_capture_end(&c);
	log_set_level(LOG_LEVEL_WARN);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(loader_ntasks(l), 0);
	expect_contains(log, "no task.NAME keys: no tasks registered");
	free(log);
	loader_free(l);
	config_free(cfg);
}
END_TEST

/* A task name another plugin has: both exec and log say so. */
START_TEST(task_taken_by_another_plugin)
{
	struct bf_config *cfg = make_config("[exec]\ntask.log = /bin/true\n");
	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, plugin_path("noop"), NULL), 0);
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	ck_assert_int_eq(loader_load_file(l, plugin_path("exec"), cfg), 0);
	int rc = loader_load_file(l, plugin_path("log"), NULL);
	char *log = check_capture_end(&c);
	ck_assert_int_lt(rc, 0);
	expect_contains(log, "task \"log\" is already registered by another plugin");
	free(log);
	loader_free(l);
	config_free(cfg);

	cfg = make_config("[exec]\ntask.noop = /bin/true\n");
	l = loader_new();
	ck_assert_int_eq(loader_load_file(l, plugin_path("noop"), NULL), 0);
	check_capture_start(&c, tmpdir);
	rc = loader_load_file(l, plugin_path("exec"), cfg);
	log = check_capture_end(&c);
	ck_assert_int_lt(rc, 0);
	expect_contains(log, "[exec] task.noop: task \"noop\" is already registered");
	ck_assert_uint_eq(loader_ntasks(l), 1);
	free(log);
	loader_free(l);
	config_free(cfg);
}
END_TEST

/* ---- running jobs ------------------------------------------------------- */

START_TEST(success_gets_payload_env_and_logs_stdout)
{
	struct exec_env e;
	exec_load(&e, "");
	struct bf_job *job = make_job(e.loader, "echo", 101, "{\"to\": \"a@example.com\"}");
	job->job_key = strdup("welcome:42");
	log_set_level(LOG_LEVEL_INFO);
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	loader_run_job(job);
	char *log = check_capture_end(&c);
	log_set_level(LOG_LEVEL_WARN);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_DONE);
	ck_assert_ptr_null(job->error);

	char *got = check_read_file(tmp_path("got.101.stdin"));
	ck_assert_str_eq(got, "{\"to\": \"a@example.com\"}");
	free(got);
	got = check_read_file(tmp_path("got.101.env"));
	ck_assert_str_eq(got, "BACKFILL_ATTEMPT=2\n"
	                      "BACKFILL_JOB_ID=101\n"
	                      "BACKFILL_JOB_KEY=welcome:42\n"
	                      "BACKFILL_MAX_ATTEMPTS=5\n"
	                      "BACKFILL_PRIORITY=-7\n"
	                      "BACKFILL_QUEUE=bulk\n"
	                      "BACKFILL_TASK=echo\n");
	free(got);

	/* each stdout line logged with the job's prefix, sanitised */
	expect_contains(log, "job 101 (echo, queue bulk, attempt 2/5): first line\n");
	expect_contains(log, ": tab\there bell? cr\n");
	expect_contains(log, ": arg [two words]\n");
	expect_contains(log, ": no newline at the end\n");
	free(log);
	job_free(job);
	exec_unload(&e);
}
END_TEST

START_TEST(exit_statuses_map_to_results)
{
	struct exec_env e;
	exec_load(&e, "");

	struct bf_job *job = make_job(e.loader, "tempfail", 201, "{}");
	loader_run_job(job);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_str_eq(job->error, "database busy, try later");
	job_free(job);

	job = make_job(e.loader, "fail", 202, "{}");
	loader_run_job(job);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_FAIL);
	ck_assert_str_eq(job->error, "exit status 3");
	job_free(job);

	job = make_job(e.loader, "signal", 203, "{}");
	loader_run_job(job);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_str_eq(job->error, "killed by signal 9");
	job_free(job);

	/* a program that ignores its stdin: the payload is dropped, no SIGPIPE */
	size_t big = 1 << 20;
	char *payload = malloc(big + 1);
	ck_assert_ptr_nonnull(payload);
	memset(payload, ' ', big);
	payload[0] = '[';
	payload[big - 1] = ']';
	payload[big] = '\0';
	job = make_job(e.loader, "no_stdin", 204, payload);
	loader_run_job(job);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_DONE);
	job_free(job);

	/* one that reads it all: a payload much larger than a pipe */
	job = make_job(e.loader, "echo", 205, payload);
	loader_run_job(job);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_DONE);
	char *got = check_read_file(tmp_path("got.205.stdin"));
	ck_assert_uint_eq(strlen(got), big);
	ck_assert_int_eq(memcmp(got, payload, big), 0);
	free(got);
	free(payload);
	job_free(job);
	exec_unload(&e);
}
END_TEST

START_TEST(stderr_tail_is_the_error)
{
	struct exec_env e;
	exec_load(&e, "max_error_bytes = 100");
	struct bf_job *job = make_job(e.loader, "fail_stderr", 301, "{}");
	log_set_level(LOG_LEVEL_INFO);
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	loader_run_job(job);
	char *log = check_capture_end(&c);
	log_set_level(LOG_LEVEL_WARN);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_FAIL);
	/* the last 100 bytes, marked as cut, without the final newline */
	ck_assert_uint_le(strlen(job->error), 100);
	ck_assert_int_eq(strncmp(job->error, "...", 3), 0);
	size_t n = strlen(job->error);
	const char *end = "error line 299";
	ck_assert_str_eq(job->error + n - strlen(end), end);
	ck_assert_ptr_null(strstr(job->error, "error line 290"));
	/* the status goes to the log instead */
	expect_contains(log, "job 301 (fail_stderr, queue bulk, attempt 2/5): exit status 4");
	free(log);
	job_free(job);
	exec_unload(&e);

	exec_load(&e, "max_error_bytes = 0");
	job = make_job(e.loader, "fail_stderr", 302, "{}");
	loader_run_job(job);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_FAIL);
	ck_assert_str_eq(job->error, "exit status 4");
	job_free(job);
	exec_unload(&e);
}
END_TEST

START_TEST(stdout_lines_cut_and_counted)
{
	struct exec_env e;
	exec_load(&e, "");
	struct bf_job *job = make_job(e.loader, "chatty", 401, "");
	log_set_level(LOG_LEVEL_INFO);
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	loader_run_job(job);
	char *log = check_capture_end(&c);
	log_set_level(LOG_LEVEL_WARN);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_DONE);
	expect_contains(log, "): line 0\n");
	expect_contains(log, "): line 999\n");
	ck_assert_ptr_null(strstr(log, "): line 1000\n"));
	/* 1005 lines and the long one: 6 not logged */
	expect_contains(log, "6 more stdout lines not logged (limit 1000)");
	free(log);
	job_free(job);
	exec_unload(&e);
}
END_TEST

START_TEST(cannot_run_is_a_retry)
{
	struct exec_env e;
	exec_load(&e, "");
	/* the program disappears after the configuration was checked */
	ck_assert_int_eq(unlink(tmp_path("job.sh")), 0);
	struct bf_job *job = make_job(e.loader, "fail", 501, "{}");
	loader_run_job(job);
	const char *preload = getenv("LD_PRELOAD");
	if (preload && strstr(preload, "vgpreload")) {
		/* under valgrind (CI's UNIT_VALGRIND=1) posix_spawn cannot hand
		 * the exec error back: the child exits 127, as from a shell */
		ck_assert_int_eq(job->outcome, JOB_OUTCOME_FAIL);
		ck_assert_str_eq(job->error, "exit status 127");
	} else {
		ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
		char want[PATH_MAX + 64];
		snprintf(want, sizeof(want), "cannot run %s: No such file or directory", tmp_path("job.sh"));
		ck_assert_str_eq(job->error, want);
	}
	job_free(job);
	exec_unload(&e);
}
END_TEST

static int process_gone(pid_t pid, double seconds)
{
	double until = now_s() + seconds;
	while (now_s() < until) {
		if (kill(pid, 0) != 0 && errno == ESRCH)
			return 1;
		/* a zombie of init's still answers kill(0): check its state */
		char path[64], state = 0;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "r");
		if (!f)
			return 1;
		int ok = fscanf(f, "%*d %*s %c", &state);
		fclose(f);
		if (ok == 1 && state == 'Z')
			return 1;
		usleep(20000);
	}
	return 0;
}

START_TEST(timeout_stops_the_process_group)
{
	struct exec_env e;
	exec_load(&e, "timeout = 1");
	struct bf_job *job = make_job(e.loader, "sleep", 601, "{}");
	double t0 = now_s();
	loader_run_job(job);
	double took = now_s() - t0;
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_str_eq(job->error, "timed out after 1 s");
	ck_assert_msg(took >= 0.9 && took < 4.5, "the run took %.2f s", took);
	/* the program's own child, in its process group, was stopped too */
	char *pid_text = check_read_file(tmp_path("got.601.child"));
	pid_t child = (pid_t)atoi(pid_text);
	free(pid_text);
	ck_assert_int_gt(child, 1);
	ck_assert_msg(process_gone(child, 5), "background child %d still runs", (int)child);
	job_free(job);
	exec_unload(&e);
}
END_TEST

START_TEST(forced_stop_terminates)
{
	struct exec_env e;
	exec_load(&e, "");
	atomic_int stop = BF_STOP_ABORT;
	struct bf_job *job = make_job(e.loader, "sleep", 701, "{}");
	job->stop_level = &stop;
	double t0 = now_s();
	loader_run_job(job);
	double took = now_s() - t0;
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_str_eq(job->error, "stopped: the daemon is shutting down");
	ck_assert_msg(took < 4.5, "the run took %.2f s", took);
	job_free(job);
	exec_unload(&e);
}
END_TEST

/* A program that ignores SIGTERM gets SIGKILL after the 5 s grace. */
START_TEST(sigterm_ignored_then_killed)
{
	struct exec_env e;
	exec_load(&e, "timeout = 2"); /* time for the shell to set its trap */
	struct bf_job *job = make_job(e.loader, "term_ignored", 702, "{}");
	double t0 = now_s();
	loader_run_job(job);
	double took = now_s() - t0;
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_RETRY);
	ck_assert_str_eq(job->error, "timed out after 2 s");
	ck_assert_msg(took >= 6.5 && took < 20, "the run took %.2f s", took);
	job_free(job);
	exec_unload(&e);
}
END_TEST

/* ---- the log plugin ----------------------------------------------------- */

START_TEST(log_plugin_payload_line)
{
	struct bf_loader *l = loader_new();
	ck_assert_int_eq(loader_load_file(l, plugin_path("log"), NULL), 0);
	size_t big = 3000;
	char *payload = malloc(big + 1);
	ck_assert_ptr_nonnull(payload);
	/* "é" (2 bytes) across the 1000-byte cut, a newline early on */
	memset(payload, 'a', big);
	memcpy(payload, "{\"x\":\n", 6);
	payload[999] = '\xc3';
	payload[1000] = '\xa9';
	payload[big] = '\0';
	struct bf_job *job = make_job(l, "log", 801, payload);
	log_set_level(LOG_LEVEL_INFO);
	struct check_capture c;
	check_capture_start(&c, tmpdir);
	loader_run_job(job);
	job_free(job);
	job = make_job(l, "log", 802, "");
	free(job->payload);
	job->payload = NULL; /* no payload at all */
	job->payload_len = 0;
	loader_run_job(job);
	char *log = check_capture_end(&c);
	log_set_level(LOG_LEVEL_WARN);
	ck_assert_int_eq(job->outcome, JOB_OUTCOME_DONE);
	expect_contains(log, "job 801 (log, queue bulk, attempt 2/5): payload {\"x\":?aaa");
	/* cut before the two-byte character: 999 bytes kept, 2001 left out */
	expect_contains(log, "aaa... (2001 more bytes)\n");
	expect_contains(log, "job 802 (log, queue bulk, attempt 2/5): payload \n");
	free(log);
	free(payload);
	job_free(job);
	loader_free(l);
}
END_TEST

static Suite *exec_plugin_suite(void)
{
	Suite *s = suite_create("exec_plugin");
	TCase *cfg = tcase_create("config");
	tcase_add_test(cfg, config_errors_refused);
	tcase_add_test(cfg, no_tasks_is_fine);
	tcase_add_test(cfg, task_taken_by_another_plugin);
	suite_add_tcase(s, cfg);

	TCase *run = tcase_create("run");
	tcase_set_timeout(run, 60);
	tcase_add_test(run, success_gets_payload_env_and_logs_stdout);
	tcase_add_test(run, exit_statuses_map_to_results);
	tcase_add_test(run, stderr_tail_is_the_error);
	tcase_add_test(run, stdout_lines_cut_and_counted);
	tcase_add_test(run, cannot_run_is_a_retry);
	tcase_add_test(run, timeout_stops_the_process_group);
	tcase_add_test(run, forced_stop_terminates);
	tcase_add_test(run, sigterm_ignored_then_killed);
	tcase_add_test(run, log_plugin_payload_line);
	suite_add_tcase(s, run);
	return s;
}

int main(void)
{
	log_set_level(LOG_LEVEL_WARN); /* no "plugin loaded" lines */
	return check_run_in_tmpdir(exec_plugin_suite(), tmpdir);
}
