/* config.c -- configuration loading: the key table, the ini file (inih), the
 * environment and command-line overrides, validation and printing. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define OFF(field) offsetof(struct bf_config, field)

/* Every key backfilld reads.  README and config/backfilld.ini document each
 * one (tests/integration/t_docs_config.sh and t_docs_complete.sh keep them
 * in step). */
const struct bf_config_key config_keys[] = {
    {"database", "url", CONFIG_TYPE_CONNINFO, OFF(database_url), 0, 0, "postgresql:///backfill",
     "DATABASE_URL", "database-url", false, "libpq connection URL or key=value string"},
    {"database", "schema", CONFIG_TYPE_SCHEMA, OFF(schema), 0, 0, "backfill", "BACKFILL_SCHEMA",
     "schema", false, "schema holding backfilld's tables and functions"},
    {"database", "auto_migrate", CONFIG_TYPE_BOOL, OFF(auto_migrate), 0, 0, "true",
     "BACKFILL_AUTO_MIGRATE", "auto-migrate", false, "apply pending migrations at start"},
    {"daemon", "plugin_dir", CONFIG_TYPE_STRING, OFF(plugin_dir), 0, 0, BACKFILLD_PLUGIN_DIR,
     "BACKFILL_PLUGIN_DIR", "plugin-dir", false, "directory of task plugins (*.so)"},
    {"daemon", "log_level", CONFIG_TYPE_LOG_LEVEL, OFF(log_level), 0, 0, "info",
     "BACKFILL_LOG_LEVEL", "log-level", true, "error, warn, info or debug"},
    {"daemon", "log_format", CONFIG_TYPE_LOG_FORMAT, OFF(log_format), 0, 0, "text",
     "BACKFILL_LOG_FORMAT", "log-format", true,
     "text, or json for one JSON object per line"},
    {"daemon", "poll_interval_ms", CONFIG_TYPE_INT, OFF(poll_interval_ms), 10, 3600000, "200",
     "POLL_INTERVAL_MS", "poll-interval-ms", true,
     "fallback poll for scheduled and retried jobs (NOTIFY wakes at once)"},
    {"daemon", "shutdown_timeout", CONFIG_TYPE_INT, OFF(shutdown_timeout_s), 0, 86400, "30",
     "BACKFILL_SHUTDOWN_TIMEOUT", "shutdown-timeout", true,
     "seconds running jobs may take to finish after SIGTERM"},
    {"daemon", "heartbeat_interval", CONFIG_TYPE_INT, OFF(heartbeat_interval_s), 1, 3600, "5",
     "BACKFILL_HEARTBEAT_INTERVAL", "heartbeat-interval", false,
     "seconds between this daemon's heartbeats"},
    {"daemon", "heartbeat_timeout", CONFIG_TYPE_INT, OFF(heartbeat_timeout_s), 2, 86400, "30",
     "BACKFILL_HEARTBEAT_TIMEOUT", "heartbeat-timeout", false,
     "seconds without a heartbeat after which a daemon's jobs are released"},
    {"daemon", "dlq_processor_interval", CONFIG_TYPE_INT, OFF(dlq_processor_interval_s), 0, 86400,
     "60", "BACKFILL_DLQ_PROCESSOR_INTERVAL", "dlq-processor-interval", true,
     "seconds between sweeps of exhausted jobs into the dead-letter queue (0 disables)"},
    {"daemon", "stale_lock_cleanup_interval", CONFIG_TYPE_INT, OFF(stale_lock_cleanup_interval_s), 0,
     86400, "60", "BACKFILL_STALE_LOCK_CLEANUP_INTERVAL", "stale-lock-cleanup-interval", true,
     "seconds between releases of locks whose owner is unknown (0 disables)"},
    {"daemon", "stale_queue_lock_timeout", CONFIG_TYPE_INT, OFF(stale_queue_lock_timeout_s), 1,
     604800, "300", "BACKFILL_STALE_QUEUE_LOCK_TIMEOUT", "stale-queue-lock-timeout", true,
     "seconds after which an unknown owner's serial-key lock is released"},
    {"daemon", "stale_job_lock_timeout", CONFIG_TYPE_INT, OFF(stale_job_lock_timeout_s), 1, 604800,
     "1800", "BACKFILL_STALE_JOB_LOCK_TIMEOUT", "stale-job-lock-timeout", true,
     "seconds after which an unknown owner's job lock is released (attempt refunded)"},
    {"daemon", "vacuum_every", CONFIG_TYPE_INT, OFF(vacuum_every), 0, 100000000, "100000",
     "BACKFILL_VACUUM_EVERY", "vacuum-every", true,
     "VACUUM the jobs table after this many results (at most ~10 % of the time; 0: autovacuum only)"},
    {"daemon", "cron_file", CONFIG_TYPE_FILE, OFF(cron_file), 0, 0, BACKFILLD_CRON_PATH,
     "BACKFILL_CRON_FILE", "cron-file", true,
     "crontab file of recurring jobs (a missing default file is fine; empty: none)"},
    {"admin", "listen", CONFIG_TYPE_LISTEN, OFF(admin_listen), 0, 0, "127.0.0.1:9187",
     "BACKFILL_ADMIN_LISTEN", "admin-listen", false,
     "HOST:PORT of the metrics, health and admin HTTP endpoint (empty disables it)"},
    {"admin", "token", CONFIG_TYPE_SECRET, OFF(admin_token), 0, 0, "", "BACKFILL_ADMIN_TOKEN",
     "admin-token", false,
     "bearer token the admin API's changing endpoints require (empty: none; never printed)"},
};
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

static const struct {
	const char *name;
	int concurrency;
} default_queues[] = {{"fast", 10}, {"bulk", 5}};

#define QUEUE_CONCURRENCY_MAX 1024
#define QUEUE_ENV_SUFFIX "_QUEUE_CONCURRENCY"

/* see read_line */
#define LONG_VALUE_MARK "\x01"
#define INI_LINE_MAX_LONG 65536

struct load_state {
	struct bf_config *cfg;
	const char *path;
	FILE *file;
	int lineno;   /* line the parser is on (counted by read_line) */
	int err_line; /* line of err */
	char *err;
	struct bf_plugin_section *section; /* current plugin section */
	char section_name[128];
	/* values of the line just read when it was too long for inih (see
	 * read_line): as "key = value" and as a continuation line */
	char *long_kv_value;
	char *long_whole_value;
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

__attribute__((format(printf, 1, 2))) static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return SIZE_MAX;
	size_t row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* " (did you mean "x"?)" for the closest known key of the section, or "". */
static const char *suggest(const char *section, const char *name, char *buf, size_t size)
{
	const char *best = NULL;
	size_t best_d = 3;
	bool is_queue = strncmp(section, "queue.", 6) == 0;
	for (size_t i = 0; i < config_nkeys; i++) {
		if (is_queue || strcmp(config_keys[i].section, section) != 0)
			continue;
		size_t d = edit_distance(name, config_keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = config_keys[i].name;
		}
	}
	if (is_queue && edit_distance(name, "concurrency") < 4)
		best = "concurrency";
	if (!best) {
		buf[0] = '\0';
		return buf;
	}
	snprintf(buf, size, " (did you mean \"%s\"?)", best);
	return buf;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool parse_long(const char *v, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return false;
	*out = n;
	return true;
}

static bool valid_identifier(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	if (!(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

/* Queue names become environment variable names (NAME_QUEUE_CONCURRENCY),
 * so they are identifiers too. */
static bool valid_queue_name(const char *s) { return valid_identifier(s, CONFIG_NAME_MAX - 1); }

#define ADMIN_TOKEN_MAX 256

bool config_parse_listen(const char *value, char *host, size_t host_size, int *port, bool *loopback)
{
	const char *colon = strrchr(value, ':');
	if (!colon || colon == value)
		return false;
	long n;
	const char *p = colon + 1;
	if (!*p || strspn(p, "0123456789") != strlen(p) || !parse_long(p, &n) || n < 1 || n > 65535)
		return false;
	const char *h = value;
	size_t hl = (size_t)(colon - value);
	bool bracketed = h[0] == '[';
	if (bracketed) {
		if (hl < 3 || h[hl - 1] != ']')
			return false;
		h++;
		hl -= 2;
	}
	char buf[INET6_ADDRSTRLEN + 1];
	if (hl >= sizeof(buf))
		return false;
	memcpy(buf, h, hl);
	buf[hl] = '\0';
	unsigned char addr[sizeof(struct in6_addr)];
	if (bracketed) {
		if (inet_pton(AF_INET6, buf, addr) != 1)
			return false;
		*loopback = memcmp(addr, &in6addr_loopback, sizeof(struct in6_addr)) == 0;
	} else if (strcmp(buf, "localhost") == 0) {
		/* one address, whatever the resolver would list first */
		snprintf(buf, sizeof(buf), "127.0.0.1");
		hl = strlen(buf);
		*loopback = true;
	} else {
		/* inet_pton accepts only dotted quads, no "127.1" shorthands */
		if (inet_pton(AF_INET, buf, addr) != 1)
			return false;
		*loopback = addr[0] == 127;
	}
	if (hl >= host_size)
		return false;
	memcpy(host, buf, hl + 1);
	*port = (int)n;
	return true;
}

static void set_source(struct bf_config *cfg, size_t idx, const char *source)
{
	free(cfg->sources[idx]);
	cfg->sources[idx] = xstrdup(source);
}

/* Parses value for key idx into cfg.  On error returns -1 with *err set. */
static int set_key(struct bf_config *cfg, size_t idx, const char *value, const char *source, char **err)
{
	const struct bf_config_key *k = &config_keys[idx];
	char *field = (char *)cfg + k->offset;
	switch (k->type) {
	case CONFIG_TYPE_STRING:
	case CONFIG_TYPE_CONNINFO:
	case CONFIG_TYPE_SCHEMA:
	case CONFIG_TYPE_LISTEN:
	case CONFIG_TYPE_SECRET:
	case CONFIG_TYPE_FILE: {
		if (k->type == CONFIG_TYPE_LISTEN && value[0] != '\0') {
			char host[64];
			int port;
			bool loopback;
			if (!config_parse_listen(value, host, sizeof(host), &port, &loopback)) {
				*err = xasprintf("%s: [%s] %s = \"%s\" must be HOST:PORT with HOST an IPv4 "
				                 "address, an [IPv6] address in brackets or localhost (e.g. "
				                 "127.0.0.1:9187), or empty to disable the endpoint",
				                 source, k->section, k->name, value);
				return -1;
			}
		}
		if (k->type == CONFIG_TYPE_SECRET) {
			size_t n = strlen(value);
			bool printable = true;
			for (size_t i = 0; i < n; i++)
				printable &= value[i] > 0x20 && value[i] < 0x7f;
			/* the value itself never goes into a message */
			if (!printable || n > ADMIN_TOKEN_MAX) {
				*err = xasprintf("%s: [%s] %s must be at most %d printable ASCII characters "
				                 "without blanks (the value is not shown)",
				                 source, k->section, k->name, ADMIN_TOKEN_MAX);
				return -1;
			}
		}
		if (k->type == CONFIG_TYPE_SCHEMA && !valid_identifier(value, 58)) {
			*err = xasprintf("%s: [%s] %s = \"%s\" is not a valid schema name "
			                 "(lower-case letters, digits and _, starting with a letter or _, "
			                 "at most 58 characters)",
			                 source, k->section, k->name, value);
			return -1;
		}
		if (k->type == CONFIG_TYPE_STRING && value[0] == '\0') {
			*err = xasprintf("%s: [%s] %s must not be empty", source, k->section, k->name);
			return -1;
		}
		char **slot = (char **)(void *)field;
		free(*slot);
		*slot = xstrdup(value);
		break;
	}
	case CONFIG_TYPE_INT: {
		long n;
		if (!parse_long(value, &n) || n < k->min || n > k->max) {
			*err = xasprintf("%s: [%s] %s = \"%s\" must be an integer from %ld to %ld", source,
			                 k->section, k->name, value, k->min, k->max);
			return -1;
		}
		*(int *)(void *)field = (int)n;
		break;
	}
	case CONFIG_TYPE_BOOL: {
		bool b;
		if (!parse_bool(value, &b)) {
			*err = xasprintf("%s: [%s] %s = \"%s\" must be true or false", source, k->section,
			                 k->name, value);
			return -1;
		}
		*(bool *)(void *)field = b;
		break;
	}
	case CONFIG_TYPE_LOG_LEVEL: {
		enum bf_log_level level;
		if (!log_level_parse(value, &level)) {
			*err = xasprintf("%s: [%s] %s = \"%s\" must be error, warn, info or debug", source,
			                 k->section, k->name, value);
			return -1;
		}
		*(enum bf_log_level *)(void *)field = level;
		break;
	}
	case CONFIG_TYPE_LOG_FORMAT: {
		enum bf_log_format format;
		if (!log_format_parse(value, &format)) {
			*err = xasprintf("%s: [%s] %s = \"%s\" must be text or json", source, k->section,
			                 k->name, value);
			return -1;
		}
		*(enum bf_log_format *)(void *)field = format;
		break;
	}
	}
	set_source(cfg, idx, source);
	return 0;
}

static struct bf_queue_config *queue_get(struct bf_config *cfg, const char *name, bool create)
{
	for (size_t i = 0; i < cfg->nqueues; i++)
		if (strcmp(cfg->queues[i].name, name) == 0)
			return &cfg->queues[i];
	if (!create)
		return NULL;
	struct bf_queue_config *q = realloc(cfg->queues, (cfg->nqueues + 1) * sizeof(*q));
	if (!q)
		abort();
	cfg->queues = q;
	q = &cfg->queues[cfg->nqueues++];
	memset(q, 0, sizeof(*q));
	snprintf(q->name, sizeof(q->name), "%s", name);
	return q;
}

static int set_queue(struct bf_config *cfg, const char *name, const char *value, const char *source,
                     char **err)
{
	long n;
	if (!valid_queue_name(name)) {
		*err = xasprintf("%s: queue name \"%s\" is not valid (lower-case letters, digits and _, "
		                 "starting with a letter or _, at most %d characters)",
		                 source, name, CONFIG_NAME_MAX - 1);
		return -1;
	}
	if (!parse_long(value, &n) || n < 0 || n > QUEUE_CONCURRENCY_MAX) {
		*err = xasprintf("%s: [queue.%s] concurrency = \"%s\" must be an integer from 0 to %d "
		                 "(0: this daemon does not serve the queue)",
		                 source, name, value, QUEUE_CONCURRENCY_MAX);
		return -1;
	}
	struct bf_queue_config *q = queue_get(cfg, name, true);
	q->concurrency = (int)n;
	snprintf(q->source, sizeof(q->source), "%s", source);
	return 0;
}

static struct bf_plugin_section *section_get(struct bf_config *cfg, const char *name, const char *source)
{
	for (size_t i = 0; i < cfg->nsections; i++)
		if (strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	struct bf_plugin_section *s = realloc(cfg->sections, (cfg->nsections + 1) * sizeof(*s));
	if (!s)
		abort();
	cfg->sections = s;
	s = &cfg->sections[cfg->nsections++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->source, sizeof(s->source), "%s", source);
	return s;
}

static void section_add(struct bf_plugin_section *s, const char *key, const char *value)
{
	for (size_t i = 0; i < s->nkeys; i++) {
		if (strcmp(s->keys[i], key) == 0) {
			free(s->values[i]);
			s->values[i] = xstrdup(value);
			return;
		}
	}
	char **k = realloc(s->keys, (s->nkeys + 1) * sizeof(*k));
	char **v = realloc(s->values, (s->nkeys + 1) * sizeof(*v));
	if (!k || !v)
		abort();
	s->keys = k;
	s->values = v;
	s->keys[s->nkeys] = xstrdup(key);
	s->values[s->nkeys] = xstrdup(value);
	s->nkeys++;
}

static bool is_builtin_section(const char *section)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].section, section) == 0)
			return true;
	return false;
}

/* inih callback: one key = value.  Returns 0 (error) after setting st->err. */
static int on_ini_entry(void *user, const char *section, const char *name, const char *value
#if INI_HANDLER_LINENO
                       ,
                       int lineno
#endif
)
{
	struct load_state *st = user;
	char source[400];
	snprintf(source, sizeof(source), "%s:%d", st->path, st->lineno);
	if (st->err)
		return 0;
	st->err_line = st->lineno;
	if (!name) /* new section (INI_CALL_HANDLER_ON_NEW_SECTION builds only) */
		return 1;
	if (st->long_whole_value && strstr(value, LONG_VALUE_MARK))
		value = st->long_kv_value && strcmp(value, LONG_VALUE_MARK) == 0 ? st->long_kv_value
		                                                                  : st->long_whole_value;
	if (strncmp(section, "queue.", 6) == 0) {
		if (strcmp(name, "concurrency") != 0) {
			char sug[64];
			st->err = xasprintf("unknown key \"%s\" in [%s]%s; a queue section has only "
			                    "\"concurrency\"",
			                    name, section, suggest(section, name, sug, sizeof(sug)));
			return 0;
		}
		return set_queue(st->cfg, section + 6, value, source, &st->err) == 0;
	}
	if (strcmp(section, "cron") == 0) {
		/* one schedule per key; the key is its default id */
		char *msg = NULL;
		if (crontab_add(&st->cfg->crontab, value, name, source, &msg) < 0) {
			st->err = xasprintf("[cron] %s: %s", name, msg);
			free(msg);
			return 0;
		}
		return 1;
	}
	if (is_builtin_section(section)) {
		for (size_t i = 0; i < config_nkeys; i++)
			if (strcmp(config_keys[i].section, section) == 0 && strcmp(config_keys[i].name, name) == 0)
				return set_key(st->cfg, i, value, source, &st->err) == 0;
		char sug[64];
		st->err = xasprintf("unknown key \"%s\" in [%s]%s", name, section,
		                    suggest(section, name, sug, sizeof(sug)));
		return 0;
	}
	if (section[0] == '\0') {
		st->err = xasprintf("key \"%s\" is outside any section; put it under [database], "
		                    "[daemon], [admin], [queue.NAME], [cron] or a plugin's section",
		                    name);
		return 0;
	}
	if (!valid_identifier(section, CONFIG_NAME_MAX - 1)) {
		st->err = xasprintf("section [%s] is not a known section or a valid plugin name", section);
		return 0;
	}
	section_add(section_get(st->cfg, section, source), name, value);
	return 1;
}

/* inih reads lines into a fixed buffer (INI_MAX_LINE, 200 bytes in
 * Debian's build) and would split a longer one in two.  read_line hands
 * inih a short stand-in instead: the same leading blanks, key and separator,
 * so inih classifies it exactly as the real line (key line, continuation,
 * comment or error), with LONG_VALUE_MARK as its value.  on_ini_entry then
 * takes the real value from long_kv_value (a key line) or long_whole_value
 * (a continuation line), both cut the way inih cuts values (check_config
 * compares them with inih's own on the same lines made short). */

/* inih's trailing comment: a ';' after a blank, not at the start of the
 * text searched */
static bool is_inline_comment(const char *p, const char *from)
{
	return *p == ';' && p > from && isspace((unsigned char)p[-1]);
}

/* inih's value: cut at a trailing comment (a ';' after a blank, searched
 * from just after the separator), then leading and trailing blanks dropped */
static char *ini_value(const char *from)
{
	const char *end = from;
	while (*end && !is_inline_comment(end, from))
		end++;
	while (from < end && isspace((unsigned char)*from))
		from++;
	while (end > from && isspace((unsigned char)end[-1]))
		end--;
	return strndup(from, (size_t)(end - from));
}

static char *long_line(struct load_state *st, char *buf, int num, char *full, size_t len)
{
	full[len] = '\0';
	if (len && full[len - 1] == '\n')
		full[--len] = '\0';
	const char *start = full;
	while (*start && isspace((unsigned char)*start))
		start++;
	size_t indent = (size_t)(start - full);
	size_t blanks = indent < 8 ? indent : 8; /* enough to stay indented */
	if (*start == ';' || *start == '#' || *start == '\0') {
		snprintf(buf, (size_t)num, "%.*s;\n", (int)blanks, full);
		return buf;
	}
	const char *sep;
	bool has_sep = false;
	size_t head;
	if (*start == '[') {
		/* a section header (inih ignores what follows its ']'), or,
		 * indented after a key, a continuation line */
		sep = start + 1;
		while (*sep && *sep != ']' && !is_inline_comment(sep, start + 1))
			sep++;
		head = (size_t)(sep - full) + (*sep == ']');
		if (head + 3 > (size_t)num && *sep != ']')
			head = (size_t)num - 3; /* no ']': a syntax error either way */
		else if (head + 3 > (size_t)num && indent > 0)
			head = blanks; /* only a continuation line can be this long */
	} else {
		/* the key ends where inih's does: at '=' or ':', or a trailing
		 * comment; without a separator only the blanks matter (a
		 * continuation line or a syntax error) */
		sep = start;
		while (*sep && *sep != '=' && *sep != ':' && !is_inline_comment(sep, start))
			sep++;
		has_sep = *sep == '=' || *sep == ':';
		head = has_sep ? (size_t)(sep - full) + 1 : blanks;
	}
	if (head + 3 + has_sep > (size_t)num) {
		st->err_line = st->lineno;
		st->err = xasprintf("line is %zu bytes long and its %s does not fit in %d bytes", len,
		                    *start == '[' ? "section header" : "key", num - 3 - has_sep);
		return NULL;
	}
	st->long_kv_value = has_sep ? ini_value(sep + 1) : NULL;
	/* a continuation line's value is the whole line, comment included,
	 * less its blanks (what the system's inih does) */
	size_t end = len;
	while (end > indent && isspace((unsigned char)full[end - 1]))
		end--;
	st->long_whole_value = strndup(start, end - indent);
	if ((has_sep && !st->long_kv_value) || !st->long_whole_value)
		abort();
	snprintf(buf, (size_t)num, "%.*s%s" LONG_VALUE_MARK "\n", (int)head, full, has_sep ? " " : "");
	return buf;
}

/* inih reader: one line per call, counted; a line too long for inih's
 * buffer is read whole (up to INI_LINE_MAX_LONG bytes) and handed over as
 * a stand-in (long_line) */
static char *read_line(char *str, int num, void *stream)
{
	struct load_state *st = stream;
	free(st->long_kv_value);
	free(st->long_whole_value);
	st->long_kv_value = st->long_whole_value = NULL;
	if (st->err || !fgets(str, num, st->file))
		return NULL;
	st->lineno++;
	size_t n = strlen(str);
	if (n < (size_t)num - 1 || str[n - 1] == '\n' || feof(st->file))
		return str;
	size_t cap = 2 * (size_t)num, len = n;
	char *full = malloc(cap);
	if (!full)
		abort();
	memcpy(full, str, n);
	int c;
	size_t total = n; /* bytes of the line; only the first ones are kept */
	while ((c = fgetc(st->file)) != EOF && c != '\n') {
		if (++total > INI_LINE_MAX_LONG + 1)
			continue;
		if (len + 2 >= cap) {
			cap *= 2;
			full = realloc(full, cap);
			if (!full)
				abort();
		}
		full[len++] = (char)c;
	}
	char *ret = NULL;
	if (total > INI_LINE_MAX_LONG) {
		st->err_line = st->lineno;
		st->err = xasprintf("line is %zu bytes long; lines are limited to %d bytes", total,
		                    INI_LINE_MAX_LONG);
	} else {
		ret = long_line(st, str, num, full, len);
	}
	free(full);
	return ret;
}

static int load_file(struct bf_config *cfg, const struct bf_config_args *args, char **err)
{
	const char *path = args->path ? args->path : BACKFILLD_CONFIG_PATH;
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && !args->path_required)
			return 0;
		*err = xasprintf("cannot read config file %s: %s", path, strerror(errno));
		return -1;
	}
	cfg->config_path = xstrdup(path);
	struct load_state st = {.cfg = cfg, .path = path, .file = f};
	int line = ini_parse_stream(read_line, &st, on_ini_entry, &st);
	fclose(f);
	free(st.long_kv_value);
	free(st.long_whole_value);
	if (line == 0 && !st.err)
		return 0;
	if (line < 0 && !st.err) {
		*err = xasprintf("cannot parse config file %s", path);
		return -1;
	}
	if (st.err && (line <= 0 || st.err_line <= line)) {
		/* messages from set_key start with the source, here PATH:LINE */
		const char *msg = st.err;
		char prefix[420];
		int pl = snprintf(prefix, sizeof(prefix), "%s:%d: ", path, st.err_line);
		if (pl > 0 && strncmp(msg, prefix, (size_t)pl) == 0)
			msg += pl;
		*err = xasprintf("%s:%d: %s", path, st.err_line, msg);
	} else {
		*err = xasprintf("%s:%d: syntax error (expected \"[section]\" or \"key = value\")", path, line);
	}
	free(st.err);
	return -1;
}

static int load_env(struct bf_config *cfg, char *const *env, char **err)
{
	if (!env)
		return 0;
	for (size_t i = 0; i < config_nkeys; i++) {
		const char *var = config_keys[i].env;
		if (!var)
			continue;
		size_t vl = strlen(var);
		for (char *const *e = env; *e; e++) {
			if (strncmp(*e, var, vl) == 0 && (*e)[vl] == '=') {
				char source[96];
				snprintf(source, sizeof(source), "environment %s", var);
				if (set_key(cfg, i, *e + vl + 1, source, err) < 0)
					return -1;
			}
		}
	}
	size_t sl = strlen(QUEUE_ENV_SUFFIX);
	for (char *const *e = env; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || (size_t)(eq - *e) <= sl || strncmp(eq - sl, QUEUE_ENV_SUFFIX, sl) != 0)
			continue;
		size_t nl = (size_t)(eq - *e) - sl;
		char name[CONFIG_NAME_MAX * 2];
		if (nl >= sizeof(name))
			nl = sizeof(name) - 1;
		for (size_t j = 0; j < nl; j++)
			name[j] = (char)tolower((unsigned char)(*e)[j]);
		name[nl] = '\0';
		char source[CONFIG_NAME_MAX * 2 + 32];
		snprintf(source, sizeof(source), "environment %.*s", (int)(eq - *e), *e);
		if (set_queue(cfg, name, eq + 1, source, err) < 0)
			return -1;
	}
	return 0;
}

const struct bf_config_key *config_key_by_flag(const char *flag)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].flag, flag) == 0)
			return &config_keys[i];
	return NULL;
}

static int load_overrides(struct bf_config *cfg, const struct bf_config_args *args, char **err)
{
	for (size_t i = 0; i < args->noverrides; i++) {
		const struct bf_config_override *o = &args->overrides[i];
		char source[96];
		snprintf(source, sizeof(source), "flag --%s", o->flag);
		if (strcmp(o->flag, "queue") == 0) {
			const char *eq = strchr(o->value, '=');
			if (!eq) {
				*err = xasprintf("%s: expected NAME=CONCURRENCY, got \"%s\"", source, o->value);
				return -1;
			}
			char name[CONFIG_NAME_MAX * 2];
			snprintf(name, sizeof(name), "%.*s", (int)(eq - o->value), o->value);
			if (set_queue(cfg, name, eq + 1, source, err) < 0)
				return -1;
			continue;
		}
		const struct bf_config_key *k = config_key_by_flag(o->flag);
		if (!k) {
			*err = xasprintf("unknown flag --%s", o->flag);
			return -1;
		}
		if (set_key(cfg, (size_t)(k - config_keys), o->value, source, err) < 0)
			return -1;
	}
	return 0;
}

static size_t key_index(size_t offset)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (config_keys[i].offset == offset)
			return i;
	abort(); /* not in the table: a bug */
}

/* The crontab file's schedules join those of the ini file's [cron]
 * section.  A missing file is fine only at the default path (a package
 * installs none there); any other path must exist. */
static int load_cron_file(struct bf_config *cfg, char **err)
{
	if (cfg->cron_file[0] == '\0')
		return 0;
	size_t i = key_index(OFF(cron_file));
	bool required = strcmp(cfg->cron_file, config_keys[i].def) != 0;
	char *msg = NULL;
	if (crontab_load_file(&cfg->crontab, cfg->cron_file, required, &msg) < 0) {
		*err = required && strncmp(msg, "cannot read", 11) == 0
		           ? xasprintf("%s (set by %s; an empty cron_file means none)", msg, cfg->sources[i])
		           : xasprintf("%s", msg);
		free(msg);
		return -1;
	}
	return 0;
}

static int validate(const struct bf_config *cfg, char **err)
{
	if (config_active_queues(cfg) == 0) {
		*err = xasprintf("no queue has a concurrency above 0: this daemon would run nothing "
		                 "(set [queue.NAME] concurrency or NAME_QUEUE_CONCURRENCY)");
		return -1;
	}
	if (cfg->heartbeat_timeout_s < 2 * cfg->heartbeat_interval_s) {
		size_t ti = 0, ii = 0;
		for (size_t i = 0; i < config_nkeys; i++) {
			if (config_keys[i].offset == OFF(heartbeat_timeout_s))
				ti = i;
			if (config_keys[i].offset == OFF(heartbeat_interval_s))
				ii = i;
		}
		*err = xasprintf("[daemon] heartbeat_timeout = %d (%s) must be at least twice "
		                 "heartbeat_interval = %d (%s), or live daemons would be declared dead",
		                 cfg->heartbeat_timeout_s, cfg->sources[ti], cfg->heartbeat_interval_s,
		                 cfg->sources[ii]);
		return -1;
	}
	return 0;
}

int config_load(const struct bf_config_args *args, struct bf_config **out, char **err)
{
	*out = NULL;
	*err = NULL;
	struct bf_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		abort();
	cfg->sources = calloc(config_nkeys, sizeof(char *));
	if (!cfg->sources)
		abort();
	for (size_t i = 0; i < config_nkeys; i++) {
		if (set_key(cfg, i, config_keys[i].def, "default", err) < 0)
			abort(); /* a bad built-in default is a bug */
	}
	for (size_t i = 0; i < sizeof(default_queues) / sizeof(default_queues[0]); i++) {
		struct bf_queue_config *q = queue_get(cfg, default_queues[i].name, true);
		q->concurrency = default_queues[i].concurrency;
		snprintf(q->source, sizeof(q->source), "default");
	}
	if (load_file(cfg, args, err) < 0 || load_env(cfg, args->environ, err) < 0 ||
	    load_overrides(cfg, args, err) < 0 || load_cron_file(cfg, err) < 0 || validate(cfg, err) < 0) {
		config_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

void config_free(struct bf_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < config_nkeys; i++) {
		enum bf_config_type t = config_keys[i].type;
		if (t == CONFIG_TYPE_STRING || t == CONFIG_TYPE_CONNINFO || t == CONFIG_TYPE_SCHEMA ||
		    t == CONFIG_TYPE_LISTEN || t == CONFIG_TYPE_SECRET || t == CONFIG_TYPE_FILE)
			free(*(char **)(void *)((char *)cfg + config_keys[i].offset));
		if (cfg->sources)
			free(cfg->sources[i]);
	}
	free(cfg->sources);
	for (size_t i = 0; i < cfg->nsections; i++) {
		for (size_t j = 0; j < cfg->sections[i].nkeys; j++) {
			free(cfg->sections[i].keys[j]);
			free(cfg->sections[i].values[j]);
		}
		free(cfg->sections[i].keys);
		free(cfg->sections[i].values);
	}
	free(cfg->sections);
	crontab_clear(&cfg->crontab);
	free(cfg->queues);
	free(cfg->config_path);
	free(cfg);
}

char *config_mask_conninfo(const char *conninfo)
{
	char *out = xstrdup(conninfo);
	/* URL form: scheme://user:PASSWORD@host... */
	char *scheme = strstr(out, "://");
	if (scheme) {
		char *auth = scheme + 3;
		char *at = strchr(auth, '@');
		char *slash = strchr(auth, '/');
		if (at && (!slash || at < slash)) {
			char *colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon) {
				char *masked = xasprintf("%.*s:***%s", (int)(colon - out), out, at);
				free(out);
				out = masked;
			}
		}
	}
	/* key=value form or URL query: (ssl)password [blanks] = [blanks] VALUE */
	for (char *p = out; (p = strstr(p, "password")) != NULL;) {
		char *key = p;
		if (key - out >= 3 && strncmp(key - 3, "ssl", 3) == 0)
			key -= 3;
		bool at_boundary = key == out || isspace((unsigned char)key[-1]) || key[-1] == '?' ||
		                   key[-1] == '&';
		char *v = p + strlen("password");
		while (*v == ' ' || *v == '\t')
			v++;
		if (!at_boundary || *v != '=') {
			p += strlen("password");
			continue;
		}
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		char *end = v;
		if (*end == '\'') {
			end++;
			while (*end && *end != '\'')
				end += (*end == '\\' && end[1]) ? 2 : 1;
			if (*end)
				end++;
		} else {
			while (*end && !isspace((unsigned char)*end) && *end != '&')
				end++;
		}
		char *masked = xasprintf("%.*s***%s", (int)(v - out), out, end);
		size_t skip = (size_t)(v - out) + 3;
		free(out);
		out = masked;
		p = out + skip;
	}
	return out;
}

void config_print(const struct bf_config *cfg, FILE *out)
{
	fprintf(out, "# effective configuration (config file: %s)\n",
	        cfg->config_path ? cfg->config_path : "none");
	const char *section = "";
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct bf_config_key *k = &config_keys[i];
		const char *field = (const char *)cfg + k->offset;
		if (strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(out, "\n[%s]\n", section);
		}
		char value[512];
		switch (k->type) {
		case CONFIG_TYPE_CONNINFO: {
			char *m = config_mask_conninfo(*(char *const *)(const void *)field);
			snprintf(value, sizeof(value), "%s", m);
			free(m);
			break;
		}
		case CONFIG_TYPE_STRING:
		case CONFIG_TYPE_SCHEMA:
		case CONFIG_TYPE_LISTEN:
		case CONFIG_TYPE_FILE:
			snprintf(value, sizeof(value), "%s", *(char *const *)(const void *)field);
			break;
		case CONFIG_TYPE_SECRET:
			snprintf(value, sizeof(value), "%s", (*(char *const *)(const void *)field)[0] ? "***" : "");
			break;
		case CONFIG_TYPE_INT:
			snprintf(value, sizeof(value), "%d", *(const int *)(const void *)field);
			break;
		case CONFIG_TYPE_BOOL:
			snprintf(value, sizeof(value), "%s", *(const bool *)(const void *)field ? "true" : "false");
			break;
		case CONFIG_TYPE_LOG_LEVEL:
			snprintf(value, sizeof(value), "%s",
			         log_level_name(*(const enum bf_log_level *)(const void *)field));
			break;
		case CONFIG_TYPE_LOG_FORMAT:
			snprintf(value, sizeof(value), "%s",
			         *(const enum bf_log_format *)(const void *)field == LOG_FORMAT_JSON ? "json" : "text");
			break;
		}
		fprintf(out, "%s = %s    ; %s\n", k->name, value, cfg->sources[i]);
	}
	for (size_t i = 0; i < cfg->nqueues; i++)
		fprintf(out, "\n[queue.%s]\nconcurrency = %d    ; %s\n", cfg->queues[i].name,
		        cfg->queues[i].concurrency, cfg->queues[i].source);
	for (size_t i = 0; i < cfg->nsections; i++) {
		fprintf(out, "\n[%s]    ; %s\n", cfg->sections[i].name, cfg->sections[i].source);
		for (size_t j = 0; j < cfg->sections[i].nkeys; j++)
			fprintf(out, "%s = %s\n", cfg->sections[i].keys[j], cfg->sections[i].values[j]);
	}
	crontab_print(&cfg->crontab, time(NULL), 3, out);
}

const struct bf_queue_config *config_queue(const struct bf_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nqueues; i++)
		if (strcmp(cfg->queues[i].name, name) == 0)
			return &cfg->queues[i];
	return NULL;
}

const struct bf_plugin_section *config_section(const struct bf_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nsections; i++)
		if (strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	return NULL;
}

size_t config_active_queues(const struct bf_config *cfg)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->nqueues; i++)
		n += cfg->queues[i].concurrency > 0;
	return n;
}

static bool key_equal(const struct bf_config_key *k, const struct bf_config *a, const struct bf_config *b)
{
	const char *fa = (const char *)a + k->offset;
	const char *fb = (const char *)b + k->offset;
	switch (k->type) {
	case CONFIG_TYPE_STRING:
	case CONFIG_TYPE_CONNINFO:
	case CONFIG_TYPE_SCHEMA:
	case CONFIG_TYPE_LISTEN:
	case CONFIG_TYPE_SECRET:
	case CONFIG_TYPE_FILE:
		return strcmp(*(char *const *)(const void *)fa, *(char *const *)(const void *)fb) == 0;
	case CONFIG_TYPE_INT:
		return *(const int *)(const void *)fa == *(const int *)(const void *)fb;
	case CONFIG_TYPE_BOOL:
		return *(const bool *)(const void *)fa == *(const bool *)(const void *)fb;
	case CONFIG_TYPE_LOG_LEVEL:
		return *(const enum bf_log_level *)(const void *)fa == *(const enum bf_log_level *)(const void *)fb;
	case CONFIG_TYPE_LOG_FORMAT:
		return *(const enum bf_log_format *)(const void *)fa == *(const enum bf_log_format *)(const void *)fb;
	}
	return false;
}

static bool sections_equal(const struct bf_config *a, const struct bf_config *b)
{
	if (a->nsections != b->nsections)
		return false;
	for (size_t i = 0; i < a->nsections; i++) {
		const struct bf_plugin_section *sa = &a->sections[i];
		const struct bf_plugin_section *sb = config_section(b, sa->name);
		if (!sb || sa->nkeys != sb->nkeys)
			return false;
		for (size_t j = 0; j < sa->nkeys; j++)
			if (strcmp(sa->keys[j], sb->keys[j]) != 0 || strcmp(sa->values[j], sb->values[j]) != 0)
				return false;
	}
	return true;
}

size_t config_keep_restart_only(struct bf_config *fresh, const struct bf_config *running)
{
	size_t changed = 0;
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct bf_config_key *k = &config_keys[i];
		if (k->reloadable || key_equal(k, fresh, running))
			continue;
		log_warn("reload: [%s] %s changed (%s) but takes effect only after a restart; keeping "
		         "the running value",
		         k->section, k->name, fresh->sources[i]);
		changed++;
		char *ff = (char *)fresh + k->offset;
		const char *rf = (const char *)running + k->offset;
		switch (k->type) {
		case CONFIG_TYPE_STRING:
		case CONFIG_TYPE_CONNINFO:
		case CONFIG_TYPE_SCHEMA:
		case CONFIG_TYPE_LISTEN:
		case CONFIG_TYPE_SECRET:
		case CONFIG_TYPE_FILE: {
			char **slot = (char **)(void *)ff;
			free(*slot);
			*slot = xstrdup(*(char *const *)(const void *)rf);
			break;
		}
		case CONFIG_TYPE_INT:
			*(int *)(void *)ff = *(const int *)(const void *)rf;
			break;
		case CONFIG_TYPE_BOOL:
			*(bool *)(void *)ff = *(const bool *)(const void *)rf;
			break;
		case CONFIG_TYPE_LOG_LEVEL:
			*(enum bf_log_level *)(void *)ff = *(const enum bf_log_level *)(const void *)rf;
			break;
		case CONFIG_TYPE_LOG_FORMAT:
			*(enum bf_log_format *)(void *)ff = *(const enum bf_log_format *)(const void *)rf;
			break;
		}
		set_source(fresh, i, running->sources[i]);
	}
	if (!sections_equal(fresh, running)) {
		log_warn("reload: plugin sections changed; plugins read their configuration only at "
		         "start: restart to apply");
		changed++;
	}
	return changed;
}
