/*
 * bad_magic -- test plugin the host must refuse before calling anything in
 * it: its magic is BF_PLUGIN_MAGIC byte-swapped.
 */
#include <backfill/plugin.h>

static int32_t bad_magic_init(bf_plugin_ctx *ctx,
                              const struct bf_host_api *host, void **state)
{
	(void)state;
	host->log(ctx, BF_LOG_ERROR,
	          "bad_magic: init called although the magic is wrong");
	return -1;
}

static const struct bf_plugin bad_magic_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = 0x504c4642u, /* BF_PLUGIN_MAGIC is 0x42464c50 */
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
	.name = "bad_magic",
	.version = "test",
	.init = bad_magic_init,
	.shutdown = NULL,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &bad_magic_plugin;
}
