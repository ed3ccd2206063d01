/*
 * 04-c-libpq -- enqueue backfilld jobs from C with libpq: parameterized
 * queries only (no value is ever pasted into SQL text), a JSON payload built
 * by PostgreSQL from the parameters, and a refused enqueue read back with
 * its SQLSTATE.
 *
 *   make -C examples/04-c-libpq
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:55433/backfill \
 *       examples/04-c-libpq/enqueue ["MESSAGE"]
 *
 * The jobs are for the task "log", which `make demo`'s daemon runs.
 */
#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Runs one parameterized statement that returns one row and prints its first
 * column as the job id.  Returns 0, or -1 after printing the error.
 */
static int enqueue(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params)
{
	/* Text parameters: NULL types (the server infers them from the casts
	 * in the SQL), NULL lengths and formats (text), text result. */
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "enqueue: %s failed: %s", what, PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	printf("%s: job %s\n", what, PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

int main(int argc, char **argv)
{
	const char *url = getenv("DATABASE_URL");
	const char *message = argc == 2 ? argv[1] : "He said \"hello\"; it's 100% safe";
	int rc = 1;

	if (argc > 2) {
		fprintf(stderr, "usage: enqueue [MESSAGE]\n");
		return 2;
	}
	if (url == NULL || *url == '\0') {
		fprintf(stderr, "enqueue: set DATABASE_URL, for instance "
		                "postgresql://postgres@127.0.0.1:55433/backfill "
		                "(make demo's database)\n");
		return 2;
	}
	PGconn *conn = PQconnectdb(url);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "enqueue: cannot connect to DATABASE_URL: %s", PQerrorMessage(conn));
		goto out;
	}

	/* 1. A plain INSERT.  jsonb_build_object turns the parameters into the
	 * payload, so quotes, backslashes or newlines in the message need no
	 * escaping here. */
	const char *insert_params[] = {"log", message};
	if (enqueue(conn, "plain INSERT",
	            "INSERT INTO backfill.jobs (task, payload) "
	            "VALUES ($1, jsonb_build_object('example', '04-c-libpq', "
	            "'step', 'plain insert', 'message', $2::text)) RETURNING id",
	            2, insert_params) != 0)
		goto out;

	/* 2. add_job with named parameters and a payload passed as JSON text
	 * (here a constant; build it with your JSON library). */
	const char *add_params[] = {
	    "log",
	    "{\"example\": \"04-c-libpq\", \"step\": \"add_job\", \"tags\": [\"c\", \"libpq\"]}",
	    "fast",
	    "1 second",
	    "example:c-libpq",
	};
	if (enqueue(conn, "add_job",
	            "SELECT id FROM backfill.add_job($1, $2::jsonb, queue => $3, "
	            "run_at => now() + $4::interval, job_key => $5)",
	            5, add_params) != 0)
		goto out;

	/* 3. Bad input is refused by the database with a clear message and
	 * SQLSTATE 22023 (invalid_parameter_value); nothing is enqueued. */
	const char *bad_params[] = {"log", "42"};
	PGresult *res = PQexecParams(conn, "SELECT id FROM backfill.add_job($1, $2::jsonb)", 2,
	                             NULL, bad_params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		fprintf(stderr, "enqueue: a scalar payload was accepted\n");
		PQclear(res);
		goto out;
	}
	printf("refused, as it should be: SQLSTATE %s: %s\n",
	       PQresultErrorField(res, PG_DIAG_SQLSTATE),
	       PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	PQclear(res);
	rc = 0;
out:
	PQfinish(conn);
	return rc;
}
