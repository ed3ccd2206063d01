/*
 * bad_major -- test plugin the host must refuse before calling anything in
 * it: it claims ABI major version 2.  The host's log line should name both
 * versions (plugin 2.0, host 1.x).
 */
#include <backfill/plugin.h>

static int32_t bad_major_init(bf_plugin_ctx *ctx,
                              const struct bf_host_api *host, void **state)
{
	(void)state;
	host->log(ctx, BF_LOG_ERROR,
	          "bad_major: init called although the ABI major differs");
	return -1;
}

static const struct bf_plugin bad_major_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = 2u,
	.abi_minor = 0u,
	.name = "bad_major",
	.version = "test",
	.init = bad_major_init,
	.shutdown = NULL,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &bad_major_plugin;
}
