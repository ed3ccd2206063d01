/*
 * exec_util.c -- pure helpers of the exec plugin: command-line splitting,
 * exit-status mapping, stderr tail, stdout lines, child environment.
 */
#include "exec_util.h"

#include <backfill/plugin.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Characters a shell would give a meaning to; refused when unquoted. */
static int is_shell_meta(char c)
{
	return c != '\0' && strchr("|&;<>()$`", c) != NULL;
}

/* Characters a backslash escapes inside double quotes. */
static int is_dquote_escapable(char c)
{
	return c != '\0' && strchr("\"\\$`", c) != NULL;
}

int exec_split_command(const char *line, char ***argv_out, size_t *argc_out,
                       char *err, size_t err_size)
{
	char tmp_err[8];
	if (err == NULL || err_size == 0) {
		err = tmp_err;
		err_size = sizeof(tmp_err);
	}
	err[0] = '\0';
	*argv_out = NULL;
	*argc_out = 0;

	size_t n = strlen(line);
	if (n > SIZE_MAX / 8) {
		snprintf(err, err_size, "command line too long");
		return -1;
	}
	/* A word takes at least one input byte and, unless it is the last, a
	 * separator: at most n/2 + 1 words, plus the NULL.  Each word's text is
	 * no longer than its input, plus one NUL. */
	size_t max_words = n / 2 + 2;
	size_t ptr_bytes = max_words * sizeof(char *);
	char **argv = malloc(ptr_bytes + 2 * n + 2);
	if (argv == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	char *out = (char *)argv + ptr_bytes;
	size_t argc = 0;
	const char *p = line;

	for (;;) {
		while (is_blank(*p))
			p++;
		if (*p == '\0')
			break;
		argv[argc++] = out;
		while (*p != '\0' && !is_blank(*p)) {
			const char *at = p;
			if (*p == '\'') {
				p++;
				while (*p != '\0' && *p != '\'')
					*out++ = *p++;
				if (*p == '\0') {
					snprintf(err, err_size,
					         "unterminated single quote "
					         "(opened at column %zu)",
					         (size_t)(at - line) + 1);
					goto fail;
				}
				p++;
			} else if (*p == '"') {
				p++;
				while (*p != '\0' && *p != '"') {
					if (*p == '\\' && is_dquote_escapable(p[1]))
						p++;
					*out++ = *p++;
				}
				if (*p == '\0') {
					snprintf(err, err_size,
					         "unterminated double quote "
					         "(opened at column %zu)",
					         (size_t)(at - line) + 1);
					goto fail;
				}
				p++;
			} else if (*p == '\\') {
				if (p[1] == '\0') {
					snprintf(err, err_size,
					         "backslash at column %zu escapes "
					         "nothing (end of line)",
					         (size_t)(at - line) + 1);
					goto fail;
				}
				p++;
				*out++ = *p++;
			} else if (is_shell_meta(*p)) {
				snprintf(err, err_size,
				         "unquoted '%c' at column %zu: commands run "
				         "without a shell; quote it, or run a "
				         "wrapper script",
				         *p, (size_t)(at - line) + 1);
				goto fail;
			} else {
				*out++ = *p++;
			}
		}
		*out++ = '\0';
	}
	argv[argc] = NULL;
	*argv_out = argv;
	*argc_out = argc;
	return 0;
fail:
	free(argv);
	return -1;
}

int32_t exec_result_from_status(int wait_status, char *why, size_t why_size)
{
	char tmp[8];
	if (why == NULL || why_size == 0) {
		why = tmp;
		why_size = sizeof(tmp);
	}
	if (WIFEXITED(wait_status)) {
		int code = WEXITSTATUS(wait_status);
		if (code == 0) {
			why[0] = '\0';
			return BF_JOB_OK;
		}
		snprintf(why, why_size, "exit status %d", code);
		return code == EXEC_EXIT_TEMPFAIL ? BF_JOB_RETRY : BF_JOB_FAIL;
	}
	if (WIFSIGNALED(wait_status)) {
		snprintf(why, why_size, "killed by signal %d",
		         WTERMSIG(wait_status));
		return BF_JOB_RETRY;
	}
	snprintf(why, why_size, "unexpected wait status 0x%x",
	         (unsigned)wait_status);
	return BF_JOB_RETRY;
}

int exec_tail_init(struct bf_exec_tail *tail, size_t cap)
{
	memset(tail, 0, sizeof(*tail));
	if (cap > 0) {
		tail->buf = malloc(cap);
		if (tail->buf == NULL)
			return -1;
	}
	tail->cap = cap;
	return 0;
}

void exec_tail_append(struct bf_exec_tail *tail, const char *data, size_t n)
{
	size_t cap = tail->cap;
	tail->total += n;
	if (cap == 0 || n == 0)
		return;
	if (n >= cap) {
		memcpy(tail->buf, data + (n - cap), cap);
		tail->start = 0;
		tail->len = cap;
		return;
	}
	size_t end = (tail->start + tail->len) % cap;
	size_t first = n < cap - end ? n : cap - end;
	memcpy(tail->buf + end, data, first);
	memcpy(tail->buf, data + first, n - first);
	if (tail->len + n > cap) {
		tail->start = (tail->start + (tail->len + n - cap)) % cap;
		tail->len = cap;
	} else {
		tail->len += n;
	}
}

static int is_utf8_continuation(char c)
{
	return ((unsigned char)c & 0xC0u) == 0x80u;
}

char *exec_tail_string(const struct bf_exec_tail *tail)
{
	static const char marker[] = "...";
	const size_t marker_len = sizeof(marker) - 1;
	size_t len = tail->len;
	char *s = malloc(len + 1);
	if (s == NULL)
		return NULL;
	if (len > 0) {
		size_t first = tail->cap - tail->start;
		if (first > len)
			first = len;
		memcpy(s, tail->buf + tail->start, first);
		memcpy(s + first, tail->buf, len - first);
	}
	s[len] = '\0';

	size_t from = 0; /* first kept byte of s */
	int cut = tail->total > (uint64_t)len;
	if (cut && len > marker_len) {
		/* Make room for the marker, then do not start inside a UTF-8
		 * sequence (at most 3 continuation bytes). */
		from = marker_len;
		for (int i = 0; i < 3 && from < len && is_utf8_continuation(s[from]);
		     i++)
			from++;
	}
	size_t keep = len - from;
	while (keep > 0 && strchr("\n\r \t", s[from + keep - 1]) != NULL &&
	       s[from + keep - 1] != '\0')
		keep--;
	for (size_t i = from; i < from + keep; i++)
		if (s[i] == '\0')
			s[i] = '?';
	if (from > 0) {
		memmove(s + marker_len, s + from, keep);
		memcpy(s, marker, marker_len);
		s[marker_len + keep] = '\0';
	} else {
		s[keep] = '\0';
	}
	return s;
}

void exec_tail_free(struct bf_exec_tail *tail)
{
	if (tail == NULL)
		return;
	free(tail->buf);
	memset(tail, 0, sizeof(*tail));
}

void exec_lines_init(struct bf_exec_lines *lines)
{
	lines->len = 0;
	lines->dropped = 0;
	lines->buf[0] = '\0';
}

static void lines_emit(struct bf_exec_lines *lines, exec_line_fn emit,
                       void *arg)
{
	/* The line, sanitised, plus room for the note. */
	char out[EXEC_LINE_MAX + 48];
	size_t len = lines->len;
	if (lines->dropped == 0 && len > 0 && lines->buf[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)lines->buf[i];
		out[i] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
	}
	out[len] = '\0';
	if (lines->dropped > 0)
		snprintf(out + len, sizeof(out) - len, " [%" PRIu64 " bytes cut]",
		         lines->dropped);
	emit(arg, out);
	lines->len = 0;
	lines->dropped = 0;
}

void exec_lines_feed(struct bf_exec_lines *lines, const char *data, size_t n,
                     exec_line_fn emit, void *arg)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t part = nl != NULL ? (size_t)(nl - data) : n;
		size_t room = EXEC_LINE_MAX - lines->len;
		size_t take = part < room ? part : room;
		memcpy(lines->buf + lines->len, data, take);
		lines->len += take;
		lines->dropped += part - take;
		if (nl == NULL)
			return;
		lines_emit(lines, emit, arg);
		data += part + 1;
		n -= part + 1;
	}
}

void exec_lines_finish(struct bf_exec_lines *lines, exec_line_fn emit,
                       void *arg)
{
	if (lines->len > 0 || lines->dropped > 0)
		lines_emit(lines, emit, arg);
}

/* Variables exec_env_build sets; inherited ones of these names are dropped.
 * Order matters: the first six are always set, the last two only when the
 * job has them. */
static const char *const job_env_names[] = {
	"BACKFILL_JOB_ID",       "BACKFILL_TASK",     "BACKFILL_QUEUE",
	"BACKFILL_ATTEMPT",      "BACKFILL_MAX_ATTEMPTS",
	"BACKFILL_PRIORITY",     "BACKFILL_JOB_KEY",  "BACKFILL_SERIAL_KEY",
};
#define JOB_ENV_COUNT (sizeof(job_env_names) / sizeof(job_env_names[0]))

static int is_job_env(const char *entry)
{
	for (size_t i = 0; i < JOB_ENV_COUNT; i++) {
		size_t n = strlen(job_env_names[i]);
		if (strncmp(entry, job_env_names[i], n) == 0 && entry[n] == '=')
			return 1;
	}
	return 0;
}

char **exec_env_build(char *const *base, const struct bf_exec_job_env *job)
{
	char numbers[4][24];
	snprintf(numbers[0], sizeof(numbers[0]), "%" PRId64, job->job_id);
	snprintf(numbers[1], sizeof(numbers[1]), "%" PRId32, job->attempt);
	snprintf(numbers[2], sizeof(numbers[2]), "%" PRId32, job->max_attempts);
	snprintf(numbers[3], sizeof(numbers[3]), "%" PRId32, job->priority);
	const char *values[JOB_ENV_COUNT] = {
		numbers[0],
		job->task != NULL ? job->task : "",
		job->queue != NULL ? job->queue : "",
		numbers[1],
		numbers[2],
		numbers[3],
		job->job_key,
		job->serial_key,
	};

	size_t kept = 0;
	for (size_t i = 0; base != NULL && base[i] != NULL; i++)
		if (!is_job_env(base[i]))
			kept++;
	size_t text_bytes = 0;
	for (size_t i = 0; i < JOB_ENV_COUNT; i++)
		if (values[i] != NULL)
			text_bytes += strlen(job_env_names[i]) + 1 +
			              strlen(values[i]) + 1;
	size_t slots = kept + JOB_ENV_COUNT + 1;
	char **env = malloc(slots * sizeof(char *) + text_bytes);
	if (env == NULL)
		return NULL;

	size_t k = 0;
	for (size_t i = 0; base != NULL && base[i] != NULL; i++)
		if (!is_job_env(base[i]))
			env[k++] = base[i];
	char *text = (char *)env + slots * sizeof(char *);
	for (size_t i = 0; i < JOB_ENV_COUNT; i++) {
		if (values[i] == NULL)
			continue;
		size_t name_len = strlen(job_env_names[i]);
		size_t value_len = strlen(values[i]);
		env[k++] = text;
		memcpy(text, job_env_names[i], name_len);
		text[name_len] = '=';
		memcpy(text + name_len + 1, values[i], value_len + 1);
		text += name_len + 1 + value_len + 1;
	}
	env[k] = NULL;
	return env;
}
