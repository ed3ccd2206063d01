/* loader.h -- the plugin loader: finds *.so files in plugin_dir, checks them
 * (permissions, magic, ABI version, struct sizes), runs their init, and keeps
 * the registry of task names to handlers.  Also the host service table that
 * plugins call. */
#ifndef BACKFILLD_LOADER_H
#define BACKFILLD_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <backfill/plugin.h>

#include "config.h"

/* A registered task. */
struct bf_task {
	char *name;
	bf_handler_fn handler;
	void *task_data;
	bf_plugin_ctx *plugin; /* the plugin that registered it */
};

struct bf_loader;

/* Loads every plugin of cfg->plugin_dir and checks plugin config sections.
 * On error logs one clear line per problem, frees everything and returns a
 * negative value.  cfg is borrowed for the duration of the call. */
__attribute__((warn_unused_result)) int loader_load(const struct bf_config *cfg, struct bf_loader **out);

/* Loads one plugin file (used by tests).  Same checks as loader_load. */
__attribute__((warn_unused_result)) int loader_load_file(struct bf_loader *loader, const char *path,
                                                         const struct bf_config *cfg);

/* An empty loader (tests). */
struct bf_loader *loader_new(void);

/* Calls every plugin's shutdown() and unloads them.  Only when no handler
 * can be running.  NULL is a no-op. */
void loader_free(struct bf_loader *loader);

/* The task with this name, or NULL. */
const struct bf_task *loader_find_task(const struct bf_loader *loader, const char *name);

size_t loader_ntasks(const struct bf_loader *loader);
const struct bf_task *loader_task(const struct bf_loader *loader, size_t i);
size_t loader_nplugins(const struct bf_loader *loader);
const char *loader_plugin_name(const struct bf_loader *loader, size_t i);

/* Prints "# plugin NAME VERSION (PATH): task, task" lines. */
void loader_describe(const struct bf_loader *loader, FILE *out);

/* Runs a job's handler on the calling (worker) thread and records the
 * outcome, error and retry delay in the job.  Unknown status codes are
 * permanent failures. */
void loader_run_job(struct bf_job *job);

/* The host table given to plugins (exposed for plugin unit tests). */
extern const struct bf_host_api loader_host_api;

#endif /* BACKFILLD_LOADER_H */
