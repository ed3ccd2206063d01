/*
 * log -- task "log" writes the job (id, task, attempt, payload) to the
 * daemon's log at INFO and succeeds.  Used by the demo.
 */
#include <backfill/plugin.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Payload bytes logged at most; a longer payload is cut and marked. */
#define LOG_PAYLOAD_MAX 1000u

/*
 * Copies up to LOG_PAYLOAD_MAX bytes of payload into out (at least
 * LOG_PAYLOAD_MAX + 1 bytes) as one printable line: control characters
 * become '?', and a cut never splits a UTF-8 sequence.  Returns the number
 * of payload bytes left out.
 */
static size_t log_payload_excerpt(const char *payload, size_t len, char *out)
{
	size_t n = len < LOG_PAYLOAD_MAX ? len : LOG_PAYLOAD_MAX;
	if (n < len)
		while (n > 0 && ((unsigned char)payload[n] & 0xC0u) == 0x80u)
			n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)payload[i];
		out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[n] = '\0';
	return len - n;
}

/* Plugin state: the task data of "log"; read-only once init returned. */
struct bf_log_plugin {
	const struct bf_host_api *host;
};

static int32_t log_handle(bf_job *job, void *task_data)
{
	const struct bf_log_plugin *pl = task_data;
	const struct bf_host_api *host = pl->host;
	char excerpt[LOG_PAYLOAD_MAX + 1];
	char msg[LOG_PAYLOAD_MAX + 512];
	size_t len = 0;
	const char *payload = host->job_payload(job, &len);
	if (payload == NULL)
		len = 0;
	size_t left_out = log_payload_excerpt(payload, len, excerpt);
	/* job_log already names the job, task, queue and attempt */
	int n = snprintf(msg, sizeof(msg), "payload %s", excerpt);
	if (left_out > 0 && n > 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n,
		         "... (%zu more bytes)", left_out);
	host->job_log(job, BF_LOG_INFO, msg);
	return BF_JOB_OK;
}

static int32_t log_init(bf_plugin_ctx *ctx, const struct bf_host_api *host,
                        void **state)
{
	struct bf_log_plugin *pl = malloc(sizeof(*pl));
	*state = pl;
	if (pl == NULL) {
		host->log(ctx, BF_LOG_ERROR, "log: out of memory");
		return BF_ERR_NOMEM;
	}
	pl->host = host;
	int32_t rc = host->register_task(ctx, "log", log_handle, pl);
	if (rc != BF_OK) {
		host->log(ctx, BF_LOG_ERROR,
		          rc == BF_ERR_EXISTS
		              ? "log: task \"log\" is already registered by "
		                "another plugin"
		              : "log: cannot register task \"log\"");
		free(pl);
		*state = NULL;
	}
	return rc;
}

static void log_shutdown(void *state)
{
	free(state);
}

static const struct bf_plugin log_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
	.name = "log",
	.version = "0.1.0",
	.init = log_init,
	.shutdown = log_shutdown,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &log_plugin;
}
