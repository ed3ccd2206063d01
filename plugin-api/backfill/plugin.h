/*
 * <backfill/plugin.h> -- the stable C ABI between backfilld and task plugins.
 *
 * A plugin is a shared object that exports exactly one function,
 * backfill_plugin_entry(), which returns a pointer to a static
 * struct bf_plugin.  The host checks magic, ABI major version and struct size
 * before anything else, then calls init() with a table of host services.
 * init() registers task handlers; handlers run jobs.
 *
 * ABI rules (kept for the life of ABI major version 1):
 *  - every struct crossing the boundary starts with its size; new fields are
 *    only ever appended; nothing is reordered or removed;
 *  - no bool, no bitfields, no foreign library types; integers are fixed
 *    width; times are int64 microseconds since the Unix epoch;
 *  - status codes keep their values forever; the host treats any unknown
 *    handler status as a permanent failure;
 *  - strings the host passes in are borrowed: valid for the duration of the
 *    call (for job accessors: until the handler returns); strings the plugin
 *    passes in are copied by the host before the call returns.
 *
 * Threading contract:
 *  - backfill_plugin_entry(), init() and shutdown() run on the host's main
 *    thread, never concurrently with each other;
 *  - handlers run on worker threads, possibly many at once, possibly
 *    concurrently for the same task: a handler must be thread-safe with
 *    respect to its task_data and any plugin state;
 *  - host->log() may be called from any thread at any time between init()
 *    and the return of shutdown();
 *  - job accessors and job_* services may be called only by the thread that
 *    runs that job's handler, and only until the handler returns;
 *  - config_* and register_task may be called only from init().
 *
 * Lifetimes and ownership:
 *  - the host table passed to init() stays valid until shutdown() returns;
 *    plugins may keep the pointer;
 *  - shutdown() is called only for plugins whose init() returned BF_OK; a
 *    failing init() cleans up after itself;
 *  - the payload is NUL-terminated JSON text (its length is given too);
 *  - log() prefixes "plugin NAME: "; job_log() prefixes the job id, task,
 *    queue and attempt: don't repeat them in the message;
 *  - job_set_error() keeps the first 4000 bytes (invalid UTF-8 becomes '?').
 *
 * Build a plugin with
 *   cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags backfill-plugin) \
 *      -Wl,-z,defs -o mytasks.so mytasks.c
 * and mark the entry function BF_PLUGIN_EXPORT.
 */
#ifndef BACKFILL_PLUGIN_H
#define BACKFILL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "BFLP": identifies a struct bf_plugin. */
#define BF_PLUGIN_MAGIC 0x42464c50u

/* ABI version this header describes.  The host refuses a plugin whose major
 * version differs from its own; minor versions only add at the end. */
#define BF_PLUGIN_ABI_MAJOR 1u
#define BF_PLUGIN_ABI_MINOR 0u

/* Name of the one symbol every plugin exports. */
#define BF_PLUGIN_ENTRY_SYMBOL "backfill_plugin_entry"

#if defined(__GNUC__)
#define BF_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define BF_PLUGIN_EXPORT
#endif

/* Handler results.  Values are fixed forever. */
#define BF_JOB_OK 0           /* done: the job is deleted */
#define BF_JOB_RETRY 1        /* try again after a backoff or the set delay */
#define BF_JOB_FAIL 2         /* permanent failure: dead-letter now */

/* Return values of host services and init(). */
#define BF_OK 0
#define BF_ERR_INVALID (-1)   /* bad argument */
#define BF_ERR_EXISTS (-2)    /* task name already registered */
#define BF_ERR_NOMEM (-3)     /* out of memory */
#define BF_ERR_STATE (-4)     /* called at the wrong time or thread */

/* Log levels for host->log(). */
#define BF_LOG_ERROR 0
#define BF_LOG_WARN 1
#define BF_LOG_INFO 2
#define BF_LOG_DEBUG 3

/* Values of host->job_stop_requested(). */
#define BF_STOP_NONE 0        /* keep going */
#define BF_STOP_DRAIN 1       /* daemon is shutting down; finish if you can */
#define BF_STOP_ABORT 2       /* drain deadline passed: the job goes back to
                                 the queue whatever you return; stop now */

/* Opaque handles owned by the host. */
typedef struct bf_plugin_ctx bf_plugin_ctx; /* one per loaded plugin */
typedef struct bf_job bf_job;               /* one per running job */

/* A task handler.  Called on a worker thread; returns BF_JOB_*.
 * task_data is the pointer given to register_task (borrowed). */
typedef int32_t (*bf_handler_fn)(bf_job *job, void *task_data);

/* Services the host offers.  Check host->struct_size before using a field
 * added after ABI 1.0 (see BF_HOST_HAS). */
struct bf_host_api {
	uint32_t struct_size;   /* sizeof(struct bf_host_api) in the host */
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t reserved;

	/* Any thread.  msg is copied; a trailing newline is not needed. */
	void (*log)(bf_plugin_ctx *ctx, int32_t level, const char *msg);

	/* init() only.  Registers a handler for a task name (1..128 bytes).
	 * Returns BF_OK, BF_ERR_EXISTS if any plugin already has the name. */
	int32_t (*register_task)(bf_plugin_ctx *ctx, const char *task,
	                         bf_handler_fn handler, void *task_data);

	/* init() only.  The plugin's config section ([NAME] in the ini file,
	 * NAME being struct bf_plugin.name): number of keys, then key and value
	 * by index (0-based); NULL when out of range.  Borrowed. */
	uint32_t (*config_count)(const bf_plugin_ctx *ctx);
	const char *(*config_key)(const bf_plugin_ctx *ctx, uint32_t index);
	const char *(*config_value)(const bf_plugin_ctx *ctx, uint32_t index);

	/* Job accessors, handler thread only.  Strings are NUL-terminated and
	 * borrowed until the handler returns. */
	int64_t (*job_id)(const bf_job *job);
	const char *(*job_task)(const bf_job *job);
	const char *(*job_queue)(const bf_job *job);
	/* Payload as JSON text; *len (if not NULL) receives its length. */
	const char *(*job_payload)(const bf_job *job, size_t *len);
	int32_t (*job_attempt)(const bf_job *job);      /* 1 on the first run */
	int32_t (*job_max_attempts)(const bf_job *job);
	int32_t (*job_priority)(const bf_job *job);
	int64_t (*job_run_at_us)(const bf_job *job);
	/* NULL when the job has none.  Borrowed. */
	const char *(*job_key)(const bf_job *job);
	const char *(*job_serial_key)(const bf_job *job);

	/* Error text recorded in last_error (copied, truncated at 4000 bytes).
	 * The last call wins. */
	void (*job_set_error)(bf_job *job, const char *msg);
	/* With BF_JOB_RETRY: run again after delay_ms instead of the backoff. */
	void (*job_set_retry_delay_ms)(bf_job *job, int64_t delay_ms);
	/* BF_STOP_NONE, BF_STOP_DRAIN or BF_STOP_ABORT. */
	int32_t (*job_stop_requested)(const bf_job *job);
	/* Like log(), prefixed with plugin, task and job id. */
	void (*job_log)(const bf_job *job, int32_t level, const char *msg);
};

/* True when the host table has the given member (for fields appended after
 * ABI 1.0). */
#define BF_HOST_HAS(host, member)                                         \
	((host)->struct_size >= offsetof(struct bf_host_api, member) +        \
	                            sizeof((host)->member))

/* What a plugin describes itself with.  Return a pointer to static storage
 * from backfill_plugin_entry(); the host never writes to it. */
struct bf_plugin {
	uint32_t struct_size;   /* sizeof(struct bf_plugin) */
	uint32_t magic;         /* BF_PLUGIN_MAGIC */
	uint32_t abi_major;     /* BF_PLUGIN_ABI_MAJOR */
	uint32_t abi_minor;     /* BF_PLUGIN_ABI_MINOR */
	const char *name;       /* [a-z0-9_-], also its config section */
	const char *version;    /* free text, for logs */

	/* Main thread, once, after the checks.  Register tasks here.  Store
	 * plugin-wide state in *state (passed back to shutdown).  Return BF_OK,
	 * or a negative value to refuse to start (log why first). */
	int32_t (*init)(bf_plugin_ctx *ctx, const struct bf_host_api *host,
	                void **state);
	/* Main thread, once, after every handler has returned.  May be NULL. */
	void (*shutdown)(void *state);
};

/* The entry function's type.  host_abi_major/minor tell the plugin what the
 * host speaks; most plugins ignore them. */
typedef const struct bf_plugin *(*bf_plugin_entry_fn)(uint32_t host_abi_major,
                                                      uint32_t host_abi_minor);

#if defined(__GNUC__)
#define BF_PLUGIN_UNUSED __attribute__((unused))
#else
#define BF_PLUGIN_UNUSED
#endif

/* Declares and opens the entry function, e.g.
 *   BF_PLUGIN_DECLARE_ENTRY { return &my_plugin; }
 * (the host's ABI version is available as host_abi_major/minor). */
#define BF_PLUGIN_DECLARE_ENTRY                                           \
	BF_PLUGIN_EXPORT const struct bf_plugin *backfill_plugin_entry(       \
	    uint32_t host_abi_major, uint32_t host_abi_minor);                \
	BF_PLUGIN_EXPORT const struct bf_plugin *backfill_plugin_entry(       \
	    BF_PLUGIN_UNUSED uint32_t host_abi_major,                         \
	    BF_PLUGIN_UNUSED uint32_t host_abi_minor)

#ifdef __cplusplus
}
#endif

#endif /* BACKFILL_PLUGIN_H */
