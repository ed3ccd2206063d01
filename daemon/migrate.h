/* migrate.h -- schema migrations: the numbered files of sql/, embedded at
 * build time, applied in order under an advisory lock and recorded in the
 * schema's migrations table. */
#ifndef BACKFILLD_MIGRATE_H
#define BACKFILLD_MIGRATE_H

#include <stddef.h>

struct bf_db;

struct bf_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct bf_migration migrate_files[];
extern const size_t migrate_nfiles;

#define MIGRATE_ERR_DB (-1)     /* database unreachable or a statement failed */
#define MIGRATE_ERR_SCHEMA (-2) /* schema too old (auto_migrate off) or newer than this build */

/* The version this build needs (the highest embedded file). */
int migrate_latest(void);

/* Applies pending migrations (apply) or only checks the version (!apply).
 * Logs what it does; returns 0 or MIGRATE_ERR_*. */
__attribute__((warn_unused_result)) int migrate_run(struct bf_db *db, int apply);

#endif /* BACKFILLD_MIGRATE_H */
