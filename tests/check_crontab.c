/*
 * check_crontab.c -- unit tests for daemon/crontab.c: every time field form,
 * shortcuts, options and payload, invalid lines and their messages, the
 * day-of-month / day-of-week rule, matching and the next occurrence across
 * month ends, leap days and year ends, crontab files and --check-config's
 * listing.  No database, no clock: times are built with timegm.
 */
#include "crontab.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_tmpdir.h"

static char tmpdir[] = "/tmp/check_crontab.XXXXXX";

/* ---- helpers ------------------------------------------------------------ */

static time_t utc(int year, int month, int day, int hour, int minute)
{
	struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day, .tm_hour = hour, .tm_min = minute};
	return timegm(&tm);
}

static const char *iso(time_t t, char *buf)
{
	crontab_format_time(t, buf, 32);
	return buf;
}

/* Parses text, which must succeed; the caller clears *s. */
static void parse_ok(const char *text, const char *default_id, struct bf_cron_schedule *s)
{
	char *err = (char *)0x1;
	int rc = crontab_parse(text, default_id, s, &err);
	ck_assert_msg(rc == 0, "[%s] should parse, got: %s", text, err ? err : "(no message)");
	ck_assert_ptr_null(err);
}

/* Parses text, which must fail with exactly want. */
static void parse_err(const char *text, const char *want)
{
	struct bf_cron_schedule s;
	char *err = NULL;
	int rc = crontab_parse(text, NULL, &s, &err);
	ck_assert_msg(rc < 0, "[%s] should not parse", text);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strcmp(err, want) == 0, "[%s]:\n  got  [%s]\n  want [%s]", text, err, want);
	ck_assert_ptr_null(s.id);
	ck_assert_ptr_null(s.task);
	ck_assert_ptr_null(s.payload);
	free(err);
}

static uint64_t bits(const int *v, size_t n)
{
	uint64_t b = 0;
	for (size_t i = 0; i < n; i++)
		b |= UINT64_C(1) << v[i];
	return b;
}
#define BITS(...) bits((const int[]){__VA_ARGS__}, sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

static uint64_t range_bits(int lo, int hi, int step)
{
	uint64_t b = 0;
	for (int v = lo; v <= hi; v += step)
		b |= UINT64_C(1) << v;
	return b;
}

/* The next n occurrences of line after `after`, as "ISO,ISO,...". */
static char *next_n(const char *line, time_t after, int n)
{
	struct bf_cron_schedule s;
	parse_ok(line, NULL, &s);
	char *out = calloc(1, (size_t)n * 32 + 1);
	ck_assert_ptr_nonnull(out);
	time_t t = after;
	for (int i = 0; i < n; i++) {
		t = crontab_next(&s, t);
		ck_assert_msg(t > 0, "[%s]: no occurrence %d", line, i + 1);
		ck_assert_msg(crontab_matches(&s, t), "[%s]: next() gave a time that does not match", line);
		char buf[32];
		if (i)
			strcat(out, ",");
		strcat(out, iso(t, buf));
	}
	crontab_schedule_clear(&s);
	return out;
}

static void expect_next(const char *line, time_t after, int n, const char *want)
{
	char *got = next_n(line, after, n);
	char buf[32];
	ck_assert_msg(strcmp(got, want) == 0, "[%s] after %s:\n  got  %s\n  want %s", line, iso(after, buf), got,
	              want);
	free(got);
}

/* Writes text to a new file in tmpdir; its path goes to path. */
static void write_file(const char *text, char *path, size_t size)
{
	int n = snprintf(path, size, "%s/XXXXXX", tmpdir);
	ck_assert(n > 0 && (size_t)n < size);
	int fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* ---- time fields -------------------------------------------------------- */

START_TEST(field_forms)
{
	struct bf_cron_schedule s;

	parse_ok("* * * * * t", NULL, &s);
	ck_assert_uint_eq(s.minutes, range_bits(0, 59, 1));
	ck_assert_uint_eq(s.hours, range_bits(0, 23, 1));
	ck_assert_uint_eq(s.days, range_bits(1, 31, 1));
	ck_assert_uint_eq(s.months, range_bits(1, 12, 1));
	ck_assert_uint_eq(s.weekdays, range_bits(0, 6, 1));
	crontab_schedule_clear(&s);

	/* number, range, list, step of *, step of a range, step from a value */
	parse_ok("5 1-3 1,15,31 */5 1-5/2 t", NULL, &s);
	ck_assert_uint_eq(s.minutes, BITS(5));
	ck_assert_uint_eq(s.hours, BITS(1, 2, 3));
	ck_assert_uint_eq(s.days, BITS(1, 15, 31));
	ck_assert_uint_eq(s.months, BITS(1, 6, 11));
	ck_assert_uint_eq(s.weekdays, BITS(1, 3, 5));
	crontab_schedule_clear(&s);

	parse_ok("*/15 0-23/6 10/10 3-3 0 t", NULL, &s);
	ck_assert_uint_eq(s.minutes, BITS(0, 15, 30, 45));
	ck_assert_uint_eq(s.hours, BITS(0, 6, 12, 18));
	ck_assert_uint_eq(s.days, BITS(10, 20, 30));
	ck_assert_uint_eq(s.months, BITS(3));
	ck_assert_uint_eq(s.weekdays, BITS(0));
	crontab_schedule_clear(&s);

	/* lists mixing every form; duplicates collapse */
	parse_ok("0,10-12,*/20,50-59/5,59 * * * * t", NULL, &s);
	ck_assert_uint_eq(s.minutes, BITS(0, 10, 11, 12, 20, 40, 50, 55, 59));
	crontab_schedule_clear(&s);

	/* names, any case, also in ranges and lists */
	parse_ok("0 0 * JAN,mar-May,Dec mon-FRI t", NULL, &s);
	ck_assert_uint_eq(s.months, BITS(1, 3, 4, 5, 12));
	ck_assert_uint_eq(s.weekdays, BITS(1, 2, 3, 4, 5));
	crontab_schedule_clear(&s);

	/* day of week 7 is Sunday, alone or ending a range; 0-7 is every day */
	parse_ok("0 0 * * 7 t", NULL, &s);
	ck_assert_uint_eq(s.weekdays, BITS(0));
	crontab_schedule_clear(&s);
	parse_ok("0 0 * * 5-7 t", NULL, &s);
	ck_assert_uint_eq(s.weekdays, BITS(0, 5, 6));
	crontab_schedule_clear(&s);
	parse_ok("0 0 * * 0-7 t", NULL, &s);
	ck_assert_uint_eq(s.weekdays, range_bits(0, 6, 1));
	crontab_schedule_clear(&s);
	parse_ok("0 0 * * sat,sun t", NULL, &s);
	ck_assert_uint_eq(s.weekdays, BITS(0, 6));
	crontab_schedule_clear(&s);
	/* "*" of the day of week is 0-6, so a step of 2 does not add Sunday twice */
	parse_ok("0 0 * * */2 t", NULL, &s);
	ck_assert_uint_eq(s.weekdays, BITS(0, 2, 4, 6));
	crontab_schedule_clear(&s);

	/* blanks: tabs and runs of spaces separate fields */
	parse_ok("  0\t12   *  * *\tt  ", NULL, &s);
	ck_assert_uint_eq(s.minutes, BITS(0));
	ck_assert_uint_eq(s.hours, BITS(12));
	ck_assert_str_eq(s.task, "t");
	ck_assert_str_eq(s.text, "0\t12   *  * *\tt");
	crontab_schedule_clear(&s);
}
END_TEST

START_TEST(shortcuts)
{
	static const struct {
		const char *line;
		const char *fields;
	} cases[] = {
	    {"@yearly t", "0 0 1 1 * t"},   {"@annually t", "0 0 1 1 * t"}, {"@monthly t", "0 0 1 * * t"},
	    {"@weekly t", "0 0 * * 0 t"},   {"@daily t", "0 0 * * * t"},    {"@MIDNIGHT t", "0 0 * * * t"},
	    {"@hourly t", "0 * * * * t"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bf_cron_schedule a, b;
		parse_ok(cases[i].line, NULL, &a);
		parse_ok(cases[i].fields, NULL, &b);
		ck_assert_msg(a.minutes == b.minutes && a.hours == b.hours && a.days == b.days && a.months == b.months &&
		                  a.weekdays == b.weekdays,
		              "%s differs from %s", cases[i].line, cases[i].fields);
		ck_assert_str_eq(a.text, cases[i].line);
		crontab_schedule_clear(&a);
		crontab_schedule_clear(&b);
	}
	struct bf_cron_schedule s;
	parse_ok("@daily cleanup.run ?fill=1d {\"deep\": true}", NULL, &s);
	ck_assert_str_eq(s.task, "cleanup.run");
	ck_assert_int_eq(s.fill_s, 86400);
	ck_assert_str_eq(s.payload, "{\"deep\": true}");
	crontab_schedule_clear(&s);
}
END_TEST

/* ---- task, options, payload --------------------------------------------- */

START_TEST(task_options_payload)
{
	struct bf_cron_schedule s;

	/* defaults: id is the task, no options, payload {} */
	parse_ok("0 3 * * * cleanup.run", NULL, &s);
	ck_assert_str_eq(s.id, "cleanup.run");
	ck_assert_str_eq(s.task, "cleanup.run");
	ck_assert_ptr_null(s.queue);
	ck_assert_ptr_null(s.job_key);
	ck_assert_ptr_null(s.job_key_mode);
	ck_assert_int_eq(s.priority, 0);
	ck_assert_int_eq(s.max_attempts, 0);
	ck_assert_int_eq(s.fill_s, 0);
	ck_assert_str_eq(s.payload, "{}");
	ck_assert_ptr_null(s.source);
	crontab_schedule_clear(&s);

	/* the ini key is the default id; ?id= wins over it */
	parse_ok("0 3 * * * cleanup.run", "nightly", &s);
	ck_assert_str_eq(s.id, "nightly");
	crontab_schedule_clear(&s);
	parse_ok("0 3 * * * cleanup.run ?id=other", "nightly", &s);
	ck_assert_str_eq(s.id, "other");
	crontab_schedule_clear(&s);

	/* every option, in any order, and a payload with blanks */
	parse_ok("*/5 * * * * a_b.c:d/e-f ?fill=1w2d3h4m5s&max=3&queue=fast&priority=-5&job_key=k%20%26%3d"
	         "&job_key_mode=preserve_run_at&id=five {\"to\": \"ops\", \"n\": [1, 2]}  ",
	         NULL, &s);
	ck_assert_str_eq(s.task, "a_b.c:d/e-f");
	ck_assert_str_eq(s.id, "five");
	ck_assert_str_eq(s.queue, "fast");
	ck_assert_int_eq(s.priority, -5);
	ck_assert_int_eq(s.max_attempts, 3);
	ck_assert_str_eq(s.job_key, "k &=");
	ck_assert_str_eq(s.job_key_mode, "preserve_run_at");
	ck_assert_int_eq(s.fill_s, 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
	ck_assert_str_eq(s.payload, "{\"to\": \"ops\", \"n\": [1, 2]}");
	crontab_schedule_clear(&s);

	/* a payload without options; limits of the numbers */
	parse_ok("0 0 * * * t {}", NULL, &s);
	ck_assert_str_eq(s.payload, "{}");
	crontab_schedule_clear(&s);
	parse_ok("0 0 * * * t ?priority=32767&max=32767&fill=366d", NULL, &s);
	ck_assert_int_eq(s.priority, 32767);
	ck_assert_int_eq(s.max_attempts, 32767);
	ck_assert_int_eq(s.fill_s, 366 * 86400);
	crontab_schedule_clear(&s);
	parse_ok("0 0 * * * t ?priority=-32768&max=1&fill=1m&job_key=x&job_key_mode=unsafe_dedupe", NULL, &s);
	ck_assert_int_eq(s.priority, -32768);
	ck_assert_int_eq(s.max_attempts, 1);
	ck_assert_int_eq(s.fill_s, 60);
	ck_assert_str_eq(s.job_key_mode, "unsafe_dedupe");
	crontab_schedule_clear(&s);
	parse_ok("0 0 * * * t ?fill=4h&job_key=x&job_key_mode=replace", NULL, &s);
	ck_assert_int_eq(s.fill_s, 4 * 3600);
	crontab_schedule_clear(&s);

	char buf[48];
	crontab_format_duration(604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1w2d3h4m5s");
	crontab_format_duration(4 * 3600, buf, sizeof(buf));
	ck_assert_str_eq(buf, "4h");
}
END_TEST

START_TEST(invalid_lines)
{
	static const struct {
		const char *line;
		const char *err;
	} cases[] = {
	    /* shape */
	    {"", "empty schedule (expected: minute hour day-of-month month day-of-week task [?options] [{json payload}])"},
	    {"* * * *", "expected five time fields (minute hour day-of-month month day-of-week) and a task, got 4 field(s)"},
	    {"* * * * *", "missing the task after the five time fields"},
	    {"* * * * * * t", "expected a task after the five time fields, got \"*\" (a sixth time field? the fields are "
	                      "minute, hour, day-of-month, month, day-of-week)"},
	    {"@reboot t", "unknown shortcut \"@reboot\" (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
	                  "@hourly)"},
	    /* ranges of each field */
	    {"61 * * * * t", "minute field \"61\" is out of range 0-59"},
	    {"5,61 * * * * t", "minute field \"5,61\": 61 is out of range 0-59"},
	    {"* 24 * * * t", "hour field \"24\" is out of range 0-23"},
	    {"* 1-25 * * * t", "hour field \"1-25\": 25 is out of range 0-23"},
	    {"* * 0 * * t", "day-of-month field \"0\" is out of range 1-31"},
	    {"* * 32 * * t", "day-of-month field \"32\" is out of range 1-31"},
	    {"* * * 13 * t", "month field \"13\" is out of range 1-12"},
	    {"* * * 0-3 * t", "month field \"0-3\": 0 is out of range 1-12"},
	    {"* * * * 8 t", "day-of-week field \"8\" is out of range 0-7"},
	    {"99999999999 * * * * t", "minute field \"99999999999\" is out of range 0-59"},
	    /* malformed parts */
	    {"x * * * * t", "minute field \"x\" is not a number, a range A-B, a step */N or A-B/N, or *"},
	    {"1,x * * * * t", "minute field \"1,x\": \"x\" is not a number"},
	    {"* * * foo * t", "month field \"foo\" is not a number or a month name (jan-dec), a range A-B, a step */N "
	                      "or A-B/N, or *"},
	    {"* * * * sunday t", "day-of-week field \"sunday\" is not a number or a day name (sun-sat), a range A-B, a "
	                         "step */N or A-B/N, or *"},
	    {"* * * * mon-x t", "day-of-week field \"mon-x\": \"x\" is not a number or a day name (sun-sat)"},
	    {"-5 * * * * t", "minute field \"-5\": \"\" is not a number"},
	    {"1-2-3 * * * * t", "minute field \"1-2-3\": \"2-3\" is not a number"},
	    {"1,,2 * * * * t", "minute field \"1,,2\" has an empty list item"},
	    {"1, * * * * t", "minute field \"1,\" has an empty list item"},
	    {"*/0 * * * * t", "minute field \"*/0\": step 0 must be from 1 to 59"},
	    {"* */24 * * * t", "hour field \"*/24\": step 24 must be from 1 to 23"},
	    {"*/ * * * * t", "minute field \"*/\": step \"\" is not a number"},
	    {"*/x * * * * t", "minute field \"*/x\": step \"x\" is not a number"},
	    {"5-3 * * * * t", "minute field \"5-3\": range 5-3 is backwards (the first value must not be above the second)"},
	    {"* * * * fri-mon t", "day-of-week field \"fri-mon\": range fri-mon is backwards (the first value must not be "
	                          "above the second)"},
	    /* never runs */
	    {"0 0 30 2 * t", "day-of-month field \"30\" never occurs in month field \"2\", so the schedule never runs "
	                     "(April, June, September and November have 30 days, February 29)"},
	    {"0 0 31 apr,jun,sep,nov * t", "day-of-month field \"31\" never occurs in month field \"apr,jun,sep,nov\", so "
	                                   "the schedule never runs (April, June, September and November have 30 days, "
	                                   "February 29)"},
	    /* task */
	    {"* * * * * 9lives", "task \"9lives\" is not a valid task name (1 to 128 letters, digits and _ . : / -, "
	                         "starting with a letter or _)"},
	    {"* * * * * 1-5 t", "expected a task after the five time fields, got \"1-5\" (a sixth time field? the fields "
	                        "are minute, hour, day-of-month, month, day-of-week)"},
	    {"* * * * * bad!task", "task \"bad!task\" is not a valid task name (1 to 128 letters, digits and _ . : / -, "
	                           "starting with a letter or _)"},
	    {"* * * * * .task", "task \".task\" is not a valid task name (1 to 128 letters, digits and _ . : / -, starting "
	                        "with a letter or _)"},
	    /* options */
	    {"* * * * * t ?foo=1", "unknown option \"foo\" (known: id, queue, priority, max, job_key, job_key_mode, fill)"},
	    {"* * * * * t ?jobKey=1", "unknown option \"jobKey\" (known: id, queue, priority, max, job_key, job_key_mode, "
	                              "fill)"},
	    {"* * * * * t ?fill=1h&fill=2h", "option \"fill\" is given twice"},
	    {"* * * * * t ?fill", "option \"fill\" has no value (write fill=VALUE)"},
	    {"* * * * * t ?fill=", "option \"fill\" has an empty value"},
	    {"* * * * * t ?max=3&&fill=1h", "options \"?max=3&&fill=1h\" have an empty item (options are "
	                                    "?KEY=VALUE&KEY=VALUE)"},
	    {"* * * * * t ?max=3&", "options \"?max=3&\" have an empty item (options are ?KEY=VALUE&KEY=VALUE)"},
	    {"* * * * * t ?fill=4x", "option fill=\"4x\" is not a duration like 4h, 30m or 1w2d (weeks w, days d, hours h, "
	                             "minutes m, seconds s, in that order)"},
	    {"* * * * * t ?fill=1h2d", "option fill=\"1h2d\" is not a duration like 4h, 30m or 1w2d (weeks w, days d, hours "
	                               "h, minutes m, seconds s, in that order)"},
	    {"* * * * * t ?fill=h", "option fill=\"h\" is not a duration like 4h, 30m or 1w2d (weeks w, days d, hours h, "
	                            "minutes m, seconds s, in that order)"},
	    {"* * * * * t ?fill=30s", "option fill=\"30s\" must be from 1m to 366d"},
	    {"* * * * * t ?fill=367d", "option fill=\"367d\" must be from 1m to 366d"},
	    {"* * * * * t ?max=0", "option max=\"0\" must be an integer from 1 to 32767 (attempts, counting the first run)"},
	    {"* * * * * t ?max=3x", "option max=\"3x\" must be an integer from 1 to 32767 (attempts, counting the first "
	                            "run)"},
	    {"* * * * * t ?priority=99999", "option priority=\"99999\" must be an integer from -32768 to 32767 (lower runs "
	                                    "first)"},
	    {"* * * * * t ?queue=Fast", "option queue=\"Fast\" is not a valid queue name (lower-case letters, digits and _, "
	                                "starting with a letter or _, at most 63 characters)"},
	    {"* * * * * t ?job_key_mode=replace", "option job_key_mode needs a job_key"},
	    {"* * * * * t ?job_key=k&job_key_mode=upsert", "option job_key_mode=\"upsert\" must be replace, "
	                                                   "preserve_run_at or unsafe_dedupe"},
	    {"* * * * * t ?job_key=a%2", "option job_key=\"a%2\": a % must be followed by two hex digits, and no control "
	                                 "characters are allowed"},
	    {"* * * * * t ?job_key=a%0a", "option job_key=\"a%0a\": a % must be followed by two hex digits, and no control "
	                                  "characters are allowed"},
	    /* payload */
	    {"* * * * * t extra", "unexpected \"extra\" after the task (options start with ?, the payload with {, in that "
	                          "order)"},
	    {"* * * * * t {} ?max=1", "payload is not valid JSON: end of file expected near '?' (at character 4 of the "
	                              "payload)"},
	    {"* * * * * t {\"a\": 1", "payload is not valid JSON: '}' expected near end of file (at character 7 of the "
	                              "payload)"},
	    {"* * * * * t [1, 2]", "payload must be a JSON object {...}, got an array"},
	    {"* * * * * t {\"a\": 1, \"a\": 2}", "payload is not valid JSON: duplicate object key near '\"a\"' (at "
	                                         "character 12 of the payload)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		parse_err(cases[i].line, cases[i].err);
}
END_TEST

/* ---- matching and next occurrences -------------------------------------- */

START_TEST(dom_dow_rule)
{
	struct bf_cron_schedule s;
	/* both restricted: either one fires.  2026-12-01 is a Tuesday. */
	parse_ok("0 12 1,15 * fri t", NULL, &s);
	ck_assert(crontab_matches(&s, utc(2026, 12, 1, 12, 0)));   /* the 1st, a Tuesday */
	ck_assert(crontab_matches(&s, utc(2026, 12, 4, 12, 0)));   /* a Friday, the 4th */
	ck_assert(crontab_matches(&s, utc(2026, 12, 15, 12, 0)));  /* the 15th, a Tuesday */
	ck_assert(!crontab_matches(&s, utc(2026, 12, 2, 12, 0)));  /* neither */
	ck_assert(!crontab_matches(&s, utc(2026, 12, 4, 12, 1)));  /* wrong minute */
	ck_assert(!crontab_matches(&s, utc(2026, 12, 4, 13, 0)));  /* wrong hour */
	crontab_schedule_clear(&s);
	expect_next("0 12 1,15 * fri t", utc(2026, 11, 29, 0, 0), 5,
	            "2026-12-01T12:00:00Z,2026-12-04T12:00:00Z,2026-12-11T12:00:00Z,2026-12-15T12:00:00Z,"
	            "2026-12-18T12:00:00Z");

	/* only the day of month restricted: the day of week does not matter */
	parse_ok("0 0 13 * * t", NULL, &s);
	ck_assert(crontab_matches(&s, utc(2026, 11, 13, 0, 0)));  /* a Friday */
	ck_assert(crontab_matches(&s, utc(2026, 12, 13, 0, 0)));  /* a Sunday */
	ck_assert(!crontab_matches(&s, utc(2026, 12, 14, 0, 0)));
	crontab_schedule_clear(&s);

	/* only the day of week restricted: the day of month does not matter */
	parse_ok("0 0 * * 5 t", NULL, &s);
	ck_assert(crontab_matches(&s, utc(2026, 11, 13, 0, 0)));   /* Friday 13th */
	ck_assert(crontab_matches(&s, utc(2026, 12, 4, 0, 0)));    /* Friday 4th */
	ck_assert(!crontab_matches(&s, utc(2026, 12, 13, 0, 0)));  /* Sunday 13th */
	crontab_schedule_clear(&s);

	/* Friday the 13th is not expressible: "13 * 5" means the 13th or a Friday */
	expect_next("0 0 13 * 5 t", utc(2026, 11, 1, 0, 0), 3,
	            "2026-11-06T00:00:00Z,2026-11-13T00:00:00Z,2026-11-20T00:00:00Z");

	/* a field that allows every value is unrestricted however it is written */
	parse_ok("0 0 1-31 * mon t", NULL, &s);
	ck_assert(!crontab_matches(&s, utc(2026, 12, 1, 0, 0)));  /* Tuesday: only Mondays */
	ck_assert(crontab_matches(&s, utc(2026, 11, 30, 0, 0)));  /* Monday */
	crontab_schedule_clear(&s);
	parse_ok("0 0 1 * 0-7 t", NULL, &s);
	ck_assert(crontab_matches(&s, utc(2026, 12, 1, 0, 0)));
	ck_assert(!crontab_matches(&s, utc(2026, 12, 2, 0, 0)));
	crontab_schedule_clear(&s);
	/* but a step of 2 restricts: both restricted, either one */
	parse_ok("0 0 */2 * mon t", NULL, &s);
	ck_assert(crontab_matches(&s, utc(2026, 12, 1, 0, 0)));   /* odd day */
	ck_assert(crontab_matches(&s, utc(2026, 11, 30, 0, 0)));  /* Monday the 30th (even) */
	ck_assert(!crontab_matches(&s, utc(2026, 12, 2, 0, 0)));  /* even day, Wednesday */
	crontab_schedule_clear(&s);
}
END_TEST

START_TEST(day_of_week_seven_is_sunday)
{
	/* 2026-11-28 is a Saturday, 2026-11-29 a Sunday */
	expect_next("30 8 * * 7 t", utc(2026, 11, 28, 0, 0), 3,
	            "2026-11-29T08:30:00Z,2026-12-06T08:30:00Z,2026-12-13T08:30:00Z");
	expect_next("30 8 * * 0 t", utc(2026, 11, 28, 0, 0), 3,
	            "2026-11-29T08:30:00Z,2026-12-06T08:30:00Z,2026-12-13T08:30:00Z");
	expect_next("30 8 * * sun t", utc(2026, 11, 28, 0, 0), 1, "2026-11-29T08:30:00Z");
	expect_next("0 9 * * 6-7 t", utc(2026, 11, 27, 0, 0), 4,
	            "2026-11-28T09:00:00Z,2026-11-29T09:00:00Z,2026-12-05T09:00:00Z,2026-12-06T09:00:00Z");
	expect_next("0 9 * * mon-fri t", utc(2026, 11, 27, 10, 0), 2, "2026-11-30T09:00:00Z,2026-12-01T09:00:00Z");
}
END_TEST

START_TEST(next_minutes_and_hours)
{
	/* strictly after: a matching `after` is not returned; seconds round up */
	expect_next("* * * * * t", utc(2026, 11, 29, 10, 5), 3,
	            "2026-11-29T10:06:00Z,2026-11-29T10:07:00Z,2026-11-29T10:08:00Z");
	expect_next("* * * * * t", utc(2026, 11, 29, 10, 5) + 59, 1, "2026-11-29T10:06:00Z");
	expect_next("* * * * * t", utc(2026, 11, 29, 10, 5) - 1, 1, "2026-11-29T10:05:00Z");
	expect_next("*/15 * * * * t", utc(2026, 11, 29, 10, 50), 3,
	            "2026-11-29T11:00:00Z,2026-11-29T11:15:00Z,2026-11-29T11:30:00Z");
	expect_next("5 */6 * * * t", utc(2026, 11, 29, 18, 5), 3,
	            "2026-11-30T00:05:00Z,2026-11-30T06:05:00Z,2026-11-30T12:05:00Z");
	expect_next("59 23 * * * t", utc(2026, 11, 29, 23, 59), 2, "2026-11-30T23:59:00Z,2026-12-01T23:59:00Z");
	expect_next("*/20 9-10 * * * t", utc(2026, 11, 29, 10, 40), 3,
	            "2026-11-30T09:00:00Z,2026-11-30T09:20:00Z,2026-11-30T09:40:00Z");
}
END_TEST

START_TEST(next_across_month_ends)
{
	/* the 31st skips the months without one */
	expect_next("0 0 31 * * t", utc(2026, 1, 31, 0, 0), 4,
	            "2026-03-31T00:00:00Z,2026-05-31T00:00:00Z,2026-07-31T00:00:00Z,2026-08-31T00:00:00Z");
	/* the 30th skips February */
	expect_next("0 0 30 * * t", utc(2026, 1, 30, 12, 0), 2, "2026-03-30T00:00:00Z,2026-04-30T00:00:00Z");
	/* daily at the end of a 30-day, a 31-day month and February */
	expect_next("15 23 * * * t", utc(2026, 4, 30, 23, 15), 1, "2026-05-01T23:15:00Z");
	expect_next("0 0 * * * t", utc(2026, 1, 31, 0, 0), 1, "2026-02-01T00:00:00Z");
	expect_next("0 0 * * * t", utc(2026, 2, 28, 0, 0), 1, "2026-03-01T00:00:00Z");
	expect_next("0 0 * * * t", utc(2028, 2, 28, 0, 0), 2, "2028-02-29T00:00:00Z,2028-03-01T00:00:00Z");
	/* first of the month; a month name */
	expect_next("0 6 1 * * t", utc(2026, 11, 29, 0, 0), 2, "2026-12-01T06:00:00Z,2027-01-01T06:00:00Z");
	expect_next("0 0 1 jun * t", utc(2026, 11, 29, 0, 0), 1, "2027-06-01T00:00:00Z");
	/* the last days of months that have them */
	expect_next("0 0 29-31 * * t", utc(2027, 2, 1, 0, 0), 4,
	            "2027-03-29T00:00:00Z,2027-03-30T00:00:00Z,2027-03-31T00:00:00Z,2027-04-29T00:00:00Z");
}
END_TEST

START_TEST(next_leap_days)
{
	/* Feb 29 from 2026 is 2028's */
	expect_next("0 0 29 2 * t", utc(2026, 1, 1, 0, 0), 3,
	            "2028-02-29T00:00:00Z,2032-02-29T00:00:00Z,2036-02-29T00:00:00Z");
	/* 2100 is not a leap year (divisible by 100, not by 400); 2000 was */
	expect_next("0 0 29 2 * t", utc(2096, 3, 1, 0, 0), 1, "2104-02-29T00:00:00Z");
	expect_next("0 0 29 2 * t", utc(1999, 1, 1, 0, 0), 1, "2000-02-29T00:00:00Z");
	/* the leap day itself, minute by minute into March */
	expect_next("*/30 23 * 2 * t", utc(2028, 2, 29, 23, 0), 2, "2028-02-29T23:30:00Z,2029-02-01T23:00:00Z");
	/* Feb 29 or a Monday: both restricted, so Mondays fire meanwhile */
	expect_next("0 0 29 2 mon t", utc(2027, 2, 1, 0, 0), 4,
	            "2027-02-08T00:00:00Z,2027-02-15T00:00:00Z,2027-02-22T00:00:00Z,2028-02-07T00:00:00Z");
}
END_TEST

START_TEST(next_across_year_ends)
{
	expect_next("0 0 1 1 * t", utc(2026, 12, 31, 23, 59) + 30, 2, "2027-01-01T00:00:00Z,2028-01-01T00:00:00Z");
	expect_next("59 23 31 12 * t", utc(2026, 12, 31, 23, 59), 1, "2027-12-31T23:59:00Z");
	expect_next("* * * * * t", utc(2026, 12, 31, 23, 59), 1, "2027-01-01T00:00:00Z");
	expect_next("0 12 * dec * t", utc(2026, 12, 31, 12, 0), 1, "2027-12-01T12:00:00Z");
	/* first Monday-ish: days 1-7 or a Monday; from New Year's Eve */
	expect_next("0 0 1-2 1 sat t", utc(2026, 12, 30, 0, 0), 3,
	            "2027-01-01T00:00:00Z,2027-01-02T00:00:00Z,2027-01-09T00:00:00Z");
	expect_next("@yearly t", utc(2027, 6, 15, 0, 0), 1, "2028-01-01T00:00:00Z");
}
END_TEST

START_TEST(format_time)
{
	char buf[32];
	ck_assert_str_eq(iso(utc(2026, 11, 29, 3, 0), buf), "2026-11-29T03:00:00Z");
	ck_assert_str_eq(iso(0, buf), "1970-01-01T00:00:00Z");
	ck_assert_str_eq(iso(utc(2028, 2, 29, 23, 59) + 7, buf), "2028-02-29T23:59:07Z");
}
END_TEST

/* ---- tables and files --------------------------------------------------- */

START_TEST(add_refuses_duplicate_ids)
{
	struct bf_crontab tab = {0};
	char *err = NULL;
	ck_assert_int_eq(crontab_add(&tab, "0 3 * * * cleanup.run", "nightly", "a.ini:4", &err), 0);
	ck_assert_int_eq(crontab_add(&tab, "0 4 * * * cleanup.run", NULL, "crontab:1", &err), 0);
	ck_assert_int_eq(crontab_add(&tab, "0 5 * * * other ?id=nightly", NULL, "crontab:2", &err), -1);
	ck_assert_str_eq(err, "schedule id \"nightly\" is already used by the schedule at a.ini:4; give one of them "
	                      "another id with ?id=NAME (ids must be unique: they record each schedule's last run)");
	free(err);
	err = NULL;
	ck_assert_int_eq(crontab_add(&tab, "0 6 * * * cleanup.run", NULL, "crontab:3", &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "\"cleanup.run\" is already used by the schedule at crontab:1"));
	free(err);
	err = NULL;
	ck_assert_int_eq(crontab_add(&tab, "0 6 * * * cleanup.run ?id=morning", NULL, "crontab:4", &err), 0);
	ck_assert_uint_eq(tab.n, 3);
	ck_assert_str_eq(tab.items[0].source, "a.ini:4");
	ck_assert_str_eq(tab.items[2].id, "morning");
	ck_assert_str_eq(tab.items[2].source, "crontab:4");
	crontab_clear(&tab);
	ck_assert_uint_eq(tab.n, 0);
	ck_assert_ptr_null(tab.items);
	crontab_clear(&tab);
}
END_TEST

START_TEST(load_file_lines_comments_errors)
{
	char path[PATH_MAX];
	write_file("# recurring jobs\n"
	           "\n"
	           "   # indented comment\n"
	           "*/15 9-17 * * mon-fri report.send ?priority=-5 {\"to\": \"ops\"}\r\n"
	           "\t@daily cleanup.run ?fill=4h\n"
	           "0 0 1 * * bill.run ?id=billing&queue=fast",
	           path, sizeof(path));
	struct bf_crontab tab = {0};
	char *err = NULL;
	ck_assert_int_eq(crontab_load_file(&tab, path, true, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(tab.n, 3);
	char want[2 * PATH_MAX + 128];
	snprintf(want, sizeof(want), "%s:4", path);
	ck_assert_str_eq(tab.items[0].source, want);
	ck_assert_str_eq(tab.items[0].id, "report.send");
	ck_assert_str_eq(tab.items[0].payload, "{\"to\": \"ops\"}");
	ck_assert_str_eq(tab.items[0].text, "*/15 9-17 * * mon-fri report.send ?priority=-5 {\"to\": \"ops\"}");
	snprintf(want, sizeof(want), "%s:5", path);
	ck_assert_str_eq(tab.items[1].source, want);
	ck_assert_int_eq(tab.items[1].fill_s, 4 * 3600);
	ck_assert_str_eq(tab.items[2].id, "billing");
	ck_assert_str_eq(tab.items[2].queue, "fast");
	crontab_clear(&tab);

	/* the first bad line stops the load, named by path and line */
	write_file("* * * * * ok\n# fine\n0 25 * * * bad\n61 * * * * worse\n", path, sizeof(path));
	ck_assert_int_eq(crontab_load_file(&tab, path, true, &err), -1);
	snprintf(want, sizeof(want), "%s:3: hour field \"25\" is out of range 0-23", path);
	ck_assert_str_eq(err, want);
	free(err);
	crontab_clear(&tab);

	/* duplicates within the file */
	write_file("* * * * * a\n0 * * * * a\n", path, sizeof(path));
	ck_assert_int_eq(crontab_load_file(&tab, path, true, &err), -1);
	snprintf(want, sizeof(want), "%s:2: schedule id \"a\" is already used by the schedule at %s:1", path, path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got [%s]", err);
	free(err);
	crontab_clear(&tab);

	/* missing: fine unless required */
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/no-such-crontab", tmpdir);
	err = (char *)0x1;
	ck_assert_int_eq(crontab_load_file(&tab, missing, false, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(tab.n, 0);
	ck_assert_int_eq(crontab_load_file(&tab, missing, true, &err), -1);
	snprintf(want, sizeof(want), "cannot read crontab file %s: No such file or directory", missing);
	ck_assert_str_eq(err, want);
	free(err);
	crontab_clear(&tab);
}
END_TEST

START_TEST(print_lists_next_runs)
{
	struct bf_crontab tab = {0};
	char *err = NULL;
	ck_assert_int_eq(crontab_add(&tab, "0 3 * * * cleanup.run ?fill=4h {\"deep\": true}", "nightly", "a.ini:40", &err),
	                 0);
	ck_assert_int_eq(crontab_add(&tab, "0 0 29 2 * leap.day", NULL, "crontab:2", &err), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	crontab_print(&tab, utc(2026, 11, 29, 3, 0), 3, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_str_eq(text, "\n[cron]    ; 2 schedule(s); times in UTC\n"
	                       "nightly = 0 3 * * * cleanup.run ?fill=4h {\"deep\": true}    ; a.ini:40\n"
	                       ";   next: 2026-11-30T03:00:00Z, 2026-12-01T03:00:00Z, 2026-12-02T03:00:00Z; runs "
	                       "missed within 4h are backfilled\n"
	                       "leap.day = 0 0 29 2 * leap.day    ; crontab:2\n"
	                       ";   next: 2028-02-29T00:00:00Z, 2032-02-29T00:00:00Z, 2036-02-29T00:00:00Z\n");
	free(text);
	crontab_clear(&tab);

	/* an empty crontab prints nothing */
	f = open_memstream(&text, &len);
	crontab_print(&tab, 0, 3, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_str_eq(text, "");
	free(text);
}
END_TEST

static Suite *crontab_suite(void)
{
	Suite *s = suite_create("crontab");

	TCase *parse = tcase_create("parse");
	tcase_add_test(parse, field_forms);
	tcase_add_test(parse, shortcuts);
	tcase_add_test(parse, task_options_payload);
	tcase_add_test(parse, invalid_lines);
	suite_add_tcase(s, parse);

	TCase *when = tcase_create("when");
	tcase_add_test(when, dom_dow_rule);
	tcase_add_test(when, day_of_week_seven_is_sunday);
	tcase_add_test(when, next_minutes_and_hours);
	tcase_add_test(when, next_across_month_ends);
	tcase_add_test(when, next_leap_days);
	tcase_add_test(when, next_across_year_ends);
	tcase_add_test(when, format_time);
	suite_add_tcase(s, when);

	TCase *tables = tcase_create("tables");
	tcase_add_test(tables, add_refuses_duplicate_ids);
	tcase_add_test(tables, load_file_lines_comments_errors);
	tcase_add_test(tables, print_lists_next_runs);
	suite_add_tcase(s, tables);

	return s;
}

int main(void)
{
	return check_run_in_tmpdir(crontab_suite(), tmpdir);
}
