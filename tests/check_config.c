/*
 * check_config.c -- unit tests for daemon/config.c: built-in defaults, the
 * precedence defaults < ini file < environment < flags, validation errors
 * and their messages, config_print and password masking, plugin sections.
 * Ini files go to a private mkdtemp directory; the environment is a fake
 * array, never the test's own.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_tmpdir.h"

static char tmpdir[] = "/tmp/check_config.XXXXXX";

/* ---- helpers ------------------------------------------------------------ */

/* Writes text to a new file in tmpdir; its path goes to path. */
static void write_ini(const char *text, char *path, size_t size)
{
	int n = snprintf(path, size, "%s/XXXXXX.ini", tmpdir);
	ck_assert(n > 0 && (size_t)n < size);
	int fd = mkstemps(path, 4);
	ck_assert_msg(fd >= 0, "mkstemps %s: %s", path, strerror(errno));
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

struct loaded {
	char path[PATH_MAX]; /* the ini file, or "" without one */
	struct bf_config *cfg;
	char *err;
	int rc;
};

/* Loads with ini (NULL: a path that does not exist, not required), a fake
 * environment and flag overrides. */
static void load(struct loaded *l, const char *ini, char *const *env,
                 const struct bf_config_override *ov, size_t nov)
{
	memset(l, 0, sizeof(*l));
	if (ini)
		write_ini(ini, l->path, sizeof(l->path));
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/does-not-exist.ini", tmpdir);
	const struct bf_config_args args = {
		.path = ini ? l->path : missing,
		.path_required = ini != NULL,
		.environ = env,
		.overrides = ov,
		.noverrides = nov,
	};
	l->cfg = (struct bf_config *)0x1; /* must be reset */
	l->err = (char *)0x1;
	l->rc = config_load(&args, &l->cfg, &l->err);
}

/* Expects success and returns the config (caller frees). */
static struct bf_config *load_ok(const char *ini, char *const *env,
                                 const struct bf_config_override *ov, size_t nov,
                                 char *path, size_t path_size)
{
	struct loaded l;
	load(&l, ini, env, ov, nov);
	ck_assert_msg(l.rc == 0, "config_load failed: %s", l.err ? l.err : "(no message)");
	ck_assert_ptr_null(l.err);
	ck_assert_ptr_nonnull(l.cfg);
	if (path)
		snprintf(path, path_size, "%s", l.path);
	return l.cfg;
}

/* Expects failure and returns the message (caller frees). */
static char *load_err(const char *ini, char *const *env, const struct bf_config_override *ov,
                      size_t nov, char *path, size_t path_size)
{
	struct loaded l;
	load(&l, ini, env, ov, nov);
	ck_assert_msg(l.rc < 0, "config_load should have failed for:\n%s", ini ? ini : "(no file)");
	ck_assert_ptr_null(l.cfg);
	ck_assert_ptr_nonnull(l.err);
	ck_assert_msg(strchr(l.err, '\n') == NULL, "error is not one line: [%s]", l.err);
	if (path)
		snprintf(path, path_size, "%s", l.path);
	return l.err;
}

/* Checks that text contains every string of the NULL-terminated list. */
static void expect_contains(const char *text, ...)
{
	va_list ap;
	va_start(ap, text);
	for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
		ck_assert_msg(strstr(text, needle) != NULL, "[%s] does not contain [%s]", text, needle);
	va_end(ap);
}

/* An ini error: the message starts with "PATH:LINE: " and contains needle
 * (and, if not NULL, needle2). */
static void expect_ini_error(const char *ini, int line, const char *needle, const char *needle2)
{
	char path[PATH_MAX], prefix[PATH_MAX + 32];
	char *err = load_err(ini, NULL, NULL, 0, path, sizeof(path));
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "error [%s] should start with [%s]",
	              err, prefix);
	expect_contains(err, needle, needle2, (const char *)NULL);
	free(err);
}

/* An error from the environment or a flag: contains every needle. */
static void expect_env_flag_error(char *const *env, const struct bf_config_override *ov,
                                  size_t nov, const char *needle, const char *needle2)
{
	char *err = load_err(NULL, env, ov, nov, NULL, 0);
	expect_contains(err, needle, needle2, (const char *)NULL);
	free(err);
}

static size_t key_index(const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return i;
	ck_abort_msg("no key %s", name);
	return 0;
}

static const char *source_of(const struct bf_config *cfg, const char *name)
{
	return cfg->sources[key_index(name)];
}

static char *print_config(const struct bf_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	config_print(cfg, f);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/* ---- defaults ----------------------------------------------------------- */

START_TEST(defaults_without_file)
{
	struct bf_config *cfg = load_ok(NULL, NULL, NULL, 0, NULL, 0);
	ck_assert_str_eq(cfg->database_url, "postgresql:///backfill");
	ck_assert_str_eq(cfg->schema, "backfill");
	ck_assert(cfg->auto_migrate);
	ck_assert_str_eq(cfg->plugin_dir, BACKFILLD_PLUGIN_DIR);
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_INFO);
	ck_assert_int_eq(cfg->poll_interval_ms, 200);
	ck_assert_int_eq(cfg->shutdown_timeout_s, 30);
	ck_assert_int_eq(cfg->heartbeat_interval_s, 5);
	ck_assert_int_eq(cfg->heartbeat_timeout_s, 30);
	ck_assert_str_eq(cfg->admin_listen, "127.0.0.1:9187");
	ck_assert_str_eq(cfg->admin_token, "");
	ck_assert_str_eq(cfg->cron_file, BACKFILLD_CRON_PATH);
	ck_assert_uint_eq(cfg->crontab.n, 0);
	ck_assert_ptr_null(cfg->config_path);

	ck_assert_uint_eq(cfg->nqueues, 2);
	const struct bf_queue_config *fast = config_queue(cfg, "fast");
	const struct bf_queue_config *bulk = config_queue(cfg, "bulk");
	ck_assert_ptr_nonnull(fast);
	ck_assert_ptr_nonnull(bulk);
	ck_assert_int_eq(fast->concurrency, 10);
	ck_assert_int_eq(bulk->concurrency, 5);
	ck_assert_str_eq(fast->source, "default");
	ck_assert_str_eq(bulk->source, "default");
	ck_assert_ptr_null(config_queue(cfg, "reports"));
	ck_assert_uint_eq(config_active_queues(cfg), 2);

	ck_assert_uint_eq(cfg->nsections, 0);
	ck_assert_ptr_null(config_section(cfg, "exec"));
	for (size_t i = 0; i < config_nkeys; i++)
		ck_assert_str_eq(cfg->sources[i], "default");
	config_free(cfg);
	config_free(NULL);
}
END_TEST

START_TEST(key_table_is_consistent)
{
	ck_assert_uint_ge(config_nkeys, 9);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct bf_config_key *k = &config_keys[i];
		ck_assert_ptr_nonnull(k->section);
		ck_assert_ptr_nonnull(k->name);
		ck_assert_ptr_nonnull(k->def);
		ck_assert_ptr_nonnull(k->flag);
		ck_assert_msg(k->help && k->help[0], "key %s has no help", k->name);
		ck_assert_ptr_eq(config_key_by_flag(k->flag), k);
		for (size_t j = 0; j < i; j++) {
			ck_assert_msg(strcmp(config_keys[j].flag, k->flag) != 0, "flag %s twice", k->flag);
			ck_assert_msg(strcmp(config_keys[j].section, k->section) != 0 ||
			                  strcmp(config_keys[j].name, k->name) != 0,
			              "key [%s] %s twice", k->section, k->name);
			if (k->env && config_keys[j].env)
				ck_assert_msg(strcmp(config_keys[j].env, k->env) != 0, "env %s twice", k->env);
		}
	}
	ck_assert_ptr_null(config_key_by_flag("no-such-flag"));
	ck_assert_ptr_null(config_key_by_flag("queue"));
	const struct bf_config_key *k = config_key_by_flag("poll-interval-ms");
	ck_assert_ptr_nonnull(k);
	ck_assert_str_eq(k->name, "poll_interval_ms");
	ck_assert_str_eq(k->env, "POLL_INTERVAL_MS");
}
END_TEST

START_TEST(missing_default_file_is_fine_missing_c_file_is_not)
{
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/nope/backfilld.ini", tmpdir);
	struct bf_config_args args = {.path = missing, .path_required = false};
	struct bf_config *cfg = (struct bf_config *)0x1;
	char *err = (char *)0x1;
	ck_assert_int_eq(config_load(&args, &cfg, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_ptr_null(cfg->config_path);
	config_free(cfg);

	args.path_required = true; /* -c FILE */
	ck_assert_int_lt(config_load(&args, &cfg, &err), 0);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(err);
	expect_contains(err, "cannot read config file", missing, "No such file or directory",
	                (const char *)NULL);
	free(err);
}
END_TEST

/* ---- precedence --------------------------------------------------------- */

static const char precedence_ini[] = "; comment\n"
                                     "[database]\n"
                                     "url = postgresql://ini@h/db\n"
                                     "schema = from_ini\n"
                                     "auto_migrate = no\n"
                                     "\n"
                                     "[daemon]\n"
                                     "plugin_dir = /ini/plugins   ; inline comment\n"
                                     "log_level = warn\n"
                                     "log_format = json\n"
                                     "poll_interval_ms = 300\n"
                                     "shutdown_timeout = 40\n"
                                     "heartbeat_interval = 6\n"
                                     "heartbeat_timeout = 60\n"
                                     "dlq_processor_interval = 0\n"
                                     "stale_lock_cleanup_interval = 120\n"
                                     "stale_queue_lock_timeout = 600\n"
                                     "stale_job_lock_timeout = 3600\n"
                                     "vacuum_every = 5000\n"
                                     "cron_file =\n"
                                     "\n"
                                     "[admin]\n"
                                     "listen = [::1]:9300\n"
                                     "token = from-the-ini-file\n"
                                     "\n"
                                     "[queue.fast]\n"
                                     "concurrency = 3\n"
                                     "[queue.reports]\n"
                                     "concurrency = 2\n";

START_TEST(ini_overrides_defaults)
{
	char path[PATH_MAX];
	struct bf_config *cfg = load_ok(precedence_ini, NULL, NULL, 0, path, sizeof(path));
	ck_assert_str_eq(cfg->config_path, path);
	ck_assert_str_eq(cfg->database_url, "postgresql://ini@h/db");
	ck_assert_str_eq(cfg->schema, "from_ini");
	ck_assert(!cfg->auto_migrate);
	ck_assert_str_eq(cfg->plugin_dir, "/ini/plugins");
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_WARN);
	ck_assert_int_eq(cfg->log_format, LOG_FORMAT_JSON);
	ck_assert_int_eq(cfg->poll_interval_ms, 300);
	ck_assert_int_eq(cfg->shutdown_timeout_s, 40);
	ck_assert_int_eq(cfg->heartbeat_interval_s, 6);
	ck_assert_int_eq(cfg->heartbeat_timeout_s, 60);
	ck_assert_int_eq(cfg->dlq_processor_interval_s, 0);
	ck_assert_int_eq(cfg->stale_lock_cleanup_interval_s, 120);
	ck_assert_int_eq(cfg->stale_queue_lock_timeout_s, 600);
	ck_assert_int_eq(cfg->stale_job_lock_timeout_s, 3600);
	ck_assert_int_eq(cfg->vacuum_every, 5000);
	ck_assert_str_eq(cfg->admin_listen, "[::1]:9300");
	ck_assert_str_eq(cfg->admin_token, "from-the-ini-file");
	ck_assert_str_eq(cfg->cron_file, "");
	for (size_t i = 0; i < config_nkeys; i++)
		ck_assert_msg(strstr(cfg->sources[i], path) == cfg->sources[i],
		              "source of %s is [%s], expected the file", config_keys[i].name,
		              cfg->sources[i]);
	ck_assert_uint_eq(cfg->nqueues, 3);
	ck_assert_int_eq(config_queue(cfg, "fast")->concurrency, 3);
	ck_assert_int_eq(config_queue(cfg, "bulk")->concurrency, 5);
	ck_assert_int_eq(config_queue(cfg, "reports")->concurrency, 2);
	ck_assert_ptr_nonnull(strstr(config_queue(cfg, "fast")->source, path));
	ck_assert_ptr_nonnull(strstr(config_queue(cfg, "reports")->source, path));
	ck_assert_str_eq(config_queue(cfg, "bulk")->source, "default");
	ck_assert_uint_eq(config_active_queues(cfg), 3);
	config_free(cfg);
}
END_TEST

START_TEST(environment_overrides_ini)
{
	char *env[] = {
		"PATH=/usr/bin:/bin",
		"DATABASE_URL=postgresql://env@h/db",
		"BACKFILL_SCHEMA=from_env",
		"BACKFILL_AUTO_MIGRATE=ON",
		"BACKFILL_LOG_LEVEL=Debug",
		"POLL_INTERVAL_MS=400",
		"POLL_INTERVAL_MSX=11",  /* not the variable */
		"XPOLL_INTERVAL_MS=12",  /* nor this */
		"FAST_QUEUE_CONCURRENCY=0",
		"REPORTS_QUEUE_CONCURRENCY=4",
		"ARCHIVE_QUEUE_CONCURRENCY=1", /* a queue neither default nor in the file */
		"BACKFILL_ADMIN_LISTEN=",      /* empty: the endpoint is off */
		"BACKFILL_ADMIN_TOKEN=from-the-environment",
		NULL,
	};
	char path[PATH_MAX];
	struct bf_config *cfg = load_ok(precedence_ini, env, NULL, 0, path, sizeof(path));
	ck_assert_str_eq(cfg->database_url, "postgresql://env@h/db");
	ck_assert_str_eq(cfg->schema, "from_env");
	ck_assert(cfg->auto_migrate);
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(cfg->poll_interval_ms, 400);
	ck_assert_str_eq(source_of(cfg, "url"), "environment DATABASE_URL");
	ck_assert_str_eq(source_of(cfg, "schema"), "environment BACKFILL_SCHEMA");
	ck_assert_str_eq(source_of(cfg, "poll_interval_ms"), "environment POLL_INTERVAL_MS");
	ck_assert_str_eq(cfg->admin_listen, "");
	ck_assert_str_eq(source_of(cfg, "listen"), "environment BACKFILL_ADMIN_LISTEN");
	ck_assert_str_eq(cfg->admin_token, "from-the-environment");
	/* untouched by the environment: still from the file */
	ck_assert_str_eq(cfg->plugin_dir, "/ini/plugins");
	ck_assert_ptr_nonnull(strstr(source_of(cfg, "plugin_dir"), path));

	ck_assert_int_eq(config_queue(cfg, "fast")->concurrency, 0);
	ck_assert_str_eq(config_queue(cfg, "fast")->source, "environment FAST_QUEUE_CONCURRENCY");
	ck_assert_int_eq(config_queue(cfg, "reports")->concurrency, 4);
	ck_assert_int_eq(config_queue(cfg, "archive")->concurrency, 1);
	ck_assert_str_eq(config_queue(cfg, "archive")->source,
	                 "environment ARCHIVE_QUEUE_CONCURRENCY");
	ck_assert_int_eq(config_queue(cfg, "bulk")->concurrency, 5);
	ck_assert_uint_eq(cfg->nqueues, 4);
	ck_assert_uint_eq(config_active_queues(cfg), 3);
	config_free(cfg);
}
END_TEST

START_TEST(flags_override_environment)
{
	char *env[] = {
		"POLL_INTERVAL_MS=400",
		"BACKFILL_LOG_LEVEL=debug",
		"FAST_QUEUE_CONCURRENCY=0",
		"REPORTS_QUEUE_CONCURRENCY=4",
		NULL,
	};
	const struct bf_config_override ov[] = {
		{"poll-interval-ms", "500"},
		{"log-level", "error"},
		{"schema", "from_flag"},
		{"auto-migrate", "false"},
		{"queue", "fast=7"},
		{"queue", "reports=0"},
		{"queue", "nightly=2"},
		{"poll-interval-ms", "600"}, /* the last one wins */
	};
	struct bf_config *cfg = load_ok(precedence_ini, env, ov, sizeof(ov) / sizeof(ov[0]), NULL, 0);
	ck_assert_int_eq(cfg->poll_interval_ms, 600);
	ck_assert_str_eq(source_of(cfg, "poll_interval_ms"), "flag --poll-interval-ms");
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_ERROR);
	ck_assert_str_eq(source_of(cfg, "log_level"), "flag --log-level");
	ck_assert_str_eq(cfg->schema, "from_flag");
	ck_assert(!cfg->auto_migrate);
	ck_assert_int_eq(config_queue(cfg, "fast")->concurrency, 7);
	ck_assert_str_eq(config_queue(cfg, "fast")->source, "flag --queue");
	ck_assert_int_eq(config_queue(cfg, "reports")->concurrency, 0);
	ck_assert_int_eq(config_queue(cfg, "nightly")->concurrency, 2);
	ck_assert_uint_eq(config_active_queues(cfg), 3); /* fast, bulk, nightly */
	config_free(cfg);
}
END_TEST

START_TEST(flags_without_file_or_environment)
{
	const struct bf_config_override ov[] = {
		{"database-url", "host=db dbname=jobs"},
		{"plugin-dir", "/opt/plugins"},
		{"shutdown-timeout", "0"},
		{"heartbeat-interval", "1"},
		{"heartbeat-timeout", "2"},
	};
	struct bf_config *cfg = load_ok(NULL, NULL, ov, sizeof(ov) / sizeof(ov[0]), NULL, 0);
	ck_assert_str_eq(cfg->database_url, "host=db dbname=jobs");
	ck_assert_str_eq(cfg->plugin_dir, "/opt/plugins");
	ck_assert_int_eq(cfg->shutdown_timeout_s, 0);
	ck_assert_int_eq(cfg->heartbeat_interval_s, 1);
	ck_assert_int_eq(cfg->heartbeat_timeout_s, 2);
	ck_assert_str_eq(source_of(cfg, "schema"), "default");
	config_free(cfg);
}
END_TEST

START_TEST(values_accepted)
{
	/* booleans, log levels, integer bounds, schema names */
	static const char *const yes[] = {"1", "true", "TRUE", "yes", "Yes", "on"};
	static const char *const no[] = {"0", "false", "False", "no", "NO", "off"};
	for (size_t i = 0; i < 6; i++) {
		char *env_yes[] = {NULL, NULL};
		char *env_no[] = {NULL, NULL};
		char a[64], b[64];
		snprintf(a, sizeof(a), "BACKFILL_AUTO_MIGRATE=%s", yes[i]);
		snprintf(b, sizeof(b), "BACKFILL_AUTO_MIGRATE=%s", no[i]);
		env_yes[0] = a;
		env_no[0] = b;
		struct bf_config *cfg = load_ok(NULL, env_no, NULL, 0, NULL, 0);
		ck_assert_msg(!cfg->auto_migrate, "%s", no[i]);
		config_free(cfg);
		cfg = load_ok(NULL, env_yes, NULL, 0, NULL, 0);
		ck_assert_msg(cfg->auto_migrate, "%s", yes[i]);
		config_free(cfg);
	}
	static const struct {
		const char *text;
		enum bf_log_level level;
	} levels[] = {{"error", LOG_LEVEL_ERROR}, {"warn", LOG_LEVEL_WARN},
	              {"warning", LOG_LEVEL_WARN}, {"INFO", LOG_LEVEL_INFO},
	              {"debug", LOG_LEVEL_DEBUG}};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		const struct bf_config_override ov[] = {{"log-level", levels[i].text}};
		struct bf_config *cfg = load_ok(NULL, NULL, ov, 1, NULL, 0);
		ck_assert_int_eq(cfg->log_level, levels[i].level);
		config_free(cfg);
	}
	static const char *const ints[] = {"10", "3600000", " 250", "+250", "250 "};
	static const int want[] = {10, 3600000, 250, 250, 250};
	for (size_t i = 0; i < 5; i++) {
		const struct bf_config_override ov[] = {{"poll-interval-ms", ints[i]}};
		struct bf_config *cfg = load_ok(NULL, NULL, ov, 1, NULL, 0);
		ck_assert_int_eq(cfg->poll_interval_ms, want[i]);
		config_free(cfg);
	}
	char s58[59];
	memset(s58, 'a', 58);
	s58[58] = '\0';
	static const char *const schemas[] = {"_x", "a1_b2", "backfill_v2"};
	for (size_t i = 0; i < 4; i++) {
		const char *s = i < 3 ? schemas[i] : s58;
		const struct bf_config_override ov[] = {{"schema", s}};
		struct bf_config *cfg = load_ok(NULL, NULL, ov, 1, NULL, 0);
		ck_assert_str_eq(cfg->schema, s);
		config_free(cfg);
	}
	/* heartbeat_timeout == 2 * heartbeat_interval is allowed */
	const struct bf_config_override hb[] = {{"heartbeat-interval", "15"}};
	struct bf_config *cfg = load_ok(NULL, NULL, hb, 1, NULL, 0);
	ck_assert_int_eq(cfg->heartbeat_timeout_s, 30);
	config_free(cfg);
	/* a queue at the maximum */
	const struct bf_config_override q[] = {{"queue", "fast=1024"}};
	cfg = load_ok(NULL, NULL, q, 1, NULL, 0);
	ck_assert_int_eq(config_queue(cfg, "fast")->concurrency, 1024);
	config_free(cfg);
}
END_TEST

START_TEST(admin_listen_values)
{
	static const struct {
		const char *value;
		const char *host;
		int port;
		bool loopback;
	} good[] = {
	    {"127.0.0.1:9187", "127.0.0.1", 9187, true}, {"127.8.9.10:1", "127.8.9.10", 1, true},
	    {"localhost:65535", "127.0.0.1", 65535, true}, {"[::1]:9187", "::1", 9187, true},
	    {"0.0.0.0:9187", "0.0.0.0", 9187, false},     {"[::]:80", "::", 80, false},
	    {"10.1.2.3:8080", "10.1.2.3", 8080, false},    {"[fe80::1]:9187", "fe80::1", 9187, false},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char host[64];
		int port = 0;
		bool loopback = !good[i].loopback;
		ck_assert_msg(config_parse_listen(good[i].value, host, sizeof(host), &port, &loopback), "%s",
		              good[i].value);
		ck_assert_str_eq(host, good[i].host);
		ck_assert_int_eq(port, good[i].port);
		ck_assert_msg(loopback == good[i].loopback, "%s: loopback %d", good[i].value, loopback);
		const struct bf_config_override ov[] = {{"admin-listen", good[i].value}};
		struct bf_config *cfg = load_ok(NULL, NULL, ov, 1, NULL, 0);
		ck_assert_str_eq(cfg->admin_listen, good[i].value);
		config_free(cfg);
	}
	static const char *const bad[] = {"9187",          ":9187",           "127.0.0.1",     "127.0.0.1:",
	                                  "127.0.0.1:0",   "127.0.0.1:65536", "127.0.0.1:-1",  "127.0.0.1:80x",
	                                  "127.0.0.1: 80", "127.1:80",        "::1:9187",      "[::1:9187",
	                                  "[]:80",         "[127.0.0.1]:80",  "example.org:80", "*:80",
	                                  " 127.0.0.1:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[64];
		int port;
		bool loopback;
		ck_assert_msg(!config_parse_listen(bad[i], host, sizeof(host), &port, &loopback), "%s accepted",
		              bad[i]);
		const struct bf_config_override ov[] = {{"admin-listen", bad[i]}};
		char *err = load_err(NULL, NULL, ov, 1, NULL, 0);
		char want[128];
		snprintf(want, sizeof(want), "[admin] listen = \"%s\" must be HOST:PORT", bad[i]);
		expect_contains(err, "flag --admin-listen: ", want, "or empty to disable", (const char *)NULL);
		free(err);
	}
	/* a host too long for the caller's buffer */
	char small[4];
	int port;
	bool loopback;
	ck_assert(!config_parse_listen("10.1.2.3:80", small, sizeof(small), &port, &loopback));
}
END_TEST

START_TEST(admin_token_is_checked_and_never_shown)
{
	char *env[] = {"BACKFILL_ADMIN_TOKEN=s3cret token", NULL};
	char *err = load_err(NULL, env, NULL, 0, NULL, 0);
	expect_contains(err, "environment BACKFILL_ADMIN_TOKEN: [admin] token must be",
	                "printable ASCII characters without blanks", (const char *)NULL);
	ck_assert_ptr_null(strstr(err, "s3cret"));
	free(err);
	char long_token[300];
	memset(long_token, 'x', sizeof(long_token) - 1);
	long_token[sizeof(long_token) - 1] = '\0';
	const struct bf_config_override ov[] = {{"admin-token", long_token}};
	err = load_err(NULL, NULL, ov, 1, NULL, 0);
	expect_contains(err, "flag --admin-token: ", "at most 256", (const char *)NULL);
	ck_assert_ptr_null(strstr(err, "xxxxxxxx"));
	free(err);
	char path[PATH_MAX];
	struct bf_config *cfg = load_ok("[admin]\ntoken = hunter2-is-the-token\n", NULL, NULL, 0, path, sizeof(path));
	ck_assert_str_eq(cfg->admin_token, "hunter2-is-the-token");
	char *text = print_config(cfg);
	ck_assert_ptr_null(strstr(text, "hunter2"));
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want), "\n[admin]\nlisten = 127.0.0.1:9187    ; default\ntoken = ***    ; %s:2\n", path);
	expect_contains(text, want, (const char *)NULL);
	free(text);
	config_free(cfg);
	/* without a token nothing is masked */
	cfg = load_ok(NULL, NULL, NULL, 0, NULL, 0);
	text = print_config(cfg);
	expect_contains(text, "\ntoken =     ; default\n", (const char *)NULL);
	free(text);
	config_free(cfg);
}
END_TEST

/* ---- plugin sections ---------------------------------------------------- */

START_TEST(plugin_sections_keep_keys_in_order)
{
	static const char ini[] = "[exec]\n"
	                          "task.email.send = /usr/local/bin/send-email --from a@b.c\n"
	                          "timeout = 60\n"
	                          "[daemon]\n"
	                          "log_level = debug\n"
	                          "[testtasks]\n"
	                          "record_file = /tmp/x\n"
	                          "[exec]\n"
	                          "max_output = 4096\n"
	                          "timeout = 90\n";
	char path[PATH_MAX];
	struct bf_config *cfg = load_ok(ini, NULL, NULL, 0, path, sizeof(path));
	ck_assert_uint_eq(cfg->nsections, 2);
	const struct bf_plugin_section *exec = config_section(cfg, "exec");
	ck_assert_ptr_nonnull(exec);
	ck_assert_ptr_eq(exec, &cfg->sections[0]);
	ck_assert_str_eq(exec->name, "exec");
	ck_assert_ptr_nonnull(strstr(exec->source, path));
	ck_assert_uint_eq(exec->nkeys, 3);
	ck_assert_str_eq(exec->keys[0], "task.email.send");
	ck_assert_str_eq(exec->values[0], "/usr/local/bin/send-email --from a@b.c");
	ck_assert_str_eq(exec->keys[1], "timeout");
	ck_assert_str_eq(exec->values[1], "90"); /* a repeated key: the last value, first place */
	ck_assert_str_eq(exec->keys[2], "max_output");
	ck_assert_str_eq(exec->values[2], "4096");
	const struct bf_plugin_section *tt = config_section(cfg, "testtasks");
	ck_assert_ptr_nonnull(tt);
	ck_assert_uint_eq(tt->nkeys, 1);
	ck_assert_str_eq(tt->keys[0], "record_file");
	ck_assert_str_eq(tt->values[0], "/tmp/x");
	ck_assert_ptr_null(config_section(cfg, "log"));
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_DEBUG);
	config_free(cfg);
}
END_TEST

/* ---- validation errors ------------------------------------------------- */

START_TEST(error_unknown_key_suggests)
{
	expect_ini_error("[daemon]\npoll_interval_msx = 5\n", 2,
	                 "unknown key \"poll_interval_msx\" in [daemon]",
	                 "(did you mean \"poll_interval_ms\"?)");
	expect_ini_error("[database]\nurl = x\nshema = y\n", 3, "unknown key \"shema\" in [database]",
	                 "(did you mean \"schema\"?)");
	expect_ini_error("\n[queue.fast]\nconcurency = 3\n", 3,
	                 "unknown key \"concurency\" in [queue.fast]",
	                 "(did you mean \"concurrency\"?)");
	/* nothing close: no suggestion */
	char path[PATH_MAX];
	char *err = load_err("[daemon]\nfrobnicate = 1\n", NULL, NULL, 0, path, sizeof(path));
	expect_contains(err, ":2: unknown key \"frobnicate\" in [daemon]", (const char *)NULL);
	ck_assert_ptr_null(strstr(err, "did you mean"));
	free(err);
	/* a key of another section is unknown here */
	expect_ini_error("[daemon]\nschema = x\n", 2, "unknown key \"schema\" in [daemon]", NULL);
}
END_TEST

START_TEST(error_bad_int)
{
	expect_ini_error("[daemon]\npoll_interval_ms = fast\n", 2,
	                 "poll_interval_ms = \"fast\" must be an integer from 10 to 3600000", NULL);
	expect_ini_error("[daemon]\n\npoll_interval_ms = 12abc\n", 3, "\"12abc\"",
	                 "must be an integer");
	expect_ini_error("[daemon]\npoll_interval_ms = 0x10\n", 2, "must be an integer", NULL);
	expect_ini_error("[daemon]\npoll_interval_ms = 1.5\n", 2, "must be an integer", NULL);
	expect_ini_error("[daemon]\npoll_interval_ms =\n", 2, "must be an integer", NULL);
	/* out of range */
	expect_ini_error("[daemon]\npoll_interval_ms = 9\n", 2, "[daemon] poll_interval_ms = \"9\"",
	                 "from 10 to 3600000");
	expect_ini_error("[daemon]\npoll_interval_ms = 3600001\n", 2, "from 10 to 3600000", NULL);
	expect_ini_error("[daemon]\npoll_interval_ms = 99999999999999999999\n", 2,
	                 "from 10 to 3600000", NULL);
	expect_ini_error("[daemon]\nshutdown_timeout = -1\n", 2, "from 0 to 86400", NULL);
	expect_ini_error("[daemon]\nheartbeat_interval = 0\n", 2, "from 1 to 3600", NULL);
	/* 2^32 + 200 must not wrap into range */
	expect_ini_error("[daemon]\npoll_interval_ms = 4294967496\n", 2, "from 10 to 3600000", NULL);
}
END_TEST

START_TEST(error_bad_bool_and_log_level)
{
	expect_ini_error("[database]\nauto_migrate = maybe\n", 2,
	                 "[database] auto_migrate = \"maybe\" must be true or false", NULL);
	expect_ini_error("[database]\nauto_migrate = 2\n", 2, "must be true or false", NULL);
	expect_ini_error("[daemon]\nlog_level = verbose\n", 2,
	                 "[daemon] log_level = \"verbose\" must be error, warn, info or debug", NULL);
}
END_TEST

START_TEST(error_bad_schema)
{
	expect_ini_error("[database]\nschema = Backfill\n", 2, "\"Backfill\" is not a valid schema name",
	                 "at most 58 characters");
	expect_ini_error("[database]\nschema = 1abc\n", 2, "not a valid schema name", NULL);
	expect_ini_error("[database]\nschema = back-fill\n", 2, "not a valid schema name", NULL);
	expect_ini_error("[database]\nschema = a;drop\n", 2, "not a valid schema name", NULL);
	expect_ini_error("[database]\nschema =\n", 2, "not a valid schema name", NULL);
	char ini[128];
	char s59[60];
	memset(s59, 'a', 59);
	s59[59] = '\0';
	snprintf(ini, sizeof(ini), "[database]\nschema = %s\n", s59);
	expect_ini_error(ini, 2, "not a valid schema name", s59);
	/* the same from the environment and a flag */
	char *env[] = {"BACKFILL_SCHEMA=Bad", NULL};
	expect_env_flag_error(env, NULL, 0, "environment BACKFILL_SCHEMA", "not a valid schema name");
	const struct bf_config_override ov[] = {{"schema", s59}};
	expect_env_flag_error(NULL, ov, 1, "flag --schema", "not a valid schema name");
}
END_TEST

START_TEST(error_empty_string)
{
	expect_ini_error("[daemon]\nplugin_dir =\n", 2, "[daemon] plugin_dir must not be empty", NULL);
}
END_TEST

START_TEST(error_key_outside_section)
{
	expect_ini_error("url = postgresql:///x\n[database]\n", 1,
	                 "key \"url\" is outside any section", "[database]");
	expect_ini_error("; c\n\nlog_level = debug\n", 3, "outside any section", NULL);
}
END_TEST

START_TEST(error_bad_section)
{
	expect_ini_error("[Exec]\nx = 1\n", 2, "section [Exec] is not a known section", NULL);
	expect_ini_error("[my plugin]\nx = 1\n", 2, "not a known section or a valid plugin name", NULL);
}
END_TEST

START_TEST(error_syntax)
{
	expect_ini_error("[daemon]\nlog_level = info\nthis line has no equals sign\n", 3, "syntax error",
	                 NULL);
	expect_ini_error("[daemon]\n[database\n", 2, "syntax error", NULL);
}
END_TEST

START_TEST(error_bad_queue_name)
{
	expect_ini_error("[queue.Fast]\nconcurrency = 1\n", 2, "queue name \"Fast\" is not valid",
	                 NULL);
	expect_ini_error("[queue.]\nconcurrency = 1\n", 2, "queue name \"\" is not valid", NULL);
	expect_ini_error("[queue.a-b]\nconcurrency = 1\n", 2, "queue name \"a-b\" is not valid", NULL);
	char *env[] = {"FAST-Q_QUEUE_CONCURRENCY=1", NULL};
	expect_env_flag_error(env, NULL, 0, "environment FAST-Q_QUEUE_CONCURRENCY",
	                      "queue name \"fast-q\" is not valid");
	const struct bf_config_override ov[] = {{"queue", "Fast=1"}};
	expect_env_flag_error(NULL, ov, 1, "flag --queue", "queue name \"Fast\" is not valid");
	const struct bf_config_override noeq[] = {{"queue", "fast"}};
	expect_env_flag_error(NULL, noeq, 1, "flag --queue", "expected NAME=CONCURRENCY, got \"fast\"");
	const struct bf_config_override empty[] = {{"queue", "=3"}};
	expect_env_flag_error(NULL, empty, 1, "flag --queue", "queue name \"\" is not valid");
}
END_TEST

START_TEST(error_bad_concurrency)
{
	expect_ini_error("[queue.fast]\nconcurrency = -1\n", 2,
	                 "[queue.fast] concurrency = \"-1\" must be an integer from 0 to 1024", NULL);
	expect_ini_error("[queue.fast]\nconcurrency = 1025\n", 2, "from 0 to 1024", NULL);
	expect_ini_error("[queue.fast]\nconcurrency = lots\n", 2, "from 0 to 1024", NULL);
	char *env[] = {"BULK_QUEUE_CONCURRENCY=-3", NULL};
	expect_env_flag_error(env, NULL, 0, "environment BULK_QUEUE_CONCURRENCY",
	                      "[queue.bulk] concurrency = \"-3\"");
	const struct bf_config_override ov[] = {{"queue", "bulk=-2"}};
	expect_env_flag_error(NULL, ov, 1, "flag --queue", "[queue.bulk] concurrency = \"-2\"");
}
END_TEST

START_TEST(error_no_active_queue)
{
	char *env[] = {"FAST_QUEUE_CONCURRENCY=0", NULL};
	const struct bf_config_override ov[] = {{"queue", "bulk=0"}};
	char *err = load_err("[queue.reports]\nconcurrency = 0\n", env, ov, 1, NULL, 0);
	expect_contains(err, "no queue has a concurrency above 0", "NAME_QUEUE_CONCURRENCY",
	                (const char *)NULL);
	free(err);
}
END_TEST

START_TEST(error_heartbeat_timeout_too_short)
{
	char path[PATH_MAX];
	char *err = load_err("[daemon]\nheartbeat_interval = 20\n", NULL, NULL, 0, path, sizeof(path));
	expect_contains(err, "heartbeat_timeout = 30 (default)", "at least twice",
	                "heartbeat_interval = 20", path, (const char *)NULL);
	free(err);
	char *env[] = {"BACKFILL_HEARTBEAT_TIMEOUT=9", NULL};
	err = load_err(NULL, env, NULL, 0, NULL, 0);
	expect_contains(err, "heartbeat_timeout = 9 (environment BACKFILL_HEARTBEAT_TIMEOUT)",
	                "heartbeat_interval = 5 (default)", (const char *)NULL);
	free(err);
}
END_TEST

START_TEST(error_names_env_var_and_flag)
{
	char *env[] = {"BACKFILL_LOG_LEVEL=loud", NULL};
	expect_env_flag_error(env, NULL, 0, "environment BACKFILL_LOG_LEVEL: ",
	                      "must be error, warn, info or debug");
	char *env2[] = {"POLL_INTERVAL_MS=fast", NULL};
	expect_env_flag_error(env2, NULL, 0, "environment POLL_INTERVAL_MS", "must be an integer");
	char *env3[] = {"BACKFILL_AUTO_MIGRATE=perhaps", NULL};
	expect_env_flag_error(env3, NULL, 0, "environment BACKFILL_AUTO_MIGRATE",
	                      "must be true or false");
	const struct bf_config_override ov[] = {{"poll-interval-ms", "1"}};
	expect_env_flag_error(NULL, ov, 1, "flag --poll-interval-ms: ", "from 10 to 3600000");
	const struct bf_config_override ov2[] = {{"no-such-flag", "1"}};
	expect_env_flag_error(NULL, ov2, 1, "unknown flag --no-such-flag", NULL);
	/* a later valid flag does not hide an earlier bad one */
	const struct bf_config_override ov3[] = {{"log-level", "loud"}, {"log-level", "info"}};
	expect_env_flag_error(NULL, ov3, 2, "flag --log-level", "\"loud\"");
}
END_TEST

/* Loads ini and checks that the error names line `line` with text
 * `what`, or line `line2` with text `what2`: a message must describe the
 * line it names. */
static void expect_consistent_error(const char *ini, int line, const char *what, int line2,
                                    const char *what2)
{
	char path[PATH_MAX];
	char *err = load_err(ini, NULL, NULL, 0, path, sizeof(path));
	char a[PATH_MAX + 128], b[PATH_MAX + 128];
	snprintf(a, sizeof(a), "%s:%d: %s", path, line, what);
	snprintf(b, sizeof(b), "%s:%d: %s", path, line2, what2);
	char msg[PATH_MAX + 512];
	snprintf(msg, sizeof(msg), "%s", err);
	bool ok = strstr(err, a) != NULL || strstr(err, b) != NULL;
	free(err);
	ck_assert_msg(ok, "error [%s] names one line and describes another (expected [%s] or [%s])",
	              msg, a, b);
}

START_TEST(error_line_number_matches_message)
{
	/* A syntax error on line 2, an unknown key on line 4. */
	expect_consistent_error("[daemon]\nnot a key value line\n[database]\nnosuch = 1\n", 2,
	                        "syntax error", 4, "unknown key \"nosuch\"");
	/* An unclosed section header on line 1 leaves the next key outside
	 * any section. */
	expect_consistent_error("[daemon\nlog_level = info\n", 1, "syntax error", 2,
	                        "key \"log_level\" is outside any section");
}
END_TEST

/* The value inih gives the [exec] section's key "task.k" for ini (NULL on
 * an error); caller frees. */
static char *exec_value(const char *ini)
{
	struct loaded l;
	load(&l, ini, NULL, NULL, 0);
	if (l.rc != 0) {
		free(l.err);
		return NULL;
	}
	const struct bf_plugin_section *s = config_section(l.cfg, "exec");
	char *v = NULL;
	for (size_t i = 0; s && i < s->nkeys; i++)
		if (strcmp(s->keys[i], "task.k") == 0)
			v = strdup(s->values[i]);
	config_free(l.cfg);
	return v;
}

/* tmpl with every "@" replaced by n x's */
static char *expand(const char *tmpl, size_t n)
{
	size_t ats = 0;
	for (const char *p = tmpl; *p; p++)
		ats += *p == '@';
	char *out = malloc(strlen(tmpl) + ats * n + 1), *o = out;
	ck_assert_ptr_nonnull(out);
	for (const char *p = tmpl; *p; p++) {
		if (*p != '@') {
			*o++ = *p;
			continue;
		}
		memset(o, 'x', n);
		o += n;
	}
	*o = '\0';
	return out;
}

START_TEST(long_ini_lines_read_as_inih_reads_short_ones)
{
	/* The system's inih reads lines into a 200-byte buffer.  Longer lines
	 * are read whole and must mean what the same line means to inih when
	 * short: each template is loaded with 3 and with 400 x's per "@", and
	 * the long value must be the short one with its x's widened. */
	static const char *const tmpls[] = {
	    "[exec]\ntask.k = /bin/@ --flag=@\n",
	    "[exec]\ntask.k=@\n",
	    "[exec]\n  task.k   :   @ a;b @   \n",                   /* ':' separator, indented, ';' kept */
	    "[exec]\ntask.k = @ ; a trailing comment @ ; more\n",   /* cut at the comment */
	    "[exec]\ntask.k =;@\n",                                 /* a ';' right after '=' is no comment */
	    "[exec]\ntask.k = @=@:@\n",                             /* the first separator counts */
	    "[exec]\ntask.k = first\n    @ continued @  ; c\n",     /* continuation: comment kept */
	    "[exec]\ntask.j = first\n; @ a comment line @\ntask.k = @\n",
	    "[exec]\n# @ a comment line @\ntask.k = @\n",
	    "[exec]\ntask.k = \t@\t\n",
	    "[exec]\ntask.k = @\r\n",
	    "[exec]\ntask.k = first\n  [@] continued ; c\n",      /* continuation starting with '[' */
	    "[ex@ec\ntask.k = @\n",                             /* no ']': an error both ways */
	    "[exec] ; @ a long comment after the header @\ntask.k = @\n",
	};
	for (size_t i = 0; i < sizeof(tmpls) / sizeof(tmpls[0]); i++) {
		char *short_ini = expand(tmpls[i], 3), *long_ini = expand(tmpls[i], 400);
		char *sv = exec_value(short_ini), *lv = exec_value(long_ini);
		if (!sv) { /* refused short: must be refused long too */
			ck_assert_msg(lv == NULL, "template %zu: refused short, accepted long", i);
			free(short_ini);
			free(long_ini);
			continue;
		}
		ck_assert_msg(lv != NULL, "template %zu: long form refused", i);
		/* widen the short value's x runs the way the template's were */
		size_t k = 0;
		char *want = malloc(strlen(sv) * 134 + 1), *w = want;
		for (const char *p = sv; *p;) {
			if (strncmp(p, "xxx", 3) == 0) {
				memset(w, 'x', 400);
				w += 400;
				p += 3;
				k++;
			} else {
				*w++ = *p++;
			}
		}
		*w = '\0';
		ck_assert_msg(k > 0, "template %zu: short value [%s] has no x's", i, sv);
		ck_assert_msg(strcmp(lv, want) == 0, "template %zu: long value [%.60s...] (%zu bytes), expected %zu bytes", i,
		              lv, strlen(lv), strlen(want));
		free(want);
		free(sv);
		free(lv);
		free(short_ini);
		free(long_ini);
	}

	/* a long connection string is used whole */
	char url[301];
	char ini[1024];
	int n = snprintf(url, sizeof(url), "postgresql://user@db.example.com/jobs?application_name=");
	memset(url + n, 'x', sizeof(url) - 1 - (size_t)n);
	url[sizeof(url) - 1] = '\0';
	snprintf(ini, sizeof(ini), "[database]\nurl = %s\n[daemon]\nlog_level = debug\n", url);
	struct loaded l;
	load(&l, ini, NULL, NULL, 0);
	ck_assert_msg(l.rc == 0, "a 306-byte url line is refused: %s", l.rc ? l.err : "");
	ck_assert_str_eq(l.cfg->database_url, url);
	config_free(l.cfg);

	/* lines after long ones keep their numbers in errors */
	snprintf(ini, sizeof(ini), "[database]\nurl = %s\n; %s\nnosuch = 1\n", url, url);
	load(&l, ini, NULL, NULL, 0);
	ck_assert_int_lt(l.rc, 0);
	ck_assert_msg(strstr(l.err, ".ini:4: unknown key \"nosuch\"") != NULL, "%s", l.err);
	free(l.err);

	/* a long line that is no key = value is a syntax error on its line */
	char *nokv = expand("[database]\nurl = x\n@ no separator\n", 300);
	load(&l, nokv, NULL, NULL, 0);
	ck_assert_int_lt(l.rc, 0);
	ck_assert_msg(strstr(l.err, ".ini:3: syntax error") != NULL, "%s", l.err);
	free(l.err);
	free(nokv);

	/* keys and section headers must fit inih's buffer */
	char *longkey = expand("[exec]\ntask.@ = 1\n", 300);
	load(&l, longkey, NULL, NULL, 0);
	ck_assert_int_lt(l.rc, 0);
	ck_assert_msg(strstr(l.err, ".ini:2: line is 309 bytes long and its key does not fit") != NULL, "%s", l.err);
	free(l.err);
	free(longkey);
	char *longsec = expand("[@]\nk = 1\n", 300);
	load(&l, longsec, NULL, NULL, 0);
	ck_assert_int_lt(l.rc, 0);
	ck_assert_msg(strstr(l.err, ".ini:1: line is 302 bytes long and its section header") != NULL, "%s", l.err);
	free(l.err);
	free(longsec);

	/* beyond 64 KiB a line is refused, with the limit */
	char *huge = expand("[exec]\ntask.k = @\n", 70000);
	load(&l, huge, NULL, NULL, 0);
	ck_assert_int_lt(l.rc, 0);
	ck_assert_msg(strstr(l.err, ".ini:2: line is 70009 bytes long; lines are limited to 65536 bytes") != NULL,
	              "%s", l.err);
	ck_assert_ptr_null(l.cfg);
	free(l.err);
	free(huge);

	/* a line of exactly 198 bytes plus its newline and one of 199 */
	for (size_t len = 197; len <= 200; len++) {
		char key[256];
		memset(key, 'y', len);
		key[len] = '\0';
		memcpy(key, "task.k = ", 9);
		snprintf(ini, sizeof(ini), "[exec]\n%s\n", key);
		char *v = exec_value(ini);
		ck_assert_msg(v != NULL, "a %zu-byte line is refused", len);
		ck_assert_uint_eq(strlen(v), len - 9);
		free(v);
	}
}
END_TEST

/* ---- printing and masking ---------------------------------------------- */

static void expect_mask(const char *in, const char *want)
{
	char *m = config_mask_conninfo(in);
	ck_assert_ptr_nonnull(m);
	ck_assert_msg(strcmp(m, want) == 0, "mask [%s] = [%s], expected [%s]", in, m, want);
	free(m);
}

START_TEST(mask_url_forms)
{
	expect_mask("postgresql://u:secret@h/db", "postgresql://u:***@h/db");
	expect_mask("postgres://u:secret@h:5432/db?sslmode=require",
	            "postgres://u:***@h:5432/db?sslmode=require");
	expect_mask("postgresql://u:secret@h", "postgresql://u:***@h");
	expect_mask("postgresql://:secret@h/db", "postgresql://:***@h/db");
	expect_mask("postgresql://u@h/db?password=secret", "postgresql://u@h/db?password=***");
	expect_mask("postgresql://h/db?sslmode=require&password=secret&application_name=x",
	            "postgresql://h/db?sslmode=require&password=***&application_name=x");
	expect_mask("postgresql://u:pw@h/db?password=secret", "postgresql://u:***@h/db?password=***");
}
END_TEST

START_TEST(mask_keyword_forms)
{
	expect_mask("password=secret", "password=***");
	expect_mask("host=h password=secret user=u", "host=h password=*** user=u");
	expect_mask("host=h password='se cret' dbname=d", "host=h password=*** dbname=d");
	expect_mask("password='it\\'s' user=u", "password=*** user=u");
	expect_mask("password=a password=b", "password=*** password=***");
	expect_mask("host=h password=", "host=h password=***");
}
END_TEST

START_TEST(mask_leaves_other_strings_alone)
{
	static const char *const same[] = {
		"",
		"postgresql:///backfill",
		"postgresql://u@h/db",
		"postgresql://h:5432/db",
		"postgresql://h/db?application_name=a@b:c",
		"host=h dbname=d user=u",
		"dbname=password_vault",
		"host=/var/run/postgresql",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		expect_mask(same[i], same[i]);
}
END_TEST

START_TEST(mask_keyword_with_blanks)
{
	/* libpq accepts blanks around '=' and any whitespace between
	 * keywords: the password must not show in logs either way. */
	static const char *const leaky[] = {
		"host=h password = secret",
		"host=h password= secret",
		"host=h\tpassword=secret",
	};
	char shown[1024] = "";
	for (size_t i = 0; i < sizeof(leaky) / sizeof(leaky[0]); i++) {
		char *m = config_mask_conninfo(leaky[i]);
		if (strstr(m, "secret") != NULL) {
			size_t n = strlen(shown);
			snprintf(shown + n, sizeof(shown) - n, " [%s] -> [%s];", leaky[i], m);
		}
		free(m);
	}
	ck_assert_msg(shown[0] == '\0', "masking shows the password:%s", shown);
}
END_TEST

START_TEST(print_shows_sources_and_masks)
{
	static const char ini[] = "[database]\n"
	                          "url = postgresql://app:hunter2@db/jobs\n"
	                          "[daemon]\n"
	                          "shutdown_timeout = 45\n"
	                          "[queue.reports]\n"
	                          "concurrency = 2\n"
	                          "[exec]\n"
	                          "task.a = /bin/a\n"
	                          "task.b = /bin/b\n";
	char *env[] = {"POLL_INTERVAL_MS=400", "BULK_QUEUE_CONCURRENCY=3", NULL};
	const struct bf_config_override ov[] = {{"log-level", "debug"}, {"queue", "fast=12"}};
	char path[PATH_MAX];
	struct bf_config *cfg = load_ok(ini, env, ov, 2, path, sizeof(path));
	char *text = print_config(cfg);
	ck_assert_ptr_null(strstr(text, "hunter2"));
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want), "# effective configuration (config file: %s)\n", path);
	ck_assert_msg(strncmp(text, want, strlen(want)) == 0, "print starts [%.80s]", text);
	snprintf(want, sizeof(want), "url = postgresql://app:***@db/jobs    ; %s", path);
	expect_contains(text, want, (const char *)NULL);
	snprintf(want, sizeof(want), "shutdown_timeout = 45    ; %s", path);
	expect_contains(text, want, (const char *)NULL);
	expect_contains(text, "[database]\n", "\n[daemon]\n",
	                "schema = backfill    ; default\n",
	                "auto_migrate = true    ; default\n",
	                "poll_interval_ms = 400    ; environment POLL_INTERVAL_MS\n",
	                "log_level = debug    ; flag --log-level\n",
	                "[queue.fast]\nconcurrency = 12    ; flag --queue\n",
	                "[queue.bulk]\nconcurrency = 3    ; environment BULK_QUEUE_CONCURRENCY\n",
	                "[queue.reports]\nconcurrency = 2    ; ",
	                "task.a = /bin/a\ntask.b = /bin/b\n", (const char *)NULL);
	snprintf(want, sizeof(want), "\n[exec]    ; %s", path);
	expect_contains(text, want, (const char *)NULL);
	/* every key of the table is printed */
	for (size_t i = 0; i < config_nkeys; i++) {
		char line[128];
		snprintf(line, sizeof(line), "\n%s = ", config_keys[i].name);
		expect_contains(text, line, (const char *)NULL);
	}
	free(text);
	config_free(cfg);

	/* key=value form from the environment, no file */
	char *env2[] = {"DATABASE_URL=host=db password='p w' dbname=jobs", NULL};
	cfg = load_ok(NULL, env2, NULL, 0, NULL, 0);
	ck_assert_str_eq(cfg->database_url, "host=db password='p w' dbname=jobs");
	text = print_config(cfg);
	expect_contains(text, "(config file: none)",
	                "url = host=db password=*** dbname=jobs    ; environment DATABASE_URL\n",
	                (const char *)NULL);
	free(text);
	config_free(cfg);
}
END_TEST

/* ---- [cron] and cron_file ------------------------------------------------ */

START_TEST(cron_section_and_file)
{
	char tab_path[PATH_MAX];
	write_ini("# shared crontab\n"
	          "*/15 9-17 * * mon-fri report.send ?priority=-5 {\"to\": \"ops\"}\n"
	          "@daily cleanup.run ?id=daily_cleanup\n",
	          tab_path, sizeof(tab_path));
	char ini[2 * PATH_MAX];
	snprintf(ini, sizeof(ini),
	         "[daemon]\n"
	         "cron_file = %s\n"
	         "[cron]\n"
	         "nightly = 0 3 * * * cleanup.run ?queue=bulk&fill=4h {\"deep\": true}\n"
	         "leap = 0 0 29 2 * leap.day\n",
	         tab_path);
	char path[PATH_MAX], want[2 * PATH_MAX];
	struct bf_config *cfg = load_ok(ini, NULL, NULL, 0, path, sizeof(path));
	ck_assert_str_eq(cfg->cron_file, tab_path);
	ck_assert_uint_eq(cfg->crontab.n, 4);
	/* the ini file's first, ids from their keys, then the file's */
	const struct bf_cron_schedule *c = cfg->crontab.items;
	ck_assert_str_eq(c[0].id, "nightly");
	ck_assert_str_eq(c[0].task, "cleanup.run");
	ck_assert_int_eq(c[0].fill_s, 4 * 3600);
	ck_assert_str_eq(c[0].payload, "{\"deep\": true}");
	snprintf(want, sizeof(want), "%s:4", path);
	ck_assert_str_eq(c[0].source, want);
	ck_assert_str_eq(c[1].id, "leap");
	ck_assert_str_eq(c[2].id, "report.send");
	ck_assert_int_eq(c[2].priority, -5);
	snprintf(want, sizeof(want), "%s:2", tab_path);
	ck_assert_str_eq(c[2].source, want);
	ck_assert_str_eq(c[3].id, "daily_cleanup");

	/* --check-config lists each with its next runs */
	char *text = print_config(cfg);
	snprintf(want, sizeof(want), "nightly = 0 3 * * * cleanup.run ?queue=bulk&fill=4h {\"deep\": true}    ; %s:4\n",
	         path);
	expect_contains(text, "\n[cron]    ; 4 schedule(s); times in UTC\n", want, "cron_file = ",
	                "leap = 0 0 29 2 * leap.day    ; ", ";   next: 2028-02-29T00:00:00Z, 2032-02-29T00:00:00Z, ",
	                "; runs missed within 4h are backfilled\n", (const char *)NULL);
	free(text);
	config_free(cfg);

	/* from the environment and a flag too; empty means no file */
	char env_var[PATH_MAX + 32];
	snprintf(env_var, sizeof(env_var), "BACKFILL_CRON_FILE=%s", tab_path);
	char *env[] = {env_var, NULL};
	cfg = load_ok("[cron]\nx = * * * * * t\n", env, NULL, 0, NULL, 0);
	ck_assert_uint_eq(cfg->crontab.n, 3);
	ck_assert_str_eq(source_of(cfg, "cron_file"), "environment BACKFILL_CRON_FILE");
	config_free(cfg);
	const struct bf_config_override none[] = {{"cron-file", ""}};
	cfg = load_ok(NULL, env, none, 1, NULL, 0);
	ck_assert_str_eq(cfg->cron_file, "");
	ck_assert_uint_eq(cfg->crontab.n, 0);
	config_free(cfg);
}
END_TEST

START_TEST(cron_errors)
{
	/* a bad [cron] line names the file, the line and the key */
	expect_ini_error("[daemon]\nlog_level = info\n[cron]\nnightly = 61 3 * * * cleanup.run\n", 4,
	                 "[cron] nightly: minute field \"61\" is out of range 0-59", NULL);
	expect_ini_error("[cron]\na = * * * * * t\na = 0 * * * * t\n", 3,
	                 "[cron] a: schedule id \"a\" is already used by the schedule at ", ":2; give one");

	/* a bad crontab line: the file and its line */
	char tab_path[PATH_MAX], want[2 * PATH_MAX + 128];
	write_ini("* * * * * ok\n0 0 31 2 * never\n", tab_path, sizeof(tab_path));
	const struct bf_config_override flag[] = {{"cron-file", tab_path}};
	char *err = load_err(NULL, NULL, flag, 1, NULL, 0);
	snprintf(want, sizeof(want),
	         "%s:2: day-of-month field \"31\" never occurs in month field \"2\", so the schedule never runs",
	         tab_path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got [%s]", err);
	free(err);

	/* the same id in the ini file and the crontab */
	write_ini("0 * * * * t ?id=a\n", tab_path, sizeof(tab_path));
	char ini[2 * PATH_MAX];
	snprintf(ini, sizeof(ini), "[daemon]\ncron_file = %s\n[cron]\na = * * * * * t\n", tab_path);
	struct loaded l;
	load(&l, ini, NULL, NULL, 0);
	ck_assert_int_lt(l.rc, 0);
	snprintf(want, sizeof(want), "%s:1: schedule id \"a\" is already used by the schedule at %s:4;", tab_path,
	         l.path);
	ck_assert_msg(strncmp(l.err, want, strlen(want)) == 0, "got [%s]", l.err);
	free(l.err);

	/* a missing crontab: fine at the default path, even named explicitly
	 * (the sample ini does), an error anywhere else */
	if (access(BACKFILLD_CRON_PATH, F_OK) != 0) {
		const struct bf_config_override def[] = {{"cron-file", BACKFILLD_CRON_PATH}};
		struct bf_config *cfg = load_ok(NULL, NULL, def, 1, NULL, 0);
		ck_assert_uint_eq(cfg->crontab.n, 0);
		config_free(cfg);
	}
	char missing[PATH_MAX + 32];
	snprintf(missing, sizeof(missing), "%s/no-crontab", tmpdir);
	const struct bf_config_override set[] = {{"cron-file", missing}};
	err = load_err(NULL, NULL, set, 1, NULL, 0);
	snprintf(want, sizeof(want),
	         "cannot read crontab file %s: No such file or directory (set by flag --cron-file; an empty "
	         "cron_file means none)",
	         missing);
	ck_assert_str_eq(err, want);
	free(err);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");

	TCase *defaults = tcase_create("defaults");
	tcase_add_test(defaults, defaults_without_file);
	tcase_add_test(defaults, key_table_is_consistent);
	tcase_add_test(defaults, missing_default_file_is_fine_missing_c_file_is_not);
	suite_add_tcase(s, defaults);

	TCase *precedence = tcase_create("precedence");
	tcase_add_test(precedence, ini_overrides_defaults);
	tcase_add_test(precedence, environment_overrides_ini);
	tcase_add_test(precedence, flags_override_environment);
	tcase_add_test(precedence, flags_without_file_or_environment);
	tcase_add_test(precedence, values_accepted);
	tcase_add_test(precedence, admin_listen_values);
	tcase_add_test(precedence, admin_token_is_checked_and_never_shown);
	tcase_add_test(precedence, plugin_sections_keep_keys_in_order);
	suite_add_tcase(s, precedence);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, error_unknown_key_suggests);
	tcase_add_test(errors, error_bad_int);
	tcase_add_test(errors, error_bad_bool_and_log_level);
	tcase_add_test(errors, error_bad_schema);
	tcase_add_test(errors, error_empty_string);
	tcase_add_test(errors, error_key_outside_section);
	tcase_add_test(errors, error_bad_section);
	tcase_add_test(errors, error_syntax);
	tcase_add_test(errors, error_bad_queue_name);
	tcase_add_test(errors, error_bad_concurrency);
	tcase_add_test(errors, error_no_active_queue);
	tcase_add_test(errors, error_heartbeat_timeout_too_short);
	tcase_add_test(errors, error_names_env_var_and_flag);
	tcase_add_test(errors, error_line_number_matches_message);
	tcase_add_test(errors, long_ini_lines_read_as_inih_reads_short_ones);
	suite_add_tcase(s, errors);

	TCase *print = tcase_create("print");
	tcase_add_test(print, mask_url_forms);
	tcase_add_test(print, mask_keyword_forms);
	tcase_add_test(print, mask_leaves_other_strings_alone);
	tcase_add_test(print, mask_keyword_with_blanks);
	tcase_add_test(print, print_shows_sources_and_masks);
	suite_add_tcase(s, print);

	TCase *cron = tcase_create("cron");
	tcase_add_test(cron, cron_section_and_file);
	tcase_add_test(cron, cron_errors);
	suite_add_tcase(s, cron);

	return s;
}

int main(void)
{
	return check_run_in_tmpdir(config_suite(), tmpdir);
}
