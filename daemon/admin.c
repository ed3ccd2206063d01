/* admin.c -- the metrics, health and admin HTTP endpoint: routing, the
 * bearer-token check, JSON replies, and the endpoint's own database
 * connection for the health check, the cached queue-depth gauges and the
 * DLQ and lock operations (the functions of sql/004_dlq.sql). */
#include "admin.h"

#include <errno.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <backfill/plugin.h>

#include "config.h"
#include "db.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"

#define BODY_MAX (64 * 1024)          /* larger bodies: 413 with a JSON error */
#define BODY_HARD_MAX (1024 * 1024)   /* larger: libevent refuses (413) before we see it */
#define HEADERS_MAX (16 * 1024)       /* request line and headers, for libevent */
#define REQUEST_TIMEOUT_S 10          /* idle or slow connections are closed */
#define GAUGE_CACHE_MS 2000           /* queue-depth gauges are refreshed at most this often */
#define COUNT_CAP 10000               /* gauges count at most this many rows each */
#define LEVELS 64                     /* ... in the first this many (task, priority) pairs of a queue */
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 500
#define LIST_OFFSET_MAX 1000000000000LL
#define LOCKS_SHOWN 100               /* oldest locks listed by /locks/status */
#define STATEMENT_TIMEOUT_MS 5000     /* the loop waits for every statement */
#define CONNECT_TIMEOUT_S "3"
#define RECONNECT_MIN_MS 1000         /* after a failed connect: 1, 2, 4, then 8 s */
#define RECONNECT_MAX_SHIFT 3
#define POOLS_MAX 256
#define PURGE_DEFAULT_DAYS 90         /* as backfill's POST /dlq/cleanup */
#define PURGE_MAX_DAYS 36500.0
#define NOTES_MAX 10000

struct bf_admin {
	struct event_base *base;
	const struct bf_config *cfg;
	const struct bf_loader *loader;
	struct bf_admin_hooks hooks;
	struct evhttp *http;
	bool loopback;   /* the listener accepts local clients only */
	char *schema_q;  /* "schema", quoted */
	char *masked;    /* database URL, password masked, for logs */
	int64_t started_ms;

	PGconn *conn;         /* NULL while disconnected */
	bool was_connected;   /* a connection existed before (the next is a reconnect) */
	int connect_failures; /* in a row */
	int64_t next_connect_ms;
	bool db_up;           /* the last statement or connect worked */
	char db_error[256];   /* why not, one line */

	/* cached gauges */
	int64_t gauges_ms; /* last refresh attempt; 0: never */
	bool gauges_ok;
	struct bf_metrics_queue_depth *depth;
	size_t ndepth;
	int64_t dlq_jobs;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* sql with every "{schema}" replaced by the quoted schema (caller frees). */
static char *with_schema(const struct bf_admin *a, const char *sql)
{
	static const char mark[] = "{schema}";
	struct bf_buf b = {0};
	for (const char *p = sql;;) {
		const char *m = strstr(p, mark);
		if (!m) {
			buf_append(&b, p, strlen(p));
			break;
		}
		buf_append(&b, p, (size_t)(m - p));
		buf_append(&b, a->schema_q, strlen(a->schema_q));
		p = m + sizeof(mark) - 1;
	}
	return b.data;
}

/* s made fit for a log line or a JSON message: printable ASCII (other
 * bytes become '?'), cut to fit size (at least 8) with "...". */
static void printable(const char *s, char *out, size_t size)
{
	size_t len = strlen(s);
	bool cut = len > size - 1;
	size_t keep = cut ? size - 4 : len;
	for (size_t i = 0; i < keep; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (cut)
		memcpy(out + keep, "...", 3);
	out[keep + (cut ? 3 : 0)] = '\0';
}

/* ---- replies -------------------------------------------------------------- */

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	default:
		return "?";
	}
}

static void peer_name(struct evhttp_request *req, char *out, size_t size)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;
	if (c)
		evhttp_connection_get_peer(c, &addr, &port);
	snprintf(out, size, "%s:%u", addr ? addr : "?", (unsigned)port);
}

static void send_body(struct evhttp_request *req, int code, const char *type, const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	struct evbuffer *b = evbuffer_new();
	if (!b)
		abort();
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, NULL, b);
	evbuffer_free(b);
}

/* Sends JSON text (one document) with a final newline. */
static void reply_json_text(struct evhttp_request *req, int code, const char *text)
{
	size_t n = strlen(text);
	char *s = malloc(n + 2);
	if (!s)
		abort();
	memcpy(s, text, n);
	s[n] = '\n';
	send_body(req, code, "application/json", s, n + 1);
	free(s);
}

/* Sends j (reference stolen). */
static void reply_json(struct evhttp_request *req, int code, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(j);
	reply_json_text(req, code, s ? s : "{\"error\":\"cannot build the reply\",\"code\":\"INTERNAL\"}");
	free(s);
}

/* {"error": message, "code": CODE}; the message is made printable ASCII. */
__attribute__((format(printf, 4, 5))) static void reply_error(struct evhttp_request *req, int code,
                                                              const char *error_code, const char *fmt, ...)
{
	va_list ap;
	char *raw;
	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		abort();
	va_end(ap);
	char msg[1024];
	printable(raw, msg, sizeof(msg));
	free(raw);
	reply_json(req, code, json_pack("{s:s, s:s}", "error", msg, "code", error_code));
}

/* A JSON string of s; bytes that are not UTF-8 become '?'. */
static json_t *jstr(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	char *copy = xstrdup(s);
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j ? j : json_string("?");
}

/* ---- database ------------------------------------------------------------- */

static void db_close(struct bf_admin *a)
{
	if (a->conn)
		PQfinish(a->conn);
	a->conn = NULL;
}

static void set_db_error(struct bf_admin *a, const char *msg)
{
	char *line = xstrdup(msg && *msg ? msg : "unknown error");
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	size_t n = strlen(line);
	while (n > 0 && line[n - 1] == ' ')
		line[--n] = '\0';
	printable(line, a->db_error, sizeof(a->db_error));
	free(line);
}

static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* True with a usable connection.  Connects when there is none, unless the
 * last attempt failed less than its back-off ago (then at once false). */
static bool db_ready(struct bf_admin *a)
{
	if (a->conn && PQstatus(a->conn) == CONNECTION_OK)
		return true;
	db_close(a);
	int64_t now = now_ms();
	if (now < a->next_connect_ms)
		return false;
	/* later entries win: the user's URL overrides our defaults, but not the
	 * encoding (replies are JSON, hence UTF-8) */
	const char *keys[] = {"application_name", "connect_timeout", "dbname", "client_encoding", NULL};
	const char *vals[] = {"backfilld admin", CONNECT_TIMEOUT_S, a->cfg->database_url, "UTF8", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c)
		abort();
	PGresult *r = NULL;
	if (PQstatus(c) == CONNECTION_OK) {
		/* Every statement is bounded (the loop waits for it).  Bitmap scans
		 * are off so that the capped counts of the gauges are index scans
		 * that stop at the cap, not bitmaps of every matching row. */
		char sql[120];
		snprintf(sql, sizeof(sql), "SET statement_timeout = %d; SET enable_bitmapscan = off",
		         STATEMENT_TIMEOUT_MS);
		r = PQexec(c, sql);
	}
	if (PQstatus(c) != CONNECTION_OK || PQresultStatus(r) != PGRES_COMMAND_OK) {
		set_db_error(a, PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		metrics_db_error(METRICS_CONN_ADMIN);
		int shift = a->connect_failures < RECONNECT_MAX_SHIFT ? a->connect_failures : RECONNECT_MAX_SHIFT;
		a->connect_failures++;
		a->next_connect_ms = now + ((int64_t)RECONNECT_MIN_MS << shift);
		if (a->connect_failures == 1)
			log_warn("admin: cannot connect to %s: %s (retrying when asked, at most every %d s)", a->masked,
			         a->db_error, (RECONNECT_MIN_MS << RECONNECT_MAX_SHIFT) / 1000);
		a->db_up = false;
		return false;
	}
	PQclear(r);
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	if (a->was_connected) {
		metrics_db_reconnect(METRICS_CONN_ADMIN);
		log_info("admin: reconnected to %s", a->masked);
	}
	a->conn = c;
	a->was_connected = true;
	a->connect_failures = 0;
	a->next_connect_ms = 0;
	return true;
}

/* The HTTP status and code for a failed statement's SQLSTATE. */
static int status_for(const char *state, const char **code)
{
	if (!state)
		state = "";
	if (strcmp(state, "P0002") == 0) {
		*code = "NOT_FOUND";
		return 404;
	}
	if (strcmp(state, "23505") == 0) {
		*code = "CONFLICT";
		return 409;
	}
	if (strncmp(state, "22", 2) == 0) { /* data exception: a bad value from the request */
		*code = "BAD_REQUEST";
		return 400;
	}
	if (strcmp(state, "57014") == 0) {
		*code = "TIMEOUT";
		return 503;
	}
	if (strcmp(state, "3F000") == 0 || strcmp(state, "42P01") == 0 || strcmp(state, "42883") == 0) {
		*code = "SCHEMA_MISSING";
		return 503;
	}
	*code = "DATABASE_ERROR";
	return 500;
}

/* Runs a statement with text parameters on the endpoint's connection.
 * Returns the result (caller PQclear()s), or NULL after replying to req
 * (when req is not NULL) with a JSON error.  A read-only statement whose
 * connection turns out to be broken (the server restarted since) is tried
 * once more on a new connection. */
static PGresult *run(struct bf_admin *a, struct evhttp_request *req, bool read_only, const char *sql,
                     int nparams, const char *const *params)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!db_ready(a)) {
			if (req)
				reply_error(req, 503, "DATABASE_UNAVAILABLE", "database unavailable: %s", a->db_error);
			return NULL;
		}
		PGresult *r = PQexecParams(a->conn, sql, nparams, NULL, params, NULL, NULL, 0);
		ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			a->db_up = true;
			return r;
		}
		if (PQstatus(a->conn) == CONNECTION_BAD) {
			metrics_db_error(METRICS_CONN_ADMIN);
			set_db_error(a, PQerrorMessage(a->conn));
			PQclear(r);
			db_close(a);
			a->db_up = false;
			log_warn("admin: database connection lost: %s", a->db_error);
			if (read_only && attempt == 0)
				continue;
			if (req)
				reply_error(req, 503, "DATABASE_UNAVAILABLE", "database unavailable: %s", a->db_error);
			return NULL;
		}
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		char msg[512];
		printable(primary ? primary : PQerrorMessage(a->conn), msg, sizeof(msg));
		const char *code;
		int status = status_for(state, &code);
		if (status >= 500) {
			metrics_db_error(METRICS_CONN_ADMIN);
			log_warn("admin: statement failed (SQLSTATE %s): %s", state ? state : "?", msg);
		}
		if (req)
			reply_error(req, status, code, "%s", msg);
		a->db_up = true; /* it answered */
		PQclear(r);
		return NULL;
	}
	return NULL;
}

/* A text[] literal of the configured queues (caller frees). */
static char *queues_literal(const struct bf_config *cfg)
{
	struct bf_buf b = {0};
	buf_append(&b, "{", 1);
	for (size_t i = 0; i < cfg->nqueues; i++) {
		if (i)
			buf_append(&b, ",", 1);
		buf_array_text(&b, cfg->queues[i].name);
	}
	buf_append(&b, "}", 1);
	return b.data;
}

static void free_depth(struct bf_admin *a)
{
	for (size_t i = 0; i < a->ndepth; i++)
		free((char *)(uintptr_t)a->depth[i].queue);
	free(a->depth);
	a->depth = NULL;
	a->ndepth = 0;
}

/* Queue depth by configured queue and the DLQ size, at most every
 * GAUGE_CACHE_MS, with bounded work: waiting jobs are counted per task and
 * priority (the pairs found by index probes, at most LEVELS of them) as
 * ranges of the claim's index (jobs_claimable: queue, task, priority,
 * run_at), each range read up to COUNT_CAP rows; running ones through
 * jobs_locked; the DLQ up to COUNT_CAP rows.  A few ms however long the
 * backlog; past LEVELS pairs or COUNT_CAP rows a count is a lower bound. */
static void refresh_gauges(struct bf_admin *a)
{
	int64_t now = now_ms();
	if (a->gauges_ms && now - a->gauges_ms < GAUGE_CACHE_MS)
		return;
	a->gauges_ms = now;
	a->gauges_ok = false;
	free_depth(a);
	char *lit = queues_literal(a->cfg);
	char cap[24], levels[24];
	snprintf(cap, sizeof(cap), "%d", COUNT_CAP);
	snprintf(levels, sizeof(levels), "%d", LEVELS);
	const char *params[] = {lit, cap, levels};
#define WAITING "j.queue = q.name AND j.locked_at IS NULL AND j.attempts < j.max_attempts"
	char *sql = with_schema(
	    a, "SELECT q.name, c.ready, c.scheduled,"
	       " (SELECT count(*) FROM (SELECT 1 FROM {schema}.jobs j WHERE j.queue = q.name"
	       "   AND j.locked_at IS NOT NULL LIMIT $2::int) x)"
	       " FROM unnest($1::text[]) WITH ORDINALITY AS q(name, n)"
	       " CROSS JOIN LATERAL ("
	       "  WITH RECURSIVE lv(t, p, level) AS ("
	       "   SELECT x.task, x.priority, 1 FROM (SELECT j.task, j.priority FROM {schema}.jobs j"
	       "    WHERE " WAITING " ORDER BY j.task, j.priority LIMIT 1) x"
	       "   UNION ALL"
	       "   SELECT x.task, x.priority, lv.level + 1 FROM lv CROSS JOIN LATERAL ("
	       "    SELECT j.task, j.priority FROM {schema}.jobs j WHERE " WAITING
	       "     AND (j.task, j.priority) > (lv.t, lv.p) ORDER BY j.task, j.priority LIMIT 1) x"
	       "   WHERE lv.level < $3::int)"
	       "  SELECT coalesce(sum((SELECT count(*) FROM (SELECT 1 FROM {schema}.jobs j WHERE " WAITING
	       "           AND j.task = lv.t AND j.priority = lv.p AND j.run_at <= now() LIMIT $2::int) x)), 0) AS ready,"
	       "         coalesce(sum((SELECT count(*) FROM (SELECT 1 FROM {schema}.jobs j WHERE " WAITING
	       "           AND j.task = lv.t AND j.priority = lv.p AND j.run_at > now() LIMIT $2::int) x)), 0) AS scheduled"
	       "  FROM lv) c"
	       " ORDER BY q.n");
#undef WAITING
	PGresult *r = run(a, NULL, true, sql, 3, params);
	free(sql);
	free(lit);
	if (!r)
		return;
	int n = PQntuples(r);
	a->depth = calloc((size_t)n + 1, sizeof(*a->depth));
	if (!a->depth)
		abort();
	for (int i = 0; i < n; i++) {
		struct bf_metrics_queue_depth *d = &a->depth[i];
		d->queue = xstrdup(PQgetvalue(r, i, 0));
		d->ready = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		d->scheduled = strtoll(PQgetvalue(r, i, 2), NULL, 10);
		if (d->ready > COUNT_CAP)
			d->ready = COUNT_CAP;
		if (d->scheduled > COUNT_CAP)
			d->scheduled = COUNT_CAP;
		d->running = strtoll(PQgetvalue(r, i, 3), NULL, 10);
	}
	a->ndepth = (size_t)n;
	PQclear(r);
	const char *dparams[] = {cap};
	sql = with_schema(a, "SELECT count(*) FROM (SELECT 1 FROM {schema}.dlq LIMIT $1::int) x");
	r = run(a, NULL, true, sql, 1, dparams);
	free(sql);
	if (!r)
		return;
	a->dlq_jobs = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	a->gauges_ok = true;
}

/* The cached gauges, refreshed if due, are worth showing: not while the
 * database is known to be away (they would be stale). */
static bool gauges_valid(struct bf_admin *a)
{
	refresh_gauges(a);
	return a->gauges_ok && a->db_up;
}

/* ---- requests ------------------------------------------------------------- */

/* The pools, from the dispatcher (out has POOLS_MAX entries). */
static size_t pools(struct bf_admin *a, struct bf_metrics_pool *out)
{
	if (!a->hooks.pools)
		return 0;
	size_t n = a->hooks.pools(a->hooks.arg, out, POOLS_MAX);
	return n < POOLS_MAX ? n : POOLS_MAX;
}

static void handle_metrics(struct bf_admin *a, struct evhttp_request *req)
{
	bool gauges = gauges_valid(a);
	struct bf_metrics_pool pool_info[POOLS_MAX];
	struct bf_metrics_snapshot snap = {
	    .pools = pool_info,
	    .npools = pools(a, pool_info),
	    .queues = gauges ? a->depth : NULL,
	    .nqueues = gauges ? a->ndepth : 0,
	    .dlq_jobs = gauges ? a->dlq_jobs : -1,
	    .up = a->db_up,
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		abort();
	metrics_render(&snap, f);
	if (fclose(f) != 0)
		abort();
	send_body(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

static void handle_health(struct bf_admin *a, struct evhttp_request *req)
{
	PGresult *r = run(a, NULL, true, "SELECT 1", 0, NULL);
	bool ok = r != NULL;
	PQclear(r);
	json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "status", ok ? "ok" : "unavailable", "database",
	                      ok ? "ok" : a->db_error, "version", BACKFILLD_VERSION, "uptime_seconds",
	                      (json_int_t)((now_ms() - a->started_ms) / 1000));
	reply_json(req, ok ? 200 : 503, j);
}

static const char *mutations_mode(const struct bf_admin *a)
{
	if (a->cfg->admin_token[0])
		return "token";
	return a->loopback ? "loopback" : "off";
}

static void handle_status(struct bf_admin *a, struct evhttp_request *req)
{
	bool gauges = gauges_valid(a);
	json_t *st = json_object();
	char abi[32];
	snprintf(abi, sizeof(abi), "%u.%u", (unsigned)BF_PLUGIN_ABI_MAJOR, (unsigned)BF_PLUGIN_ABI_MINOR);
	json_object_set_new(st, "version", json_string(BACKFILLD_VERSION));
	json_object_set_new(st, "plugin_abi", json_string(abi));
	const char *wid = a->hooks.worker_id ? a->hooks.worker_id(a->hooks.arg) : NULL;
	json_object_set_new(st, "worker_id", jstr(wid));
	json_object_set_new(st, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(st, "uptime_seconds", json_integer((json_int_t)((now_ms() - a->started_ms) / 1000)));
	json_object_set_new(st, "schema", json_string(a->cfg->schema));
	json_object_set_new(st, "database", json_pack("{s:b, s:o}", "up", a->db_up, "error",
	                                              a->db_up ? json_null() : jstr(a->db_error)));

	struct bf_metrics_pool pool_info[POOLS_MAX];
	size_t np = pools(a, pool_info);
	json_t *jp = json_array();
	for (size_t i = 0; i < np; i++) {
		const struct bf_metrics_pool *p = &pool_info[i];
		int busy = p->in_flight < p->concurrency ? p->in_flight : p->concurrency;
		json_array_append_new(jp, json_pack("{s:o, s:i, s:i, s:i}", "queue", jstr(p->queue), "concurrency",
		                                    p->concurrency, "busy", busy < 0 ? 0 : busy, "in_flight",
		                                    p->in_flight));
	}
	json_object_set_new(st, "pools", jp);

	json_t *jq = gauges ? json_array() : json_null();
	for (size_t i = 0; gauges && i < a->ndepth; i++) {
		const struct bf_metrics_queue_depth *d = &a->depth[i];
		json_array_append_new(jq, json_pack("{s:o, s:I, s:I, s:I}", "queue", jstr(d->queue), "ready",
		                                    (json_int_t)d->ready, "scheduled", (json_int_t)d->scheduled,
		                                    "running", (json_int_t)d->running));
	}
	json_object_set_new(st, "queues", jq);
	json_object_set_new(st, "queue_count_cap", json_integer(COUNT_CAP));
	json_object_set_new(st, "dlq",
	                    json_pack("{s:b, s:i, s:o}", "processor_enabled", a->cfg->dlq_processor_interval_s > 0,
	                              "processor_interval_s", a->cfg->dlq_processor_interval_s, "jobs",
	                              gauges ? json_integer((json_int_t)a->dlq_jobs) : json_null()));

	json_t *plugins = json_array();
	for (size_t i = 0; i < loader_nplugins(a->loader); i++)
		json_array_append_new(plugins, jstr(loader_plugin_name(a->loader, i)));
	json_object_set_new(st, "plugins", plugins);
	json_t *tasks = json_array();
	for (size_t i = 0; i < loader_ntasks(a->loader); i++)
		json_array_append_new(tasks, jstr(loader_task(a->loader, i)->name));
	json_object_set_new(st, "tasks", tasks);
	json_object_set_new(st, "admin", json_pack("{s:s, s:s}", "listen", a->cfg->admin_listen,
	                                           "changing_endpoints", mutations_mode(a)));
	reply_json(req, 200, st);
}

/* Strict decimal in [min, max]. */
static bool parse_int64(const char *s, long long min, long long max, long long *out)
{
	if (!s || !*s || strlen(s) > 19 || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	if (errno || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static void handle_dlq_list(struct bf_admin *a, struct evhttp_request *req)
{
	static const char *const names[] = {"limit", "offset", "task", "queue", "failed_after", "failed_before"};
	const char *values[6] = {NULL};
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		evhttp_clear_headers(&q);
		reply_error(req, 400, "BAD_REQUEST", "malformed query string");
		return;
	}
	for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
		size_t i = 0;
		while (i < 6 && strcmp(kv->key, names[i]) != 0)
			i++;
		if (i == 6 || values[i]) {
			reply_error(req, 400, "BAD_REQUEST",
			            "%s query parameter \"%.64s\" (known: limit, offset, task, queue, "
			            "failed_after, failed_before)",
			            i == 6 ? "unknown" : "repeated", kv->key);
			evhttp_clear_headers(&q);
			return;
		}
		values[i] = kv->value;
	}
	long long limit = LIST_LIMIT_DEFAULT, offset = 0;
	if ((values[0] && !parse_int64(values[0], 1, LIST_LIMIT_MAX, &limit)) ||
	    (values[1] && !parse_int64(values[1], 0, LIST_OFFSET_MAX, &offset))) {
		reply_error(req, 400, "BAD_REQUEST", "limit must be an integer from 1 to %d, offset one from 0",
		            LIST_LIMIT_MAX);
		evhttp_clear_headers(&q);
		return;
	}
	char lim[24], off[24];
	snprintf(lim, sizeof(lim), "%lld", limit);
	snprintf(off, sizeof(off), "%lld", offset);
	const char *params[] = {values[2], values[3], values[4], values[5], lim, off};
	char *sql = with_schema(
	    a, "WITH f AS (SELECT d.* FROM {schema}.dlq d"
	       "  WHERE ($1::text IS NULL OR d.task = $1) AND ($2::text IS NULL OR d.queue = $2)"
	       "    AND ($3::timestamptz IS NULL OR d.failed_at >= $3::timestamptz)"
	       "    AND ($4::timestamptz IS NULL OR d.failed_at <= $4::timestamptz)),"
	       " page AS (SELECT * FROM f ORDER BY f.failed_at DESC, f.id DESC LIMIT $5::int OFFSET $6::bigint),"
	       " total AS (SELECT count(*) AS n FROM f)"
	       " SELECT jsonb_build_object("
	       "  'jobs', coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.failed_at DESC, p.id DESC) FROM page p),"
	       "                   '[]'::jsonb),"
	       "  'total', (SELECT n FROM total), 'limit', $5::int, 'offset', $6::bigint,"
	       "  'has_more', (SELECT n FROM total) > $5::int + $6::bigint)::text");
	PGresult *r = run(a, req, true, sql, 6, params);
	free(sql);
	evhttp_clear_headers(&q);
	if (!r)
		return;
	reply_json_text(req, 200, PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void handle_dlq_stats(struct bf_admin *a, struct evhttp_request *req)
{
	char *sql = with_schema(a, "SELECT {schema}.dlq_stats()::text");
	PGresult *r = run(a, req, true, sql, 0, NULL);
	free(sql);
	if (!r)
		return;
	reply_json_text(req, 200, PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void handle_dlq_show(struct bf_admin *a, struct evhttp_request *req, long long id)
{
	char ids[24];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[] = {ids};
	char *sql = with_schema(a, "SELECT to_jsonb(d)::text FROM {schema}.dlq d WHERE d.id = $1::bigint");
	PGresult *r = run(a, req, true, sql, 1, params);
	free(sql);
	if (!r)
		return;
	if (PQntuples(r) == 0)
		reply_error(req, 404, "NOT_FOUND", "dlq row %lld does not exist", id);
	else
		reply_json_text(req, 200, PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void handle_dlq_delete(struct bf_admin *a, struct evhttp_request *req, long long id, const char *who)
{
	char ids[24];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[] = {ids};
	char *sql = with_schema(a, "SELECT {schema}.dlq_delete($1::bigint)");
	PGresult *r = run(a, req, false, sql, 1, params);
	free(sql);
	if (!r)
		return;
	bool deleted = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!deleted) {
		reply_error(req, 404, "NOT_FOUND", "dlq row %lld does not exist", id);
		return;
	}
	a->gauges_ms = 0; /* the DLQ size changed */
	log_info("admin: dlq row %lld deleted (request from %s)", id, who);
	reply_json(req, 200, json_pack("{s:b, s:I}", "deleted", 1, "id", (json_int_t)id));
}

/* The request body as a JSON object whose keys are all in allowed (an
 * empty body is {}); NULL after replying 4xx.  Caller decrefs. */
static json_t *body_object(struct evhttp_request *req, const char *const *allowed, const char *allowed_text)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > BODY_MAX) {
		reply_error(req, 413, "BODY_TOO_LARGE", "request body is %zu bytes; the limit is %d", len, BODY_MAX);
		return NULL;
	}
	if (len == 0)
		return json_object();
	json_error_t e;
	json_t *j = json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		reply_error(req, 400, "BAD_JSON", "request body is not valid JSON: %s (line %d, column %d)", e.text,
		            e.line, e.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		reply_error(req, 400, "BAD_JSON", "request body must be a JSON object");
		return NULL;
	}
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v)
	{
		bool known = false;
		for (const char *const *k = allowed; *k; k++)
			known |= strcmp(*k, key) == 0;
		if (!known) {
			reply_error(req, 400, "BAD_REQUEST", "unknown field \"%.64s\" (known: %s)", key, allowed_text);
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

/* An optional string field: true with *out NULL when absent or null. */
static bool opt_string(struct evhttp_request *req, const json_t *body, const char *name, size_t max,
                       const char **out)
{
	const json_t *v = json_object_get(body, name);
	*out = NULL;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
		reply_error(req, 400, "BAD_REQUEST", "\"%s\" must be a string of at most %zu bytes without NUL", name,
		            max);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static void handle_dlq_requeue(struct bf_admin *a, struct evhttp_request *req, long long id, const char *who)
{
	static const char *const allowed[] = {"notes", NULL};
	json_t *body = body_object(req, allowed, "notes");
	if (!body)
		return;
	const char *notes;
	if (!opt_string(req, body, "notes", NOTES_MAX, &notes)) {
		json_decref(body);
		return;
	}
	char ids[24];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[] = {ids, notes};
	char *sql = with_schema(a, "SELECT jsonb_build_object('status', 'requeued', 'dlq_id', $1::bigint,"
	                           " 'job_id', r.id, 'job', to_jsonb(r))::text, r.id"
	                           " FROM {schema}.dlq_requeue($1::bigint, $2::text) r");
	PGresult *r = run(a, req, false, sql, 2, params);
	free(sql);
	json_decref(body);
	if (!r)
		return;
	a->gauges_ms = 0; /* a job more */
	log_info("admin: dlq row %lld requeued as job %s (request from %s)", id, PQgetvalue(r, 0, 1), who);
	reply_json_text(req, 200, PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void handle_dlq_purge(struct bf_admin *a, struct evhttp_request *req, const char *who)
{
	static const char *const allowed[] = {"older_than_days", "older_than_seconds", "task", "queue", "dry_run",
	                                      NULL};
	json_t *body = body_object(req, allowed, "older_than_days, older_than_seconds, task, queue, dry_run");
	if (!body)
		return;
	const json_t *days = json_object_get(body, "older_than_days");
	const json_t *secs = json_object_get(body, "older_than_seconds");
	const json_t *dry = json_object_get(body, "dry_run");
	const char *task, *queue;
	double seconds = PURGE_DEFAULT_DAYS * 86400.0;
	const char *bad = NULL;
	if (days && secs)
		bad = "give older_than_days or older_than_seconds, not both";
	else if (days && (!json_is_number(days) || !(json_number_value(days) >= 0) ||
	                  json_number_value(days) > PURGE_MAX_DAYS))
		bad = "older_than_days must be a number from 0 to 36500";
	else if (secs && (!json_is_number(secs) || !(json_number_value(secs) >= 0) ||
	                  json_number_value(secs) > PURGE_MAX_DAYS * 86400.0))
		bad = "older_than_seconds must be a number from 0 to 3153600000";
	else if (dry && !json_is_boolean(dry))
		bad = "dry_run must be true or false";
	if (bad) {
		reply_error(req, 400, "BAD_REQUEST", "%s", bad);
		json_decref(body);
		return;
	}
	if (!opt_string(req, body, "task", 128, &task) || !opt_string(req, body, "queue", 128, &queue)) {
		json_decref(body);
		return;
	}
	if (days)
		seconds = json_number_value(days) * 86400.0;
	else if (secs)
		seconds = json_number_value(secs);
	bool dry_run = dry && json_is_true(dry);
	char sec_text[40];
	snprintf(sec_text, sizeof(sec_text), "%.3f", seconds);
	const char *params[] = {sec_text, task, queue, dry_run ? "true" : "false"};
	char *sql = with_schema(
	    a, "WITH r AS (SELECT * FROM {schema}.dlq_purge(make_interval(secs => $1::double precision),"
	       "                                           $2::text, $3::text, $4::boolean))"
	       " SELECT jsonb_build_object('dry_run', $4::boolean, 'deleted_count', coalesce(sum(r.deleted), 0),"
	       "  'cutoff', now() - make_interval(secs => $1::double precision),"
	       "  'affected', coalesce(jsonb_agg(jsonb_build_object('task', r.task, 'queue', r.queue,"
	       "                                                    'count', r.deleted)"
	       "                                 ORDER BY r.task, r.queue), '[]'::jsonb))::text,"
	       " coalesce(sum(r.deleted), 0) FROM r");
	PGresult *r = run(a, req, false, sql, 4, params);
	free(sql);
	if (!r) {
		json_decref(body);
		return;
	}
	if (!dry_run)
		a->gauges_ms = 0;
	char task_shown[140], queue_shown[140];
	printable(task ? task : "", task_shown, sizeof(task_shown));
	printable(queue ? queue : "", queue_shown, sizeof(queue_shown));
	log_info("admin: dlq purge of rows older than %.0f s%s%s%s%s: %s %s row(s) (request from %s)", seconds,
	         task ? ", task " : "", task_shown, queue ? ", queue " : "", queue_shown,
	         dry_run ? "would delete" : "deleted", PQgetvalue(r, 0, 1), who);
	reply_json_text(req, 200, PQgetvalue(r, 0, 0));
	PQclear(r);
	json_decref(body); /* task and queue point into it */
}

/* Locks and workers.  "Stale" uses the running configuration's timeouts,
 * with the rules of release_stale_locks (sql/004_dlq.sql): a lock whose
 * owner is not a registered worker and older than its timeout; a serial
 * lock whose job is still locked by its owner is never stale. */
static void handle_locks(struct bf_admin *a, struct evhttp_request *req)
{
	char qt[24], jt[24], shown[24];
	snprintf(qt, sizeof(qt), "%d", a->cfg->stale_queue_lock_timeout_s);
	snprintf(jt, sizeof(jt), "%d", a->cfg->stale_job_lock_timeout_s);
	snprintf(shown, sizeof(shown), "%d", LOCKS_SHOWN);
	const char *params[] = {qt, jt, shown};
	char *sql = with_schema(
	    a,
	    "WITH jl AS MATERIALIZED (SELECT j.id, j.task, j.queue, j.attempts, j.max_attempts, j.locked_by,"
	    "   j.locked_at, round(extract(epoch FROM now() - j.locked_at)::numeric, 3) AS locked_seconds,"
	    "   w.id IS NOT NULL AS owner_registered,"
	    "   w.id IS NOT NULL AND w.heartbeat_at >= now() - w.heartbeat_timeout AS owner_alive,"
	    "   w.id IS NULL AND j.locked_at < now() - make_interval(secs => $2::int) AS is_stale"
	    "  FROM {schema}.jobs j LEFT JOIN {schema}.workers w ON w.id = j.locked_by"
	    "  WHERE j.locked_at IS NOT NULL),"
	    " sl AS MATERIALIZED (SELECT s.serial_key, s.job_id, s.locked_by, s.locked_at,"
	    "   round(extract(epoch FROM now() - s.locked_at)::numeric, 3) AS locked_seconds,"
	    "   w.id IS NOT NULL AS owner_registered,"
	    "   w.id IS NULL AND s.locked_at < now() - make_interval(secs => $1::int)"
	    "     AND NOT EXISTS (SELECT 1 FROM {schema}.jobs j WHERE j.id = s.job_id"
	    "                     AND j.locked_by = s.locked_by AND j.locked_at IS NOT NULL) AS is_stale"
	    "  FROM {schema}.serial_locks s LEFT JOIN {schema}.workers w ON w.id = s.locked_by),"
	    " wk AS MATERIALIZED (SELECT w.id, w.host, w.pid, w.version, w.queues, w.started_at, w.heartbeat_at,"
	    "   round(extract(epoch FROM now() - w.heartbeat_at)::numeric, 3) AS heartbeat_age_seconds,"
	    "   extract(epoch FROM w.heartbeat_timeout)::int AS heartbeat_timeout_seconds,"
	    "   w.heartbeat_at >= now() - w.heartbeat_timeout AS alive"
	    "  FROM {schema}.workers w),"
	    " c AS (SELECT (SELECT count(*) FROM jl WHERE jl.is_stale) AS stale_jobs,"
	    "   (SELECT count(*) FROM sl WHERE sl.is_stale) AS stale_serial,"
	    "   (SELECT count(*) FROM wk WHERE NOT wk.alive) AS dead_workers)"
	    " SELECT jsonb_build_object("
	    "  'status', CASE WHEN c.stale_jobs + c.stale_serial + c.dead_workers = 0 THEN 'healthy'"
	    "                 ELSE 'warning' END,"
	    "  'thresholds', jsonb_build_object('stale_queue_lock_timeout_seconds', $1::int,"
	    "                                   'stale_job_lock_timeout_seconds', $2::int),"
	    "  'job_locks_total', (SELECT count(*) FROM jl), 'stale_job_locks', c.stale_jobs,"
	    "  'job_locks', coalesce((SELECT jsonb_agg(to_jsonb(x) ORDER BY x.locked_at, x.id) FROM"
	    "     (SELECT * FROM jl ORDER BY jl.locked_at, jl.id LIMIT $3::int) x), '[]'::jsonb),"
	    "  'serial_locks_total', (SELECT count(*) FROM sl), 'stale_serial_locks', c.stale_serial,"
	    "  'serial_locks', coalesce((SELECT jsonb_agg(to_jsonb(x) ORDER BY x.locked_at, x.serial_key) FROM"
	    "     (SELECT * FROM sl ORDER BY sl.locked_at, sl.serial_key LIMIT $3::int) x), '[]'::jsonb),"
	    "  'dead_workers', c.dead_workers,"
	    "  'workers', coalesce((SELECT jsonb_agg(to_jsonb(wk) ORDER BY wk.started_at, wk.id) FROM wk),"
	    "                      '[]'::jsonb))::text"
	    " FROM c");
	PGresult *r = run(a, req, true, sql, 3, params);
	free(sql);
	if (!r)
		return;
	reply_json_text(req, 200, PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* ---- routing -------------------------------------------------------------- */

enum route {
	ROUTE_METRICS,     /* GET /metrics */
	ROUTE_HEALTH,      /* GET /health */
	ROUTE_STATUS,      /* GET /status */
	ROUTE_DLQ_LIST,    /* GET /dlq */
	ROUTE_DLQ_STATS,   /* GET /dlq/stats */
	ROUTE_DLQ_PURGE,   /* POST /dlq/purge */
	ROUTE_DLQ_ENTRY,   /* GET, DELETE /dlq/{id} */
	ROUTE_DLQ_REQUEUE, /* POST /dlq/{id}/requeue */
	ROUTE_LOCKS,       /* GET /locks/status */
	ROUTE_NONE,        /* no such endpoint */
};

#define READ_METHODS (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)

static const struct {
	const char *path;         /* NULL: matched by pattern */
	unsigned methods;         /* allowed */
	unsigned changing;        /* methods that change data: token or loopback needed */
	const char *allow;        /* Allow header */
} routes[] = {
    [ROUTE_METRICS] = {"/metrics", READ_METHODS, 0, "GET, HEAD"},
    [ROUTE_HEALTH] = {"/health", READ_METHODS, 0, "GET, HEAD"},
    [ROUTE_STATUS] = {"/status", READ_METHODS, 0, "GET, HEAD"},
    [ROUTE_DLQ_LIST] = {"/dlq", READ_METHODS, 0, "GET, HEAD"},
    [ROUTE_DLQ_STATS] = {"/dlq/stats", READ_METHODS, 0, "GET, HEAD"},
    [ROUTE_DLQ_PURGE] = {"/dlq/purge", EVHTTP_REQ_POST, EVHTTP_REQ_POST, "POST"},
    [ROUTE_DLQ_ENTRY] = {NULL, READ_METHODS | EVHTTP_REQ_DELETE, EVHTTP_REQ_DELETE, "GET, HEAD, DELETE"},
    [ROUTE_DLQ_REQUEUE] = {NULL, EVHTTP_REQ_POST, EVHTTP_REQ_POST, "POST"},
    [ROUTE_LOCKS] = {"/locks/status", READ_METHODS, 0, "GET, HEAD"},
};

/* The route of path; for /dlq/{id}[/requeue] also the id, or *bad_id. */
static enum route match(const char *path, long long *id, bool *bad_id)
{
	for (size_t i = 0; i < ROUTE_NONE; i++)
		if (routes[i].path && strcmp(routes[i].path, path) == 0)
			return (enum route)i;
	if (strncmp(path, "/dlq/", 5) != 0)
		return ROUTE_NONE;
	const char *p = path + 5;
	const char *slash = strchr(p, '/');
	if (slash && strcmp(slash, "/requeue") != 0)
		return ROUTE_NONE;
	char digits[32];
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	if (n >= sizeof(digits)) {
		*bad_id = true;
	} else {
		memcpy(digits, p, n);
		digits[n] = '\0';
		*bad_id = !parse_int64(digits, 1, INT64_MAX, id);
	}
	return slash ? ROUTE_DLQ_REQUEUE : ROUTE_DLQ_ENTRY;
}

static bool token_equal(const char *given, const char *want)
{
	size_t gl = strlen(given), wl = strlen(want);
	unsigned char diff = gl != wl;
	for (size_t i = 0; i < wl; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? given[i] : 0);
	return diff == 0;
}

/* May this request change data?  Replies 401 or 403 when not. */
static bool allowed_to_change(struct bf_admin *a, struct evhttp_request *req, const char *what, const char *who)
{
	const char *token = a->cfg->admin_token;
	if (!token[0]) {
		if (a->loopback)
			return true;
		log_warn("admin: %s from %s refused: changing endpoints are off (listener %s is not loopback and "
		         "[admin] token is not set)",
		         what, who, a->cfg->admin_listen);
		reply_error(req, 403, "FORBIDDEN",
		            "changing endpoints are off: the admin endpoint listens on %s, which is not "
		            "loopback, and [admin] token is not set",
		            a->cfg->admin_listen);
		return false;
	}
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	const char *given = NULL;
	if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		given = h + 7;
		while (*given == ' ')
			given++;
	}
	if (given && token_equal(given, token))
		return true;
	log_warn("admin: %s from %s refused: %s", what, who, h ? "wrong bearer token" : "no bearer token");
	evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer realm=\"backfilld\"");
	reply_error(req, 401, "UNAUTHORIZED", "%s", "this endpoint needs the header \"Authorization: Bearer TOKEN\" "
	                                            "with the token of [admin] token");
	return false;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct bf_admin *a = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path || !*path)
		path = "/";
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	char shown[128], who[80], what[200];
	printable(path, shown, sizeof(shown));
	peer_name(req, who, sizeof(who));
	snprintf(what, sizeof(what), "%s %s", method_name(m), shown);
	log_debug("admin: %s from %s", what, who);

	long long id = 0;
	bool bad_id = false;
	enum route rt = match(path, &id, &bad_id);
	if (rt == ROUTE_NONE) {
		reply_error(req, 404, "NOT_FOUND",
		            "no endpoint %s (endpoints: /metrics, /health, /status, /dlq, /dlq/stats, "
		            "/dlq/{id}, /dlq/{id}/requeue, /dlq/purge, /locks/status)",
		            shown);
		return;
	}
	if (!(routes[rt].methods & (unsigned)m)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", routes[rt].allow);
		reply_error(req, 405, "METHOD_NOT_ALLOWED", "%s is not allowed on %s (allowed: %s)", method_name(m), shown,
		            routes[rt].allow);
		return;
	}
	if (bad_id) {
		reply_error(req, 400, "BAD_ID", "the dlq row id in %s must be a positive integer", shown);
		return;
	}
	if ((routes[rt].changing & (unsigned)m) && !allowed_to_change(a, req, what, who))
		return;
	switch (rt) {
	case ROUTE_METRICS:
		handle_metrics(a, req);
		break;
	case ROUTE_HEALTH:
		handle_health(a, req);
		break;
	case ROUTE_STATUS:
		handle_status(a, req);
		break;
	case ROUTE_DLQ_LIST:
		handle_dlq_list(a, req);
		break;
	case ROUTE_DLQ_STATS:
		handle_dlq_stats(a, req);
		break;
	case ROUTE_DLQ_PURGE:
		handle_dlq_purge(a, req, who);
		break;
	case ROUTE_DLQ_ENTRY:
		if (m == EVHTTP_REQ_DELETE)
			handle_dlq_delete(a, req, id, who);
		else
			handle_dlq_show(a, req, id);
		break;
	case ROUTE_DLQ_REQUEUE:
		handle_dlq_requeue(a, req, id, who);
		break;
	case ROUTE_LOCKS:
		handle_locks(a, req);
		break;
	case ROUTE_NONE:
		break;
	}
}

/* ---- life cycle ----------------------------------------------------------- */

int admin_new(struct event_base *base, const struct bf_config *cfg, const struct bf_loader *loader,
              const struct bf_admin_hooks *hooks, struct bf_admin **out)
{
	*out = NULL;
	if (!cfg->admin_listen[0]) {
		log_info("admin: HTTP endpoint disabled ([admin] listen is empty)");
		return 0;
	}
	char host[64];
	int port;
	bool loopback;
	if (!config_parse_listen(cfg->admin_listen, host, sizeof(host), &port, &loopback)) {
		log_error("admin: [admin] listen = \"%s\" is not HOST:PORT", cfg->admin_listen); /* config checked it */
		return -1;
	}
	struct bf_admin *a = calloc(1, sizeof(*a));
	if (!a)
		abort();
	a->base = base;
	a->cfg = cfg;
	a->loader = loader;
	if (hooks)
		a->hooks = *hooks;
	a->loopback = loopback;
	a->schema_q = xasprintf("\"%s\"", cfg->schema);
	a->masked = config_mask_conninfo(cfg->database_url);
	a->started_ms = now_ms();
	a->dlq_jobs = -1;
	snprintf(a->db_error, sizeof(a->db_error), "not connected yet");
	a->http = evhttp_new(base);
	if (!a->http)
		abort();
	evhttp_set_max_body_size(a->http, BODY_HARD_MAX);
	evhttp_set_max_headers_size(a->http, HEADERS_MAX);
	evhttp_set_timeout(a->http, REQUEST_TIMEOUT_S);
	/* every method reaches us, so that a wrong one gets a JSON 405 */
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	                                        EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
	                                        EVHTTP_REQ_TRACE);
	/* read (and drop) an oversized body before answering, so the client sees the 413 */
	evhttp_set_flags(a->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(a->http, on_request, a);
	if (!evhttp_bind_socket_with_handle(a->http, host, (ev_uint16_t)port)) {
		log_error("admin: cannot listen on %s: %s (set [admin] listen to a free HOST:PORT, or to empty "
		          "to run without the HTTP endpoint)",
		          cfg->admin_listen, strerror(errno));
		admin_free(a);
		return -1;
	}
	if (cfg->admin_token[0] && strlen(cfg->admin_token) < 16)
		log_warn("admin: [admin] token is shorter than 16 characters; use a long random one");
	log_info("admin: metrics, health and admin API on http://%s/; changing endpoints %s", cfg->admin_listen,
	         cfg->admin_token[0] ? "need the bearer token"
	         : loopback          ? "are open to local clients (loopback)"
	                             : "are off (not loopback and no [admin] token)");
	if (!loopback)
		log_warn("admin: %s is not a loopback address: anyone who can reach it reads metrics, "
		         "status, locks and the payloads of dead jobs",
		         cfg->admin_listen);
	*out = a;
	return 0;
}

void admin_reconfigure(struct bf_admin *a, const struct bf_config *cfg)
{
	if (!a)
		return;
	a->cfg = cfg;
	a->gauges_ms = 0; /* the queue list may have changed */
}

void admin_free(struct bf_admin *a)
{
	if (!a)
		return;
	if (a->http)
		evhttp_free(a->http);
	db_close(a);
	free_depth(a);
	free(a->schema_q);
	free(a->masked);
	free(a);
}
