/* cron.h -- recurring jobs on the loop's connection: a timer just after
 * each UTC minute enqueues the occurrences of the configured crontab that
 * fall in it, each exactly once across every daemon sharing the crontab
 * (cron_fire), and backfills missed occurrences of schedules with fill=. */
#ifndef BACKFILLD_CRON_H
#define BACKFILLD_CRON_H

struct event_base;
struct bf_config;
struct bf_db;
struct bf_cron;

/* cfg (its crontab) and db are borrowed; db is the dispatcher's connection
 * (cron waits while it is down).  on_enqueued(arg), if not NULL, runs after
 * a turn that enqueued jobs (the dispatcher claims them at once). */
struct bf_cron *cron_new(struct event_base *base, const struct bf_config *cfg, struct bf_db *db,
                         void (*on_enqueued)(void *arg), void *arg);

/* Registers the schedule ids, backfills, then follows the minutes. */
void cron_start(struct bf_cron *c);

/* Switches to a reloaded cfg (borrowed): new schedules are registered (no
 * backfill for them), changed ones apply from the next minute. */
void cron_reconfigure(struct bf_cron *c, const struct bf_config *cfg);

/* The database is back: retry at once rather than after the backoff. */
void cron_poke(struct bf_cron *c);

/* Stops the timer (shutdown). */
void cron_stop(struct bf_cron *c);

void cron_free(struct bf_cron *c);

#endif /* BACKFILLD_CRON_H */
