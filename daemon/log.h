/* log.h -- levelled, thread-safe logging to stderr, one line per event. */
#ifndef BACKFILLD_LOG_H
#define BACKFILLD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum bf_log_level {
	LOG_LEVEL_ERROR = 0, /* something failed and needs attention */
	LOG_LEVEL_WARN = 1,  /* degraded, or a risky setting */
	LOG_LEVEL_INFO = 2,  /* lifecycle events */
	LOG_LEVEL_DEBUG = 3, /* per-job detail */
};

/* Sets the threshold; messages above it are dropped.  Any thread. */
void log_set_level(enum bf_log_level level);
enum bf_log_level log_get_level(void);

/* Line format: plain text (default) or one JSON object per line
 * ({"time":..., "level":..., "message":...}). */
enum bf_log_format {
	LOG_FORMAT_TEXT = 0, /* "TIME LEVEL message" */
	LOG_FORMAT_JSON = 1, /* one JSON object per line */
};
void log_set_format(enum bf_log_format format);
/* Parses "text" or "json". */
__attribute__((warn_unused_result)) bool log_format_parse(const char *text, enum bf_log_format *out);

/* Parses "error", "warn", "info" or "debug" (case-insensitive). */
__attribute__((warn_unused_result)) bool log_level_parse(const char *text, enum bf_log_level *out);
const char *log_level_name(enum bf_log_level level);

void log_msg(enum bf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum bf_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Job-scoped: prefixes "job ID task TASK: ". */
#define log_job(level, job, fmt, ...)                                                      \
	log_msg((level), "job %lld (%s, queue %s, attempt %d/%d): " fmt, (long long)(job)->id, \
	        (job)->task, (job)->queue, (job)->attempts, (job)->max_attempts, ##__VA_ARGS__)

#endif /* BACKFILLD_LOG_H */
