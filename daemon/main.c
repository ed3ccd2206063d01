/* main.c -- backfilld: parse flags, load config and plugins, migrate, run
 * the event loop until a stop signal, exit with a documented code. */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "backoff.h"
#include "config.h"
#include "db.h"
#include "dispatch.h"
#include "jobsql.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "sdnotify.h"

/* Exit codes (README "Exit codes"). */
#define EXIT_OK 0
#define EXIT_FAILURE_RUNTIME 1 /* a run failed (e.g. --once lost its database) */
#define EXIT_USAGE 64          /* bad command line */
#define EXIT_SCHEMA 65         /* schema too old (auto_migrate off) or too new */
#define EXIT_DB_UNAVAILABLE 69 /* database unreachable (--migrate, --once) */
#define EXIT_CONFIG 78         /* bad configuration or plugin */

extern char **environ;

enum run_mode { MODE_RUN, MODE_ONCE, MODE_MIGRATE, MODE_CHECK_CONFIG };

static volatile sig_atomic_t early_stop;

static void early_stop_handler(int sig)
{
	(void)sig;
	early_stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: backfilld [OPTIONS]\n"
	        "Runs background jobs stored in PostgreSQL through task plugins.\n\n"
	        "  -c, --config PATH      ini file (default %s; a missing default file is fine)\n"
	        "      --check-config     print the configuration, plugins and schedules, then exit\n"
	        "      --migrate          apply pending schema migrations, then exit\n"
	        "      --once             run every job that is due now, then exit\n"
	        "      --queue NAME=N     run a pool of N workers for queue NAME (repeatable)\n"
	        "  -V, --version          print the version and exit\n"
	        "  -h, --help             print this help and exit\n\n"
	        "Every configuration key also has a flag (flags beat environment beats file):\n",
	        BACKFILLD_CONFIG_PATH);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct bf_config_key *k = &config_keys[i];
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s VALUE", k->flag);
		fprintf(out, "      %-26s [%s] %s, env %s: %s (default %s)\n", flag, k->section, k->name,
		        k->env ? k->env : "-", k->help, k->def);
	}
	fprintf(out, "\nExit codes: 0 ok, 1 run failed, 64 usage, 65 schema mismatch,\n"
	             "69 database unavailable, 78 configuration or plugin error.\n");
}

/* Connects for migrations.  Retries (until a stop signal) unless fail_fast. */
static int connect_startup(struct bf_db *db, bool fail_fast)
{
	for (int failures = 1;; failures++) {
		if (db_connect(db, false) == 0)
			return 0;
		if (fail_fast || early_stop)
			return -1;
		int64_t ms = backoff_reconnect_ms(failures, 1.0);
		log_warn("database: not reachable yet; retrying in %lld ms (Ctrl-C or SIGTERM to give up)",
		         (long long)ms);
		for (int64_t waited = 0; waited < ms && !early_stop; waited += 50) {
			struct timespec ts = {0, 50 * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (early_stop)
			return -1;
	}
}

/* Pinged from the loop, so a stuck loop stops the pings and systemd
 * restarts the daemon. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sdnotify_send("WATCHDOG=1");
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("received %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	sdnotify_send("STOPPING=1");
	dispatch_shutdown(arg);
}

/* What SIGHUP needs: how the configuration was read, and what runs. */
struct reload_ctx {
	const struct bf_config_args *args;
	struct bf_config **cfg; /* the running configuration (replaced) */
	struct bf_dispatch *d;
	struct bf_admin *admin; /* NULL: no HTTP endpoint */
	const struct bf_loader *loader;
};

/* A scheduled task that no loaded plugin handles is enqueued all the same:
 * its jobs wait for a daemon that has the plugin. */
static void warn_unhandled_cron_tasks(const struct bf_config *cfg, const struct bf_loader *loader)
{
	for (size_t i = 0; loader && i < cfg->crontab.n; i++) {
		const struct bf_cron_schedule *s = &cfg->crontab.items[i];
		if (!loader_find_task(loader, s->task))
			log_warn("cron: schedule %s (%s): no loaded plugin handles task %s; its jobs will "
			         "wait for a daemon that has one",
			         s->id, s->source, s->task);
	}
}

/* Metric labels: configured queues and loaded tasks, nothing else. */
static void register_metric_labels(const struct bf_config *cfg, const struct bf_loader *loader)
{
	for (size_t i = 0; i < cfg->nqueues; i++)
		metrics_register_queue(cfg->queues[i].name);
	for (size_t i = 0; loader && i < loader_ntasks(loader); i++)
		metrics_register_task(loader_task(loader, i)->name);
}

/* What the HTTP endpoint reads from the dispatcher. */
static const char *admin_worker_id(void *arg) { return dispatch_worker_id(arg); }
static size_t admin_pools(void *arg, struct bf_metrics_pool *out, size_t max)
{
	return dispatch_pools(arg, out, max);
}

static void notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char msg[96];
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%lld",
	         (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000);
	sdnotify_send(msg);
}

/* SIGHUP: re-read file and environment; apply what can change live; keep
 * the running configuration whole when the new one is bad. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct reload_ctx *rc = arg;
	notify_reloading();
	struct bf_config *fresh = NULL;
	char *err = NULL;
	if (config_load(rc->args, &fresh, &err) < 0) {
		log_error("reload: keeping the running configuration: %s", err);
		free(err);
		sdnotify_send("READY=1\nSTATUS=reload failed; running configuration kept");
		return;
	}
	config_keep_restart_only(fresh, *rc->cfg);
	warn_unhandled_cron_tasks(fresh, rc->loader);
	log_set_level(fresh->log_level);
	log_set_format(fresh->log_format);
	register_metric_labels(fresh, NULL); /* new queues */
	if (dispatch_reconfigure(rc->d, fresh) < 0)
		log_error("reload: some pools could not grow; they keep their previous size");
	admin_reconfigure(rc->admin, fresh);
	config_free(*rc->cfg);
	*rc->cfg = fresh;
	log_info("reload: configuration reloaded%s%s", fresh->config_path ? " from " : "",
	         fresh->config_path ? fresh->config_path : "");
	sdnotify_send("READY=1\nSTATUS=running");
}

/* Prepares every statement the daemon will run, so that a schema changed
 * by hand (a function dropped or altered at the right version) stops the
 * start, naming the migration to re-apply, instead of a daemon that
 * retries forever.  0, or MIGRATE_ERR_*. */
static int check_statements(struct bf_db *db)
{
	const char *migration = NULL;
	if (jobsql_prepare(db, &migration) == 0)
		return 0;
	if (!db_connected(db) || strncmp(db->sqlstate, "42", 2) != 0)
		return MIGRATE_ERR_DB;
	if (strcmp(db->sqlstate, "42501") == 0) { /* insufficient privilege */
		log_error("the database user may not use what schema %s holds (see the error above): "
		          "grant it USAGE on the schema and EXECUTE on its functions, or connect as "
		          "their owner",
		          db->schema);
		return MIGRATE_ERR_DB;
	}
	log_error("schema %s does not match this backfilld (%s) although its version is current: "
	          "something in it was changed by hand (see the error above); what is missing "
	          "comes from migration %s: recreate it from %s/%s.sql, or restore the schema",
	          db->schema, BACKFILLD_VERSION, migration ? migration : "?", BACKFILLD_SQL_DIR,
	          migration ? migration : "?");
	return MIGRATE_ERR_SCHEMA;
}

int main(int argc, char **argv)
{
	enum run_mode mode = MODE_RUN;
	struct bf_config_args args = {.environ = environ};
	struct bf_config_override *overrides = calloc((size_t)argc + 1, sizeof(*overrides));
	size_t noverrides = 0;
	enum { OPT_CHECK = 1000, OPT_MIGRATE, OPT_ONCE, OPT_QUEUE, OPT_KEY };
	struct option *opts = calloc(config_nkeys + 8, sizeof(*opts));
	if (!overrides || !opts)
		abort();
	size_t no = 0;
	opts[no++] = (struct option){"config", required_argument, NULL, 'c'};
	opts[no++] = (struct option){"check-config", no_argument, NULL, OPT_CHECK};
	opts[no++] = (struct option){"migrate", no_argument, NULL, OPT_MIGRATE};
	opts[no++] = (struct option){"once", no_argument, NULL, OPT_ONCE};
	opts[no++] = (struct option){"queue", required_argument, NULL, OPT_QUEUE};
	opts[no++] = (struct option){"version", no_argument, NULL, 'V'};
	opts[no++] = (struct option){"help", no_argument, NULL, 'h'};
	for (size_t i = 0; i < config_nkeys; i++)
		opts[no++] = (struct option){config_keys[i].flag, required_argument, NULL, OPT_KEY};

	int c, idx;
	while ((c = getopt_long(argc, argv, "c:Vh", opts, &idx)) != -1) {
		switch (c) {
		case 'c':
			args.path = optarg;
			args.path_required = true;
			break;
		case OPT_CHECK:
			mode = MODE_CHECK_CONFIG;
			break;
		case OPT_MIGRATE:
			mode = MODE_MIGRATE;
			break;
		case OPT_ONCE:
			mode = MODE_ONCE;
			break;
		case OPT_QUEUE:
			overrides[noverrides++] = (struct bf_config_override){"queue", optarg};
			break;
		case OPT_KEY:
			overrides[noverrides++] = (struct bf_config_override){opts[idx].name, optarg};
			break;
		case 'V':
			printf("backfilld %s (plugin ABI %u.%u, schema version %d)\n", BACKFILLD_VERSION,
			       BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR, migrate_latest());
			free(overrides);
			free(opts);
			return EXIT_OK;
		case 'h':
			usage(stdout);
			free(overrides);
			free(opts);
			return EXIT_OK;
		default:
			fprintf(stderr, "backfilld: try `backfilld --help`\n");
			free(overrides);
			free(opts);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "backfilld: unexpected argument \"%s\"; try `backfilld --help`\n", argv[optind]);
		free(overrides);
		free(opts);
		return EXIT_USAGE;
	}
	args.overrides = overrides;
	args.noverrides = noverrides;

	struct bf_config *cfg = NULL;
	char *err = NULL;
	int lrc = config_load(&args, &cfg, &err);
	free(opts);
	if (lrc < 0) {
		log_error("config: %s", err);
		free(err);
		free(overrides);
		return EXIT_CONFIG;
	}
	log_set_level(cfg->log_level);
	log_set_format(cfg->log_format);

	if (mode == MODE_CHECK_CONFIG) {
		config_print(cfg, stdout);
		struct bf_loader *loader = NULL;
		if (loader_load(cfg, &loader) < 0) {
			config_free(cfg);
			free(overrides);
			return EXIT_CONFIG;
		}
		printf("\n# plugins and tasks\n");
		loader_describe(loader, stdout);
		warn_unhandled_cron_tasks(cfg, loader);
		loader_free(loader);
		config_free(cfg);
		free(overrides);
		return EXIT_OK;
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN); /* until the loop handles it: never die of a reload */
	struct sigaction sa = {.sa_handler = early_stop_handler};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int rc = EXIT_OK;
	struct bf_loader *loader = NULL;
	struct event_base *base = NULL;
	struct bf_dispatch *d = NULL;
	struct bf_admin *admin = NULL;
	struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL, *watchdog = NULL;

	struct reload_ctx reload = {.args = &args, .cfg = &cfg};
	if (mode != MODE_MIGRATE && loader_load(cfg, &loader) < 0) {
		rc = EXIT_CONFIG;
		goto out;
	}
	warn_unhandled_cron_tasks(cfg, loader);
	reload.loader = loader;
	metrics_init();
	register_metric_labels(cfg, loader);

	struct bf_db db;
	db_init(&db, cfg->database_url, cfg->schema);
	if (connect_startup(&db, mode != MODE_RUN) < 0) {
		db_cleanup(&db);
		rc = early_stop ? EXIT_OK : EXIT_DB_UNAVAILABLE;
		goto out;
	}
	int mrc = migrate_run(&db, mode == MODE_MIGRATE || cfg->auto_migrate);
	if (mrc == 0 && mode != MODE_MIGRATE)
		mrc = check_statements(&db);
	db_cleanup(&db);
	if (mrc < 0) {
		rc = mrc == MIGRATE_ERR_SCHEMA ? EXIT_SCHEMA : EXIT_DB_UNAVAILABLE;
		goto out;
	}
	if (mode == MODE_MIGRATE || early_stop)
		goto out;

	base = event_base_new();
	if (!base) {
		log_error("cannot create the event loop");
		rc = EXIT_FAILURE_RUNTIME;
		goto out;
	}
	d = dispatch_new(base, cfg, loader, mode == MODE_ONCE);
	if (!d) {
		rc = EXIT_FAILURE_RUNTIME;
		goto out;
	}
	if (mode == MODE_RUN) {
		const struct bf_admin_hooks hooks = {.pools = admin_pools, .worker_id = admin_worker_id, .arg = d};
		if (admin_new(base, cfg, loader, &hooks, &admin) < 0) {
			rc = EXIT_FAILURE_RUNTIME;
			goto out;
		}
		reload.admin = admin;
	}
	sig_term = evsignal_new(base, SIGTERM, on_stop_signal, d);
	sig_int = evsignal_new(base, SIGINT, on_stop_signal, d);
	reload.d = d;
	sig_hup = evsignal_new(base, SIGHUP, on_hup, &reload);
	event_add(sig_term, NULL);
	event_add(sig_int, NULL);
	event_add(sig_hup, NULL);

	if (dispatch_start(d) < 0) {
		rc = mode == MODE_ONCE ? EXIT_DB_UNAVAILABLE : EXIT_FAILURE_RUNTIME;
		goto out;
	}
	sdnotify_send("READY=1\nSTATUS=running");
	long long wd_usec = sdnotify_watchdog_usec();
	if (wd_usec > 0) {
		/* ping at half the interval systemd allows */
		struct timeval every = {(time_t)(wd_usec / 2000000), (suseconds_t)((wd_usec / 2) % 1000000)};
		watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
		event_add(watchdog, &every);
		sdnotify_send("WATCHDOG=1");
	}
	log_info("ready: backfilld %s, pid %d", BACKFILLD_VERSION, (int)getpid());
	if (early_stop)
		dispatch_shutdown(d);
	if (!dispatch_finished(d))
		event_base_dispatch(base);
	log_info("stopped");

out:
	if (d && !dispatch_idle(d)) {
		/* handlers still run past the deadline: their jobs were returned;
		 * leave without unloading the code they run. */
		_exit(rc);
	}
	if (watchdog)
		event_free(watchdog);
	if (sig_term)
		event_free(sig_term);
	if (sig_int)
		event_free(sig_int);
	if (sig_hup)
		event_free(sig_hup);
	admin_free(admin);
	dispatch_free(d);
	if (base)
		event_base_free(base);
	loader_free(loader);
	metrics_free();
	config_free(cfg);
	free(overrides);
	return rc;
}
