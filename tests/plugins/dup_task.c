/*
 * dup_task -- test plugin that registers task "noop", which the noop plugin
 * registers too: loading both must be a startup error, whichever loads
 * first.
 */
#include <backfill/plugin.h>

static int32_t dup_task_handle(bf_job *job, void *task_data)
{
	(void)job;
	(void)task_data;
	return BF_JOB_OK;
}

static int32_t dup_task_init(bf_plugin_ctx *ctx,
                             const struct bf_host_api *host, void **state)
{
	(void)state;
	int32_t rc = host->register_task(ctx, "noop", dup_task_handle, NULL);
	if (rc != BF_OK)
		host->log(ctx, BF_LOG_ERROR,
		          rc == BF_ERR_EXISTS
		              ? "dup_task: task \"noop\" is already registered"
		              : "dup_task: cannot register task \"noop\"");
	return rc;
}

static const struct bf_plugin dup_task_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
	.name = "dup_task",
	.version = "test",
	.init = dup_task_init,
	.shutdown = NULL,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &dup_task_plugin;
}
