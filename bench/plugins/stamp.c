/*
 * stamp -- benchmark plugin: task "stamp" records when its handler was
 * entered, for the latency figure of bench/backfilld-bench.
 *
 * The first thing the handler does is read CLOCK_REALTIME; it then appends
 *   <seq> <unix_time_us>\n
 * to the file named by the config key [stamp] file (required), with one
 * write(2) on an O_APPEND descriptor, so concurrent handlers never mix lines.
 * <seq> is the integer value of the payload's "seq" key (-1 if absent).
 * The benchmark client logs seq -> commit acknowledgement time and joins on
 * seq.  Built against plugin-api/ only, like every plugin.
 */
#include <backfill/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct stamp_state {
	const struct bf_host_api *host;
	int fd;
};

/* The integer after "seq": in a JSON object, or -1. */
static long long payload_seq(const char *p, size_t len)
{
	static const char key[] = "\"seq\"";
	const size_t klen = sizeof(key) - 1;
	if (!p)
		return -1;
	const char *end = p + len;
	for (const char *s = p; (size_t)(end - s) > klen; s++) {
		if (memcmp(s, key, klen) != 0)
			continue;
		const char *v = s + klen;
		while (v < end && (*v == ' ' || *v == ':'))
			v++;
		if (v >= end)
			return -1;
		char *stop;
		long long n = strtoll(v, &stop, 10);
		return stop == v ? -1 : n;
	}
	return -1;
}

static int32_t stamp_handle(bf_job *job, void *task_data)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* first: the handler's entry time */
	const struct stamp_state *st = task_data;
	const struct bf_host_api *host = st->host;

	size_t len = 0;
	const char *payload = host->job_payload(job, &len);
	char line[64];
	int n = snprintf(line, sizeof(line), "%lld %" PRId64 "\n", payload_seq(payload, len),
	                 (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	ssize_t w;
	do
		w = write(st->fd, line, (size_t)n);
	while (w < 0 && errno == EINTR);
	if (w != n) {
		host->job_set_error(job, "stamp: cannot write to the stamp file");
		return BF_JOB_FAIL;
	}
	return BF_JOB_OK;
}

static int32_t stamp_init(bf_plugin_ctx *ctx, const struct bf_host_api *host, void **state)
{
	const char *file = NULL;
	uint32_t count = host->config_count(ctx);
	for (uint32_t i = 0; i < count; i++) {
		const char *k = host->config_key(ctx, i);
		if (k && strcmp(k, "file") == 0) {
			file = host->config_value(ctx, i);
		} else {
			char msg[256];
			snprintf(msg, sizeof(msg), "unknown key \"%s\" in [stamp] (only \"file\")",
			         k ? k : "");
			host->log(ctx, BF_LOG_ERROR, msg);
			return BF_ERR_INVALID;
		}
	}
	if (!file || !*file) {
		host->log(ctx, BF_LOG_ERROR, "[stamp] file = PATH is required");
		return BF_ERR_INVALID;
	}
	struct stamp_state *st = malloc(sizeof(*st));
	if (!st)
		return BF_ERR_NOMEM;
	st->host = host;
	st->fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (st->fd < 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "cannot open %s: %s", file, strerror(errno));
		host->log(ctx, BF_LOG_ERROR, msg);
		free(st);
		return BF_ERR_INVALID;
	}
	int32_t rc = host->register_task(ctx, "stamp", stamp_handle, st);
	if (rc != BF_OK) {
		host->log(ctx, BF_LOG_ERROR, "cannot register task \"stamp\"");
		close(st->fd);
		free(st);
		return rc;
	}
	*state = st;
	return BF_OK;
}

static void stamp_shutdown(void *state)
{
	struct stamp_state *st = state;
	if (!st)
		return;
	close(st->fd);
	free(st);
}

static const struct bf_plugin stamp_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
	.name = "stamp",
	.version = "0.1.0",
	.init = stamp_init,
	.shutdown = stamp_shutdown,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &stamp_plugin;
}
