/* host_rules.c -- the plugin rules backfilld and its stub host share (see
 * host_rules.h). */
#include "host_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Size of struct bf_plugin in ABI 1.0: the smallest descriptor accepted. */
#define DESC_V1_SIZE (offsetof(struct bf_plugin, shutdown) + sizeof(void (*)(void *)))

bool bf_host_rules_valid_task_name(const char *name)
{
	size_t n = strnlen(name, HOST_RULES_TASK_NAME_MAX + 1);
	if (n == 0 || n > HOST_RULES_TASK_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == ' ')
			return false;
	return true;
}

bool bf_host_rules_valid_plugin_name(const char *name)
{
	size_t n = strnlen(name, HOST_RULES_PLUGIN_NAME_MAX + 1);
	if (n == 0 || n > HOST_RULES_PLUGIN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int bf_host_rules_check_descriptor(const struct bf_plugin *d, char *msg, size_t msg_size)
{
	if (!d) {
		snprintf(msg, msg_size, "%s() returned NULL (the plugin refuses this host, ABI %u.%u)",
		         BF_PLUGIN_ENTRY_SYMBOL, BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR);
		return -1;
	}
	/* struct_size and magic are the first two fields of every version. */
	if (d->magic != BF_PLUGIN_MAGIC) {
		snprintf(msg, msg_size,
		         "bad magic 0x%08x (expected 0x%08x): not a backfilld plugin, or built against "
		         "a foreign header",
		         d->magic, BF_PLUGIN_MAGIC);
		return -1;
	}
	if (d->abi_major != BF_PLUGIN_ABI_MAJOR) {
		snprintf(msg, msg_size,
		         "plugin ABI %u.%u is incompatible with this backfilld's ABI %u.%u; rebuild the "
		         "plugin against the installed <backfill/plugin.h>",
		         d->abi_major, d->abi_minor, BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR);
		return -1;
	}
	if (d->struct_size < DESC_V1_SIZE) {
		snprintf(msg, msg_size,
		         "struct bf_plugin is %u bytes, smaller than ABI %u.0's %zu (plugin ABI %u.%u, "
		         "host ABI %u.%u): refusing a truncated descriptor",
		         d->struct_size, BF_PLUGIN_ABI_MAJOR, DESC_V1_SIZE, d->abi_major, d->abi_minor,
		         BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR);
		return -1;
	}
	if (!d->name || !bf_host_rules_valid_plugin_name(d->name) || !d->init) {
		snprintf(msg, msg_size,
		         "plugin name must be 1..%d of [a-z0-9_-] and init must be set (got name \"%s\")",
		         HOST_RULES_PLUGIN_NAME_MAX, d->name ? d->name : "(null)");
		return -1;
	}
	return 0;
}

size_t bf_host_rules_utf8_seq(const unsigned char *s, size_t n)
{
	static const unsigned int min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len;
	unsigned int cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1fu;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0fu;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

char *bf_host_rules_clean_error(const char *msg)
{
	size_t n = strnlen(msg, HOST_RULES_ERROR_MAX);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	const unsigned char *s = (const unsigned char *)msg;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t l = bf_host_rules_utf8_seq(s + i, n - i);
		if (l == 0) {
			out[o++] = '?';
			i++;
		} else {
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
		}
	}
	out[o] = '\0';
	return out;
}
