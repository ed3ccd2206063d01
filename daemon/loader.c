/* loader.c -- plugin loading and checking, the task registry, and the host
 * services plugins call (struct bf_host_api). */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/host_rules.h"
#include "job.h"
#include "log.h"

struct bf_plugin_ctx {
	struct bf_loader *loader;
	char *path;
	char name[HOST_RULES_PLUGIN_NAME_MAX + 1];
	const struct bf_plugin *desc;
	void *dl;
	void *state;
	const struct bf_plugin_section *section; /* borrowed during init only */
	int in_init;
	int initialised;
};

struct bf_loader {
	struct bf_plugin_ctx **plugins;
	size_t nplugins;
	struct bf_task *tasks;
	size_t ntasks;
};

struct bf_loader *loader_new(void)
{
	struct bf_loader *l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	return l;
}

static void plugin_free(struct bf_plugin_ctx *p)
{
	if (!p)
		return;
	if (p->initialised && p->desc->shutdown)
		p->desc->shutdown(p->state);
	if (p->dl)
		dlclose(p->dl);
	free(p->path);
	free(p);
}

void loader_free(struct bf_loader *loader)
{
	if (!loader)
		return;
	for (size_t i = loader->nplugins; i-- > 0;)
		plugin_free(loader->plugins[i]);
	for (size_t i = 0; i < loader->ntasks; i++)
		free(loader->tasks[i].name);
	free(loader->tasks);
	free(loader->plugins);
	free(loader);
}

const struct bf_task *loader_find_task(const struct bf_loader *loader, const char *name)
{
	for (size_t i = 0; i < loader->ntasks; i++)
		if (strcmp(loader->tasks[i].name, name) == 0)
			return &loader->tasks[i];
	return NULL;
}

size_t loader_ntasks(const struct bf_loader *loader) { return loader->ntasks; }

const struct bf_task *loader_task(const struct bf_loader *loader, size_t i)
{
	return i < loader->ntasks ? &loader->tasks[i] : NULL;
}

size_t loader_nplugins(const struct bf_loader *loader) { return loader->nplugins; }

const char *loader_plugin_name(const struct bf_loader *loader, size_t i)
{
	return i < loader->nplugins ? loader->plugins[i]->name : NULL;
}

void loader_describe(const struct bf_loader *loader, FILE *out)
{
	for (size_t i = 0; i < loader->nplugins; i++) {
		const struct bf_plugin_ctx *p = loader->plugins[i];
		fprintf(out, "# plugin %s %s (%s):", p->name, p->desc->version ? p->desc->version : "",
		        p->path);
		const char *sep = " ";
		for (size_t j = 0; j < loader->ntasks; j++) {
			if (loader->tasks[j].plugin == p) {
				fprintf(out, "%s%s", sep, loader->tasks[j].name);
				sep = ", ";
			}
		}
		fprintf(out, "\n");
	}
}

/* ---- host services ---------------------------------------------------- */

static void host_log(bf_plugin_ctx *ctx, int32_t level, const char *msg)
{
	if (level < BF_LOG_ERROR)
		level = BF_LOG_ERROR;
	if (level > BF_LOG_DEBUG)
		level = BF_LOG_DEBUG;
	log_msg((enum bf_log_level)level, "plugin %s: %s", ctx ? ctx->name : "?", msg ? msg : "(null)");
}

static int32_t host_register_task(bf_plugin_ctx *ctx, const char *task, bf_handler_fn handler,
                                  void *task_data)
{
	if (!ctx || !ctx->in_init) {
		log_error("plugin %s: register_task called outside init()", ctx ? ctx->name : "?");
		return BF_ERR_STATE;
	}
	if (!task || !handler || !bf_host_rules_valid_task_name(task)) {
		log_error("plugin %s: register_task: invalid task name \"%s\" (1..%d bytes, no spaces "
		          "or control characters) or no handler",
		          ctx->name, task ? task : "(null)", HOST_RULES_TASK_NAME_MAX);
		return BF_ERR_INVALID;
	}
	struct bf_loader *l = ctx->loader;
	const struct bf_task *dup = loader_find_task(l, task);
	if (dup) {
		log_error("plugin %s (%s): task \"%s\" is already registered by plugin %s (%s); "
		          "two plugins cannot handle one task: remove one of them",
		          ctx->name, ctx->path, task, dup->plugin->name, dup->plugin->path);
		return BF_ERR_EXISTS;
	}
	struct bf_task *t = realloc(l->tasks, (l->ntasks + 1) * sizeof(*t));
	if (!t)
		return BF_ERR_NOMEM;
	l->tasks = t;
	t = &l->tasks[l->ntasks];
	t->name = strdup(task);
	if (!t->name)
		return BF_ERR_NOMEM;
	t->handler = handler;
	t->task_data = task_data;
	t->plugin = ctx;
	l->ntasks++;
	return BF_OK;
}

static uint32_t host_config_count(const bf_plugin_ctx *ctx)
{
	return ctx && ctx->in_init && ctx->section ? (uint32_t)ctx->section->nkeys : 0;
}

static const char *host_config_key(const bf_plugin_ctx *ctx, uint32_t i)
{
	if (!ctx || !ctx->in_init || !ctx->section || i >= ctx->section->nkeys)
		return NULL;
	return ctx->section->keys[i];
}

static const char *host_config_value(const bf_plugin_ctx *ctx, uint32_t i)
{
	if (!ctx || !ctx->in_init || !ctx->section || i >= ctx->section->nkeys)
		return NULL;
	return ctx->section->values[i];
}

static int64_t host_job_id(const bf_job *job) { return job->id; }
static const char *host_job_task(const bf_job *job) { return job->task; }
static const char *host_job_queue(const bf_job *job) { return job->queue; }

static const char *host_job_payload(const bf_job *job, size_t *len)
{
	if (len)
		*len = job->payload_len;
	return job->payload;
}

static int32_t host_job_attempt(const bf_job *job) { return job->attempts; }
static int32_t host_job_max_attempts(const bf_job *job) { return job->max_attempts; }
static int32_t host_job_priority(const bf_job *job) { return job->priority; }
static int64_t host_job_run_at_us(const bf_job *job) { return job->run_at_us; }
static const char *host_job_key(const bf_job *job) { return job->job_key; }
static const char *host_job_serial_key(const bf_job *job) { return job->serial_key; }

static void host_job_set_error(bf_job *job, const char *msg) { job_set_error(job, msg); }

static void host_job_set_retry_delay_ms(bf_job *job, int64_t delay_ms)
{
	job->retry_delay_ms = delay_ms < 0 ? -1 : delay_ms;
}

static int32_t host_job_stop_requested(const bf_job *job)
{
	return job->stop_level ? atomic_load(job->stop_level) : BF_STOP_NONE;
}

static void host_job_log(const bf_job *job, int32_t level, const char *msg)
{
	if (level < BF_LOG_ERROR)
		level = BF_LOG_ERROR;
	if (level > BF_LOG_DEBUG)
		level = BF_LOG_DEBUG;
	log_job((enum bf_log_level)level, job, "%s", msg ? msg : "(null)");
}

const struct bf_host_api loader_host_api = {
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

void loader_run_job(struct bf_job *job)
{
	const struct bf_task *t = job->handler;
	job->retry_delay_ms = -1;
	int32_t status = t->handler(job, t->task_data);
	switch (status) {
	case BF_JOB_OK:
		job->outcome = JOB_OUTCOME_DONE;
		break;
	case BF_JOB_RETRY:
		job->outcome = JOB_OUTCOME_RETRY;
		if (!job->error)
			job_set_error(job, "handler asked for a retry without an error message");
		break;
	case BF_JOB_FAIL:
		job->outcome = JOB_OUTCOME_FAIL;
		if (!job->error)
			job_set_error(job, "handler reported a permanent failure without an error message");
		break;
	default: {
		char msg[4200];
		snprintf(msg, sizeof(msg),
		         "handler of plugin %s returned unknown status %d (treated as permanent failure)%s%s",
		         t->plugin->name, (int)status, job->error ? ": " : "", job->error ? job->error : "");
		job_set_error(job, msg);
		job->outcome = JOB_OUTCOME_FAIL;
		break;
	}
	}
}

/* ---- loading ---------------------------------------------------------- */

static int check_not_world_writable(const char *path, const char *what)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		log_error("plugin loader: cannot stat %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		log_error("plugin loader: refusing %s %s: it is world-writable (mode %04o); anyone could "
		          "replace the code backfilld runs (fix with chmod o-w)",
		          what, path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Map an ini section name to the plugin name it configures ("exec" -> exec). */
static const struct bf_plugin_section *section_for(const struct bf_config *cfg, const char *name)
{
	if (!cfg)
		return NULL;
	char alt[64];
	snprintf(alt, sizeof(alt), "%s", name);
	for (char *c = alt; *c; c++)
		if (*c == '-')
			*c = '_';
	const struct bf_plugin_section *s = config_section(cfg, name);
	return s ? s : config_section(cfg, alt);
}

int loader_load_file(struct bf_loader *loader, const char *path, const struct bf_config *cfg)
{
	if (check_not_world_writable(path, "plugin") < 0)
		return -1;
	struct bf_plugin_ctx *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->loader = loader;
	p->path = strdup(path);
	snprintf(p->name, sizeof(p->name), "%s", path);
	int rc = -1;

	dlerror();
	p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		log_error("plugin loader: cannot load %s: %s", path, dlerror());
		goto out;
	}
	bf_plugin_entry_fn entry;
	*(void **)(&entry) = dlsym(p->dl, BF_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		log_error("plugin loader: %s is not a backfilld plugin: it exports no %s() function",
		          path, BF_PLUGIN_ENTRY_SYMBOL);
		goto out;
	}
	const struct bf_plugin *d = entry(BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR);
	char why[1024];
	if (bf_host_rules_check_descriptor(d, why, sizeof(why)) < 0) {
		log_error("plugin loader: %s: %s", path, why);
		goto out;
	}
	snprintf(p->name, sizeof(p->name), "%s", d->name);
	for (size_t i = 0; i < loader->nplugins; i++) {
		if (strcmp(loader->plugins[i]->name, p->name) == 0) {
			log_error("plugin loader: %s: a plugin named \"%s\" is already loaded from %s",
			          path, p->name, loader->plugins[i]->path);
			goto out;
		}
	}
	p->desc = d;
	p->section = section_for(cfg, p->name);
	p->in_init = 1;
	size_t tasks_before = loader->ntasks;
	int32_t irc = d->init(p, &loader_host_api, &p->state);
	p->in_init = 0;
	p->section = NULL;
	if (irc != BF_OK) {
		log_error("plugin loader: %s: plugin %s %s: init failed (%d); not starting", path,
		          p->name, d->version ? d->version : "", (int)irc);
		/* drop tasks it registered before failing */
		while (loader->ntasks > tasks_before)
			free(loader->tasks[--loader->ntasks].name);
		goto out;
	}
	p->initialised = 1;
	struct bf_plugin_ctx **arr = realloc(loader->plugins, (loader->nplugins + 1) * sizeof(*arr));
	if (!arr)
		abort();
	loader->plugins = arr;
	arr[loader->nplugins++] = p;
	log_info("plugin %s %s loaded from %s (ABI %u.%u): %zu task(s)", p->name,
	         d->version ? d->version : "", path, d->abi_major, d->abi_minor,
	         loader->ntasks - tasks_before);
	p = NULL;
	rc = 0;
out:
	plugin_free(p);
	return rc;
}

static int so_filter(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return e->d_name[0] != '.' && n > 3 && strcmp(e->d_name + n - 3, ".so") == 0;
}

int loader_load(const struct bf_config *cfg, struct bf_loader **out)
{
	*out = NULL;
	const char *dir = cfg->plugin_dir;
	if (check_not_world_writable(dir, "plugin directory") < 0)
		return -1;
	struct dirent **names = NULL;
	int n = scandir(dir, &names, so_filter, alphasort);
	if (n < 0) {
		log_error("plugin loader: cannot read plugin directory %s: %s", dir, strerror(errno));
		return -1;
	}
	struct bf_loader *l = loader_new();
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (rc == 0 && loader_load_file(l, path, cfg) < 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	if (rc == 0 && l->ntasks == 0) {
		log_error("plugin loader: no task handlers in %s: put plugins (*.so) there or set "
		          "plugin_dir / BACKFILL_PLUGIN_DIR",
		          dir);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < cfg->nsections; i++) {
		bool found = false;
		for (size_t j = 0; j < l->nplugins && !found; j++)
			found = section_for(cfg, l->plugins[j]->name) == &cfg->sections[i];
		if (!found) {
			log_error("config: %s: section [%s] is neither a backfilld section nor a loaded "
			          "plugin's (plugins in %s: %zu); check its spelling or install the plugin",
			          cfg->sections[i].source, cfg->sections[i].name, dir, l->nplugins);
			rc = -1;
		}
	}
	if (rc < 0) {
		loader_free(l);
		return -1;
	}
	*out = l;
	return 0;
}
