/* plugin_stub.c -- libbackfill-plugin-stub: a fake backfilld host that loads
 * one plugin in-process and runs its handlers on jobs built by a test (see
 * <backfill/plugin_stub.h>).  Mirrors daemon/loader.c and daemon/job.c and
 * shares their rules (plugin-api/host/host_rules.c); tests/check_stub.c holds
 * the two side by side. */
#include <backfill/plugin_stub.h>

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "host/host_rules.h"

struct stub_task {
	char *name;
	bf_handler_fn handler;
	void *task_data;
};

struct stub_log_line {
	int32_t level;
	int64_t job_id; /* BF_STUB_NO_JOB for host->log() */
	char *message;
	char *line;
};

/* The ABI's opaque plugin context: one per stub. */
struct bf_plugin_ctx {
	struct bf_stub *stub;
};

struct bf_stub {
	struct bf_plugin_ctx ctx;
	struct bf_host_api host;
	char name[HOST_RULES_PLUGIN_NAME_MAX + 1]; /* the plugin's, once checked */
	const struct bf_plugin *desc;
	void *dl;
	void *state;
	int in_init;
	int initialised;
	int loaded_once;
	char load_error[1024];

	char **config_keys, **config_values;
	size_t nconfig;
	char **reserved;
	size_t nreserved;
	struct stub_task *tasks;
	size_t ntasks;
	int64_t next_job_id;

	pthread_mutex_t mu; /* the log, the violation count, echo */
	struct stub_log_line *log;
	size_t nlog;
	FILE *echo;
	size_t violations;
};

/* The ABI's opaque job. */
struct bf_job {
	struct bf_stub *stub;
	int64_t id;
	char *task;
	char *queue;
	char *payload;
	size_t payload_len;
	char *job_key;
	char *serial_key;
	int32_t attempt;
	int32_t max_attempts;
	int32_t priority;
	int64_t run_at_us;
	int32_t stop_level;

	int running;      /* the handler is running */
	pthread_t runner; /* on this thread */
	int32_t status;   /* what the handler returned, -1 before a run */
	int32_t outcome;  /* BF_JOB_* as recorded */
	char *error;
	int64_t retry_delay_ms;
};

/* ---- small helpers ----------------------------------------------------- */

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static char *xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	return s;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

static void load_error(struct bf_stub *stub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void load_error(struct bf_stub *stub, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(stub->load_error, sizeof(stub->load_error), fmt, ap);
	va_end(ap);
}

/* Appends a log line; takes ownership of message. */
static void log_add(struct bf_stub *stub, int32_t level, const struct bf_job *job, char *message)
{
	if (level < BF_LOG_ERROR)
		level = BF_LOG_ERROR;
	if (level > BF_LOG_DEBUG)
		level = BF_LOG_DEBUG;
	char *line;
	if (job)
		line = xasprintf("job %lld (%s, queue %s, attempt %d/%d): %s", (long long)job->id,
		                 job->task, job->queue, (int)job->attempt, (int)job->max_attempts, message);
	else
		line = xasprintf("plugin %s: %s", stub->name[0] ? stub->name : "?", message);
	pthread_mutex_lock(&stub->mu);
	struct stub_log_line *l = realloc(stub->log, (stub->nlog + 1) * sizeof(*l));
	if (!l)
		abort();
	stub->log = l;
	l[stub->nlog++] = (struct stub_log_line){level, job ? job->id : BF_STUB_NO_JOB, message, line};
	if (stub->echo) {
		static const char *const names[] = {"error", "warn", "info", "debug"};
		fprintf(stub->echo, "%s %s\n", names[level], line);
		fflush(stub->echo);
	}
	pthread_mutex_unlock(&stub->mu);
}

static void violation(struct bf_stub *stub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(struct bf_stub *stub, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = xvasprintf(fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&stub->mu);
	stub->violations++;
	pthread_mutex_unlock(&stub->mu);
	char *msg = xasprintf("stub: contract violation: %s", what);
	free(what);
	log_add(stub, BF_LOG_ERROR, NULL, msg);
}

/* A job accessor or job_* service: only on the thread running the job's
 * handler, only while it runs. */
static void check_job_thread(const struct bf_job *job, const char *service)
{
	if (!job->running)
		violation(job->stub, "%s() on job %lld after its handler returned", service,
		          (long long)job->id);
	else if (!pthread_equal(job->runner, pthread_self()))
		violation(job->stub, "%s() on job %lld from a thread other than its handler's",
		          service, (long long)job->id);
}

/* job->error = msg as backfilld stores it in last_error. */
static void set_error(struct bf_job *job, const char *msg)
{
	char *old = job->error; /* msg may point into it */
	job->error = NULL;
	if (msg) {
		job->error = bf_host_rules_clean_error(msg);
		if (!job->error)
			abort();
	}
	free(old);
}

static const struct stub_task *find_task(const struct bf_stub *stub, const char *name)
{
	for (size_t i = 0; i < stub->ntasks; i++)
		if (strcmp(stub->tasks[i].name, name) == 0)
			return &stub->tasks[i];
	return NULL;
}

static int is_reserved(const struct bf_stub *stub, const char *name)
{
	for (size_t i = 0; i < stub->nreserved; i++)
		if (strcmp(stub->reserved[i], name) == 0)
			return 1;
	return 0;
}

/* ---- the host table ---------------------------------------------------- */

static void host_log(bf_plugin_ctx *ctx, int32_t level, const char *msg)
{
	if (!ctx)
		return; /* backfilld logs "plugin ?: ..."; the stub has nowhere to */
	log_add(ctx->stub, level, NULL, xstrdup(msg ? msg : "(null)"));
}

static int32_t host_register_task(bf_plugin_ctx *ctx, const char *task, bf_handler_fn handler,
                                  void *task_data)
{
	if (!ctx)
		return BF_ERR_STATE;
	struct bf_stub *stub = ctx->stub;
	if (!stub->in_init) {
		violation(stub, "register_task(\"%s\") outside init()", task ? task : "(null)");
		return BF_ERR_STATE;
	}
	if (!task || !handler || !bf_host_rules_valid_task_name(task)) {
		log_add(stub, BF_LOG_ERROR, NULL,
		        xasprintf("stub: register_task: invalid task name \"%s\" (1..%d bytes, no spaces "
		                  "or control characters) or no handler",
		                  task ? task : "(null)", HOST_RULES_TASK_NAME_MAX));
		return BF_ERR_INVALID;
	}
	if (find_task(stub, task) || is_reserved(stub, task)) {
		log_add(stub, BF_LOG_ERROR, NULL,
		        xasprintf("stub: task \"%s\" is already registered", task));
		return BF_ERR_EXISTS;
	}
	struct stub_task *t = realloc(stub->tasks, (stub->ntasks + 1) * sizeof(*t));
	if (!t)
		return BF_ERR_NOMEM;
	stub->tasks = t;
	t[stub->ntasks++] = (struct stub_task){xstrdup(task), handler, task_data};
	return BF_OK;
}

static int config_allowed(const bf_plugin_ctx *ctx, const char *service)
{
	if (!ctx)
		return 0;
	if (!ctx->stub->in_init) {
		violation(ctx->stub, "%s() outside init()", service);
		return 0;
	}
	return 1;
}

static uint32_t host_config_count(const bf_plugin_ctx *ctx)
{
	return config_allowed(ctx, "config_count") ? (uint32_t)ctx->stub->nconfig : 0;
}

static const char *host_config_key(const bf_plugin_ctx *ctx, uint32_t i)
{
	if (!config_allowed(ctx, "config_key") || i >= ctx->stub->nconfig)
		return NULL;
	return ctx->stub->config_keys[i];
}

static const char *host_config_value(const bf_plugin_ctx *ctx, uint32_t i)
{
	if (!config_allowed(ctx, "config_value") || i >= ctx->stub->nconfig)
		return NULL;
	return ctx->stub->config_values[i];
}

static int64_t host_job_id(const bf_job *job)
{
	check_job_thread(job, "job_id");
	return job->id;
}

static const char *host_job_task(const bf_job *job)
{
	check_job_thread(job, "job_task");
	return job->task;
}

static const char *host_job_queue(const bf_job *job)
{
	check_job_thread(job, "job_queue");
	return job->queue;
}

static const char *host_job_payload(const bf_job *job, size_t *len)
{
	check_job_thread(job, "job_payload");
	if (len)
		*len = job->payload_len;
	return job->payload;
}

static int32_t host_job_attempt(const bf_job *job)
{
	check_job_thread(job, "job_attempt");
	return job->attempt;
}

static int32_t host_job_max_attempts(const bf_job *job)
{
	check_job_thread(job, "job_max_attempts");
	return job->max_attempts;
}

static int32_t host_job_priority(const bf_job *job)
{
	check_job_thread(job, "job_priority");
	return job->priority;
}

static int64_t host_job_run_at_us(const bf_job *job)
{
	check_job_thread(job, "job_run_at_us");
	return job->run_at_us;
}

static const char *host_job_key(const bf_job *job)
{
	check_job_thread(job, "job_key");
	return job->job_key;
}

static const char *host_job_serial_key(const bf_job *job)
{
	check_job_thread(job, "job_serial_key");
	return job->serial_key;
}

static void host_job_set_error(bf_job *job, const char *msg)
{
	check_job_thread(job, "job_set_error");
	set_error(job, msg);
}

static void host_job_set_retry_delay_ms(bf_job *job, int64_t delay_ms)
{
	check_job_thread(job, "job_set_retry_delay_ms");
	job->retry_delay_ms = delay_ms < 0 ? -1 : delay_ms;
}

static int32_t host_job_stop_requested(const bf_job *job)
{
	check_job_thread(job, "job_stop_requested");
	return job->stop_level;
}

static void host_job_log(const bf_job *job, int32_t level, const char *msg)
{
	check_job_thread(job, "job_log");
	log_add(job->stub, level, job, xstrdup(msg ? msg : "(null)"));
}

static const struct bf_host_api stub_host_api = {
    .struct_size = sizeof(struct bf_host_api),
    .abi_major = BF_PLUGIN_ABI_MAJOR,
    .abi_minor = BF_PLUGIN_ABI_MINOR,
    .log = host_log,
    .register_task = host_register_task,
    .config_count = host_config_count,
    .config_key = host_config_key,
    .config_value = host_config_value,
    .job_id = host_job_id,
    .job_task = host_job_task,
    .job_queue = host_job_queue,
    .job_payload = host_job_payload,
    .job_attempt = host_job_attempt,
    .job_max_attempts = host_job_max_attempts,
    .job_priority = host_job_priority,
    .job_run_at_us = host_job_run_at_us,
    .job_key = host_job_key,
    .job_serial_key = host_job_serial_key,
    .job_set_error = host_job_set_error,
    .job_set_retry_delay_ms = host_job_set_retry_delay_ms,
    .job_stop_requested = host_job_stop_requested,
    .job_log = host_job_log,
};

/* ---- the stub ---------------------------------------------------------- */

struct bf_stub *bf_stub_new(void)
{
	struct bf_stub *stub = xcalloc(1, sizeof(*stub));
	stub->ctx.stub = stub;
	stub->host = stub_host_api;
	stub->next_job_id = 1;
	pthread_mutex_init(&stub->mu, NULL);
	return stub;
}

static void drop_tasks(struct bf_stub *stub)
{
	for (size_t i = 0; i < stub->ntasks; i++)
		free(stub->tasks[i].name);
	free(stub->tasks);
	stub->tasks = NULL;
	stub->ntasks = 0;
}

void bf_stub_free(struct bf_stub *stub)
{
	if (!stub)
		return;
	if (stub->initialised && stub->desc->shutdown)
		stub->desc->shutdown(stub->state);
	if (stub->dl)
		dlclose(stub->dl);
	drop_tasks(stub);
	for (size_t i = 0; i < stub->nconfig; i++) {
		free(stub->config_keys[i]);
		free(stub->config_values[i]);
	}
	free(stub->config_keys);
	free(stub->config_values);
	for (size_t i = 0; i < stub->nreserved; i++)
		free(stub->reserved[i]);
	free(stub->reserved);
	bf_stub_log_clear(stub);
	pthread_mutex_destroy(&stub->mu);
	free(stub);
}

int32_t bf_stub_config_set(struct bf_stub *stub, const char *key, const char *value)
{
	if (!key || !key[0] || !value)
		return BF_ERR_INVALID;
	if (stub->loaded_once)
		return BF_ERR_STATE;
	for (size_t i = 0; i < stub->nconfig; i++) {
		if (strcmp(stub->config_keys[i], key) == 0) {
			free(stub->config_values[i]);
			stub->config_values[i] = xstrdup(value);
			return BF_OK;
		}
	}
	char **k = realloc(stub->config_keys, (stub->nconfig + 1) * sizeof(*k));
	if (!k)
		abort();
	stub->config_keys = k;
	char **v = realloc(stub->config_values, (stub->nconfig + 1) * sizeof(*v));
	if (!v)
		abort();
	stub->config_values = v;
	k[stub->nconfig] = xstrdup(key);
	v[stub->nconfig] = xstrdup(value);
	stub->nconfig++;
	return BF_OK;
}

int32_t bf_stub_reserve_task(struct bf_stub *stub, const char *task)
{
	if (!task || !bf_host_rules_valid_task_name(task))
		return BF_ERR_INVALID;
	if (stub->loaded_once)
		return BF_ERR_STATE;
	char **r = realloc(stub->reserved, (stub->nreserved + 1) * sizeof(*r));
	if (!r)
		abort();
	stub->reserved = r;
	r[stub->nreserved++] = xstrdup(task);
	return BF_OK;
}

/* The checks of backfilld's loader, in its order, then init(). */
static int32_t load(struct bf_stub *stub, bf_plugin_entry_fn entry, const char *what)
{
	const struct bf_plugin *d = entry(BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR);
	char why[sizeof(stub->load_error)];
	if (bf_host_rules_check_descriptor(d, why, sizeof(why)) < 0) {
		load_error(stub, "%s: %s", what, why);
		return BF_STUB_REFUSED;
	}
	snprintf(stub->name, sizeof(stub->name), "%s", d->name);
	stub->desc = d;
	stub->in_init = 1;
	int32_t rc = d->init(&stub->ctx, &stub->host, &stub->state);
	stub->in_init = 0;
	if (rc != BF_OK) {
		load_error(stub, "%s: plugin %s %s: init failed (%d)", what, d->name,
		           d->version ? d->version : "", (int)rc);
		drop_tasks(stub);
		stub->desc = NULL;
		stub->state = NULL;
		return rc;
	}
	stub->initialised = 1;
	return BF_OK;
}

static int32_t load_begin(struct bf_stub *stub)
{
	if (stub->loaded_once) {
		load_error(stub, "this stub already loaded a plugin: use one bf_stub per plugin");
		return BF_ERR_STATE;
	}
	stub->loaded_once = 1;
	stub->load_error[0] = '\0';
	return BF_OK;
}

int32_t bf_stub_load_entry(struct bf_stub *stub, bf_plugin_entry_fn entry)
{
	int32_t rc = load_begin(stub);
	if (rc != BF_OK)
		return rc;
	if (!entry) {
		load_error(stub, "no entry function given");
		return BF_STUB_REFUSED;
	}
	return load(stub, entry, "entry function");
}

int32_t bf_stub_load_file(struct bf_stub *stub, const char *path)
{
	int32_t rc = load_begin(stub);
	if (rc != BF_OK)
		return rc;
	struct stat st;
	if (stat(path, &st) < 0) {
		load_error(stub, "cannot stat plugin %s: %s", path, strerror(errno));
		return BF_STUB_REFUSED;
	}
	if (st.st_mode & S_IWOTH) {
		load_error(stub, "refusing plugin %s: it is world-writable (mode %04o)", path,
		           (unsigned)(st.st_mode & 07777));
		return BF_STUB_REFUSED;
	}
	dlerror();
	stub->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!stub->dl) {
		load_error(stub, "cannot load %s: %s", path, dlerror());
		return BF_STUB_REFUSED;
	}
	bf_plugin_entry_fn entry;
	*(void **)(&entry) = dlsym(stub->dl, BF_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		load_error(stub, "%s is not a backfilld plugin: it exports no %s() function", path,
		           BF_PLUGIN_ENTRY_SYMBOL);
		rc = BF_STUB_REFUSED;
	} else {
		rc = load(stub, entry, path);
	}
	if (rc != BF_OK) {
		dlclose(stub->dl);
		stub->dl = NULL;
	}
	return rc;
}

const char *bf_stub_load_error(const struct bf_stub *stub) { return stub->load_error; }

const struct bf_plugin *bf_stub_plugin(const struct bf_stub *stub)
{
	return stub->initialised ? stub->desc : NULL;
}

const struct bf_host_api *bf_stub_host(const struct bf_stub *stub) { return &stub->host; }

size_t bf_stub_task_count(const struct bf_stub *stub) { return stub->ntasks; }

const char *bf_stub_task_name(const struct bf_stub *stub, size_t index)
{
	return index < stub->ntasks ? stub->tasks[index].name : NULL;
}

/* ---- jobs -------------------------------------------------------------- */

static void set_string(char **field, const char *value)
{
	char *old = *field;
	*field = xstrdup(value);
	free(old);
}

bf_job *bf_stub_job_new(struct bf_stub *stub, const char *task, const char *payload)
{
	struct bf_job *job = xcalloc(1, sizeof(*job));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	job->stub = stub;
	job->id = stub->next_job_id++;
	job->task = xstrdup(task ? task : "");
	job->queue = xstrdup("bulk");
	job->payload = xstrdup(payload ? payload : "{}");
	job->payload_len = strlen(job->payload);
	job->attempt = 1;
	job->max_attempts = 8;
	job->run_at_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	job->stop_level = BF_STOP_NONE;
	job->status = -1;
	job->outcome = -1;
	job->retry_delay_ms = -1;
	return job;
}

void bf_stub_job_free(bf_job *job)
{
	if (!job)
		return;
	free(job->task);
	free(job->queue);
	free(job->payload);
	free(job->job_key);
	free(job->serial_key);
	free(job->error);
	free(job);
}

void bf_stub_job_set_id(bf_job *job, int64_t id) { job->id = id; }

void bf_stub_job_set_queue(bf_job *job, const char *queue)
{
	set_string(&job->queue, queue ? queue : "bulk");
}

void bf_stub_job_set_attempts(bf_job *job, int32_t attempt, int32_t max_attempts)
{
	job->attempt = attempt < 1 ? 1 : attempt;
	job->max_attempts = max_attempts < 1 ? 1 : max_attempts;
}

void bf_stub_job_set_priority(bf_job *job, int32_t priority) { job->priority = priority; }
void bf_stub_job_set_run_at_us(bf_job *job, int64_t run_at_us) { job->run_at_us = run_at_us; }
void bf_stub_job_set_job_key(bf_job *job, const char *job_key) { set_string(&job->job_key, job_key); }

void bf_stub_job_set_serial_key(bf_job *job, const char *serial_key)
{
	set_string(&job->serial_key, serial_key);
}

void bf_stub_job_set_stop(bf_job *job, int32_t stop_level) { job->stop_level = stop_level; }

int32_t bf_stub_run(struct bf_stub *stub, bf_job *job)
{
	set_error(job, NULL);
	job->retry_delay_ms = -1;
	const struct stub_task *t = stub->initialised ? find_task(stub, job->task) : NULL;
	if (!t) {
		/* backfilld never claims such a job; the stub says why it cannot run it */
		job->status = -1;
		job->outcome = BF_JOB_FAIL;
		char *msg = xasprintf("stub: no handler for task \"%s\" (%s)", job->task,
		                      stub->initialised ? "the plugin did not register it"
		                                        : "no plugin loaded");
		set_error(job, msg);
		log_add(stub, BF_LOG_ERROR, NULL, msg);
		return job->outcome;
	}
	job->runner = pthread_self();
	job->running = 1;
	int32_t status = t->handler(job, t->task_data);
	job->running = 0;
	job->status = status;
	switch (status) {
	case BF_JOB_OK:
		job->outcome = BF_JOB_OK;
		set_error(job, NULL); /* backfilld records no error for a success */
		break;
	case BF_JOB_RETRY:
		job->outcome = BF_JOB_RETRY;
		if (!job->error)
			set_error(job, "handler asked for a retry without an error message");
		break;
	case BF_JOB_FAIL:
		job->outcome = BF_JOB_FAIL;
		if (!job->error)
			set_error(job, "handler reported a permanent failure without an error message");
		break;
	default: {
		char *msg = xasprintf("handler of plugin %s returned unknown status %d (treated as "
		                      "permanent failure)%s%s",
		                      stub->name, (int)status, job->error ? ": " : "",
		                      job->error ? job->error : "");
		set_error(job, msg);
		free(msg);
		job->outcome = BF_JOB_FAIL;
		break;
	}
	}
	return job->outcome;
}

int32_t bf_stub_job_status(const bf_job *job) { return job->status; }
const char *bf_stub_job_error(const bf_job *job) { return job->outcome < 0 ? NULL : job->error; }
int64_t bf_stub_job_retry_delay_ms(const bf_job *job) { return job->retry_delay_ms; }

int bf_stub_job_dead(const bf_job *job)
{
	return job->outcome == BF_JOB_FAIL ||
	       (job->outcome == BF_JOB_RETRY && job->attempt >= job->max_attempts);
}

/* ---- log --------------------------------------------------------------- */

size_t bf_stub_log_count(const struct bf_stub *stub) { return stub->nlog; }

int32_t bf_stub_log_level(const struct bf_stub *stub, size_t index)
{
	return index < stub->nlog ? stub->log[index].level : -1;
}

const char *bf_stub_log_message(const struct bf_stub *stub, size_t index)
{
	return index < stub->nlog ? stub->log[index].message : NULL;
}

int64_t bf_stub_log_job(const struct bf_stub *stub, size_t index)
{
	return index < stub->nlog ? stub->log[index].job_id : BF_STUB_NO_JOB;
}

const char *bf_stub_log_line(const struct bf_stub *stub, size_t index)
{
	return index < stub->nlog ? stub->log[index].line : NULL;
}

long bf_stub_log_find(const struct bf_stub *stub, size_t from, const char *needle)
{
	for (size_t i = from; i < stub->nlog; i++)
		if (strstr(stub->log[i].line, needle))
			return (long)i;
	return -1;
}

void bf_stub_log_clear(struct bf_stub *stub)
{
	pthread_mutex_lock(&stub->mu);
	for (size_t i = 0; i < stub->nlog; i++) {
		free(stub->log[i].message);
		free(stub->log[i].line);
	}
	free(stub->log);
	stub->log = NULL;
	stub->nlog = 0;
	pthread_mutex_unlock(&stub->mu);
}

void bf_stub_log_echo(struct bf_stub *stub, FILE *out) { stub->echo = out; }

size_t bf_stub_violations(const struct bf_stub *stub) { return stub->violations; }
