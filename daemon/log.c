/* log.c -- levelled logging to stderr: one write(2) per line, so lines from
 * worker threads never interleave.  Prefixes a journald priority ("<3>")
 * when stderr is the journal, a UTC timestamp otherwise. */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static atomic_int current_level = LOG_LEVEL_INFO;
static atomic_int journal_mode = -1; /* -1 unknown, 0 no, 1 yes */
static atomic_int current_format = LOG_FORMAT_TEXT;

void log_set_format(enum bf_log_format format) { atomic_store(&current_format, (int)format); }

bool log_format_parse(const char *text, enum bf_log_format *out)
{
	if (strcasecmp(text, "text") == 0) {
		*out = LOG_FORMAT_TEXT;
		return true;
	}
	if (strcasecmp(text, "json") == 0) {
		*out = LOG_FORMAT_JSON;
		return true;
	}
	return false;
}

/* Appends s to buf as the inside of a JSON string; returns the new length. */
static size_t json_escape(char *buf, size_t n, size_t cap, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p && n + 7 < cap; p++) {
		if (*p == '"' || *p == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)*p;
		} else if (*p < 0x20) {
			n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", *p);
		} else {
			buf[n++] = (char)*p;
		}
	}
	return n;
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int journal_priority[] = {3, 4, 6, 7};

void log_set_level(enum bf_log_level level) { atomic_store(&current_level, (int)level); }

enum bf_log_level log_get_level(void) { return (enum bf_log_level)atomic_load(&current_level); }

bool log_level_parse(const char *text, enum bf_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(text, level_names[i]) == 0) {
			*out = (enum bf_log_level)i;
			return true;
		}
	}
	if (strcasecmp(text, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return true;
	}
	return false;
}

const char *log_level_name(enum bf_log_level level)
{
	if ((int)level < 0 || (size_t)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "?";
	return level_names[level];
}

/* JOURNAL_STREAM is "DEV:INODE" of the journal's stream when systemd
 * connected stderr to it. */
static bool stderr_is_journal(void)
{
	int mode = atomic_load(&journal_mode);
	if (mode >= 0)
		return mode == 1;
	mode = 0;
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		mode = 1;
	atomic_store(&journal_mode, mode);
	return mode == 1;
}

void log_vmsg(enum bf_log_level level, const char *fmt, va_list ap)
{
	if ((int)level > atomic_load(&current_level))
		return;
	char line[4096];
	size_t n;
	if (atomic_load(&current_format) == LOG_FORMAT_JSON) {
		char msg[3000];
		vsnprintf(msg, sizeof(msg), fmt, ap);
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = 0;
		if (stderr_is_journal())
			n = (size_t)snprintf(line, sizeof(line), "<%d>", journal_priority[level]);
		n += strftime(line + n, sizeof(line) - n, "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		                      ".%06ldZ\",\"level\":\"%s\",\"message\":\"", ts.tv_nsec / 1000L,
		                      level_names[level]);
		n = json_escape(line, n, sizeof(line) - 3, msg);
		line[n++] = '"';
		line[n++] = '}';
		line[n++] = '\n';
		ssize_t w = write(STDERR_FILENO, line, n);
		(void)w;
		return;
	}
	if (stderr_is_journal()) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>", journal_priority[level]);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ", ts.tv_nsec / 1000000L,
		                      level_names[level]);
	}
	int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* one event, one line: fold embedded newlines */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

void log_msg(enum bf_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
