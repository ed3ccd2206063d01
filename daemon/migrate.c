/* migrate.c -- apply or verify the schema's migrations. */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

int migrate_latest(void)
{
	int v = 0;
	for (size_t i = 0; i < migrate_nfiles; i++)
		if (migrate_files[i].version > v)
			v = migrate_files[i].version;
	return v;
}

static int exec_simple(struct bf_db *db, const char *what, const char *sql)
{
	PGresult *r = db_exec(db, what, sql, 0, NULL);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/* Current version: 0 when the schema or its migrations table is missing. */
static int current_version(struct bf_db *db, int *version)
{
	const char *params[] = {db->schema};
	PGresult *r = db_exec(db, "read schema version",
	                      "SELECT to_regclass(quote_ident($1) || '.migrations') IS NOT NULL", 1,
	                      params);
	if (!r)
		return -1;
	int exists = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	*version = 0;
	if (!exists)
		return 0;
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT coalesce(max(version), 0) FROM %s.migrations", db->schema_q);
	r = db_exec(db, "read schema version", sql, 0, NULL);
	if (!r)
		return -1;
	*version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

static int apply_one(struct bf_db *db, const struct bf_migration *m)
{
	char sql[256];
	if (exec_simple(db, "begin migration", "BEGIN") < 0)
		return -1;
	snprintf(sql, sizeof(sql), "SET LOCAL search_path TO %s", db->schema_q);
	char what[128];
	snprintf(what, sizeof(what), "migration %s", m->name);
	if (exec_simple(db, what, sql) < 0 || exec_simple(db, what, m->sql) < 0 ||
	    exec_simple(db, what, "COMMIT") < 0) {
		if (db_connected(db)) {
			PGresult *r = PQexec(db->conn, "ROLLBACK");
			PQclear(r);
		}
		return -1;
	}
	log_info("migrate: applied %s to schema %s", m->name, db->schema);
	return 0;
}

int migrate_run(struct bf_db *db, int apply)
{
	int latest = migrate_latest();
	int version;
	int rc = 0;
	const char *lock_params[] = {db->schema};
	if (apply) {
		/* one migrator per schema at a time; others wait, then see it done */
		PGresult *r = db_exec(db, "migration lock",
		                      "SELECT pg_advisory_lock(hashtext('backfilld migrate'), hashtext($1))",
		                      1, lock_params);
		if (!r)
			return MIGRATE_ERR_DB;
		PQclear(r);
	}
	if (current_version(db, &version) < 0) {
		rc = MIGRATE_ERR_DB;
		goto out;
	}
	if (version > latest) {
		log_error("migrate: schema %s is at version %d, newer than this backfilld (%s) knows "
		          "(%d): upgrade backfilld, or point it at another schema",
		          db->schema, version, BACKFILLD_VERSION, latest);
		rc = MIGRATE_ERR_SCHEMA;
		goto out;
	}
	if (version == latest) {
		log_info("migrate: schema %s is up to date (version %d)", db->schema, version);
		goto out;
	}
	if (!apply) {
		log_error("migrate: schema %s is at version %d but this backfilld needs %d and "
		          "auto_migrate is off: run `backfilld --migrate`, or apply sql/%03d_*.sql and "
		          "later files with psql",
		          db->schema, version, latest, version + 1);
		rc = MIGRATE_ERR_SCHEMA;
		goto out;
	}
	if (version == 0) {
		char sql[160];
		snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", db->schema_q);
		if (exec_simple(db, "create schema", sql) < 0) {
			rc = MIGRATE_ERR_DB;
			goto out;
		}
	}
	for (size_t i = 0; i < migrate_nfiles; i++) {
		if (migrate_files[i].version <= version)
			continue;
		if (apply_one(db, &migrate_files[i]) < 0) {
			rc = MIGRATE_ERR_DB;
			goto out;
		}
	}
out:
	if (apply && db_connected(db)) {
		PGresult *r = db_exec(db, "migration unlock",
		                      "SELECT pg_advisory_unlock(hashtext('backfilld migrate'), hashtext($1))",
		                      1, lock_params);
		PQclear(r);
	}
	return rc;
}
