/* admin.h -- the HTTP endpoint on the loop's event base (libevent's evhttp):
 * GET /metrics (Prometheus text), /health and /status, and the admin API
 * over the dead-letter queue and locks.  It has its own blocking libpq
 * connection, never the dispatcher's. */
#ifndef BACKFILLD_ADMIN_H
#define BACKFILLD_ADMIN_H

#include <stddef.h>

struct event_base;
struct bf_admin;
struct bf_config;
struct bf_loader;
struct bf_metrics_pool;

/* What the endpoint reads from the dispatcher; called on the loop's thread
 * while a request is served.  Any hook may be NULL (that part is left out). */
struct bf_admin_hooks {
	/* Fills out[0 .. min(n, max)) with the pools, n being the number of
	 * pools, which it returns.  Queue names are borrowed for the request. */
	size_t (*pools)(void *arg, struct bf_metrics_pool *out, size_t max);
	/* This daemon's worker id (borrowed), or NULL. */
	const char *(*worker_id)(void *arg);
	void *arg;
};

/* Starts listening on cfg's [admin] listen.  *out stays NULL when listen is
 * empty (disabled).  cfg is borrowed until admin_reconfigure or
 * admin_free, loader until admin_free; hooks are copied.  Returns -1
 * (logged) if the address cannot be bound. */
__attribute__((warn_unused_result)) int admin_new(struct event_base *base, const struct bf_config *cfg,
                                                  const struct bf_loader *loader,
                                                  const struct bf_admin_hooks *hooks, struct bf_admin **out);

/* SIGHUP: switches to cfg (borrowed).  [admin] keys and the database are
 * restart-only (the caller already kept them); what follows a reload are
 * the lock thresholds of /locks/status, the DLQ processor setting /status
 * reports and new queues in the queue-depth gauges. */
void admin_reconfigure(struct bf_admin *a, const struct bf_config *cfg);

/* Stops listening, closes connections.  NULL is a no-op. */
void admin_free(struct bf_admin *a);

#endif /* BACKFILLD_ADMIN_H */
