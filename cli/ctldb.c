/* ctldb.c -- backfillctl's database side: connect without ever showing the
 * password, run one statement, report PostgreSQL's errors on one line. */
#include "ctldb.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTLDB_MAX_SECRETS 8

struct bf_ctldb {
	PGconn *conn;
	char *schema;
	char *secrets[CTLDB_MAX_SECRETS]; /* never printed: cut out of every message */
	size_t nsecrets;
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		abort();
	return d;
}

static void add_secret(struct bf_ctldb *db, const char *s, size_t n)
{
	if (n == 0 || db->nsecrets == CTLDB_MAX_SECRETS)
		return;
	db->secrets[db->nsecrets++] = xstrndup(s, n);
}

/* ---- masking ------------------------------------------------------------- */

static bool is_url(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

/* Replaces s[from, to) with "***"; returns the new string (s is freed). */
static char *splice_mask(char *s, size_t from, size_t to)
{
	size_t len = strlen(s);
	char *out = malloc(len - (to - from) + 4);
	if (!out)
		abort();
	memcpy(out, s, from);
	memcpy(out + from, "***", 3);
	memcpy(out + from + 3, s + to, len - to + 1);
	free(s);
	return out;
}

/* A copy of a libpq URL or key=value string with every password (the user
 * info of a URL, password= and sslpassword= parameters) replaced by "***";
 * each password as written is added to db's secrets.  Caller frees. */
static char *mask_url(const char *url, struct bf_ctldb *db)
{
	char *out = xstrdup(url);
	bool url_form = is_url(out);
	if (url_form) {
		/* libpq's reading: user info runs up to an '@' met before any '/' */
		size_t start = strstr(out, "://") - out + 3;
		size_t at = start + strcspn(out + start, "@/");
		if (out[at] == '@') {
			char *colon = memchr(out + start, ':', at - start);
			if (colon && (size_t)(colon - out) + 1 < at) {
				size_t from = (size_t)(colon - out) + 1;
				add_secret(db, out + from, at - from);
				out = splice_mask(out, from, at);
			}
		}
	}
	/* password=VALUE and sslpassword=VALUE: URL query parameters, or
	 * key = value pairs (VALUE possibly 'single quoted') */
	for (size_t i = 0; out[i];) {
		char *hit = strstr(out + i, "password");
		if (!hit)
			break;
		size_t v = (size_t)(hit - out) + 8;
		while (out[v] == ' ' || out[v] == '\t')
			v++;
		if (out[v] != '=') {
			i = (size_t)(hit - out) + 8;
			continue;
		}
		v++;
		while (!url_form && (out[v] == ' ' || out[v] == '\t'))
			v++;
		size_t end = v;
		if (!url_form && out[v] == '\'') {
			end++;
			while (out[end] && out[end] != '\'')
				end += out[end] == '\\' && out[end + 1] ? 2 : 1;
			/* what is inside the quotes (an unterminated one runs to the end) */
			add_secret(db, out + v + 1, end - v - 1);
			if (out[end])
				end++;
		} else {
			while (out[end] && !(url_form ? out[end] == '&' || out[end] == '#'
			                              : isspace((unsigned char)out[end])))
				end++;
		}
		if (end == v) {
			i = v;
			continue;
		}
		add_secret(db, out + v, end - v);
		out = splice_mask(out, v, end);
		i = v + 3;
	}
	return out;
}

/* s with every secret replaced by "***".  Caller frees. */
static char *redact(const struct bf_ctldb *db, const char *s)
{
	char *out = xstrdup(s);
	for (size_t k = 0; db && k < db->nsecrets; k++) {
		const char *secret = db->secrets[k];
		size_t n = strlen(secret);
		/* search on after each "***" (a password may be "*") */
		for (size_t i = 0; out[i];) {
			char *hit = strstr(out + i, secret);
			if (!hit)
				break;
			size_t from = (size_t)(hit - out);
			out = splice_mask(out, from, from + n);
			i = from + 3;
		}
	}
	return out;
}

/* A libpq message on one line: lines trimmed and joined with "; ". */
static char *one_line(const char *msg)
{
	size_t len = strlen(msg);
	char *out = malloc(len * 2 + 1);
	if (!out)
		abort();
	size_t n = 0;
	const char *p = msg;
	while (*p) {
		size_t l = strcspn(p, "\r\n");
		const char *s = p, *e = p + l;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (e > s) {
			if (n) {
				memcpy(out + n, "; ", 2);
				n += 2;
			}
			for (; s < e; s++)
				out[n++] = *s == '\t' ? ' ' : *s;
		}
		p += l;
		while (*p == '\r' || *p == '\n')
			p++;
	}
	out[n] = '\0';
	return out;
}

static void verror(const struct bf_ctldb *db, const char *fmt, va_list ap)
{
	char *msg;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	char *flat = one_line(msg);
	char *safe = redact(db, flat);
	fprintf(stderr, "backfillctl: %s\n", safe);
	free(safe);
	free(flat);
	free(msg);
}

void ctldb_error(const struct bf_ctldb *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(db, fmt, ap);
	va_end(ap);
}

/* ---- connection ---------------------------------------------------------- */

void ctldb_free(struct bf_ctldb *db)
{
	if (!db)
		return;
	if (db->conn)
		PQfinish(db->conn);
	for (size_t i = 0; i < db->nsecrets; i++)
		free(db->secrets[i]);
	free(db->schema);
	free(db);
}

PGconn *ctldb_conn(const struct bf_ctldb *db) { return db->conn; }

int ctldb_open(const char *url, const char *source, const char *schema, struct bf_ctldb **out)
{
	int rc = CTLDB_ERR_UNAVAILABLE;
	struct bf_ctldb *db = calloc(1, sizeof(*db));
	if (!db)
		abort();
	db->schema = xstrdup(schema);
	char *masked = mask_url(url, db);
	const char *env_password = getenv("PGPASSWORD");
	if (env_password)
		add_secret(db, env_password, strlen(env_password));

	/* the password as libpq decodes it (%-escapes), when the URL parses */
	char *parse_err = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &parse_err);
	if (!opts) {
		ctldb_error(db, "invalid database URL %s (from %s): %s", masked, source,
		            parse_err ? parse_err : "out of memory");
		PQfreemem(parse_err);
		rc = CTLDB_ERR_USAGE;
		goto out;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (o->val && (strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0))
			add_secret(db, o->val, strlen(o->val));
	}
	PQconninfoFree(opts);

	/* later entries win: the URL may set its own name and timeout; an
	 * explicit timeout would also beat PGCONNECT_TIMEOUT, so none then */
	const char *timeout = getenv("PGCONNECT_TIMEOUT");
	const char *const keys[] = {"application_name", "connect_timeout", "dbname", NULL};
	const char *vals[] = {"backfillctl", "10", url, NULL};
	if (timeout && *timeout)
		vals[1] = NULL; /* libpq skips a keyword whose value is NULL */
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->conn)
		abort();
	if (PQstatus(db->conn) != CONNECTION_OK) {
		ctldb_error(db, "cannot connect to %s (from %s): %s", masked, source, PQerrorMessage(db->conn));
		goto out;
	}
	if (PQsetClientEncoding(db->conn, "UTF8") != 0) {
		ctldb_error(db, "cannot set client_encoding UTF8: %s", PQerrorMessage(db->conn));
		rc = CTLDB_ERR_FAILED;
		goto out;
	}
	rc = ctldb_exec(db, "SET DateStyle = 'ISO, YMD'", 0, NULL, NULL);
	if (rc < 0)
		goto out;
	*out = db;
	db = NULL;
	rc = 0;
out:
	free(masked);
	ctldb_free(db);
	return rc;
}

/* SQLSTATEs that mean the schema is missing or older than this tool. */
static bool schema_missing(const char *sqlstate)
{
	return sqlstate && (strcmp(sqlstate, "42P01") == 0 || strcmp(sqlstate, "3F000") == 0 ||
	                    strcmp(sqlstate, "42883") == 0);
}

static void report_result_error(const struct bf_ctldb *db, const PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char own_hint[256];
	if (!primary) /* not from the server: libpq's own message */
		primary = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(db->conn);
	if (!hint && schema_missing(sqlstate)) {
		snprintf(own_hint, sizeof(own_hint),
		         "is backfilld's schema \"%s\" applied and current? `backfilld --migrate` applies "
		         "it; --schema names another",
		         db->schema);
		hint = own_hint;
	}
	ctldb_error(db, "%s%s%s%s%s", primary, detail ? "; detail: " : "", detail ? detail : "",
	            hint ? "; hint: " : "", hint ? hint : "");
}

int ctldb_exec(struct bf_ctldb *db, const char *sql, int nparams, const char *const *params, PGresult **out)
{
	PGresult *res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		if (out)
			*out = res;
		else
			PQclear(res);
		return 0;
	}
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		ctldb_error(db, "lost the database connection: %s", PQerrorMessage(db->conn));
		PQclear(res);
		return CTLDB_ERR_UNAVAILABLE;
	}
	report_result_error(db, res);
	PQclear(res);
	return CTLDB_ERR_FAILED;
}
