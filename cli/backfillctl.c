/* backfillctl.c -- the operator's command line for backfilld's database:
 * queue status, enqueue, the dead-letter queue, workers and locks.  It talks
 * to PostgreSQL only (libpq); no daemon needs to run.  backfillctl(1). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctldb.h"
#include "output.h"

/* Exit codes (README "backfillctl", backfillctl(1) EXIT STATUS). */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILED 1       /* the operation failed: not found, SQL error, ... */
#define CTL_EXIT_USAGE 64       /* bad command line, option value or environment */
#define CTL_EXIT_UNAVAILABLE 69 /* database unreachable, or the connection was lost */

#define CTL_DEFAULT_URL "postgresql:///backfill"
#define CTL_DEFAULT_SCHEMA "backfill"
#define CTL_SCHEMA_MAX 58 /* as backfilld: "<schema>.jobs" must fit a NOTIFY channel */
#define CTL_DLQ_LIMIT_DEFAULT 50
#define CTL_DLQ_LIMIT_MAX 10000
#define CTL_PAYLOAD_MAX (64L * 1024 * 1024)

struct ctl {
	const char *url;        /* borrowed: argv or the environment */
	const char *url_source; /* "--database-url", "DATABASE_URL", "the default" */
	const char *schema;     /* borrowed, validated before use */
	const char *schema_source;
	char *schema_q;         /* the schema, double-quoted */
	bool json;
	struct bf_ctldb *db;    /* connected by the command, after its own checks */
};

/* A command's option: "--name VALUE", or "--name" when flag. */
struct cmd_opt {
	const char *name;
	bool flag;
};

#define CMD_MAX_OPTS 8
#define CMD_MAX_ARGS 4

/* A command's command line: opt[i] is the value of its i-th option ("" for
 * a flag that was given), NULL when absent; arg the positional arguments. */
struct cmd_args {
	const char *name; /* "dlq show" */
	const char *opt[CMD_MAX_OPTS];
	const char *arg[CMD_MAX_ARGS];
	int nargs;
};

struct command {
	const char *name;
	int (*run)(struct ctl *ctl, const struct cmd_args *a); /* 0 or a ctldb_err */
	const struct cmd_opt *opts;                            /* ends with {NULL}; or NULL */
	int min_args, max_args;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: backfillctl [OPTIONS] COMMAND [ARGS]\n"
	        "Inspects and manages backfilld's jobs, dead-letter queue, workers and locks\n"
	        "in PostgreSQL; no daemon needs to run.\n"
	        "\n"
	        "Options (also accepted after the command):\n"
	        "  -d, --database-url URL  libpq URL or key=value string (default $DATABASE_URL,\n"
	        "                          else %s)\n"
	        "  -s, --schema NAME       schema of backfilld's tables (default $BACKFILL_SCHEMA,\n"
	        "                          else %s)\n"
	        "      --json              print one JSON document instead of tables\n"
	        "  -h, --help              print this help and exit\n"
	        "  -V, --version           print the version and exit\n"
	        "\n"
	        "Commands:\n"
	        "  status                  jobs per queue (ready, scheduled, running, exhausted),\n"
	        "                          dead-letter rows, workers\n"
	        "  enqueue TASK [JSON]     add a job with add_job and print its id; JSON is the\n"
	        "                          payload (an object or array; - reads it from stdin)\n"
	        "      [--queue Q] [--priority N|NAME] [--run-at TIMESTAMP] [--job-key K]\n"
	        "      [--job-key-mode replace|preserve_run_at|unsafe_dedupe] [--max-attempts N]\n"
	        "      [--serial-key S]\n"
	        "  dlq list                dead-letter rows, newest failure first\n"
	        "      [--task T] [--queue Q] [--limit N (default %d)] [--offset N]\n"
	        "  dlq show ID             one dead-letter row, every field\n"
	        "  dlq requeue ID          enqueue the dead job again and print the new job id\n"
	        "      [--notes TEXT]\n"
	        "  dlq delete ID           delete one dead-letter row\n"
	        "  dlq purge               delete rows that failed longer ago than INTERVAL\n"
	        "      --older-than INTERVAL [--task T] [--queue Q] [--dry-run]\n"
	        "  dlq stats               dead-letter totals, by task and by queue\n"
	        "  workers                 registered daemons with their heartbeat age\n"
	        "  locks                   running jobs with owner and age, serial-key locks\n"
	        "\n"
	        "Exit codes: 0 ok, 1 the operation failed (e.g. not found, SQL error),\n"
	        "64 usage error, 69 database unavailable.\n",
	        CTL_DEFAULT_URL, CTL_DEFAULT_SCHEMA, CTL_DLQ_LIMIT_DEFAULT);
}

__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "backfillctl: ");
	if (cmd)
		fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; try `backfillctl --help`\n");
	return CTLDB_ERR_USAGE;
}

static int exit_code(int rc)
{
	switch (rc) {
	case 0:
		return CTL_EXIT_OK;
	case CTLDB_ERR_USAGE:
		return CTL_EXIT_USAGE;
	case CTLDB_ERR_UNAVAILABLE:
		return CTL_EXIT_UNAVAILABLE;
	default:
		return CTL_EXIT_FAILED;
	}
}

/* ---- argument checks ----------------------------------------------------- */

static bool parse_int64(const char *s, long long min, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || end == s || *end || isspace((unsigned char)*s) || n < min)
		return false;
	*out = n;
	return true;
}

/* An id argument: a positive integer, passed on as text. */
static int check_id(const struct cmd_args *a, const char *id)
{
	long long n;
	if (!parse_int64(id, 1, &n))
		return usage_error(a->name, "ID must be a positive integer, got \"%s\"", id);
	return 0;
}

/* The rule backfilld applies to [database] schema. */
static bool valid_schema(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CTL_SCHEMA_MAX || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

/* ---- database ------------------------------------------------------------ */

static int ctl_connect(struct ctl *ctl) { return ctldb_open(ctl->url, ctl->url_source, ctl->schema, &ctl->db); }

/* tmpl with every "@S" replaced by the quoted schema and every "@P" by p.
 * Caller frees. */
static char *sql_expand(const struct ctl *ctl, const char *tmpl, const char *p)
{
	size_t len = 1;
	for (const char *t = tmpl; *t; t++) {
		if (t[0] == '@' && (t[1] == 'S' || (t[1] == 'P' && p))) {
			len += strlen(t[1] == 'S' ? ctl->schema_q : p);
			t++;
		} else {
			len++;
		}
	}
	char *out = malloc(len), *o = out;
	if (!out)
		abort();
	for (const char *t = tmpl; *t; t++) {
		if (t[0] == '@' && (t[1] == 'S' || (t[1] == 'P' && p))) {
			const char *with = t[1] == 'S' ? ctl->schema_q : p;
			o = stpcpy(o, with);
			t++;
		} else {
			*o++ = *t;
		}
	}
	*o = '\0';
	return out;
}

/* Runs a statement of the template (see sql_expand); *res as ctldb_exec. */
static int query(struct ctl *ctl, const char *tmpl, const char *p, int nparams,
                 const char *const *params, PGresult **res)
{
	char *sql = sql_expand(ctl, tmpl, p);
	int rc = ctldb_exec(ctl->db, sql, nparams, params, res);
	free(sql);
	return rc;
}

/* Several reads that must agree with each other: one snapshot (and they
 * also work on a hot standby). */
static int begin_read(struct ctl *ctl)
{
	return ctldb_exec(ctl->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL);
}

static int commit(struct ctl *ctl) { return ctldb_exec(ctl->db, "COMMIT", 0, NULL, NULL); }

static long long int_value(const PGresult *res, int row, const char *column)
{
	int c = PQfnumber(res, column);
	return c < 0 || PQgetisnull(res, row, c) ? 0 : strtoll(PQgetvalue(res, row, c), NULL, 10);
}

/* Prints doc and drops it; NULL (a json_pack that failed) is an error. */
static int print_json(json_t *doc)
{
	if (!doc) {
		fprintf(stderr, "backfillctl: internal error: cannot build the JSON output\n");
		return CTLDB_ERR_FAILED;
	}
	if (output_json_print(stdout, doc) < 0) {
		fprintf(stderr, "backfillctl: cannot write the JSON output\n");
		return CTLDB_ERR_FAILED;
	}
	return 0;
}

/* ---- status -------------------------------------------------------------- */

#define READY "j.locked_at IS NULL AND j.attempts < j.max_attempts AND j.run_at <= now()"

static const char status_sql[] =
    "WITH per_queue AS ("
    "  SELECT j.queue,"
    "         count(*) FILTER (WHERE " READY ") AS ready,"
    "         count(*) FILTER (WHERE j.locked_at IS NULL AND j.attempts < j.max_attempts"
    "                            AND j.run_at > now()) AS scheduled,"
    "         count(*) FILTER (WHERE j.locked_at IS NOT NULL) AS running,"
    "         count(*) FILTER (WHERE j.locked_at IS NULL AND j.attempts >= j.max_attempts)"
    "             AS exhausted,"
    "         0::bigint AS dlq,"
    "         max(now() - j.run_at) FILTER (WHERE " READY ") AS oldest_ready"
    "  FROM @S.jobs j GROUP BY j.queue"
    "  UNION ALL"
    "  SELECT d.queue, 0, 0, 0, 0, count(*), NULL::interval FROM @S.dlq d GROUP BY d.queue"
    "  UNION ALL"
    "  SELECT DISTINCT q.queue, 0, 0, 0, 0, 0, NULL::interval"
    "  FROM @S.workers w, unnest(w.queues) AS q(queue))"
    "SELECT p.queue,"
    "       CASE WHEN GROUPING(p.queue) = 1 THEN '(total)' ELSE p.queue END AS h_queue,"
    "       GROUPING(p.queue) = 1 AS h_total,"
    "       coalesce(sum(p.ready), 0)::bigint AS ready,"
    "       coalesce(sum(p.scheduled), 0)::bigint AS scheduled,"
    "       coalesce(sum(p.running), 0)::bigint AS running,"
    "       coalesce(sum(p.exhausted), 0)::bigint AS exhausted,"
    "       coalesce(sum(p.dlq), 0)::bigint AS dlq,"
    "       round(extract(epoch FROM max(p.oldest_ready))::numeric, 3) AS oldest_ready_s"
    " FROM per_queue p"
    " GROUP BY ROLLUP (p.queue)"
    " ORDER BY GROUPING(p.queue), p.queue";

static const char status_workers_sql[] =
    "SELECT count(*) AS registered,"
    "       count(*) FILTER (WHERE w.heartbeat_at >= now() - w.heartbeat_timeout) AS alive"
    " FROM @S.workers w";

static int cmd_status(struct ctl *ctl, const struct cmd_args *a)
{
	(void)a;
	PGresult *q = NULL, *w = NULL;
	int rc = ctl_connect(ctl);
	if (rc < 0 || (rc = begin_read(ctl)) < 0 || (rc = query(ctl, status_sql, NULL, 0, NULL, &q)) < 0 ||
	    (rc = query(ctl, status_workers_sql, NULL, 0, NULL, &w)) < 0 || (rc = commit(ctl)) < 0)
		goto out;

	int n = PQntuples(q), total_row = n - 1; /* ROLLUP's total comes last */
	PGconn *conn = ctldb_conn(ctl->db);
	if (ctl->json) {
		json_t *queues = json_array(), *total = output_json_row(q, total_row);
		for (int r = 0; r < total_row; r++)
			json_array_append_new(queues, output_json_row(q, r));
		json_object_del(total, "queue");
		json_t *doc = json_pack("{s:s, s:s, s:o, s:o, s:I, s:{s:I, s:I}}", "database", PQdb(conn),
		                        "schema", ctl->schema, "queues", queues, "total", total, "dlq",
		                        (json_int_t)int_value(q, total_row, "dlq"), "workers", "registered",
		                        (json_int_t)int_value(w, 0, "registered"), "alive",
		                        (json_int_t)int_value(w, 0, "alive"));
		rc = print_json(doc);
		goto out;
	}
	const char *host = PQhost(conn);
	printf("database %s on %s:%s, schema %s\n\n", PQdb(conn), host && *host ? host : "localhost",
	       PQport(conn), ctl->schema);
	static const struct bf_output_col cols[] = {
	    {"h_queue", "QUEUE", OUTPUT_FMT_AUTO},
	    {"ready", "READY", OUTPUT_FMT_AUTO},
	    {"scheduled", "SCHEDULED", OUTPUT_FMT_AUTO},
	    {"running", "RUNNING", OUTPUT_FMT_AUTO},
	    {"exhausted", "EXHAUSTED", OUTPUT_FMT_AUTO},
	    {"dlq", "DLQ", OUTPUT_FMT_AUTO},
	    {"oldest_ready_s", "OLDEST_READY", OUTPUT_FMT_AGE},
	};
	output_table(stdout, q, cols, sizeof(cols) / sizeof(cols[0]));
	long long dlq = int_value(q, total_row, "dlq");
	printf("\ndead-letter queue: %lld row%s\n", dlq, dlq == 1 ? "" : "s");
	printf("workers: %lld registered, %lld alive\n", int_value(w, 0, "registered"), int_value(w, 0, "alive"));
out:
	PQclear(q);
	PQclear(w);
	return rc;
}

/* ---- enqueue ------------------------------------------------------------- */

enum { ENQ_QUEUE, ENQ_PRIORITY, ENQ_RUN_AT, ENQ_JOB_KEY, ENQ_JOB_KEY_MODE, ENQ_MAX_ATTEMPTS, ENQ_SERIAL_KEY };

static const struct cmd_opt enqueue_opts[] = {
    [ENQ_QUEUE] = {"queue", false},
    [ENQ_PRIORITY] = {"priority", false},
    [ENQ_RUN_AT] = {"run-at", false},
    [ENQ_JOB_KEY] = {"job-key", false},
    [ENQ_JOB_KEY_MODE] = {"job-key-mode", false},
    [ENQ_MAX_ATTEMPTS] = {"max-attempts", false},
    [ENQ_SERIAL_KEY] = {"serial-key", false},
    {NULL, false},
};

/* @P: the priority, a number or a name for priority(). */
static const char enqueue_sql[] =
    "SELECT j.id, j.task, j.queue, j.priority, j.run_at, j.attempts, j.max_attempts, j.job_key,"
    "       j.serial_key, j.payload, j.created_at"
    " FROM @S.add_job(task => $1::text, payload => $2::jsonb, queue => $3::text,"
    "                 run_at => $4::timestamptz, max_attempts => $5::integer,"
    "                 job_key => $6::text, priority => @P, serial_key => $8::text,"
    "                 job_key_mode => $9::text) j";

/* All of stdin, for a payload given as "-".  Caller frees; NULL on error. */
static char *read_stdin(void)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	if (!buf)
		abort();
	for (;;) {
		if (len + 1 == cap) {
			if (cap >= (size_t)CTL_PAYLOAD_MAX) {
				fprintf(stderr, "backfillctl: enqueue: the payload on stdin exceeds %ld MiB\n",
				        CTL_PAYLOAD_MAX / (1024 * 1024));
				free(buf);
				return NULL;
			}
			cap *= 2;
			char *p = realloc(buf, cap);
			if (!p)
				abort();
			buf = p;
		}
		size_t n = fread(buf + len, 1, cap - 1 - len, stdin);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		fprintf(stderr, "backfillctl: enqueue: cannot read the payload from stdin: %s\n", strerror(errno));
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static bool is_priority_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(isalpha((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static int cmd_enqueue(struct ctl *ctl, const struct cmd_args *a)
{
	const char *priority = a->opt[ENQ_PRIORITY];
	const char *prio_sql = "$7::integer";
	long long n;
	if (priority && !parse_int64(priority, -2147483647LL - 1, &n)) {
		if (!is_priority_name(priority))
			return usage_error(a->name, "--priority must be an integer or a level name such as "
			                            "FAST_HIGH, got \"%s\"", priority);
		prio_sql = "@S.priority($7::text)::integer";
	}
	if (a->opt[ENQ_MAX_ATTEMPTS] && !parse_int64(a->opt[ENQ_MAX_ATTEMPTS], 1, &n))
		return usage_error(a->name, "--max-attempts must be a positive integer, got \"%s\"",
		                   a->opt[ENQ_MAX_ATTEMPTS]);

	char *payload = NULL;
	if (a->nargs > 1 && strcmp(a->arg[1], "-") == 0 && !(payload = read_stdin()))
		return CTLDB_ERR_FAILED;
	const char *params[] = {
	    a->arg[0],
	    payload ? payload : a->nargs > 1 ? a->arg[1] : NULL,
	    a->opt[ENQ_QUEUE],
	    a->opt[ENQ_RUN_AT],
	    a->opt[ENQ_MAX_ATTEMPTS],
	    a->opt[ENQ_JOB_KEY],
	    priority,
	    a->opt[ENQ_SERIAL_KEY],
	    a->opt[ENQ_JOB_KEY_MODE],
	};
	/* the priority expression names the schema too: expand it first */
	char *prio = sql_expand(ctl, prio_sql, NULL);
	PGresult *res = NULL;
	int rc = ctl_connect(ctl);
	if (rc == 0)
		rc = query(ctl, enqueue_sql, prio, 9, params, &res);
	if (rc == 0) {
		if (ctl->json)
			rc = print_json(output_json_row(res, 0));
		else
			printf("%s\n", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	free(prio);
	free(payload);
	return rc;
}

/* ---- dlq list, show ------------------------------------------------------ */

enum { LIST_TASK, LIST_QUEUE, LIST_LIMIT, LIST_OFFSET };

static const struct cmd_opt dlq_list_opts[] = {
    [LIST_TASK] = {"task", false},
    [LIST_QUEUE] = {"queue", false},
    [LIST_LIMIT] = {"limit", false},
    [LIST_OFFSET] = {"offset", false},
    {NULL, false},
};

#define DLQ_FILTER " WHERE ($1::text IS NULL OR d.task = $1::text) AND ($2::text IS NULL OR d.queue = $2::text)"

static const char dlq_list_sql[] =
    "SELECT d.id, d.original_job_id, d.task, d.queue, d.priority, d.job_key, d.serial_key,"
    "       d.attempts, d.max_attempts, d.failure_reason, d.failure_count, d.last_error,"
    "       d.original_created_at, d.original_run_at, d.failed_at, d.requeued_count,"
    "       d.last_requeued_at, d.notes, d.payload,"
    "       coalesce(d.last_error, d.failure_reason) AS h_error"
    " FROM @S.dlq d" DLQ_FILTER " ORDER BY d.failed_at DESC, d.id DESC LIMIT $3::bigint OFFSET $4::bigint";

static const char dlq_count_sql[] = "SELECT count(*) AS total FROM @S.dlq d" DLQ_FILTER;

static int cmd_dlq_list(struct ctl *ctl, const struct cmd_args *a)
{
	long long limit = CTL_DLQ_LIMIT_DEFAULT, offset = 0;
	if (a->opt[LIST_LIMIT] && !parse_int64(a->opt[LIST_LIMIT], 1, &limit))
		return usage_error(a->name, "--limit must be a positive integer, got \"%s\"", a->opt[LIST_LIMIT]);
	if (limit > CTL_DLQ_LIMIT_MAX)
		return usage_error(a->name, "--limit is at most %d, got %lld", CTL_DLQ_LIMIT_MAX, limit);
	if (a->opt[LIST_OFFSET] && !parse_int64(a->opt[LIST_OFFSET], 0, &offset))
		return usage_error(a->name, "--offset must be an integer of 0 or more, got \"%s\"",
		                   a->opt[LIST_OFFSET]);
	char limit_s[24], offset_s[24];
	snprintf(limit_s, sizeof(limit_s), "%lld", limit);
	snprintf(offset_s, sizeof(offset_s), "%lld", offset);
	const char *params[] = {a->opt[LIST_TASK], a->opt[LIST_QUEUE], limit_s, offset_s};

	PGresult *res = NULL, *count = NULL;
	int rc = ctl_connect(ctl);
	if (rc < 0 || (rc = begin_read(ctl)) < 0 || (rc = query(ctl, dlq_list_sql, NULL, 4, params, &res)) < 0 ||
	    (rc = query(ctl, dlq_count_sql, NULL, 2, params, &count)) < 0 || (rc = commit(ctl)) < 0)
		goto out;
	long long total = int_value(count, 0, "total");
	int n = PQntuples(res);
	if (ctl->json) {
		rc = print_json(json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)total, "offset",
		                          (json_int_t)offset, "limit", (json_int_t)limit, "rows",
		                          output_json_rows(res)));
		goto out;
	}
	bool filtered = a->opt[LIST_TASK] || a->opt[LIST_QUEUE];
	if (n == 0) {
		if (total == 0)
			printf("no dead-letter rows%s\n", filtered ? " match" : "");
		else
			printf("no rows at offset %lld; there are %lld\n", offset, total);
		goto out;
	}
	static const struct bf_output_col cols[] = {
	    {"id", "ID", OUTPUT_FMT_AUTO},
	    {"task", "TASK", OUTPUT_FMT_AUTO},
	    {"queue", "QUEUE", OUTPUT_FMT_AUTO},
	    {"failed_at", "FAILED_AT", OUTPUT_FMT_AUTO},
	    {"failure_count", "FAILURES", OUTPUT_FMT_AUTO},
	    {"requeued_count", "REQUEUED", OUTPUT_FMT_AUTO},
	    {"job_key", "JOB_KEY", OUTPUT_FMT_SHORT},
	    {"h_error", "ERROR", OUTPUT_FMT_SHORT},
	};
	output_table(stdout, res, cols, sizeof(cols) / sizeof(cols[0]));
	if (offset == 0 && n == total)
		printf("\n%lld row%s%s\n", total, total == 1 ? "" : "s", filtered ? " match" : "");
	else if (n == 1)
		printf("\nrow %lld of %lld%s\n", offset + 1, total, filtered ? " that match" : "");
	else
		printf("\nrows %lld-%lld of %lld%s\n", offset + 1, offset + n, total, filtered ? " that match" : "");
	if (offset + n < total)
		printf("(more with --offset %lld)\n", offset + n);
out:
	PQclear(res);
	PQclear(count);
	return rc;
}

static const char dlq_show_sql[] = "SELECT d.* FROM @S.dlq d WHERE d.id = $1::bigint";

static int cmd_dlq_show(struct ctl *ctl, const struct cmd_args *a)
{
	int rc = check_id(a, a->arg[0]);
	PGresult *res = NULL;
	if (rc < 0 || (rc = ctl_connect(ctl)) < 0 || (rc = query(ctl, dlq_show_sql, NULL, 1, a->arg, &res)) < 0)
		goto out;
	if (PQntuples(res) == 0) {
		ctldb_error(ctl->db, "dlq row %s does not exist", a->arg[0]);
		rc = CTLDB_ERR_FAILED;
	} else if (ctl->json) {
		rc = print_json(output_json_row(res, 0));
	} else {
		output_record(stdout, res, 0);
	}
out:
	PQclear(res);
	return rc;
}

/* ---- dlq requeue, delete ------------------------------------------------- */

static const struct cmd_opt dlq_requeue_opts[] = {{"notes", false}, {NULL, false}};

static const char dlq_requeue_sql[] =
    "SELECT j.id, j.task, j.queue, j.priority, j.run_at, j.attempts, j.max_attempts, j.job_key,"
    "       j.serial_key, j.dlq_id, j.payload, j.created_at"
    " FROM @S.dlq_requeue($1::bigint, $2::text) j";

static int cmd_dlq_requeue(struct ctl *ctl, const struct cmd_args *a)
{
	int rc = check_id(a, a->arg[0]);
	const char *params[] = {a->arg[0], a->opt[0]};
	PGresult *res = NULL;
	if (rc < 0 || (rc = ctl_connect(ctl)) < 0 || (rc = query(ctl, dlq_requeue_sql, NULL, 2, params, &res)) < 0)
		goto out;
	if (ctl->json)
		rc = print_json(output_json_row(res, 0));
	else
		printf("requeued dlq row %s as job %s\n", a->arg[0], PQgetvalue(res, 0, 0));
out:
	PQclear(res);
	return rc;
}

static const char dlq_delete_sql[] = "SELECT @S.dlq_delete($1::bigint) AS deleted";

static int cmd_dlq_delete(struct ctl *ctl, const struct cmd_args *a)
{
	int rc = check_id(a, a->arg[0]);
	PGresult *res = NULL;
	if (rc < 0 || (rc = ctl_connect(ctl)) < 0 || (rc = query(ctl, dlq_delete_sql, NULL, 1, a->arg, &res)) < 0)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		ctldb_error(ctl->db, "dlq row %s does not exist", a->arg[0]);
		rc = CTLDB_ERR_FAILED;
	} else if (ctl->json) {
		rc = print_json(json_pack("{s:I, s:b}", "dlq_id", (json_int_t)strtoll(a->arg[0], NULL, 10),
		                          "deleted", 1));
	} else {
		printf("deleted dlq row %s\n", a->arg[0]);
	}
out:
	PQclear(res);
	return rc;
}

/* ---- dlq purge, stats ---------------------------------------------------- */

enum { PURGE_OLDER_THAN, PURGE_TASK, PURGE_QUEUE, PURGE_DRY_RUN };

static const struct cmd_opt dlq_purge_opts[] = {
    [PURGE_OLDER_THAN] = {"older-than", false},
    [PURGE_TASK] = {"task", false},
    [PURGE_QUEUE] = {"queue", false},
    [PURGE_DRY_RUN] = {"dry-run", true},
    {NULL, false},
};

static const char dlq_purge_sql[] =
    "SELECT p.task, p.queue, p.deleted"
    " FROM @S.dlq_purge($1::interval, $2::text, $3::text, $4::boolean) p";

static int cmd_dlq_purge(struct ctl *ctl, const struct cmd_args *a)
{
	const char *older_than = a->opt[PURGE_OLDER_THAN];
	bool dry_run = a->opt[PURGE_DRY_RUN] != NULL;
	if (!older_than)
		return usage_error(a->name, "--older-than INTERVAL is required (e.g. --older-than '30 days'; "
		                            "'0' purges every row)");
	const char *params[] = {older_than, a->opt[PURGE_TASK], a->opt[PURGE_QUEUE], dry_run ? "true" : "false"};
	PGresult *res = NULL;
	int rc = ctl_connect(ctl);
	if (rc < 0 || (rc = query(ctl, dlq_purge_sql, NULL, 4, params, &res)) < 0)
		goto out;
	long long deleted = 0;
	for (int r = 0; r < PQntuples(res); r++)
		deleted += int_value(res, r, "deleted");
	if (ctl->json) {
		rc = print_json(json_pack("{s:b, s:s, s:I, s:o}", "dry_run", dry_run, "older_than", older_than,
		                          "deleted", (json_int_t)deleted, "groups", output_json_rows(res)));
		goto out;
	}
	if (PQntuples(res) > 0) {
		const struct bf_output_col cols[] = {
		    {"task", "TASK", OUTPUT_FMT_AUTO},
		    {"queue", "QUEUE", OUTPUT_FMT_AUTO},
		    {"deleted", dry_run ? "WOULD_DELETE" : "DELETED", OUTPUT_FMT_AUTO},
		};
		output_table(stdout, res, cols, sizeof(cols) / sizeof(cols[0]));
		printf("\n");
	}
	if (dry_run)
		printf("would delete %lld dead-letter row%s (dry run: nothing was deleted)\n", deleted,
		       deleted == 1 ? "" : "s");
	else
		printf("deleted %lld dead-letter row%s\n", deleted, deleted == 1 ? "" : "s");
out:
	PQclear(res);
	return rc;
}

static const char dlq_stats_sql[] = "SELECT @S.dlq_stats() AS stats";

struct count_entry {
	const char *name;
	long long n;
};

static int by_count_desc(const void *x, const void *y)
{
	const struct count_entry *a = x, *b = y;
	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* A {"name": count} object of dlq_stats() as a table, largest first. */
static void print_counts(json_t *obj, const char *heading)
{
	size_t n = json_object_size(obj), i = 0;
	if (n == 0)
		return;
	struct count_entry *e = calloc(n, sizeof(*e));
	if (!e)
		abort();
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		e[i].name = key;
		e[i++].n = (long long)json_integer_value(v);
	}
	qsort(e, n, sizeof(*e), by_count_desc);
	const char *headings[] = {heading, "ROWS"};
	const bool right[] = {false, true};
	struct bf_output_grid *g = output_grid_new(2, headings, right);
	for (i = 0; i < n; i++) {
		char count[24];
		snprintf(count, sizeof(count), "%lld", e[i].n);
		const char *cells[] = {e[i].name, count};
		output_grid_add(g, cells);
	}
	printf("\n");
	output_grid_print(g, stdout);
	output_grid_free(g);
	free(e);
}

/* A timestamp of dlq_stats() (ISO 8601) for people: to the second. */
static void print_stat_time(const char *label, const json_t *t)
{
	char buf[64] = "-";
	if (json_is_string(t)) {
		snprintf(buf, sizeof(buf), "%s", json_string_value(t));
		char *dot = strchr(buf, '.');
		if (dot) {
			size_t f = strspn(dot + 1, "0123456789");
			memmove(dot, dot + 1 + f, strlen(dot + 1 + f) + 1);
		}
		char *tee = strchr(buf, 'T');
		if (tee)
			*tee = ' ';
	}
	printf("%-15s %s\n", label, buf);
}

static int cmd_dlq_stats(struct ctl *ctl, const struct cmd_args *a)
{
	(void)a;
	PGresult *res = NULL;
	int rc = ctl_connect(ctl);
	if (rc < 0 || (rc = query(ctl, dlq_stats_sql, NULL, 0, NULL, &res)) < 0)
		goto out;
	json_t *stats = output_json_value(res, 0, 0);
	if (ctl->json) {
		rc = print_json(stats);
		goto out;
	}
	printf("%-15s %lld\n", "rows", (long long)json_integer_value(json_object_get(stats, "total")));
	printf("%-15s %lld\n", "failures", (long long)json_integer_value(json_object_get(stats, "failure_count")));
	printf("%-15s %lld\n", "requeues", (long long)json_integer_value(json_object_get(stats, "requeued")));
	print_stat_time("oldest failure", json_object_get(stats, "oldest_failed_at"));
	print_stat_time("newest failure", json_object_get(stats, "newest_failed_at"));
	print_counts(json_object_get(stats, "by_task"), "TASK");
	print_counts(json_object_get(stats, "by_queue"), "QUEUE");
	json_decref(stats);
out:
	PQclear(res);
	return rc;
}

/* ---- workers, locks ------------------------------------------------------ */

#define OWNER_STATE                                                                  \
	"CASE WHEN w.id IS NULL THEN 'unknown'"                                          \
	" WHEN w.heartbeat_at >= now() - w.heartbeat_timeout THEN 'alive' ELSE 'dead' END"

static const char workers_sql[] =
    "SELECT w.id, w.host, w.pid, w.version, to_jsonb(w.queues) AS queues,"
    "       array_to_string(w.queues, ',') AS h_queues, w.started_at, w.heartbeat_at,"
    "       round(extract(epoch FROM now() - w.heartbeat_at)::numeric, 3) AS heartbeat_age_s,"
    "       round(extract(epoch FROM w.heartbeat_timeout)::numeric, 3) AS heartbeat_timeout_s,"
    "       " OWNER_STATE " AS state,"
    "       (SELECT count(*) FROM @S.jobs j"
    "        WHERE j.locked_by = w.id AND j.locked_at IS NOT NULL) AS running"
    " FROM @S.workers w"
    " ORDER BY w.host, w.started_at, w.id";

static int cmd_workers(struct ctl *ctl, const struct cmd_args *a)
{
	(void)a;
	PGresult *res = NULL;
	int rc = ctl_connect(ctl);
	if (rc < 0 || (rc = query(ctl, workers_sql, NULL, 0, NULL, &res)) < 0)
		goto out;
	if (ctl->json) {
		rc = print_json(json_pack("{s:o}", "workers", output_json_rows(res)));
	} else if (PQntuples(res) == 0) {
		printf("no workers registered\n");
	} else {
		static const struct bf_output_col cols[] = {
		    {"id", "ID", OUTPUT_FMT_AUTO},
		    {"host", "HOST", OUTPUT_FMT_AUTO},
		    {"pid", "PID", OUTPUT_FMT_AUTO},
		    {"version", "VERSION", OUTPUT_FMT_AUTO},
		    {"h_queues", "QUEUES", OUTPUT_FMT_AUTO},
		    {"started_at", "STARTED", OUTPUT_FMT_AUTO},
		    {"heartbeat_age_s", "HEARTBEAT_AGE", OUTPUT_FMT_AGE},
		    {"state", "STATE", OUTPUT_FMT_AUTO},
		    {"running", "RUNNING", OUTPUT_FMT_AUTO},
		};
		output_table(stdout, res, cols, sizeof(cols) / sizeof(cols[0]));
	}
out:
	PQclear(res);
	return rc;
}

static const char locks_jobs_sql[] =
    "SELECT j.id, j.task, j.queue, j.attempts, j.max_attempts,"
    "       j.attempts || '/' || j.max_attempts AS h_attempt, j.serial_key, j.locked_by,"
    "       j.locked_at, round(extract(epoch FROM now() - j.locked_at)::numeric, 3) AS age_s,"
    "       " OWNER_STATE " AS owner_state"
    " FROM @S.jobs j LEFT JOIN @S.workers w ON w.id = j.locked_by"
    " WHERE j.locked_at IS NOT NULL"
    " ORDER BY j.locked_at, j.id";

static const char locks_serial_sql[] =
    "SELECT s.serial_key, s.job_id, s.locked_by, s.locked_at,"
    "       round(extract(epoch FROM now() - s.locked_at)::numeric, 3) AS age_s,"
    "       " OWNER_STATE " AS owner_state,"
    "       coalesce(j.locked_by = s.locked_by, false) AS job_running"
    " FROM @S.serial_locks s"
    " LEFT JOIN @S.workers w ON w.id = s.locked_by"
    " LEFT JOIN @S.jobs j ON j.id = s.job_id"
    " ORDER BY s.locked_at, s.serial_key";

static int cmd_locks(struct ctl *ctl, const struct cmd_args *a)
{
	(void)a;
	PGresult *jobs = NULL, *serial = NULL;
	int rc = ctl_connect(ctl);
	if (rc < 0 || (rc = begin_read(ctl)) < 0 || (rc = query(ctl, locks_jobs_sql, NULL, 0, NULL, &jobs)) < 0 ||
	    (rc = query(ctl, locks_serial_sql, NULL, 0, NULL, &serial)) < 0 || (rc = commit(ctl)) < 0)
		goto out;
	if (ctl->json) {
		rc = print_json(json_pack("{s:o, s:o}", "running", output_json_rows(jobs), "serial_locks",
		                          output_json_rows(serial)));
		goto out;
	}
	static const struct bf_output_col job_cols[] = {
	    {"id", "ID", OUTPUT_FMT_AUTO},
	    {"task", "TASK", OUTPUT_FMT_AUTO},
	    {"queue", "QUEUE", OUTPUT_FMT_AUTO},
	    {"h_attempt", "ATTEMPT", OUTPUT_FMT_AUTO},
	    {"locked_by", "LOCKED_BY", OUTPUT_FMT_AUTO},
	    {"age_s", "AGE", OUTPUT_FMT_AGE},
	    {"owner_state", "OWNER", OUTPUT_FMT_AUTO},
	    {"serial_key", "SERIAL_KEY", OUTPUT_FMT_SHORT},
	};
	static const struct bf_output_col serial_cols[] = {
	    {"serial_key", "SERIAL_KEY", OUTPUT_FMT_SHORT},
	    {"job_id", "JOB_ID", OUTPUT_FMT_AUTO},
	    {"locked_by", "LOCKED_BY", OUTPUT_FMT_AUTO},
	    {"age_s", "AGE", OUTPUT_FMT_AGE},
	    {"owner_state", "OWNER", OUTPUT_FMT_AUTO},
	    {"job_running", "JOB_RUNNING", OUTPUT_FMT_AUTO},
	};
	if (PQntuples(jobs) == 0) {
		printf("running jobs: none\n");
	} else {
		printf("running jobs: %d\n", PQntuples(jobs));
		output_table(stdout, jobs, job_cols, sizeof(job_cols) / sizeof(job_cols[0]));
	}
	if (PQntuples(serial) == 0) {
		printf("\nserial-key locks: none\n");
	} else {
		printf("\nserial-key locks: %d\n", PQntuples(serial));
		output_table(stdout, serial, serial_cols, sizeof(serial_cols) / sizeof(serial_cols[0]));
	}
out:
	PQclear(jobs);
	PQclear(serial);
	return rc;
}

/* ---- command line -------------------------------------------------------- */

static const struct command commands[] = {
    {"status", cmd_status, NULL, 0, 0},
    {"enqueue", cmd_enqueue, enqueue_opts, 1, 2},
    {"dlq list", cmd_dlq_list, dlq_list_opts, 0, 0},
    {"dlq show", cmd_dlq_show, NULL, 1, 1},
    {"dlq requeue", cmd_dlq_requeue, dlq_requeue_opts, 1, 1},
    {"dlq delete", cmd_dlq_delete, NULL, 1, 1},
    {"dlq purge", cmd_dlq_purge, dlq_purge_opts, 0, 0},
    {"dlq stats", cmd_dlq_stats, NULL, 0, 0},
    {"workers", cmd_workers, NULL, 0, 0},
    {"locks", cmd_locks, NULL, 0, 0},
};

enum { OPT_JSON = 1000, OPT_COMMAND = 2000 };

static const struct option global_opts[] = {
    {"database-url", required_argument, NULL, 'd'},
    {"schema", required_argument, NULL, 's'},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
};
#define NGLOBAL_OPTS (sizeof(global_opts) / sizeof(global_opts[0]))

/* The option getopt just complained about, for the message. */
static const char *bad_option(char **argv, char *buf, size_t size)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	if (strncmp(arg, "--", 2) == 0) {
		snprintf(buf, size, "%.*s", (int)strcspn(arg, "="), arg);
		return buf;
	}
	if (optopt > 0 && optopt < 128 && isgraph(optopt)) {
		snprintf(buf, size, "-%c", optopt);
		return buf;
	}
	return arg;
}

/* An option every command takes.  Returns 1 when the program should stop
 * with *exit_status (help, version, usage error), else 0. */
static int global_option(struct ctl *ctl, int c, const char *cmd, char **argv, int *exit_status)
{
	char buf[128];
	switch (c) {
	case 'd':
		ctl->url = optarg;
		ctl->url_source = "--database-url";
		return 0;
	case 's':
		ctl->schema = optarg;
		ctl->schema_source = "--schema";
		return 0;
	case OPT_JSON:
		ctl->json = true;
		return 0;
	case 'h':
		usage(stdout);
		*exit_status = CTL_EXIT_OK;
		return 1;
	case 'V':
		printf("backfillctl %s\n", BACKFILLD_VERSION);
		*exit_status = CTL_EXIT_OK;
		return 1;
	case ':':
		*exit_status = exit_code(usage_error(cmd, "option %s needs a value", bad_option(argv, buf, sizeof(buf))));
		return 1;
	default:
		*exit_status = exit_code(usage_error(cmd, "unknown option %s", bad_option(argv, buf, sizeof(buf))));
		return 1;
	}
}

/* Parses a command's own options, the global ones and its positional
 * arguments (in any order) from argv[1..argc); argv[0] is the command's last
 * word.  Returns 1 when the program should stop with *exit_status. */
static int parse_command(struct ctl *ctl, const struct command *cmd, int argc, char **argv,
                         struct cmd_args *a, int *exit_status)
{
	struct option opts[NGLOBAL_OPTS + CMD_MAX_OPTS + 1];
	size_t n = 0;
	for (size_t i = 0; i < NGLOBAL_OPTS; i++)
		opts[n++] = global_opts[i];
	for (size_t i = 0; cmd->opts && cmd->opts[i].name; i++)
		opts[n++] = (struct option){cmd->opts[i].name, cmd->opts[i].flag ? no_argument : required_argument,
		                            NULL, OPT_COMMAND + (int)i};
	opts[n] = (struct option){NULL, 0, NULL, 0};

	memset(a, 0, sizeof(*a));
	a->name = cmd->name;
	int extra = 0;
	const char *first_extra = NULL;
	optind = 0; /* glibc: start afresh on this argv */
	int c;
	/* "-": positionals come back in order as 1, wherever they stand */
	while ((c = getopt_long(argc, argv, "-:d:s:hV", opts, NULL)) != -1) {
		if (c == 1) {
			if (a->nargs < cmd->max_args && a->nargs < CMD_MAX_ARGS)
				a->arg[a->nargs++] = optarg;
			else if (!extra++)
				first_extra = optarg;
		} else if (c >= OPT_COMMAND) {
			a->opt[c - OPT_COMMAND] = optarg ? optarg : "";
		} else if (global_option(ctl, c, cmd->name, argv, exit_status)) {
			return 1;
		}
	}
	for (; optind < argc; optind++) { /* after "--" */
		if (a->nargs < cmd->max_args && a->nargs < CMD_MAX_ARGS)
			a->arg[a->nargs++] = argv[optind];
		else if (!extra++)
			first_extra = argv[optind];
	}
	if (extra) {
		*exit_status = exit_code(usage_error(cmd->name, "unexpected argument \"%s\"", first_extra));
		return 1;
	}
	if (a->nargs < cmd->min_args) {
		*exit_status = exit_code(usage_error(cmd->name, "missing %s",
		                                     strcmp(cmd->name, "enqueue") == 0 ? "TASK" : "ID"));
		return 1;
	}
	return 0;
}

/* URL and schema: the flag, else the environment, else the default. */
static int resolve_target(struct ctl *ctl)
{
	const char *env;
	if (!ctl->url && (env = getenv("DATABASE_URL")) && *env) {
		ctl->url = env;
		ctl->url_source = "DATABASE_URL";
	}
	if (!ctl->url) {
		ctl->url = CTL_DEFAULT_URL;
		ctl->url_source = "the default";
	}
	if (!ctl->schema && (env = getenv("BACKFILL_SCHEMA")) && *env) {
		ctl->schema = env;
		ctl->schema_source = "BACKFILL_SCHEMA";
	}
	if (!ctl->schema) {
		ctl->schema = CTL_DEFAULT_SCHEMA;
		ctl->schema_source = "the default";
	}
	if (!valid_schema(ctl->schema))
		return usage_error(NULL,
		                   "invalid schema name \"%s\" (from %s): 1 to %d lowercase letters, digits and "
		                   "underscores, not starting with a digit",
		                   ctl->schema, ctl->schema_source, CTL_SCHEMA_MAX);
	if (asprintf(&ctl->schema_q, "\"%s\"", ctl->schema) < 0)
		abort();
	return 0;
}

static const struct command *find_command(const char *group, const char *word)
{
	char name[64];
	snprintf(name, sizeof(name), "%s%s%s", group ? group : "", group ? " " : "", word);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct ctl ctl = {0};
	struct cmd_args args;
	int status = CTL_EXIT_OK, c;

	/* options before the command; "+": stop at the command */
	opterr = 0;
	struct option opts[NGLOBAL_OPTS + 1];
	memcpy(opts, global_opts, sizeof(global_opts));
	opts[NGLOBAL_OPTS] = (struct option){NULL, 0, NULL, 0};
	while ((c = getopt_long(argc, argv, "+:d:s:hV", opts, NULL)) != -1)
		if (global_option(&ctl, c, NULL, argv, &status))
			return status;
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	int at = optind;
	if (strcmp(argv[at], "help") == 0) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	const struct command *cmd;
	if (strcmp(argv[at], "dlq") == 0) {
		if (at + 1 >= argc || argv[at + 1][0] == '-')
			return exit_code(usage_error("dlq", "name what to do: list, show, requeue, delete, purge or stats"));
		cmd = find_command("dlq", argv[++at]);
		if (!cmd)
			return exit_code(usage_error("dlq", "unknown command \"%s\" (list, show, requeue, delete, purge, "
			                                    "stats)",
			                             argv[at]));
	} else if (!(cmd = find_command(NULL, argv[at]))) {
		return exit_code(usage_error(NULL, "unknown command \"%s\"", argv[at]));
	}
	if (parse_command(&ctl, cmd, argc - at, argv + at, &args, &status))
		return status;

	int rc = resolve_target(&ctl);
	if (rc == 0)
		rc = cmd->run(&ctl, &args);
	if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
		fprintf(stderr, "backfillctl: cannot write the output: %s\n", strerror(errno));
		rc = CTLDB_ERR_FAILED;
	}
	ctldb_free(ctl.db);
	free(ctl.schema_q);
	return exit_code(rc);
}
