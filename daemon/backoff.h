/* backoff.h -- retry delays: jobs (exp(min(attempts, 10)) seconds, as
 * Graphile Worker and backfill) and database reconnects. */
#ifndef BACKFILLD_BACKOFF_H
#define BACKFILLD_BACKOFF_H

#include <stdint.h>

/* Seconds until a job that failed its attempts-th run (1-based) runs again:
 * e^min(attempts, 10), so 2.72 s, 7.39 s, 20.1 s, ... capped at ~6.1 h. */
double backoff_job_delay_s(int attempts);

/* Milliseconds before reconnect try number `failures` (1-based):
 * 100 ms doubling to 10 s, times jitter in [0.5, 1] from `random01`. */
int64_t backoff_reconnect_ms(int failures, double random01);

#endif /* BACKFILLD_BACKOFF_H */
