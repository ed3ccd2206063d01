/* cron.c -- recurring jobs: the minute timer, the once-only enqueue of each
 * occurrence through cron_fire, and the backfill of missed occurrences
 * (oldest first, so last_execution only moves forward). */
#include "cron.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "crontab.h"
#include "db.h"
#include "jobsql.h"
#include "log.h"

#define CRON_LATE_MAX_S 60    /* an occurrence later than this is missed (fill backfills it) */
#define CRON_BATCH 100        /* statements per loop turn, so jobs keep flowing */
#define CRON_RETRY_MAX_MS 10000
#define CRON_FIRE_DELAY_MS 1  /* after the minute boundary */

struct bf_cron {
	const struct bf_config *cfg;
	struct bf_db *db;
	void (*on_enqueued)(void *arg);
	void *arg;
	struct event *timer;
	time_t cursor;      /* the next minute whose occurrences are enqueued on time; 0: unset */
	bool started;
	bool stopped;
	bool backfill_due;  /* register the ids and backfill before the next minute */
	bool backfilling;   /* pos[] holds the backfill in progress */
	time_t *pos;        /* per schedule: next occurrence to backfill, -1: none */
	size_t npos;
	int failures;       /* consecutive failed turns */
	int enqueued;       /* jobs enqueued this turn */
};

static time_t minute_ceil(time_t t) { return t % 60 == 0 ? t : t - t % 60 + 60; }

/* The wall clock, from the same source arm_next() reads (time() may be a
 * coarser clock). */
static time_t wall_now(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return now.tv_sec;
}

static void arm_ms(struct bf_cron *c, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

/* Sleeps until just after the cursor's minute begins (wall clock). */
static void arm_next(struct bf_cron *c)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long long ms = ((long long)c->cursor - now.tv_sec) * 1000 - now.tv_nsec / 1000000 + CRON_FIRE_DELAY_MS;
	arm_ms(c, ms > 0 ? (long)ms : 0);
}

static void fail(struct bf_cron *c, const char *why)
{
	if (c->enqueued > 0 && c->on_enqueued)
		c->on_enqueued(c->arg);
	c->enqueued = 0;
	c->failures++;
	c->backfill_due = true;
	c->backfilling = false;
	long ms = 1000L << (c->failures < 5 ? c->failures - 1 : 4);
	if (ms > CRON_RETRY_MAX_MS)
		ms = CRON_RETRY_MAX_MS;
	if (c->failures == 1)
		log_warn("cron: %s; retrying every few seconds (an occurrence more than %d s late is "
		         "missed, and backfilled only by schedules with fill=)",
		         why, CRON_LATE_MAX_S);
	arm_ms(c, ms);
}

/* Enqueues one occurrence unless some daemon did.  -1 only when the
 * database went away (try again later); a statement error is logged and
 * the occurrence skipped, so one bad schedule never holds up the others. */
static int fire(struct bf_cron *c, const struct bf_cron_schedule *s, time_t ts, bool backfilled)
{
	int64_t job = -1;
	char when[32];
	crontab_format_time(ts, when, sizeof(when));
	if (jobsql_cron_fire(c->db, s, ts, backfilled, &job) < 0) {
		if (!db_connected(c->db))
			return -1;
		log_error("cron: %s: the occurrence %s was not enqueued (see the error above); skipping it",
		          s->id, when);
		return 0;
	}
	if (job < 0) {
		log_debug("cron: %s: %s was already enqueued", s->id, when);
		return 0;
	}
	c->enqueued++;
	if (backfilled)
		log_info("cron: %s: enqueued job %lld (task %s) for the missed occurrence %s (backfill)", s->id,
		         (long long)job, s->task, when);
	else
		log_debug("cron: %s: enqueued job %lld (task %s) for %s", s->id, (long long)job, s->task, when);
	return 0;
}

/* Registers every id and sets, per schedule with fill, the first missed
 * occurrence to enqueue: within fill of now, after the latest enqueued one
 * (or, for a schedule never run, after it became known), before the cursor. */
static int start_backfill(struct bf_cron *c, time_t now)
{
	const struct bf_crontab *tab = &c->cfg->crontab;
	struct bf_buf ids = {0};
	buf_append(&ids, "{", 1);
	for (size_t i = 0; i < tab->n; i++) {
		if (i)
			buf_append(&ids, ",", 1);
		buf_array_text(&ids, tab->items[i].id);
	}
	buf_append(&ids, "}", 1);
	struct bf_cron_known *rows = NULL;
	size_t nrows = 0;
	int rc = jobsql_cron_register(c->db, ids.data, &rows, &nrows);
	buf_free(&ids);
	if (rc < 0)
		return -1;
	if (c->npos < tab->n) {
		time_t *p = realloc(c->pos, tab->n * sizeof(*p));
		if (!p)
			abort();
		c->pos = p;
		c->npos = tab->n;
	}
	size_t pending = 0;
	for (size_t i = 0; i < tab->n; i++) {
		const struct bf_cron_schedule *s = &tab->items[i];
		c->pos[i] = -1;
		if (s->fill_s == 0)
			continue;
		const struct bf_cron_known *k = NULL;
		for (size_t j = 0; j < nrows && !k; j++)
			if (strcmp(rows[j].id, s->id) == 0)
				k = &rows[j];
		if (!k)
			continue;
		time_t after = now - s->fill_s - 1; /* occurrences at or after now - fill */
		time_t not_before = (time_t)(k->last_execution >= 0 ? k->last_execution : k->known_since);
		if (not_before > after)
			after = not_before;
		time_t t = crontab_next(s, after);
		if (t >= 0 && t < c->cursor) {
			c->pos[i] = t;
			pending++;
		}
	}
	jobsql_cron_known_free(rows, nrows);
	if (pending > 0)
		log_info("cron: backfilling missed occurrences of %zu schedule(s)", pending);
	c->backfilling = true;
	return 0;
}

/* Enqueues backfill occurrences in time order, at most *budget of them.
 * 1: done; 0: more to do; -1: the database went away. */
static int backfill_step(struct bf_cron *c, int *budget)
{
	const struct bf_crontab *tab = &c->cfg->crontab;
	while (*budget > 0) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < tab->n; i++)
			if (c->pos[i] >= 0 && (best == SIZE_MAX || c->pos[i] < c->pos[best]))
				best = i;
		if (best == SIZE_MAX)
			return 1;
		const struct bf_cron_schedule *s = &tab->items[best];
		if (fire(c, s, c->pos[best], true) < 0)
			return -1;
		(*budget)--;
		time_t t = crontab_next(s, c->pos[best]);
		c->pos[best] = t >= 0 && t < c->cursor ? t : -1;
	}
	return 0;
}

static void run(struct bf_cron *c)
{
	const struct bf_crontab *tab = &c->cfg->crontab;
	if (c->stopped)
		return;
	if (tab->n == 0) {
		c->cursor = 0; /* nothing to follow; a reload with schedules starts afresh */
		return;
	}
	time_t now = wall_now();
	if (c->cursor == 0)
		c->cursor = minute_ceil(now);
	if (!c->backfill_due && c->cursor > now) { /* woke a little early */
		arm_next(c);
		return;
	}
	c->enqueued = 0;
	if (!db_connected(c->db)) {
		fail(c, "the database is unavailable");
		return;
	}
	time_t late_limit = minute_ceil(now - CRON_LATE_MAX_S);
	if (c->cursor < late_limit) {
		char from[32], to[32], when[80];
		crontab_format_time(c->cursor, from, sizeof(from));
		crontab_format_time(late_limit - 60, to, sizeof(to));
		if (c->cursor < late_limit - 60)
			snprintf(when, sizeof(when), "from %s to %s", from, to);
		else
			snprintf(when, sizeof(when), "at %s", from);
		log_warn("cron: occurrences %s were not enqueued in time (database unavailable or the "
		         "daemon stalled); schedules with fill= backfill them, the others skip them",
		         when);
		c->cursor = late_limit;
		c->backfill_due = true;
		c->backfilling = false;
	}
	int budget = CRON_BATCH;
	if (c->backfill_due) {
		if (!c->backfilling && start_backfill(c, now) < 0) {
			fail(c, "cannot register the crontab's schedules");
			return;
		}
		int rc = backfill_step(c, &budget);
		if (rc < 0) {
			fail(c, "the database went away while backfilling");
			return;
		}
		if (rc == 0) {
			if (c->enqueued > 0 && c->on_enqueued)
				c->on_enqueued(c->arg);
			arm_ms(c, 0); /* more after other events had their turn */
			return;
		}
		c->backfill_due = false;
		c->backfilling = false;
	}
	while (c->cursor <= now && budget > 0) {
		for (size_t i = 0; i < tab->n; i++) {
			if (!crontab_matches(&tab->items[i], c->cursor))
				continue;
			if (fire(c, &tab->items[i], c->cursor, false) < 0) {
				fail(c, "the database went away while enqueueing");
				return;
			}
			budget--;
		}
		c->cursor += 60;
	}
	if (c->failures > 0)
		log_info("cron: enqueueing again after %d failed attempt(s)", c->failures);
	c->failures = 0;
	if (c->enqueued > 0 && c->on_enqueued)
		c->on_enqueued(c->arg);
	if (c->cursor <= now)
		arm_ms(c, 0);
	else
		arm_next(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run(arg);
}

struct bf_cron *cron_new(struct event_base *base, const struct bf_config *cfg, struct bf_db *db,
                         void (*on_enqueued)(void *arg), void *arg)
{
	struct bf_cron *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->cfg = cfg;
	c->db = db;
	c->on_enqueued = on_enqueued;
	c->arg = arg;
	c->timer = evtimer_new(base, on_timer, c);
	if (!c->timer)
		abort();
	return c;
}

static void describe(const struct bf_cron *c, const char *when)
{
	const struct bf_crontab *tab = &c->cfg->crontab;
	size_t fill = 0;
	for (size_t i = 0; i < tab->n; i++)
		fill += tab->items[i].fill_s > 0;
	if (tab->n > 0)
		log_info("cron: %s %zu schedule(s), %zu with fill", when, tab->n, fill);
}

void cron_start(struct bf_cron *c)
{
	if (!c)
		return;
	c->started = true;
	c->stopped = false;
	c->cursor = 0; /* the next minute: the current one was missed (backfilled with fill=) */
	c->backfill_due = true;
	c->backfilling = false;
	describe(c, "following");
	run(c);
}

void cron_reconfigure(struct bf_cron *c, const struct bf_config *cfg)
{
	if (!c)
		return;
	evtimer_del(c->timer);
	c->cfg = cfg;
	c->backfill_due = true;
	c->backfilling = false;
	c->failures = 0;
	if (!c->started || c->stopped)
		return;
	describe(c, "now following");
	run(c);
}

void cron_poke(struct bf_cron *c)
{
	if (!c || !c->started || c->stopped || c->failures == 0)
		return;
	evtimer_del(c->timer);
	run(c);
}

void cron_stop(struct bf_cron *c)
{
	if (!c)
		return;
	c->stopped = true;
	evtimer_del(c->timer);
}

void cron_free(struct bf_cron *c)
{
	if (!c)
		return;
	event_free(c->timer);
	free(c->pos);
	free(c);
}
