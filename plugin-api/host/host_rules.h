/* host_rules.h -- the rules every backfilld host applies to plugins, shared
 * by the daemon (daemon/loader.c, daemon/job.c) and the stub host
 * (plugin-api/stub/), so the two cannot drift: the descriptor checks after
 * the entry function returns, task and plugin names, and the last_error text.
 * Internal: compiled into backfilld and into libbackfill-plugin-stub.a, never
 * installed.  Depends on <backfill/plugin.h> and the C library only. */
#ifndef BACKFILL_HOST_RULES_H
#define BACKFILL_HOST_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include <backfill/plugin.h>

#define HOST_RULES_TASK_NAME_MAX 128  /* bytes */
#define HOST_RULES_PLUGIN_NAME_MAX 63 /* characters of [a-z0-9_-] */
#define HOST_RULES_ERROR_MAX 4000     /* bytes of last_error */

/* A task name: 1..HOST_RULES_TASK_NAME_MAX bytes, no space or control
 * character. */
bool bf_host_rules_valid_task_name(const char *name);

/* A plugin name: 1..HOST_RULES_PLUGIN_NAME_MAX of [a-z0-9_-]. */
bool bf_host_rules_valid_plugin_name(const char *name);

/* Checks what the entry function returned, in this order: not NULL, magic,
 * ABI major, struct_size at least ABI 1.0's, a valid name and init set.
 * Returns 0 if the plugin may be initialised; otherwise -1 with why in msg
 * (msg_size bytes, cut if longer), without the plugin's path: the caller
 * prefixes it. */
__attribute__((warn_unused_result)) int bf_host_rules_check_descriptor(const struct bf_plugin *desc,
                                                                   char *msg, size_t msg_size);

/* A copy of msg as last_error stores it: cut to HOST_RULES_ERROR_MAX bytes
 * (or at its first NUL), each byte that does not start a valid UTF-8
 * sequence replaced by '?'.  Caller frees; NULL if out of memory. */
__attribute__((warn_unused_result)) char *bf_host_rules_clean_error(const char *msg);

/* Length of the valid UTF-8 sequence at s (at most n bytes, n >= 1), or 0:
 * overlong forms, surrogates and code points above U+10FFFF are invalid. */
size_t bf_host_rules_utf8_seq(const unsigned char *s, size_t n);

#endif /* BACKFILL_HOST_RULES_H */
