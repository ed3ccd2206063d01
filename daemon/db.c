/* db.c -- database connection handling for the event loop's connection. */
#include "db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "metrics.h"

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

void db_init(struct bf_db *db, const char *conninfo, const char *schema)
{
	memset(db, 0, sizeof(*db));
	db->conninfo = xstrdup(conninfo);
	db->schema = xstrdup(schema);
	if (asprintf(&db->schema_q, "\"%s\"", schema) < 0 || asprintf(&db->channel, "%s.jobs", schema) < 0)
		abort();
	db->masked = config_mask_conninfo(conninfo);
}

void db_cleanup(struct bf_db *db)
{
	db_disconnect(db);
	free(db->conninfo);
	free(db->schema);
	free(db->schema_q);
	free(db->channel);
	free(db->masked);
	memset(db, 0, sizeof(*db));
}

static void one_line(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

static void notice_to_log(void *arg, const char *message)
{
	(void)arg;
	char *msg = xstrdup(message);
	one_line(msg);
	log_debug("database: %s", msg);
	free(msg);
}

int db_connect(struct bf_db *db, bool listen)
{
	db_disconnect(db);
	/* later entries win: the user's URL overrides our defaults */
	const char *keys[] = {"application_name", "connect_timeout", "dbname", NULL};
	const char *vals[] = {"backfilld", "10", db->conninfo, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c)
		abort();
	if (PQstatus(c) != CONNECTION_OK) {
		char *msg = xstrdup(PQerrorMessage(c));
		one_line(msg);
		log_error("database: cannot connect to %s: %s", db->masked, msg);
		metrics_db_error(METRICS_CONN_JOBS);
		free(msg);
		PQfinish(c);
		return -1;
	}
	db->conn = c;
	PQsetNoticeProcessor(c, notice_to_log, NULL);
	if (listen) {
		char sql[160];
		snprintf(sql, sizeof(sql), "LISTEN \"%s\"", db->channel);
		PGresult *r = db_exec(db, "listen", sql, 0, NULL);
		if (!r) {
			db_disconnect(db);
			return -1;
		}
		PQclear(r);
	}
	return 0;
}

void db_disconnect(struct bf_db *db)
{
	PQclear(db->pending);
	db->pending = NULL;
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
}

bool db_connected(const struct bf_db *db) { return db->conn != NULL; }

int db_socket(const struct bf_db *db) { return db->conn ? PQsocket(db->conn) : -1; }

static PGresult *check_result(struct bf_db *db, const char *what, PGresult *r)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	metrics_db_error(METRICS_CONN_JOBS);
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
	char *msg = xstrdup(r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
	one_line(msg);
	bool broken = PQstatus(db->conn) == CONNECTION_BAD;
	log_error("database: %s failed: %s%s", what, msg[0] ? msg : "(no message)",
	          broken ? " (connection lost)" : "");
	free(msg);
	PQclear(r);
	if (broken)
		db_disconnect(db);
	return NULL;
}

PGresult *db_exec(struct bf_db *db, const char *what, const char *sql, int nparams,
                  const char *const *params)
{
	if (!db->conn)
		return NULL;
	if (nparams == 0) /* simple protocol: allows several statements (migrations) */
		return check_result(db, what, PQexec(db->conn, sql));
	return check_result(db, what, PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0));
}

PGresult *db_exec_prepared(struct bf_db *db, const char *what, const char *name, int nparams,
                           const char *const *params)
{
	if (!db->conn)
		return NULL;
	return check_result(db, what, PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0));
}

static void log_lost(struct bf_db *db, const char *what)
{
	char *msg = xstrdup(PQerrorMessage(db->conn));
	one_line(msg);
	metrics_db_error(METRICS_CONN_JOBS);
	log_error("database: %s: connection lost: %s", what, msg);
	free(msg);
	db_disconnect(db);
}

static int send_failed(struct bf_db *db, const char *what)
{
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		log_lost(db, what);
	} else {
		char *msg = xstrdup(PQerrorMessage(db->conn));
		one_line(msg);
		metrics_db_error(METRICS_CONN_JOBS);
		log_error("database: %s could not be sent: %s", what, msg);
		free(msg);
	}
	return -1;
}

int db_send_prepared(struct bf_db *db, const char *what, const char *name, int nparams,
                     const char *const *params)
{
	if (!db->conn)
		return -1;
	if (PQsendQueryPrepared(db->conn, name, nparams, params, NULL, NULL, 0))
		return 0;
	return send_failed(db, what);
}

int db_send(struct bf_db *db, const char *what, const char *sql)
{
	if (!db->conn)
		return -1;
	if (PQsendQuery(db->conn, sql))
		return 0;
	return send_failed(db, what);
}

void db_cancel(struct bf_db *db)
{
	if (!db->conn)
		return;
	PGcancel *c = PQgetCancel(db->conn);
	if (!c)
		return;
	char err[256];
	(void)PQcancel(c, err, sizeof(err));
	PQfreeCancel(c);
}

/* Every result of the statement was read: check the one it produced (the
 * first error wins). */
static int finish_result(struct bf_db *db, const char *what, PGresult **out)
{
	PGresult *r = db->pending;
	db->pending = NULL;
	*out = check_result(db, what, r);
	return *out || db->conn ? 1 : -1;
}

static void keep_result(struct bf_db *db, PGresult *r)
{
	ExecStatusType st = db->pending ? PQresultStatus(db->pending) : PGRES_EMPTY_QUERY;
	if (db->pending && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		PQclear(r); /* keep the error */
		return;
	}
	PQclear(db->pending);
	db->pending = r;
}

int db_read_result(struct bf_db *db, const char *what, PGresult **out)
{
	*out = NULL;
	if (!db->conn)
		return -1;
	if (!PQconsumeInput(db->conn)) {
		log_lost(db, what);
		return -1;
	}
	while (!PQisBusy(db->conn)) {
		PGresult *r = PQgetResult(db->conn);
		if (!r)
			return finish_result(db, what, out);
		keep_result(db, r);
	}
	return 0;
}

int db_wait_result(struct bf_db *db, const char *what, PGresult **out)
{
	*out = NULL;
	if (!db->conn)
		return -1;
	PGresult *r;
	while ((r = PQgetResult(db->conn)) != NULL)
		keep_result(db, r);
	return finish_result(db, what, out);
}

int db_prepare(struct bf_db *db, const char *name, const char *sql, int nparams)
{
	if (!db->conn)
		return -1;
	PGresult *r = check_result(db, name, PQprepare(db->conn, name, sql, nparams, NULL));
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

int db_poll_notifies(struct bf_db *db)
{
	if (!db->conn)
		return -1;
	if (!PQconsumeInput(db->conn)) {
		char *msg = xstrdup(PQerrorMessage(db->conn));
		one_line(msg);
		log_error("database: connection lost: %s", msg);
		free(msg);
		db_disconnect(db);
		return -1;
	}
	return db_take_notifies(db);
}

int db_take_notifies(struct bf_db *db)
{
	if (!db->conn)
		return 0;
	int n = 0;
	PGnotify *note;
	while ((note = PQnotifies(db->conn)) != NULL) {
		if (strcmp(note->relname, db->channel) == 0)
			n++;
		PQfreemem(note);
	}
	return n;
}

void buf_reset(struct bf_buf *b) { b->len = 0; if (b->data) b->data[0] = '\0'; }

void buf_free(struct bf_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void buf_reserve(struct bf_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d)
		abort();
	b->data = d;
	b->cap = cap;
}

void buf_append(struct bf_buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_printf(struct bf_buf *b, const char *fmt, ...)
{
	va_list ap;
	buf_reserve(b, 64);
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->data + b->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->data[b->len] = '\0';
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		buf_reserve(b, (size_t)n);
	}
}

void buf_array_text(struct bf_buf *b, const char *s)
{
	if (!s) {
		buf_append(b, "NULL", 4);
		return;
	}
	buf_reserve(b, strlen(s) * 2 + 2);
	b->data[b->len++] = '"';
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			b->data[b->len++] = '\\';
		b->data[b->len++] = *p;
	}
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}
