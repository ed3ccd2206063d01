/* db.h -- the PostgreSQL connection the event loop owns: connect, LISTEN for
 * the enqueue NOTIFY, run statements, notice a broken connection. */
#ifndef BACKFILLD_DB_H
#define BACKFILLD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct bf_db {
	PGconn *conn;      /* NULL while disconnected */
	char *conninfo;
	char *schema;      /* validated identifier */
	char *schema_q;    /* "schema", quoted for SQL text */
	char *channel;     /* NOTIFY channel: schema.jobs */
	char *masked;      /* conninfo with the password masked, for logs */
	PGresult *pending; /* asynchronous statement: the result read so far */
	char sqlstate[6];  /* of the last statement that failed ("" if none given) */
};

/* Fills db (no connection yet).  Borrowed strings are copied. */
void db_init(struct bf_db *db, const char *conninfo, const char *schema);
/* Closes and frees the contents (not db itself). */
void db_cleanup(struct bf_db *db);

/* Blocking connect.  With listen, also LISTENs on db->channel.  On failure
 * logs why (password masked), leaves db disconnected, returns -1. */
__attribute__((warn_unused_result)) int db_connect(struct bf_db *db, bool listen);
void db_disconnect(struct bf_db *db);
/* Sends one statement without parameters (simple protocol) and returns at
 * once; read its result with db_read_result.  -1 (logged) if it could not
 * be sent. */
int db_send(struct bf_db *db, const char *what, const char *sql);
/* Asks the server to cancel what the connection runs (best effort). */
void db_cancel(struct bf_db *db);
bool db_connected(const struct bf_db *db);
int db_socket(const struct bf_db *db);

/* Runs a statement with text parameters.  Returns the result when it
 * succeeded (caller PQclear()s); NULL after logging on any error.  A broken
 * connection is closed (db_connected() turns false). */
PGresult *db_exec(struct bf_db *db, const char *what, const char *sql, int nparams,
                  const char *const *params);
PGresult *db_exec_prepared(struct bf_db *db, const char *what, const char *name, int nparams,
                           const char *const *params);
/* Asynchronous statements, one in flight per connection.  db_send_prepared
 * sends without waiting (0, or -1 after logging; the connection is closed
 * if it broke).  db_read_result reads what arrived without blocking:
 * 0 while the statement runs, 1 when it is done (*out: its result, which
 * the caller PQclear()s, or NULL after logging its error), -1 when the
 * connection broke (it is then closed).  db_wait_result blocks until the
 * statement is done (1 or -1). */
__attribute__((warn_unused_result)) int db_send_prepared(struct bf_db *db, const char *what, const char *name,
                                                         int nparams, const char *const *params);
__attribute__((warn_unused_result)) int db_read_result(struct bf_db *db, const char *what, PGresult **out);
__attribute__((warn_unused_result)) int db_wait_result(struct bf_db *db, const char *what, PGresult **out);
/* Prepares a statement; -1 after logging. */
__attribute__((warn_unused_result)) int db_prepare(struct bf_db *db, const char *name, const char *sql, int nparams);

/* Reads pending input and counts NOTIFYs on our channel.  Returns the
 * count, or -1 if the connection broke (it is then closed). */
int db_poll_notifies(struct bf_db *db);
/* Counts NOTIFYs libpq already read while running statements (no I/O). */
int db_take_notifies(struct bf_db *db);

/* A growing text buffer for SQL array literals. */
struct bf_buf {
	char *data;
	size_t len, cap;
};
void buf_reset(struct bf_buf *b);
void buf_free(struct bf_buf *b);
void buf_append(struct bf_buf *b, const char *s, size_t n);
void buf_printf(struct bf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as an element of a text[] literal ("..." with escapes; NULL as
 * NULL).  Add the braces and commas yourself. */
void buf_array_text(struct bf_buf *b, const char *s);

#endif /* BACKFILLD_DB_H */
