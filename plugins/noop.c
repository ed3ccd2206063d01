/*
 * noop -- task "noop" does nothing and succeeds: what benchmarks run to
 * measure the daemon's own cost per job.
 */
#include <backfill/plugin.h>

static int32_t noop_handle(bf_job *job, void *task_data)
{
	(void)job;
	(void)task_data;
	return BF_JOB_OK;
}

static int32_t noop_init(bf_plugin_ctx *ctx, const struct bf_host_api *host,
                         void **state)
{
	(void)state;
	int32_t rc = host->register_task(ctx, "noop", noop_handle, NULL);
	if (rc != BF_OK)
		host->log(ctx, BF_LOG_ERROR,
		          rc == BF_ERR_EXISTS
		              ? "noop: task \"noop\" is already registered by "
		                "another plugin"
		              : "noop: cannot register task \"noop\"");
	return rc;
}

static const struct bf_plugin noop_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
	.name = "noop",
	.version = "0.1.0",
	.init = noop_init,
	.shutdown = NULL,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &noop_plugin;
}
