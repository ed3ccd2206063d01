/*
 * <backfill/plugin_stub.h> -- a fake backfilld host for unit-testing plugin
 * handlers in-process, without a database or the daemon.
 *
 * The stub gives a plugin the same struct bf_host_api that backfilld gives
 * it (from <backfill/plugin.h>, the real ABI header), checks the plugin's
 * descriptor the way backfilld's loader does, calls its init() with the
 * configuration you set, runs its handlers on jobs you build, and records
 * what they did: the status mapped as backfilld maps it, last_error as
 * backfilld would store it, the retry delay, and every log line.
 *
 *   struct bf_stub *stub = bf_stub_new();
 *   bf_stub_config_set(stub, "dir", "/tmp/out");
 *   if (bf_stub_load_file(stub, "./mytasks.so") != BF_OK)
 *           fail(bf_stub_load_error(stub));
 *   bf_job *job = bf_stub_job_new(stub, "email.send", "{\"to\": \"a@b\"}");
 *   bf_stub_job_set_attempts(job, 3, 3);
 *   int32_t outcome = bf_stub_run(stub, job);   // BF_JOB_OK/RETRY/FAIL
 *   ... bf_stub_job_error(job), bf_stub_log_find(stub, 0, "sent") ...
 *   bf_stub_job_free(job);
 *   bf_stub_free(stub);                          // calls shutdown()
 *
 * Link with $(pkg-config --libs backfill-plugin-stub).  Stricter than the
 * daemon where the daemon cannot afford to check: a job accessor called
 * after the handler returned, or from another thread, is counted as a
 * contract violation (bf_stub_violations) and logged.
 *
 * Threads: bf_stub_run may be called from several threads at once on
 * different jobs (to test a handler's thread safety); the log is locked.
 * Everything else: one thread at a time.
 */
#ifndef BACKFILL_PLUGIN_STUB_H
#define BACKFILL_PLUGIN_STUB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <backfill/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* bf_stub_load_*: the plugin was refused before init() ran (what backfilld's
 * loader refuses: see bf_stub_load_error). */
#define BF_STUB_REFUSED (-1000)

/* bf_stub_log_job for a line logged with host->log(). */
#define BF_STUB_NO_JOB (-1)

struct bf_stub;

/* A new fake host with no plugin loaded.  Never NULL (aborts when out of
 * memory).  Free with bf_stub_free. */
struct bf_stub *bf_stub_new(void);

/* Calls the plugin's shutdown() if its init() succeeded, unloads a plugin
 * loaded from a file, frees everything.  NULL is a no-op.  Free every job
 * first. */
void bf_stub_free(struct bf_stub *stub);

/* Adds key = value to the configuration section init() will see (the
 * plugin's [NAME] section in backfilld.ini); a key set again keeps its place
 * and takes the new value, as in the ini file.  Before loading only.
 * Returns BF_OK, BF_ERR_INVALID or BF_ERR_STATE. */
int32_t bf_stub_config_set(struct bf_stub *stub, const char *key, const char *value);

/* Pretends another plugin already registered this task name: the plugin's
 * register_task() for it returns BF_ERR_EXISTS.  Before loading only. */
int32_t bf_stub_reserve_task(struct bf_stub *stub, const char *task);

/* Loads a plugin through its entry function (a plugin compiled into the
 * test program: bf_stub_load_entry(stub, backfill_plugin_entry)), or from a
 * shared object (dlopen(RTLD_NOW | RTLD_LOCAL), like backfilld).  Checks the
 * descriptor as backfilld does (magic, ABI major, size, name, init), then
 * calls init().  One plugin per stub.  Returns BF_OK; BF_STUB_REFUSED when
 * the plugin was refused before init(); or init()'s own non-BF_OK value
 * (the tasks it registered are then dropped, and shutdown() is never
 * called).  The reason is in bf_stub_load_error. */
int32_t bf_stub_load_entry(struct bf_stub *stub, bf_plugin_entry_fn entry);
int32_t bf_stub_load_file(struct bf_stub *stub, const char *path);

/* Why the last load failed (as backfilld would log it), or "". */
const char *bf_stub_load_error(const struct bf_stub *stub);

/* The loaded plugin's descriptor, or NULL. */
const struct bf_plugin *bf_stub_plugin(const struct bf_stub *stub);

/* The host table the stub gives plugins (borrowed, valid until
 * bf_stub_free). */
const struct bf_host_api *bf_stub_host(const struct bf_stub *stub);

/* Task names registered by the plugin, in order; NULL past the end. */
size_t bf_stub_task_count(const struct bf_stub *stub);
const char *bf_stub_task_name(const struct bf_stub *stub, size_t index);

/* ---- jobs ----------------------------------------------------------------
 * A job as a handler sees it.  Defaults: id 1, 2, ... per stub; queue
 * "bulk"; attempt 1 of 8; priority 0; run_at now; no job key or serial key;
 * stop level BF_STOP_NONE.  payload NULL means "{}".  Strings are copied.
 * The task need not be registered (bf_stub_run then fails the job as
 * "no handler"), so a test can build the job first. */
bf_job *bf_stub_job_new(struct bf_stub *stub, const char *task, const char *payload);
void bf_stub_job_free(bf_job *job); /* NULL is a no-op */

void bf_stub_job_set_id(bf_job *job, int64_t id);
void bf_stub_job_set_queue(bf_job *job, const char *queue);
/* attempt: this run, 1 on the first (what backfilld counts before calling
 * the handler); max_attempts: the job's limit.  Values below 1 become 1. */
void bf_stub_job_set_attempts(bf_job *job, int32_t attempt, int32_t max_attempts);
void bf_stub_job_set_priority(bf_job *job, int32_t priority);
void bf_stub_job_set_run_at_us(bf_job *job, int64_t run_at_us);
/* NULL: none. */
void bf_stub_job_set_job_key(bf_job *job, const char *job_key);
void bf_stub_job_set_serial_key(bf_job *job, const char *serial_key);
/* What host->job_stop_requested() returns: BF_STOP_NONE, _DRAIN, _ABORT. */
void bf_stub_job_set_stop(bf_job *job, int32_t stop_level);

/* Runs the job's handler on the calling thread and returns the outcome as
 * backfilld records it: BF_JOB_OK, BF_JOB_RETRY or BF_JOB_FAIL (any other
 * status is a permanent failure).  A job may be run again (after changing
 * its attempts, say): error and retry delay are reset first. */
int32_t bf_stub_run(struct bf_stub *stub, bf_job *job);

/* What the handler returned, unmapped (e.g. 77); -1 before a run. */
int32_t bf_stub_job_status(const bf_job *job);
/* last_error as backfilld would store it (sanitised and cut to 4000 bytes,
 * with backfilld's default text when a retry or failure set none); NULL
 * after a success or before a run.  Borrowed until the next run or free. */
const char *bf_stub_job_error(const bf_job *job);
/* The delay set with job_set_retry_delay_ms, or -1 (backfilld's backoff:
 * exp(min(attempt, 10)) seconds). */
int64_t bf_stub_job_retry_delay_ms(const bf_job *job);
/* True (1) when the job would go to the dead-letter queue: a permanent
 * failure, or a retry with no attempts left. */
int bf_stub_job_dead(const bf_job *job);

/* ---- log -----------------------------------------------------------------
 * Every host->log() and host->job_log() call, in order, with the level the
 * daemon would use (clamped to BF_LOG_ERROR..BF_LOG_DEBUG).  Lines are kept
 * whatever their level; backfilld drops those below its log_level. */
size_t bf_stub_log_count(const struct bf_stub *stub);
int32_t bf_stub_log_level(const struct bf_stub *stub, size_t index);
/* The message as the plugin passed it. */
const char *bf_stub_log_message(const struct bf_stub *stub, size_t index);
/* The job id for job_log() lines, BF_STUB_NO_JOB for log() lines. */
int64_t bf_stub_log_job(const struct bf_stub *stub, size_t index);
/* The line as backfilld prints it after its timestamp and level:
 * "plugin NAME: MSG" or "job ID (TASK, queue QUEUE, attempt A/M): MSG". */
const char *bf_stub_log_line(const struct bf_stub *stub, size_t index);
/* Index of the first line (from index `from`) whose text contains needle,
 * or -1. */
long bf_stub_log_find(const struct bf_stub *stub, size_t from, const char *needle);
void bf_stub_log_clear(struct bf_stub *stub);
/* Also print each line to out as it is logged (NULL: don't, the default). */
void bf_stub_log_echo(struct bf_stub *stub, FILE *out);

/* Contract violations seen so far (each also logged at BF_LOG_ERROR as
 * "stub: contract violation: ..."): job accessors used outside the handler
 * or from another thread, register_task or config_* outside init(). */
size_t bf_stub_violations(const struct bf_stub *stub);

#ifdef __cplusplus
}
#endif

#endif /* BACKFILL_PLUGIN_STUB_H */
