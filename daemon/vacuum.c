/* vacuum.c -- VACUUM of the jobs table during big drains.  Every claimed
 * and every finished job leaves a dead row version and dead entries in the
 * claim index; until a VACUUM removes them, each claim walks past all those
 * of the jobs drained before it (autovacuum visits a database at most once
 * a minute).  After [daemon] vacuum_every results recorded by this daemon,
 * one VACUUM (SKIP_LOCKED: never waits for another) runs on a connection of
 * its own, opened for it and closed after it (an idle connection could be
 * dropped unnoticed in between), without blocking the loop while it runs;
 * the next may start only after nine times as long as the last one took, so
 * vacuuming costs at most ~10 % of one backend however big the table. */
#include "vacuum.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "log.h"

#define VACUUM_SPACING 9 /* idle time after a VACUUM, in multiples of its duration */

struct bf_vacuum {
	struct event_base *base;
	const struct bf_config *cfg;
	struct bf_db db;
	struct event *ev; /* the connection's socket while a VACUUM runs */
	bool running;
	bool refused;        /* this role may not VACUUM jobs: do not try again */
	uint64_t results;    /* recorded since the last VACUUM started */
	int64_t started_us;  /* of the running VACUUM */
	int64_t not_before_us;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct bf_vacuum *vacuum_new(struct event_base *base, const struct bf_config *cfg)
{
	struct bf_vacuum *v = calloc(1, sizeof(*v));
	if (!v)
		abort();
	v->base = base;
	v->cfg = cfg;
	db_init(&v->db, cfg->database_url, cfg->schema);
	return v;
}

void vacuum_reconfigure(struct bf_vacuum *v, const struct bf_config *cfg)
{
	if (v)
		v->cfg = cfg;
}

static void stop_running(struct bf_vacuum *v)
{
	if (v->ev) {
		event_free(v->ev);
		v->ev = NULL;
	}
	v->running = false;
}

static void on_result(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_vacuum *v = arg;
	PGresult *r = NULL;
	int rc = db_read_result(&v->db, "vacuum", &r);
	if (rc == 0)
		return; /* not done yet */
	int64_t took = now_us() - v->started_us;
	stop_running(v);
	db_disconnect(&v->db);
	v->not_before_us = now_us() + VACUUM_SPACING * took;
	if (!r) {
		/* logged by db_read_result */
		log_warn("vacuum: VACUUM of %s.jobs failed; trying again after %d more results",
		         v->db.schema, v->cfg->vacuum_every);
		return;
	}
	PQclear(r);
	log_info("vacuum: %s.jobs vacuumed in %.0f ms", v->db.schema, (double)took / 1000.0);
}

/* Connects, with no statement timeout (a role's would cancel every long
 * VACUUM), and checks that this role may vacuum the table (PostgreSQL would
 * only warn and skip it). */
static int connect_for_vacuum(struct bf_vacuum *v)
{
	if (db_connect(&v->db, false) < 0)
		return -1;
	PGresult *r = db_exec(&v->db, "vacuum session setup", "SET statement_timeout = 0", 0, NULL);
	if (!r) {
		db_disconnect(&v->db);
		return -1;
	}
	PQclear(r);
	char sql[400];
	snprintf(sql, sizeof(sql),
	         "SELECT pg_has_role(current_user, c.relowner, 'USAGE'), current_user FROM pg_class c "
	         "WHERE c.oid = '%s.jobs'::regclass",
	         v->db.schema_q);
	r = db_exec(&v->db, "vacuum permission check", sql, 0, NULL);
	if (!r) {
		db_disconnect(&v->db);
		return -1;
	}
	bool owner = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	if (!owner) {
		log_info("vacuum: role %s does not own %s.jobs, so it cannot VACUUM it; autovacuum alone "
		         "cleans the table (set [daemon] vacuum_every = 0 to silence this)",
		         PQntuples(r) == 1 ? PQgetvalue(r, 0, 1) : "?", v->db.schema);
		v->refused = true;
		db_disconnect(&v->db);
	}
	PQclear(r);
	return owner ? 0 : -1;
}

static void start(struct bf_vacuum *v)
{
	v->results = 0;
	if (connect_for_vacuum(v) < 0) {
		v->not_before_us = now_us() + 10 * 1000000; /* a failed connect: not before 10 s */
		return;
	}
	char sql[200];
	snprintf(sql, sizeof(sql), "VACUUM (SKIP_LOCKED) %s.jobs", v->db.schema_q);
	if (db_send(&v->db, "vacuum", sql) < 0) {
		db_disconnect(&v->db);
		return;
	}
	v->ev = event_new(v->base, db_socket(&v->db), EV_READ | EV_PERSIST, on_result, v);
	if (!v->ev || event_add(v->ev, NULL) < 0)
		abort();
	v->running = true;
	v->started_us = now_us();
	log_debug("vacuum: VACUUM of %s.jobs started", v->db.schema);
}

void vacuum_count(struct bf_vacuum *v, size_t results)
{
	if (!v || v->refused)
		return;
	v->results += results;
	int every = v->cfg->vacuum_every;
	if (every <= 0 || v->running || v->results < (uint64_t)every || now_us() < v->not_before_us)
		return;
	start(v);
}

void vacuum_free(struct bf_vacuum *v)
{
	if (!v)
		return;
	if (v->running)
		db_cancel(&v->db); /* a VACUUM stops where it is; what it did stays */
	stop_running(v);
	db_cleanup(&v->db);
	free(v);
}
