/* crontab.h -- recurring jobs: crontab lines (five time fields, a task,
 * ?options, a JSON payload) parsed into schedules, and their occurrences in
 * UTC.  Pure: no database, no event loop. */
#ifndef BACKFILLD_CRONTAB_H
#define BACKFILLD_CRONTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define CRONTAB_ID_MAX 128          /* characters of a schedule id */
#define CRONTAB_TASK_MAX 128        /* characters of a task name (jobs.task) */
#define CRONTAB_JOB_KEY_MAX 512     /* characters of a job_key (jobs.job_key) */
#define CRONTAB_FILL_MAX_S 31622400 /* 366 days */

/* One schedule: when (bit sets over UTC calendar fields) and what (the job
 * add_job enqueues at each occurrence). */
struct bf_cron_schedule {
	char *id;           /* known_crontabs id: ?id=, else the ini key, else the task */
	char *task;
	char *queue;        /* NULL: add_job's default (bulk) */
	char *job_key;      /* NULL: none */
	char *job_key_mode; /* NULL: add_job's default (replace) */
	char *payload;      /* a JSON object, as written; "{}" when none is given */
	int priority;       /* add_job's default: 0 */
	int max_attempts;   /* 0: add_job's default (8) */
	int fill_s;         /* backfill window in seconds; 0: missed runs are skipped */
	uint64_t minutes;   /* bit n: minute n (0-59) */
	uint32_t hours;     /* bit n: hour n (0-23) */
	uint32_t days;      /* bit n: day of month n (1-31) */
	uint16_t months;    /* bit n: month n (1-12) */
	uint8_t weekdays;   /* bit n: day of week n (0 = Sunday .. 6 = Saturday) */
	char *text;         /* the line as written (without the ini key) */
	char *source;       /* where it was written: "FILE:LINE" */
};

/* Every schedule of a configuration, ids unique. */
struct bf_crontab {
	struct bf_cron_schedule *items;
	size_t n;
};

/* Parses one schedule, "MIN HOUR DOM MON DOW TASK [?OPTIONS] [{JSON}]" or
 * "@daily TASK ..." (the shortcuts @yearly, @annually, @monthly, @weekly,
 * @daily, @midnight, @hourly).  default_id (borrowed; NULL: the task) is the
 * id unless ?id= gives one.  On error returns -1, leaves out cleared and
 * sets *err to what is wrong, without a location (caller frees), e.g.
 * `minute field "61" is out of range 0-59`. */
__attribute__((warn_unused_result)) int crontab_parse(const char *text, const char *default_id,
                                                      struct bf_cron_schedule *out, char **err);

/* Frees what a parsed schedule holds (not s itself); clears it. */
void crontab_schedule_clear(struct bf_cron_schedule *s);

/* Parses text and appends it to tab, noting source ("FILE:LINE",
 * borrowed).  A second schedule with an id already in tab is an error too.
 * On error returns -1 and sets *err as crontab_parse does. */
__attribute__((warn_unused_result)) int crontab_add(struct bf_crontab *tab, const char *text, const char *default_id,
                                                    const char *source, char **err);

/* Appends every schedule of a crontab file: one per line, `#` comments and
 * blank lines ignored.  A missing file is fine unless required.  On error
 * returns -1 and sets *err to "PATH:LINE: what is wrong" (caller frees). */
__attribute__((warn_unused_result)) int crontab_load_file(struct bf_crontab *tab, const char *path, bool required,
                                                          char **err);

/* Frees every schedule and the array; tab is left empty. */
void crontab_clear(struct bf_crontab *tab);

/* True when the schedule fires at the UTC minute holding t. */
bool crontab_matches(const struct bf_cron_schedule *s, time_t t);

/* The first occurrence after `after` (a whole UTC minute, > after), or -1
 * if there is none in the next ten years (a parsed schedule always has). */
time_t crontab_next(const struct bf_cron_schedule *s, time_t after);

/* t as ISO 8601 in UTC, "2026-11-29T03:00:00Z". */
void crontab_format_time(time_t t, char *buf, size_t size);

/* A duration in seconds as the fill option writes it: "4h", "1w2d30m". */
void crontab_format_duration(long seconds, char *buf, size_t size);

/* Prints a [cron] section: each schedule's id, text and source, and its
 * next n_next occurrences after now. */
void crontab_print(const struct bf_crontab *tab, time_t now, int n_next, FILE *out);

#endif /* BACKFILLD_CRONTAB_H */
