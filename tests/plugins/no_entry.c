/*
 * no_entry -- test plugin without backfill_plugin_entry: a shared object
 * that exports some other function.  The host must refuse it, naming the
 * missing symbol.
 */
#include <backfill/plugin.h>

BF_PLUGIN_EXPORT int no_entry_answer(void);

BF_PLUGIN_EXPORT int no_entry_answer(void)
{
	return 42;
}
