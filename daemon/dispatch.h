/* dispatch.h -- the event-loop side of running jobs: wake on NOTIFY, poll,
 * claim a batch per pool with free slots, hand jobs to worker threads, take
 * results back and finish them in batches; heartbeat, recover dead daemons,
 * survive a lost database, drain on shutdown. */
#ifndef BACKFILLD_DISPATCH_H
#define BACKFILLD_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct bf_config;
struct bf_loader;
struct bf_dispatch;

/* Runs in the loop's thread.  cfg and loader are borrowed and must outlive
 * the dispatcher.  once: run what is due now, then stop (no LISTEN). */
struct bf_dispatch *dispatch_new(struct event_base *base, const struct bf_config *cfg,
                                 const struct bf_loader *loader, bool once);

/* Connects (retrying until it works or shutdown is asked for), registers
 * this daemon, starts timers and the first claim.  Returns 0, or -1 when it
 * gave up (shutdown requested before the database was reached). */
__attribute__((warn_unused_result)) int dispatch_start(struct bf_dispatch *d);

/* SIGHUP: switches to cfg (borrowed; must outlive the dispatcher or the
 * next reconfigure), whose restart-only keys the caller has already set to
 * the running values.  Resizes, starts or stops pools, re-arms timers.
 * Returns -1 if some pool could not grow (it keeps its old size). */
__attribute__((warn_unused_result)) int dispatch_reconfigure(struct bf_dispatch *d, const struct bf_config *cfg);

/* SIGTERM/SIGINT: stop claiming, let running jobs finish up to
 * shutdown_timeout, then return the rest.  A second call aborts at once. */
void dispatch_shutdown(struct bf_dispatch *d);

/* True once every job is finished or returned and the loop may stop. */
bool dispatch_finished(const struct bf_dispatch *d);

/* True when no handler runs any more (threads may be joined). */
bool dispatch_idle(const struct bf_dispatch *d);

const char *dispatch_worker_id(const struct bf_dispatch *d);

/* Fills out[0 .. min(n, max)) with the pools' state; returns n. */
struct bf_metrics_pool;
size_t dispatch_pools(const struct bf_dispatch *d, struct bf_metrics_pool *out, size_t max);

/* Frees everything; joins worker threads only if dispatch_idle().  NULL is
 * a no-op. */
void dispatch_free(struct bf_dispatch *d);

#endif /* BACKFILLD_DISPATCH_H */
