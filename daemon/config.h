/* config.h -- configuration: one table of keys; built-in defaults < ini file
 * < environment < command-line flags; parsed into a fresh struct, validated,
 * then handed over whole (a failed load never leaves half a config). */
#ifndef BACKFILLD_CONFIG_H
#define BACKFILLD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "crontab.h"
#include "log.h"

#define CONFIG_NAME_MAX 64

enum bf_config_type {
	CONFIG_TYPE_STRING,    /* any text */
	CONFIG_TYPE_INT,       /* integer within [min, max] */
	CONFIG_TYPE_BOOL,      /* true/false, yes/no, on/off, 1/0 */
	CONFIG_TYPE_LOG_LEVEL, /* error, warn, info, debug */
	CONFIG_TYPE_LOG_FORMAT, /* text, json */
	CONFIG_TYPE_SCHEMA,    /* SQL identifier [a-z_][a-z0-9_]*, at most 58 (the NOTIFY
	                          channel "<schema>.jobs" must fit 63 bytes) */
	CONFIG_TYPE_CONNINFO,  /* libpq URL or key=value string; masked in output */
	CONFIG_TYPE_LISTEN,    /* HOST:PORT (IPv4, [IPv6] or localhost), or empty: off */
	CONFIG_TYPE_SECRET,    /* printable ASCII without blanks, may be empty; never printed */
	CONFIG_TYPE_FILE,      /* a file path, or empty: none */
};

struct bf_config_key {
	const char *section; /* ini section */
	const char *name;    /* ini key */
	enum bf_config_type type;
	size_t offset;       /* in struct bf_config */
	long min, max;       /* CONFIG_TYPE_INT only */
	const char *def;     /* built-in default, as text */
	const char *env;     /* environment variable, or NULL */
	const char *flag;    /* long command-line flag (without "--") */
	bool reloadable;     /* can change on SIGHUP without a restart */
	const char *help;    /* one line */
};

/* A worker pool's settings ([queue.NAME], NAME_QUEUE_CONCURRENCY). */
struct bf_queue_config {
	char name[CONFIG_NAME_MAX];
	int concurrency; /* 0: this daemon does not serve the queue */
	char source[512];
};

/* Any other ini section belongs to a plugin of that name. */
struct bf_plugin_section {
	char name[CONFIG_NAME_MAX];
	size_t nkeys;
	char **keys;
	char **values;
	char source[512]; /* where the section starts */
};

struct bf_config {
	char *database_url;
	char *schema;
	bool auto_migrate;
	char *plugin_dir;
	enum bf_log_level log_level;
	enum bf_log_format log_format;
	int poll_interval_ms;
	int shutdown_timeout_s;
	int heartbeat_interval_s;
	int heartbeat_timeout_s;
	int dlq_processor_interval_s;     /* 0: off */
	int stale_lock_cleanup_interval_s; /* 0: off */
	int stale_queue_lock_timeout_s;
	int stale_job_lock_timeout_s;
	int vacuum_every; /* results between VACUUMs of jobs; 0: off */
	char *admin_listen; /* "" : no admin/metrics HTTP endpoint */
	char *admin_token;  /* "" : none */
	char *cron_file;    /* "" : none; a missing file is fine only at the default path */

	/* Recurring jobs: [cron] entries of the ini file, then cron_file's lines. */
	struct bf_crontab crontab;

	struct bf_queue_config *queues;
	size_t nqueues;
	struct bf_plugin_section *sections;
	size_t nsections;

	char *config_path;   /* file read, or NULL */
	char **sources;      /* per key: "default", "FILE:LINE", "environment VAR", "flag --x" */
};

/* A value given on the command line. */
struct bf_config_override {
	const char *flag;  /* key flag name, or "queue" for NAME=N */
	const char *value; /* borrowed */
};

struct bf_config_args {
	const char *path;          /* ini file, NULL: the default path */
	bool path_required;        /* -c given: a missing file is an error */
	char *const *environ;      /* environment to read; NULL: none */
	const struct bf_config_override *overrides;
	size_t noverrides;
};

extern const struct bf_config_key config_keys[];
extern const size_t config_nkeys;

/* Loads and validates.  On error returns a negative value and sets *err to
 * one line naming the key, its source and what to do (caller frees). */
__attribute__((warn_unused_result)) int config_load(const struct bf_config_args *args, struct bf_config **out, char **err);

void config_free(struct bf_config *cfg);

/* The key with this flag name, or NULL. */
const struct bf_config_key *config_key_by_flag(const char *flag);

/* Prints the effective configuration, ini style, with sources; passwords
 * masked. */
void config_print(const struct bf_config *cfg, FILE *out);

/* A copy of a libpq conninfo/URL with any password replaced by "***". */
char *config_mask_conninfo(const char *conninfo);

/* An [admin] listen value split into host (without IPv6 brackets;
 * "localhost" becomes 127.0.0.1) and port; *loopback tells whether only
 * this machine can connect.  false if the value is not HOST:PORT (an empty
 * value is "off", not an address). */
__attribute__((warn_unused_result)) bool config_parse_listen(const char *value, char *host, size_t host_size,
                                                             int *port, bool *loopback);

/* The pool settings for a queue, or NULL. */
const struct bf_queue_config *config_queue(const struct bf_config *cfg, const char *name);

/* The plugin section with this name, or NULL. */
const struct bf_plugin_section *config_section(const struct bf_config *cfg, const char *name);

/* Reload: for every key that cannot change without a restart and differs,
 * logs a warning and puts the running value back into fresh.  Plugin
 * sections changes are only warned about (plugins are not reloaded).
 * Returns how many differences it found. */
size_t config_keep_restart_only(struct bf_config *fresh, const struct bf_config *running);

/* Number of queues with concurrency > 0. */
size_t config_active_queues(const struct bf_config *cfg);

#endif /* BACKFILLD_CONFIG_H */
