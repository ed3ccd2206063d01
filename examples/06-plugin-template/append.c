/*
 * append -- a backfilld plugin to copy and adapt: task "append.line" appends
 * one line of text to a file under a configured directory.
 *
 *   INSERT INTO backfill.jobs (task, payload)
 *   VALUES ('append.line', '{"file": "inbox/today.txt", "text": "hello"}');
 *
 * Payload (a JSON object; other members are ignored):
 *   "file"  path relative to [append] dir: parts of [A-Za-z0-9_.-] separated
 *           by '/', none starting with '.', at most 255 bytes
 *   "text"  the line, without a newline, at most 65536 bytes
 *
 * Results:
 *   BF_JOB_OK     the line and a '\n' were appended with one write(2) on an
 *                 O_APPEND descriptor: concurrent jobs never mix their lines
 *   BF_JOB_RETRY  the file could not be opened or written for a reason that
 *                 may pass (its directory does not exist yet, disk full,
 *                 permissions): backfilld runs the job again later
 *   BF_JOB_FAIL   the payload can never work (not an object, bad "file",
 *                 missing "text", "file" names a directory): dead-lettered
 *
 * Configuration, section [append] of backfilld.ini:
 *   dir = /var/lib/backfill/append   required; must exist when backfilld starts
 *   retry_delay_ms = 5000            optional; without it backfilld's backoff
 *                                    (e^attempt seconds) spaces the retries
 *
 * Build: make (against the installed <backfill/plugin.h>, via pkg-config).
 * Test:  make test (the handler under libbackfill-plugin-stub: no database).
 */
#define _POSIX_C_SOURCE 200809L

#include <backfill/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define APPEND_FILE_MAX 255
#define APPEND_TEXT_MAX 65536

/* Plugin state, set up by init() and read-only afterwards: handlers on many
 * threads share it without a lock. */
struct append_plugin {
	const struct bf_host_api *host;
	int dir_fd;             /* [append] dir, O_DIRECTORY */
	int64_t retry_delay_ms; /* -1: backfilld's backoff */
};

/* A relative path of safe parts: no "..", no absolute path, no hidden
 * files, nothing a shell or a log would trip on. */
static int valid_file(const char *file)
{
	size_t n = strlen(file);
	if (n == 0 || n > APPEND_FILE_MAX)
		return 0;
	int part_start = 1;
	for (size_t i = 0; i < n; i++) {
		char c = file[i];
		if (c == '/') {
			if (part_start) /* leading '/' or "//" */
				return 0;
			part_start = 1;
			continue;
		}
		if (part_start && c == '.')
			return 0;
		part_start = 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return !part_start; /* no trailing '/' */
}

/* Records msg as the job's error and returns status. */
static int32_t finish(const struct append_plugin *pl, bf_job *job, int32_t status, const char *msg)
{
	pl->host->job_set_error(job, msg);
	if (status == BF_JOB_RETRY && pl->retry_delay_ms >= 0)
		pl->host->job_set_retry_delay_ms(job, pl->retry_delay_ms);
	return status;
}

/* An open(2) or write(2) error: worth a retry, or never going to work? */
static int32_t status_for_errno(int err)
{
	switch (err) {
	case EISDIR:       /* "file" names a directory */
	case ENOTDIR:      /* a part of "file" is a regular file */
	case ELOOP:        /* "file" is a symbolic link (O_NOFOLLOW) */
	case ENAMETOOLONG:
		return BF_JOB_FAIL;
	default:           /* ENOENT (directory not made yet), ENOSPC, EACCES, EIO... */
		return BF_JOB_RETRY;
	}
}

static int32_t append_line(bf_job *job, void *task_data)
{
	const struct append_plugin *pl = task_data;
	const struct bf_host_api *host = pl->host;
	char msg[512];
	size_t len = 0;
	const char *payload = host->job_payload(job, &len);

	json_error_t jerr;
	json_t *root = json_loadb(payload, len, 0, &jerr);
	if (!root) {
		snprintf(msg, sizeof(msg), "payload is not JSON: %s", jerr.text);
		return finish(pl, job, BF_JOB_FAIL, msg);
	}
	int32_t status = BF_JOB_FAIL;
	if (!json_is_object(root)) {
		finish(pl, job, status, "payload must be a JSON object with \"file\" and \"text\"");
		goto out;
	}
	const char *file = json_string_value(json_object_get(root, "file"));
	json_t *text_json = json_object_get(root, "text");
	const char *text = json_string_value(text_json);
	size_t text_len = json_string_length(text_json);
	if (!file || !valid_file(file)) {
		finish(pl, job, status,
		       "\"file\" must be a relative path of [A-Za-z0-9_.-] parts, none starting "
		       "with '.', at most 255 bytes");
		goto out;
	}
	if (!text || text_len > APPEND_TEXT_MAX || memchr(text, '\n', text_len) ||
	    memchr(text, '\0', text_len)) {
		finish(pl, job, status,
		       "\"text\" must be a string of at most 65536 bytes without newline or NUL");
		goto out;
	}

	char *line = malloc(text_len + 1);
	if (!line) {
		status = finish(pl, job, BF_JOB_RETRY, "out of memory");
		goto out;
	}
	memcpy(line, text, text_len);
	line[text_len] = '\n';
	int fd = openat(pl->dir_fd, file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	                0644);
	if (fd < 0) {
		int err = errno;
		char reason[128];
		strerror_r(err, reason, sizeof(reason));
		snprintf(msg, sizeof(msg), "cannot open %s: %s", file, reason);
		status = finish(pl, job, status_for_errno(err), msg);
		free(line);
		goto out;
	}
	ssize_t w;
	do
		w = write(fd, line, text_len + 1);
	while (w < 0 && errno == EINTR);
	int err = errno;
	free(line);
	close(fd);
	if (w != (ssize_t)(text_len + 1)) {
		char reason[128] = "short write";
		if (w < 0)
			strerror_r(err, reason, sizeof(reason));
		snprintf(msg, sizeof(msg), "cannot write to %s: %s", file, reason);
		status = finish(pl, job, w < 0 ? status_for_errno(err) : BF_JOB_RETRY, msg);
		goto out;
	}
	snprintf(msg, sizeof(msg), "appended %zu bytes to %s", text_len + 1, file);
	host->job_log(job, BF_LOG_DEBUG, msg);
	status = BF_JOB_OK;
out:
	json_decref(root);
	return status;
}

static void append_shutdown(void *state)
{
	struct append_plugin *pl = state;
	if (!pl)
		return;
	if (pl->dir_fd >= 0)
		close(pl->dir_fd);
	free(pl);
}

/* Reads [append], opens dir, registers the task.  On any error: logs why,
 * frees what it made, returns a negative value (backfilld does not start). */
static int32_t append_init(bf_plugin_ctx *ctx, const struct bf_host_api *host, void **state)
{
	char msg[512];
	const char *dir = NULL;
	struct append_plugin *pl = calloc(1, sizeof(*pl));
	*state = NULL;
	if (!pl) {
		host->log(ctx, BF_LOG_ERROR, "out of memory");
		return BF_ERR_NOMEM;
	}
	pl->host = host;
	pl->dir_fd = -1;
	pl->retry_delay_ms = -1;

	uint32_t n = host->config_count(ctx);
	for (uint32_t i = 0; i < n; i++) {
		const char *key = host->config_key(ctx, i);
		const char *value = host->config_value(ctx, i);
		if (strcmp(key, "dir") == 0) {
			dir = value;
		} else if (strcmp(key, "retry_delay_ms") == 0) {
			char *end;
			errno = 0;
			long long v = strtoll(value, &end, 10);
			if (errno || end == value || *end || v < 0 || v > 86400000) {
				snprintf(msg, sizeof(msg),
				         "[append] retry_delay_ms = \"%s\" must be 0..86400000", value);
				goto fail;
			}
			pl->retry_delay_ms = v;
		} else {
			snprintf(msg, sizeof(msg),
			         "unknown key \"%s\" in [append] (known: dir, retry_delay_ms)", key);
			goto fail;
		}
	}
	if (!dir || !dir[0]) {
		snprintf(msg, sizeof(msg), "[append] dir is required: the directory lines go to");
		goto fail;
	}
	pl->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pl->dir_fd < 0) {
		char reason[128];
		strerror_r(errno, reason, sizeof(reason));
		snprintf(msg, sizeof(msg), "[append] dir = %s: cannot open: %s", dir, reason);
		goto fail;
	}
	int32_t rc = host->register_task(ctx, "append.line", append_line, pl);
	if (rc != BF_OK) {
		snprintf(msg, sizeof(msg), "cannot register task \"append.line\" (%s)",
		         rc == BF_ERR_EXISTS ? "another plugin has it" : "host error");
		append_shutdown(pl);
		host->log(ctx, BF_LOG_ERROR, msg);
		return rc;
	}
	*state = pl;
	return BF_OK;
fail:
	host->log(ctx, BF_LOG_ERROR, msg);
	append_shutdown(pl);
	return BF_ERR_INVALID;
}

static const struct bf_plugin append_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
	.name = "append",
	.version = "1.0.0",
	.init = append_init,
	.shutdown = append_shutdown,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &append_plugin;
}
