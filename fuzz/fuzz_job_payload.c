/* fuzz_job_payload.c -- libFuzzer harness for the text a job brings in from
 * outside: its payload as the log plugin writes it to the log
 * (plugins/log.c, called through its entry point with a host table that
 * checks what it is given), the error text a handler records
 * (job_set_error, daemon/job.c), and the output of an exec child
 * (exec_lines_* and exec_tail_*, plugins/exec/exec_util.c).  The first
 * input byte chooses chunk sizes and the stderr tail's size; the rest is
 * the text. */
#include "exec/exec_util.h"
#include "job.h"

#include <backfill/plugin.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* plugins/log.c, linked in */
const struct bf_plugin *backfill_plugin_entry(uint32_t host_abi_major, uint32_t host_abi_minor);

/* ---- the log plugin, through a host table of our own ------------------ */

static const char *cur_payload;
static size_t cur_payload_len;
static int logged;
static bf_handler_fn log_handler;
static void *log_task_data;

static void host_log(bf_plugin_ctx *ctx, int32_t level, const char *msg)
{
	(void)ctx;
	(void)level;
	(void)msg;
}

static int32_t host_register_task(bf_plugin_ctx *ctx, const char *task, bf_handler_fn handler, void *task_data)
{
	(void)ctx;
	if (strcmp(task, "log") != 0)
		abort();
	log_handler = handler;
	log_task_data = task_data;
	return BF_OK;
}

static const char *host_job_payload(const bf_job *job, size_t *len)
{
	(void)job;
	if (len)
		*len = cur_payload_len;
	return cur_payload;
}

/* The plugin promises one printable line: no control characters, the
 * payload cut at 1000 bytes (plus a short note). */
static void host_job_log(const bf_job *job, int32_t level, const char *msg)
{
	(void)job;
	(void)level;
	size_t n = strlen(msg);
	if (n > 1000 + 64)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			abort();
	logged++;
}

static const struct bf_host_api fuzz_host = {
    .struct_size = sizeof(struct bf_host_api),
    .abi_major = BF_PLUGIN_ABI_MAJOR,
    .abi_minor = BF_PLUGIN_ABI_MINOR,
    .log = host_log,
    .register_task = host_register_task,
    .job_payload = host_job_payload,
    .job_log = host_job_log,
};

static void check_log_plugin(const char *payload, size_t len)
{
	if (!log_handler) {
		const struct bf_plugin *p = backfill_plugin_entry(BF_PLUGIN_ABI_MAJOR, BF_PLUGIN_ABI_MINOR);
		void *state = NULL;
		if (!p || p->init(NULL, &fuzz_host, &state) != BF_OK || !log_handler)
			abort();
	}
	cur_payload = payload;
	cur_payload_len = len;
	logged = 0;
	if (log_handler(NULL, log_task_data) != BF_JOB_OK || logged != 1)
		abort();
}

/* ---- job_set_error ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s, or 0 (strict: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
	             : s[0] >= 0xf0 && s[0] <= 0xf4                                ? 4
	                                                                            : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

static void check_set_error(const char *text)
{
	struct bf_job job = {0};
	job_set_error(&job, text);
	if (!job.error || strlen(job.error) > 4000)
		abort();
	const unsigned char *e = (const unsigned char *)job.error;
	for (size_t i = 0, n = strlen(job.error); i < n;) {
		size_t l = utf8_len(e + i, n - i);
		if (l == 0)
			abort(); /* the daemon promises valid UTF-8 */
		i += l;
	}
	/* what a handler passes back in (its own last error) is fine too */
	job_set_error(&job, job.error);
	job_set_error(&job, NULL);
	if (job.error)
		abort();
}

/* ---- an exec child's output ------------------------------------------- */

struct line_log {
	char *text;
	size_t len, cap;
};

static void collect_line(void *arg, const char *line)
{
	struct line_log *log = arg;
	size_t n = strlen(line);
	if (n > EXEC_LINE_MAX + 32)
		abort();
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			abort();
	if (log->len + n + 2 > log->cap) {
		log->cap = (log->len + n + 2) * 2;
		log->text = realloc(log->text, log->cap);
		if (!log->text)
			abort();
	}
	memcpy(log->text + log->len, line, n);
	log->len += n;
	log->text[log->len++] = '\n';
	log->text[log->len] = '\0';
}

static void check_output(const char *out, size_t n, size_t chunk, size_t cap)
{
	/* lines: the same whether the bytes come at once or in chunks */
	struct line_log whole = {0}, parts = {0};
	struct bf_exec_lines lines;
	exec_lines_init(&lines);
	exec_lines_feed(&lines, out, n, collect_line, &whole);
	exec_lines_finish(&lines, collect_line, &whole);
	exec_lines_init(&lines);
	for (size_t i = 0; i < n; i += chunk)
		exec_lines_feed(&lines, out + i, n - i < chunk ? n - i : chunk, collect_line, &parts);
	exec_lines_finish(&lines, collect_line, &parts);
	if (whole.len != parts.len || (whole.len && memcmp(whole.text, parts.text, whole.len) != 0))
		abort();
	free(whole.text);
	free(parts.text);

	/* stderr tail: at most cap bytes, NUL-free, ends like the stream */
	struct bf_exec_tail tail;
	if (exec_tail_init(&tail, cap) != 0)
		abort();
	for (size_t i = 0; i < n; i += chunk)
		exec_tail_append(&tail, out + i, n - i < chunk ? n - i : chunk);
	char *s = exec_tail_string(&tail);
	if (!s || strlen(s) > cap || tail.total != n)
		abort();
	if (n <= cap) {
		/* nothing dropped: the whole stream, NULs as '?', trailing blanks off */
		size_t keep = n;
		while (keep > 0 && strchr("\n\r \t", out[keep - 1]) && out[keep - 1] != '\0')
			keep--;
		if (strlen(s) != keep)
			abort();
		for (size_t i = 0; i < keep; i++)
			if (s[i] != (out[i] == '\0' ? '?' : out[i]))
				abort();
	}
	free(s);
	exec_tail_free(&tail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t chunk = (size_t)(data[0] & 0x0f) + 1;
	size_t cap = (size_t)(data[0] >> 4) * 16;
	const char *text = (const char *)data + 1;
	size_t n = size - 1;
	check_log_plugin(text, n);
	check_output(text, n, chunk, cap);
	char *str = malloc(n + 1);
	if (!str)
		abort();
	memcpy(str, text, n);
	str[n] = '\0';
	check_set_error(str);
	free(str);
	return 0;
}
