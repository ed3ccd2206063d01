/* vacuum.h -- VACUUM of the jobs table after every [daemon] vacuum_every
 * results this daemon recorded, on a connection of its own, at most ~10 %
 * of the time (see vacuum.c). */
#ifndef BACKFILLD_VACUUM_H
#define BACKFILLD_VACUUM_H

#include <stddef.h>

struct event_base;
struct bf_config;
struct bf_vacuum;

/* cfg is borrowed; a connection is opened for each VACUUM and closed after it. */
struct bf_vacuum *vacuum_new(struct event_base *base, const struct bf_config *cfg);
/* Switches to a reloaded cfg (borrowed). */
void vacuum_reconfigure(struct bf_vacuum *v, const struct bf_config *cfg);
/* Counts results recorded; starts a VACUUM when one is due.  v may be NULL. */
void vacuum_count(struct bf_vacuum *v, size_t results);
/* Cancels a running VACUUM, closes the connection.  v may be NULL. */
void vacuum_free(struct bf_vacuum *v);

#endif /* BACKFILLD_VACUUM_H */
