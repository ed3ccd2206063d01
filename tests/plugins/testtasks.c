/*
 * testtasks -- tasks for the integration tests.  "test.record" and
 * "test.record2" (same handler) append to record_file, with one write(2) of
 * one line on an O_APPEND fd each,
 *   start <job_id> <queue> <attempt> <unix_time_us>
 * when a job starts and
 *   end <job_id> <queue> <attempt> <unix_time_us>
 * just before it returns, and in between do what the payload says:
 *   "sleep_ms": N            sleep N ms, in 10 ms steps; BF_STOP_ABORT ends
 *                            the job at once with BF_JOB_RETRY
 *   "fail_until_attempt": N  BF_JOB_RETRY, error "attempt K failed", while
 *                            the attempt K < N
 *   "error": "text"          job_set_error(text) (none when absent)
 *   "retry_delay_ms": N      job_set_retry_delay_ms(N)
 *   "result": "ok"|"retry"|"fail"|"bad"   ("ok" when absent; "bad" returns
 *                            77, a status the host must treat as failure)
 * Config ([testtasks]): record_file = PATH (required).
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

/* Not a BF_JOB_* value: the host must treat it as a permanent failure. */
#define TESTTASKS_BAD_STATUS 77

struct bf_testtasks {
	const struct bf_host_api *host;
	bf_plugin_ctx *ctx;
	int record_fd; /* O_APPEND */
};

static void record(const struct bf_testtasks *tt, const char *what,
                   bf_job *job)
{
	const struct bf_host_api *host = tt->host;
	struct timespec ts;
	char line[512];

	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	int n = snprintf(line, sizeof(line),
	                 "%s %" PRId64 " %s %" PRId32 " %" PRId64 "\n", what,
	                 host->job_id(job), host->job_queue(job),
	                 host->job_attempt(job), now_us);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		host->job_log(job, BF_LOG_ERROR, "testtasks: record line too long");
		return;
	}
	ssize_t w;
	do
		w = write(tt->record_fd, line, (size_t)n);
	while (w < 0 && errno == EINTR);
	if (w != n)
		host->job_log(job, BF_LOG_ERROR,
		              "testtasks: cannot write to record_file");
}

/* Finds "key" followed by ':' in the payload; returns the value's first
 * byte (after blanks), or NULL. */
static const char *find_value(const char *p, size_t len, const char *key)
{
	char quoted[128];
	int qn = snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	size_t klen = (size_t)qn;
	if (p == NULL || qn < 0 || klen >= sizeof(quoted))
		return NULL;
	const char *end = p + len;
	for (const char *s = p; (size_t)(end - s) >= klen; s++) {
		if (memcmp(s, quoted, klen) != 0)
			continue;
		const char *v = s + klen;
		while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
			v++;
		if (v == end || *v != ':')
			continue;
		v++;
		while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
			v++;
		return v < end ? v : NULL;
	}
	return NULL;
}

static int payload_int(const char *p, size_t len, const char *key,
                       int64_t *out)
{
	const char *v = find_value(p, len, key);
	const char *end = p + len;
	int negative = 0;
	int64_t n = 0;
	if (v == NULL)
		return 0;
	if (*v == '-') {
		negative = 1;
		v++;
	}
	if (v == end || *v < '0' || *v > '9')
		return 0;
	while (v < end && *v >= '0' && *v <= '9' && n < INT64_MAX / 10 - 10)
		n = n * 10 + (*v++ - '0');
	*out = negative ? -n : n;
	return 1;
}

/* A JSON string value, unescaped (\uXXXX of the BMP only), into out. */
static int payload_string(const char *p, size_t len, const char *key,
                          char *out, size_t out_size)
{
	const char *v = find_value(p, len, key);
	const char *end = p + len;
	size_t n = 0;
	if (v == NULL || *v != '"' || out_size < 4)
		return 0;
	for (v++; v < end && *v != '"' && n + 4 < out_size; v++) {
		if (*v != '\\') {
			out[n++] = *v;
			continue;
		}
		if (++v == end)
			break;
		switch (*v) {
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case 'r': out[n++] = '\r'; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'u': {
			unsigned cp = 0;
			if (end - v < 5)
				return 0;
			for (int i = 1; i <= 4; i++) {
				char c = v[i];
				cp <<= 4;
				if (c >= '0' && c <= '9')
					cp |= (unsigned)(c - '0');
				else if (c >= 'a' && c <= 'f')
					cp |= (unsigned)(c - 'a' + 10);
				else if (c >= 'A' && c <= 'F')
					cp |= (unsigned)(c - 'A' + 10);
				else
					return 0;
			}
			v += 4;
			if (cp < 0x80) {
				out[n++] = (char)cp;
			} else if (cp < 0x800) {
				out[n++] = (char)(0xC0 | (cp >> 6));
				out[n++] = (char)(0x80 | (cp & 0x3F));
			} else {
				out[n++] = (char)(0xE0 | (cp >> 12));
				out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				out[n++] = (char)(0x80 | (cp & 0x3F));
			}
			break;
		}
		default: out[n++] = *v; break; /* \" \\ \/ */
		}
	}
	out[n] = '\0';
	return 1;
}

/* Sleeps ms milliseconds in 10 ms steps; returns -1 on BF_STOP_ABORT. */
static int sleep_ms(const struct bf_host_api *host, bf_job *job, int64_t ms)
{
	while (ms > 0) {
		if (host->job_stop_requested(job) == BF_STOP_ABORT)
			return -1;
		int64_t step = ms < 10 ? ms : 10;
		struct timespec ts = {0, (long)step * 1000000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		ms -= step;
	}
	return host->job_stop_requested(job) == BF_STOP_ABORT ? -1 : 0;
}

static int32_t run_job(const struct bf_testtasks *tt, bf_job *job)
{
	const struct bf_host_api *host = tt->host;
	size_t len = 0;
	const char *p = host->job_payload(job, &len);
	char text[1024];
	int64_t v;

	if (p == NULL)
		len = 0;
	if (payload_int(p, len, "retry_delay_ms", &v))
		host->job_set_retry_delay_ms(job, v);
	if (payload_int(p, len, "sleep_ms", &v) && sleep_ms(host, job, v) != 0) {
		host->job_set_error(job, "aborted while sleeping");
		return BF_JOB_RETRY;
	}
	if (payload_int(p, len, "fail_until_attempt", &v) &&
	    host->job_attempt(job) < v) {
		snprintf(text, sizeof(text), "attempt %" PRId32 " failed",
		         host->job_attempt(job));
		host->job_set_error(job, text);
		return BF_JOB_RETRY;
	}
	if (payload_string(p, len, "error", text, sizeof(text)))
		host->job_set_error(job, text);
	if (!payload_string(p, len, "result", text, sizeof(text)) ||
	    strcmp(text, "ok") == 0)
		return BF_JOB_OK;
	if (strcmp(text, "retry") == 0)
		return BF_JOB_RETRY;
	if (strcmp(text, "fail") == 0)
		return BF_JOB_FAIL;
	if (strcmp(text, "bad") == 0)
		return TESTTASKS_BAD_STATUS;
	host->job_log(job, BF_LOG_ERROR, "testtasks: unknown \"result\"");
	return BF_JOB_FAIL;
}

static int32_t testtasks_handle(bf_job *job, void *task_data)
{
	const struct bf_testtasks *tt = task_data;
	record(tt, "start", job);
	int32_t result = run_job(tt, job);
	record(tt, "end", job);
	return result;
}

static void testtasks_shutdown(void *state)
{
	struct bf_testtasks *tt = state;
	if (tt == NULL)
		return;
	if (tt->record_fd >= 0)
		close(tt->record_fd);
	free(tt);
}

static int32_t testtasks_init(bf_plugin_ctx *ctx,
                              const struct bf_host_api *host, void **state)
{
	static const char *const tasks[] = {"test.record", "test.record2"};
	char msg[512];
	const char *path = NULL;
	struct bf_testtasks *tt = calloc(1, sizeof(*tt));

	*state = NULL;
	if (tt == NULL) {
		host->log(ctx, BF_LOG_ERROR, "testtasks: out of memory");
		return BF_ERR_NOMEM;
	}
	tt->host = host;
	tt->ctx = ctx;
	tt->record_fd = -1;

	uint32_t count = host->config_count(ctx);
	for (uint32_t i = 0; i < count; i++) {
		const char *key = host->config_key(ctx, i);
		const char *value = host->config_value(ctx, i);
		if (key != NULL && strcmp(key, "record_file") == 0) {
			path = value;
		} else {
			snprintf(msg, sizeof(msg),
			         "testtasks: unknown key \"%s\" in [testtasks] "
			         "(known: record_file)",
			         key != NULL ? key : "?");
			goto fail;
		}
	}
	if (path == NULL || path[0] == '\0') {
		snprintf(msg, sizeof(msg),
		         "testtasks: [testtasks] record_file is required");
		goto fail;
	}
	tt->record_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	                     0644);
	if (tt->record_fd < 0) {
		snprintf(msg, sizeof(msg), "testtasks: cannot open %s: %s", path,
		         strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++) {
		int32_t rc = host->register_task(ctx, tasks[i], testtasks_handle,
		                                 tt);
		if (rc != BF_OK) {
			snprintf(msg, sizeof(msg),
			         "testtasks: cannot register task \"%s\" (error "
			         "%d)",
			         tasks[i], (int)rc);
			goto fail;
		}
	}
	*state = tt;
	return BF_OK;
fail:
	host->log(ctx, BF_LOG_ERROR, msg);
	testtasks_shutdown(tt);
	return BF_ERR_INVALID;
}

static const struct bf_plugin testtasks_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
	.name = "testtasks",
	.version = "test",
	.init = testtasks_init,
	.shutdown = testtasks_shutdown,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &testtasks_plugin;
}
