/*
 * test_append -- unit test of append.so's handler under the stub host
 * (libbackfill-plugin-stub): no database, no daemon.  Loads the built .so
 * the way backfilld does, feeds it jobs, checks outcome, last_error, retry
 * delay and the file it wrote.  Usage: test_append ./append.so
 */
#define _POSIX_C_SOURCE 200809L

#include <backfill/plugin_stub.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int checks, failures;

#define EXPECT(cond)                                                                   \
	do {                                                                           \
		checks++;                                                              \
		if (!(cond)) {                                                         \
			failures++;                                                    \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                      \
	} while (0)

static const char *so_path;
static char load_error[1024]; /* why loaded() last returned NULL */
static char dir[] = "/tmp/test_append.XXXXXX";

/* The contents of dir/name ("" when missing); static buffer. */
static const char *contents(const char *name)
{
	static char buf[4096];
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* A stub with append.so loaded and [append] dir = dir (plus one more
 * key = value when key is not NULL); NULL if loading failed. */
static struct bf_stub *loaded(const char *key, const char *value)
{
	struct bf_stub *stub = bf_stub_new();
	if (getenv("TEST_VERBOSE"))
		bf_stub_log_echo(stub, stderr);
	bf_stub_config_set(stub, "dir", dir);
	if (key)
		bf_stub_config_set(stub, key, value);
	if (bf_stub_load_file(stub, so_path) != BF_OK) {
		snprintf(load_error, sizeof(load_error), "%s", bf_stub_load_error(stub));
		bf_stub_free(stub);
		return NULL;
	}
	return stub;
}

/* Runs one job with payload at attempt/max; returns the outcome; error and
 * delay go to the out-parameters (error copied into a static buffer). */
static int32_t run(struct bf_stub *stub, const char *payload, int attempt, int max,
                   const char **error, int64_t *delay, int *dead)
{
	static char err[4096];
	bf_job *job = bf_stub_job_new(stub, "append.line", payload);
	bf_stub_job_set_attempts(job, attempt, max);
	int32_t outcome = bf_stub_run(stub, job);
	snprintf(err, sizeof(err), "%s", bf_stub_job_error(job) ? bf_stub_job_error(job) : "");
	*error = err;
	*delay = bf_stub_job_retry_delay_ms(job);
	*dead = bf_stub_job_dead(job);
	bf_stub_job_free(job);
	return outcome;
}

static void test_config(void)
{
	/* no dir */
	struct bf_stub *stub = bf_stub_new();
	EXPECT(bf_stub_load_file(stub, so_path) == BF_ERR_INVALID);
	EXPECT(bf_stub_log_find(stub, 0, "plugin append: [append] dir is required") >= 0);
	EXPECT(bf_stub_task_count(stub) == 0);
	bf_stub_free(stub);

	/* a dir that is not there */
	stub = bf_stub_new();
	bf_stub_config_set(stub, "dir", "/nonexistent/append");
	EXPECT(bf_stub_load_file(stub, so_path) == BF_ERR_INVALID);
	EXPECT(bf_stub_log_find(stub, 0, "cannot open: No such file or directory") >= 0);
	bf_stub_free(stub);

	/* unknown key, bad delay */
	EXPECT(loaded("dri", "x") == NULL);
	EXPECT(loaded("retry_delay_ms", "soon") == NULL);
	EXPECT(loaded("retry_delay_ms", "-1") == NULL);

	/* another plugin has the task */
	stub = bf_stub_new();
	bf_stub_config_set(stub, "dir", dir);
	bf_stub_reserve_task(stub, "append.line");
	EXPECT(bf_stub_load_file(stub, so_path) == BF_ERR_EXISTS);
	EXPECT(bf_stub_log_find(stub, 0, "another plugin has it") >= 0);
	bf_stub_free(stub);

	stub = loaded(NULL, NULL);
	EXPECT(stub != NULL);
	if (stub) {
		EXPECT(strcmp(bf_stub_plugin(stub)->name, "append") == 0);
		EXPECT(bf_stub_task_count(stub) == 1);
		EXPECT(strcmp(bf_stub_task_name(stub, 0), "append.line") == 0);
		bf_stub_free(stub);
	}
}

static void test_success(void)
{
	struct bf_stub *stub = loaded(NULL, NULL);
	if (!stub) {
		fprintf(stderr, "cannot load %s: %s\n", so_path, load_error);
		failures++;
		return;
	}
	const char *error;
	int64_t delay;
	int dead;
	EXPECT(run(stub, "{\"file\": \"a.txt\", \"text\": \"hello\"}", 1, 8, &error, &delay, &dead) ==
	       BF_JOB_OK);
	EXPECT(strcmp(error, "") == 0);
	EXPECT(!dead);
	EXPECT(run(stub, "{\"text\": \"caf\\u00e9 \\\"quoted\\\"\", \"file\": \"a.txt\", \"extra\": 1}",
	           1, 8, &error, &delay, &dead) == BF_JOB_OK);
	EXPECT(strcmp(contents("a.txt"), "hello\ncaf\xc3\xa9 \"quoted\"\n") == 0);
	EXPECT(run(stub, "{\"file\": \"a.txt\", \"text\": \"\"}", 1, 8, &error, &delay, &dead) ==
	       BF_JOB_OK);
	EXPECT(strcmp(contents("a.txt"), "hello\ncaf\xc3\xa9 \"quoted\"\n\n") == 0);
	EXPECT(bf_stub_log_find(stub, 0, "appended 6 bytes to a.txt") >= 0);
	EXPECT(bf_stub_log_level(stub, 0) == BF_LOG_DEBUG);
	EXPECT(bf_stub_violations(stub) == 0);
	bf_stub_free(stub);
}

static void test_retry(void)
{
	struct bf_stub *stub = loaded(NULL, NULL);
	if (!stub) {
		fprintf(stderr, "cannot load %s: %s\n", so_path, load_error);
		failures++;
		return;
	}
	const char *payload = "{\"file\": \"inbox/b.txt\", \"text\": \"later\"}";
	const char *error;
	int64_t delay;
	int dead;
	/* inbox/ does not exist yet: retry, with backfilld's backoff */
	EXPECT(run(stub, payload, 1, 8, &error, &delay, &dead) == BF_JOB_RETRY);
	EXPECT(strcmp(error, "cannot open inbox/b.txt: No such file or directory") == 0);
	EXPECT(delay == -1);
	EXPECT(!dead);
	/* on its last attempt the same retry is the end: dead-lettered */
	EXPECT(run(stub, payload, 8, 8, &error, &delay, &dead) == BF_JOB_RETRY);
	EXPECT(dead);
	bf_stub_free(stub);

	/* with retry_delay_ms, that delay */
	stub = loaded("retry_delay_ms", "1500");
	if (!stub) {
		fprintf(stderr, "cannot load %s: %s\n", so_path, load_error);
		failures++;
		return;
	}
	EXPECT(run(stub, payload, 2, 8, &error, &delay, &dead) == BF_JOB_RETRY);
	EXPECT(delay == 1500);
	/* once the directory is there, the next attempt succeeds */
	char inbox[PATH_MAX];
	snprintf(inbox, sizeof(inbox), "%s/inbox", dir);
	EXPECT(mkdir(inbox, 0755) == 0);
	EXPECT(run(stub, payload, 3, 8, &error, &delay, &dead) == BF_JOB_OK);
	EXPECT(strcmp(contents("inbox/b.txt"), "later\n") == 0);
	EXPECT(bf_stub_violations(stub) == 0);
	bf_stub_free(stub);
}

static void test_permanent_failure(void)
{
	static const struct {
		const char *payload;
		const char *error;
	} cases[] = {
	    {"[1, 2]", "payload must be a JSON object"},
	    {"not json", "payload is not JSON"},
	    {"{\"text\": \"x\"}", "\"file\" must be a relative path"},
	    {"{\"file\": 7, \"text\": \"x\"}", "\"file\" must be a relative path"},
	    {"{\"file\": \"../escape.txt\", \"text\": \"x\"}", "\"file\" must be a relative path"},
	    {"{\"file\": \"/etc/passwd\", \"text\": \"x\"}", "\"file\" must be a relative path"},
	    {"{\"file\": \".hidden\", \"text\": \"x\"}", "\"file\" must be a relative path"},
	    {"{\"file\": \"a/\", \"text\": \"x\"}", "\"file\" must be a relative path"},
	    {"{\"file\": \"a b.txt\", \"text\": \"x\"}", "\"file\" must be a relative path"},
	    {"{\"file\": \"c.txt\"}", "\"text\" must be a string"},
	    {"{\"file\": \"c.txt\", \"text\": [\"x\"]}", "\"text\" must be a string"},
	    {"{\"file\": \"c.txt\", \"text\": \"two\\nlines\"}", "without newline"},
	    {"{\"file\": \"inbox\", \"text\": \"x\"}", "cannot open inbox: Is a directory"},
	};
	struct bf_stub *stub = loaded(NULL, NULL);
	if (!stub) {
		fprintf(stderr, "cannot load %s: %s\n", so_path, load_error);
		failures++;
		return;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *error;
		int64_t delay;
		int dead;
		int32_t outcome = run(stub, cases[i].payload, 1, 8, &error, &delay, &dead);
		EXPECT(outcome == BF_JOB_FAIL);
		EXPECT(dead);
		if (!strstr(error, cases[i].error)) {
			fprintf(stderr, "payload %s: error [%s], expected [%s]\n", cases[i].payload,
			        error, cases[i].error);
			failures++;
		}
	}
	EXPECT(strcmp(contents("c.txt"), "") == 0);
	EXPECT(bf_stub_violations(stub) == 0);
	bf_stub_free(stub);
}

static void cleanup(void)
{
	char path[PATH_MAX];
	static const char *const files[] = {"a.txt", "inbox/b.txt", "c.txt"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/inbox", dir);
	rmdir(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/TO/append.so\n", argv[0]);
		return 2;
	}
	so_path = argv[1];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	test_config();
	test_success();
	test_retry();
	test_permanent_failure();
	cleanup();
	const char *name = strrchr(argv[0], '/');
	printf("%s: %d checks, %d failed\n", name ? name + 1 : argv[0], checks, failures);
	return failures ? 1 : 0;
}
