/* ctldb.h -- backfillctl's database side: connect without ever showing the
 * password, run one statement, report PostgreSQL's errors on one line. */
#ifndef BACKFILLCTL_CTLDB_H
#define BACKFILLCTL_CTLDB_H

#include <libpq-fe.h>

/* Error codes of the ctldb_ functions (negative; 0 is success). */
enum ctldb_err {
	CTLDB_ERR_FAILED = -1,      /* the statement failed (message printed) */
	CTLDB_ERR_UNAVAILABLE = -2, /* no connection, or it was lost (message printed) */
	CTLDB_ERR_USAGE = -3,       /* the database URL cannot be parsed (message printed) */
};

struct bf_ctldb;

/* Connects to url (libpq URL or key=value string; source names where it
 * came from, for messages) for schema (validated by the caller; named in
 * hints).  Messages never show the password: the URL is printed masked, and
 * the password (as written and as decoded) is cut out of every message.
 * Sessions use client_encoding UTF8 and DateStyle ISO.  On success *out is
 * the connection; caller frees with ctldb_free. */
__attribute__((warn_unused_result)) int ctldb_open(const char *url, const char *source, const char *schema,
                                                   struct bf_ctldb **out);
void ctldb_free(struct bf_ctldb *db);

/* The libpq connection (borrowed). */
PGconn *ctldb_conn(const struct bf_ctldb *db);

/* Runs sql with text parameters (NULL elements are SQL NULLs).  On success
 * *out (when out is not NULL) is the result, which the caller PQclears;
 * on failure the error is printed as
 *   backfillctl: MESSAGE; detail: DETAIL; hint: HINT
 * and CTLDB_ERR_UNAVAILABLE is returned when the connection is gone. */
__attribute__((warn_unused_result)) int ctldb_exec(struct bf_ctldb *db, const char *sql, int nparams,
                                                   const char *const *params, PGresult **out);

/* Prints "backfillctl: " and the message on stderr, on one line, with the
 * password cut out. */
__attribute__((format(printf, 2, 3))) void ctldb_error(const struct bf_ctldb *db, const char *fmt, ...);

#endif
