/*
 * init_fails -- test plugin whose init() refuses to start: the host must
 * log the plugin's line and not start.
 */
#include <backfill/plugin.h>

static int32_t init_fails_init(bf_plugin_ctx *ctx,
                               const struct bf_host_api *host, void **state)
{
	(void)state;
	host->log(ctx, BF_LOG_ERROR,
	          "init_fails: refusing to start for the test");
	return -1;
}

static const struct bf_plugin init_fails_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
	.name = "init_fails",
	.version = "test",
	.init = init_fails_init,
	.shutdown = NULL,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &init_fails_plugin;
}
