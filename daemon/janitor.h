/* janitor.h -- periodic maintenance on the loop's connection: the DLQ
 * processor (sweeps exhausted jobs into the dead-letter queue) and the
 * stale-lock cleanup for locks whose owner is unknown. */
#ifndef BACKFILLD_JANITOR_H
#define BACKFILLD_JANITOR_H

struct event_base;
struct bf_config;
struct bf_db;
struct bf_janitor;

/* cfg and db are borrowed (db is the dispatcher's connection; the janitor
 * skips a turn while it is down).  Logs warnings for risky settings. */
struct bf_janitor *janitor_new(struct event_base *base, const struct bf_config *cfg, struct bf_db *db);

/* Runs both jobs once now (start-up), then on their intervals. */
void janitor_start(struct bf_janitor *j);

/* Switches to a reloaded cfg (borrowed) and restarts both timers. */
void janitor_reconfigure(struct bf_janitor *j, const struct bf_config *cfg);

/* Stops the timers (shutdown). */
void janitor_stop(struct bf_janitor *j);

void janitor_free(struct bf_janitor *j);

#endif /* BACKFILLD_JANITOR_H */
