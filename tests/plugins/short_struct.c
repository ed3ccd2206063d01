/*
 * short_struct -- test plugin the host must refuse: its descriptor says it
 * is 8 bytes long, less than struct bf_plugin of ABI 1.0.
 *
 * Only the fixed 16-byte head (struct_size, magic, abi_major, abi_minor)
 * exists, so a host that reads past struct_size (name, init, ...) reads
 * past the object: AddressSanitizer and valgrind report it.
 */
#include <backfill/plugin.h>

/* The first four fields of struct bf_plugin, which every version has. */
struct short_struct_head {
	uint32_t struct_size;
	uint32_t magic;
	uint32_t abi_major;
	uint32_t abi_minor;
};

static const struct short_struct_head short_struct_plugin = {
	.struct_size = 8,
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return (const struct bf_plugin *)(const void *)&short_struct_plugin;
}
