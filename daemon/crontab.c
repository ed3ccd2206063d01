/* crontab.c -- recurring jobs: the crontab line parser (time fields, task,
 * options, payload) and next-occurrence computation in UTC. */
#include "crontab.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NEXT_SEARCH_YEARS 10

/* The five time fields, in line order. */
enum cron_field {
	FIELD_MINUTE,
	FIELD_HOUR,
	FIELD_DAY_OF_MONTH,
	FIELD_MONTH,
	FIELD_DAY_OF_WEEK,
	FIELD_COUNT,
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct field_spec {
	const char *name;
	int min, max;              /* values written; day-of-week 7 is Sunday again */
	int star_max;              /* the last value of "*" (day-of-week: 6) */
	const char *const *names;  /* three-letter names, or NULL */
	int first_name_value;      /* value of names[0] */
	size_t nnames;
	const char *names_hint;    /* for the "not a number" message */
} field_specs[FIELD_COUNT] = {
    {"minute", 0, 59, 59, NULL, 0, 0, ""},
    {"hour", 0, 23, 23, NULL, 0, 0, ""},
    {"day-of-month", 1, 31, 31, NULL, 0, 0, ""},
    {"month", 1, 12, 12, month_names, 1, 12, " or a month name (jan-dec)"},
    {"day-of-week", 0, 7, 6, day_names, 0, 7, " or a day name (sun-sat)"},
};

static const struct {
	const char *name;
	const char *fields;
} shortcuts[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static const char *const option_names = "id, queue, priority, max, job_key, job_key_mode, fill";

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		abort();
	return d;
}

__attribute__((format(printf, 1, 2))) static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* ---- time fields ---------------------------------------------------------- */

/* A value: decimal digits, or one of the field's names.  false if neither. */
static bool parse_value(const char *p, size_t len, const struct field_spec *spec, int *out)
{
	if (len == 0)
		return false;
	if (isdigit((unsigned char)p[0])) {
		long n = 0;
		for (size_t i = 0; i < len; i++) {
			if (!isdigit((unsigned char)p[i]))
				return false;
			if (n < 1000)
				n = n * 10 + (p[i] - '0');
		}
		*out = (int)n;
		return true;
	}
	for (size_t i = 0; i < spec->nnames; i++) {
		if (len == 3 && strncasecmp(p, spec->names[i], 3) == 0) {
			*out = spec->first_name_value + (int)i;
			return true;
		}
	}
	return false;
}

/* err for a part of field text: `FIELD field "TEXT": DETAIL`, or
 * `FIELD field "TEXT" DETAIL2` when the part is the whole field. */
static char *field_error(const struct field_spec *spec, const char *text, bool whole, const char *detail_part,
                         const char *detail_whole)
{
	if (whole)
		return xasprintf("%s field \"%s\" %s", spec->name, text, detail_whole);
	return xasprintf("%s field \"%s\": %s", spec->name, text, detail_part);
}

static int check_range(const struct field_spec *spec, const char *text, const char *p, size_t len, int v,
                       char **err)
{
	if (v >= spec->min && v <= spec->max)
		return 0;
	char *part = xasprintf("%.*s is out of range %d-%d", (int)len, p, spec->min, spec->max);
	char whole_msg[64];
	snprintf(whole_msg, sizeof(whole_msg), "is out of range %d-%d", spec->min, spec->max);
	*err = field_error(spec, text, len == strlen(text), part, whole_msg);
	free(part);
	return -1;
}

/* One value of a field, checked; the part is p[0..len). */
static int field_value(const struct field_spec *spec, const char *text, const char *p, size_t len, int *v,
                       char **err)
{
	if (!parse_value(p, len, spec, v)) {
		bool whole = len == strlen(text);
		char *part = xasprintf("\"%.*s\" is not a number%s", (int)len, p, spec->names_hint);
		char *whole_msg = xasprintf("is not a number%s, a range A-B, a step */N or A-B/N, or *",
		                            spec->names_hint);
		*err = field_error(spec, text, whole, part, whole_msg);
		free(part);
		free(whole_msg);
		return -1;
	}
	return check_range(spec, text, p, len, *v, err);
}

/* Parses one time field ("*", "N", "A-B", each with an optional "/STEP",
 * comma-separated) into a bit set. */
static int parse_field(const struct field_spec *spec, const char *text, uint64_t *bits, char **err)
{
	uint64_t set = 0;
	const char *p = text;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0) {
			*err = xasprintf("%s field \"%s\" has an empty list item", spec->name, text);
			return -1;
		}
		const char *slash = memchr(p, '/', len);
		size_t base_len = slash ? (size_t)(slash - p) : len;
		int step = 1;
		if (slash) {
			const char *s = slash + 1;
			size_t sl = len - base_len - 1;
			int v;
			bool digits = sl > 0 && strspn(s, "0123456789") >= sl;
			if (!digits || !parse_value(s, sl, spec, &v)) {
				*err = xasprintf("%s field \"%s\": step \"%.*s\" is not a number", spec->name, text,
				                 (int)sl, s);
				return -1;
			}
			if (v < 1 || v > spec->max) {
				*err = xasprintf("%s field \"%s\": step %d must be from 1 to %d", spec->name, text, v,
				                 spec->max);
				return -1;
			}
			step = v;
		}
		int lo, hi;
		if (base_len == 1 && p[0] == '*') {
			lo = spec->min;
			hi = spec->star_max;
		} else {
			const char *dash = memchr(p, '-', base_len);
			if (dash) {
				size_t al = (size_t)(dash - p);
				if (field_value(spec, text, p, al, &lo, err) < 0 ||
				    field_value(spec, text, dash + 1, base_len - al - 1, &hi, err) < 0)
					return -1;
				if (hi < lo) {
					*err = xasprintf("%s field \"%s\": range %.*s is backwards (the first value "
					                 "must not be above the second)",
					                 spec->name, text, (int)base_len, p);
					return -1;
				}
			} else {
				if (field_value(spec, text, p, base_len, &lo, err) < 0)
					return -1;
				/* "A/STEP": from A to the field's end */
				hi = slash ? spec->star_max : lo;
				if (hi < lo)
					hi = lo;
			}
		}
		for (int v = lo; v <= hi; v += step)
			set |= UINT64_C(1) << (spec == &field_specs[FIELD_DAY_OF_WEEK] && v == 7 ? 0 : v);
		if (!end)
			break;
		p = end + 1;
	}
	*bits = set;
	return 0;
}

static const int month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

#define ALL_DAYS (((UINT32_C(1) << 31) - 1) << 1) /* bits 1-31 */
#define ALL_WEEKDAYS UINT8_C(0x7f)

/* A day-of-month set that can never occur in the month set (day 30 of
 * February) makes a schedule that never runs, unless the day of week may
 * run it instead. */
static bool can_occur(const struct bf_cron_schedule *s)
{
	if (s->weekdays != ALL_WEEKDAYS && s->days != ALL_DAYS)
		return true; /* either one may run it, and every weekday occurs in every month */
	for (int m = 1; m <= 12; m++) {
		if (!(s->months & (1u << m)))
			continue;
		for (int d = 1; d <= month_days[m - 1]; d++)
			if (s->days & (UINT32_C(1) << d))
				return true;
	}
	return false;
}

/* ---- options and payload ------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* p[0..len) with %XX decoded; NULL if a % is not followed by two hex
 * digits or decodes to a control character. */
static char *percent_decode(const char *p, size_t len)
{
	char *out = xstrndup(p, len);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)p[i];
		if (c == '%') {
			if (i + 2 >= len) { /* fewer than two characters follow */
				free(out);
				return NULL;
			}
			int hi = hexval((unsigned char)p[i + 1]), lo = hexval((unsigned char)p[i + 2]);
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			free(out);
			return NULL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static bool parse_int(const char *v, long min, long max, int *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || isspace((unsigned char)v[0]) || n < min || n > max)
		return false;
	*out = (int)n;
	return true;
}

/* "4w3d2h1m30s": weeks, days, hours, minutes, seconds, each optional, in
 * that order; at least one. */
static bool parse_duration(const char *v, long *seconds)
{
	static const struct {
		char unit;
		long seconds;
	} units[] = {{'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	long total = 0;
	size_t next_unit = 0;
	const char *p = v;
	if (!*p)
		return false;
	while (*p) {
		if (!isdigit((unsigned char)*p))
			return false;
		long n = 0;
		while (isdigit((unsigned char)*p)) {
			n = n * 10 + (*p++ - '0');
			if (n > 100000000L)
				return false;
		}
		size_t u = next_unit;
		while (u < sizeof(units) / sizeof(units[0]) && units[u].unit != *p)
			u++;
		if (u == sizeof(units) / sizeof(units[0]))
			return false;
		total += n * units[u].seconds;
		if (total > 100000000000L / 1000)
			return false;
		next_unit = u + 1;
		p++;
	}
	*seconds = total;
	return true;
}

static bool valid_queue_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

/* Applies "?k=v&k=v" (opts without the ?) to s. */
static int parse_options(const char *opts, size_t len, struct bf_cron_schedule *s, char **id, char **err)
{
	static const char *const known[] = {"id", "queue", "priority", "max", "job_key", "job_key_mode", "fill"};
	bool seen[sizeof(known) / sizeof(known[0])] = {false};
	const char *p = opts, *stop = opts + len;
	if (len == 0)
		return 0;
	while (p <= stop) {
		const char *amp = memchr(p, '&', (size_t)(stop - p));
		const char *end = amp ? amp : stop;
		size_t il = (size_t)(end - p);
		if (il == 0) {
			*err = xasprintf("options \"?%.*s\" have an empty item (options are ?KEY=VALUE&KEY=VALUE)",
			                 (int)len, opts);
			return -1;
		}
		const char *eq = memchr(p, '=', il);
		if (!eq) {
			*err = xasprintf("option \"%.*s\" has no value (write %.*s=VALUE)", (int)il, p, (int)il, p);
			return -1;
		}
		size_t kl = (size_t)(eq - p);
		size_t k;
		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strlen(known[k]) == kl && strncmp(p, known[k], kl) == 0)
				break;
		if (k == sizeof(known) / sizeof(known[0])) {
			*err = xasprintf("unknown option \"%.*s\" (known: %s)", (int)kl, p, option_names);
			return -1;
		}
		if (seen[k]) {
			*err = xasprintf("option \"%s\" is given twice", known[k]);
			return -1;
		}
		seen[k] = true;
		const char *raw = eq + 1;
		size_t rl = (size_t)(end - raw);
		char *v = percent_decode(raw, rl);
		if (!v) {
			*err = xasprintf("option %s=\"%.*s\": a %% must be followed by two hex digits, and no "
			                 "control characters are allowed",
			                 known[k], (int)rl, raw);
			return -1;
		}
		int rc = 0;
		if (v[0] == '\0') {
			*err = xasprintf("option \"%s\" has an empty value", known[k]);
			rc = -1;
		} else if (k == 0) { /* id */
			if (strlen(v) > CRONTAB_ID_MAX) {
				*err = xasprintf("option id is %zu characters long; at most %d are allowed", strlen(v),
				                 CRONTAB_ID_MAX);
				rc = -1;
			} else {
				free(*id);
				*id = v;
				v = NULL;
			}
		} else if (k == 1) { /* queue */
			if (!valid_queue_name(v)) {
				*err = xasprintf("option queue=\"%s\" is not a valid queue name (lower-case letters, "
				                 "digits and _, starting with a letter or _, at most 63 characters)",
				                 v);
				rc = -1;
			} else {
				s->queue = v;
				v = NULL;
			}
		} else if (k == 2) { /* priority */
			if (!parse_int(v, -32768, 32767, &s->priority)) {
				*err = xasprintf("option priority=\"%s\" must be an integer from -32768 to 32767 "
				                 "(lower runs first)",
				                 v);
				rc = -1;
			}
		} else if (k == 3) { /* max */
			if (!parse_int(v, 1, 32767, &s->max_attempts)) {
				*err = xasprintf("option max=\"%s\" must be an integer from 1 to 32767 (attempts, "
				                 "counting the first run)",
				                 v);
				rc = -1;
			}
		} else if (k == 4) { /* job_key */
			if (strlen(v) > CRONTAB_JOB_KEY_MAX) {
				*err = xasprintf("option job_key is %zu characters long; at most %d are allowed",
				                 strlen(v), CRONTAB_JOB_KEY_MAX);
				rc = -1;
			} else {
				s->job_key = v;
				v = NULL;
			}
		} else if (k == 5) { /* job_key_mode */
			if (strcmp(v, "replace") != 0 && strcmp(v, "preserve_run_at") != 0 &&
			    strcmp(v, "unsafe_dedupe") != 0) {
				*err = xasprintf("option job_key_mode=\"%s\" must be replace, preserve_run_at or "
				                 "unsafe_dedupe",
				                 v);
				rc = -1;
			} else {
				s->job_key_mode = v;
				v = NULL;
			}
		} else { /* fill */
			long secs;
			if (!parse_duration(v, &secs)) {
				*err = xasprintf("option fill=\"%s\" is not a duration like 4h, 30m or 1w2d (weeks w, "
				                 "days d, hours h, minutes m, seconds s, in that order)",
				                 v);
				rc = -1;
			} else if (secs < 60 || secs > CRONTAB_FILL_MAX_S) {
				*err = xasprintf("option fill=\"%s\" must be from 1m to 366d", v);
				rc = -1;
			} else {
				s->fill_s = (int)secs;
			}
		}
		free(v);
		if (rc < 0)
			return -1;
		if (!amp)
			break;
		p = amp + 1;
	}
	if (s->job_key_mode && !s->job_key) {
		*err = xasprintf("option job_key_mode needs a job_key");
		return -1;
	}
	return 0;
}

static int parse_payload(const char *text, struct bf_cron_schedule *s, char **err)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
	if (!j) {
		*err = xasprintf("payload is not valid JSON: %s (at character %d of the payload)", jerr.text,
		                 jerr.position);
		return -1;
	}
	bool object = json_is_object(j);
	const char *kind = json_is_array(j) ? "an array" : json_is_string(j) ? "a string" : "a scalar";
	json_decref(j);
	if (!object) {
		*err = xasprintf("payload must be a JSON object {...}, got %s", kind);
		return -1;
	}
	s->payload = xstrdup(text);
	return 0;
}

static bool valid_task_char(int c) { return isalnum(c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '-'; }

static int check_task(const char *task, size_t len, char **err)
{
	bool looks_like_field = strspn(task, "0123456789*,-/") == len;
	if (looks_like_field) {
		*err = xasprintf("expected a task after the five time fields, got \"%.*s\" (a sixth time "
		                 "field? the fields are minute, hour, day-of-month, month, day-of-week)",
		                 (int)len, task);
		return -1;
	}
	bool ok = len <= CRONTAB_TASK_MAX && (isalpha((unsigned char)task[0]) || task[0] == '_');
	for (size_t i = 1; ok && i < len; i++)
		ok = valid_task_char((unsigned char)task[i]);
	if (!ok) {
		*err = xasprintf("task \"%.*s\" is not a valid task name (1 to %d letters, digits and _ . : / "
		                 "-, starting with a letter or _)",
		                 (int)len, task, CRONTAB_TASK_MAX);
		return -1;
	}
	return 0;
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

static const char *skip_blanks(const char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

static size_t token_len(const char *p)
{
	size_t n = 0;
	while (p[n] && !is_blank(p[n]))
		n++;
	return n;
}

void crontab_schedule_clear(struct bf_cron_schedule *s)
{
	free(s->id);
	free(s->task);
	free(s->queue);
	free(s->job_key);
	free(s->job_key_mode);
	free(s->payload);
	free(s->text);
	free(s->source);
	memset(s, 0, sizeof(*s));
}

int crontab_parse(const char *text, const char *default_id, struct bf_cron_schedule *out, char **err)
{
	memset(out, 0, sizeof(*out));
	*err = NULL;
	char *id = NULL;
	char *fields_buf = NULL;
	const char *p = skip_blanks(text);
	const char *fields_text = p;
	int rc = -1;

	/* the five time fields, from the line or a @shortcut */
	const char *after_fields;
	if (*p == '@') {
		size_t l = token_len(p);
		size_t i;
		for (i = 0; i < sizeof(shortcuts) / sizeof(shortcuts[0]); i++)
			if (strlen(shortcuts[i].name) == l && strncasecmp(p, shortcuts[i].name, l) == 0)
				break;
		if (i == sizeof(shortcuts) / sizeof(shortcuts[0])) {
			*err = xasprintf("unknown shortcut \"%.*s\" (known: @yearly, @annually, @monthly, @weekly, "
			                 "@daily, @midnight, @hourly)",
			                 (int)l, p);
			goto out;
		}
		fields_text = shortcuts[i].fields;
		after_fields = p + l;
	} else {
		const char *q = p;
		for (int f = 0; f < FIELD_COUNT; f++) {
			q = skip_blanks(q);
			if (!*q) {
				if (f == 0)
					*err = xasprintf("empty schedule (expected: minute hour day-of-month month "
					                 "day-of-week task [?options] [{json payload}])");
				else
					*err = xasprintf("expected five time fields (minute hour day-of-month month "
					                 "day-of-week) and a task, got %d field(s)",
					                 f);
				goto out;
			}
			q += token_len(q);
		}
		after_fields = q;
	}
	fields_buf = xstrndup(fields_text, *p == '@' ? strlen(fields_text) : (size_t)(after_fields - p));
	{
		char *q = fields_buf;
		uint64_t bits[FIELD_COUNT];
		const char *field_text[FIELD_COUNT];
		for (int f = 0; f < FIELD_COUNT; f++) {
			while (is_blank(*q))
				q++;
			size_t l = token_len(q);
			bool last = q[l] == '\0';
			q[l] = '\0';
			field_text[f] = q;
			if (parse_field(&field_specs[f], q, &bits[f], err) < 0)
				goto out;
			q += l + !last;
		}
		out->minutes = bits[FIELD_MINUTE];
		out->hours = (uint32_t)bits[FIELD_HOUR];
		out->days = (uint32_t)bits[FIELD_DAY_OF_MONTH];
		out->months = (uint16_t)bits[FIELD_MONTH];
		out->weekdays = (uint8_t)bits[FIELD_DAY_OF_WEEK];
		if (!can_occur(out)) {
			*err = xasprintf("day-of-month field \"%s\" never occurs in month field \"%s\", so the "
			                 "schedule never runs (April, June, September and November have 30 days, "
			                 "February 29)",
			                 field_text[FIELD_DAY_OF_MONTH], field_text[FIELD_MONTH]);
			goto out;
		}
	}

	/* the task */
	p = skip_blanks(after_fields);
	if (!*p) {
		*err = xasprintf("missing the task after the five time fields");
		goto out;
	}
	size_t tl = token_len(p);
	if (check_task(p, tl, err) < 0)
		goto out;
	out->task = xstrndup(p, tl);
	p = skip_blanks(p + tl);

	/* ?options */
	if (*p == '?') {
		size_t ol = token_len(p);
		if (parse_options(p + 1, ol - 1, out, &id, err) < 0)
			goto out;
		p = skip_blanks(p + ol);
	}

	/* {payload}: the rest of the line */
	if (*p) {
		if (*p != '{' && *p != '[') {
			*err = xasprintf("unexpected \"%.*s\" after the task (options start with ?, the payload "
			                 "with {, in that order)",
			                 (int)token_len(p), p);
			goto out;
		}
		size_t pl = strlen(p);
		while (pl > 0 && is_blank(p[pl - 1]))
			pl--;
		char *payload = xstrndup(p, pl);
		int prc = parse_payload(payload, out, err);
		free(payload);
		if (prc < 0)
			goto out;
	} else {
		out->payload = xstrdup("{}");
	}

	if (!id)
		id = xstrdup(default_id ? default_id : out->task);
	if (id[0] == '\0' || strlen(id) > CRONTAB_ID_MAX) {
		*err = xasprintf("schedule id \"%s\" must be 1 to %d characters", id, CRONTAB_ID_MAX);
		goto out;
	}
	out->id = id;
	id = NULL;
	{
		const char *t = skip_blanks(text);
		size_t l = strlen(t);
		while (l > 0 && is_blank(t[l - 1]))
			l--;
		out->text = xstrndup(t, l);
	}
	rc = 0;
out:
	free(fields_buf);
	free(id);
	if (rc < 0)
		crontab_schedule_clear(out);
	return rc;
}

/* ---- tables --------------------------------------------------------------- */

int crontab_add(struct bf_crontab *tab, const char *text, const char *default_id, const char *source, char **err)
{
	struct bf_cron_schedule s;
	if (crontab_parse(text, default_id, &s, err) < 0)
		return -1;
	for (size_t i = 0; i < tab->n; i++) {
		if (strcmp(tab->items[i].id, s.id) == 0) {
			*err = xasprintf("schedule id \"%s\" is already used by the schedule at %s; give one of "
			                 "them another id with ?id=NAME (ids must be unique: they record each "
			                 "schedule's last run)",
			                 s.id, tab->items[i].source);
			crontab_schedule_clear(&s);
			return -1;
		}
	}
	struct bf_cron_schedule *items = realloc(tab->items, (tab->n + 1) * sizeof(*items));
	if (!items)
		abort();
	tab->items = items;
	s.source = xstrdup(source);
	tab->items[tab->n++] = s;
	return 0;
}

int crontab_load_file(struct bf_crontab *tab, const char *path, bool required, char **err)
{
	*err = NULL;
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && !required)
			return 0;
		*err = xasprintf("cannot read crontab file %s: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (memchr(line, '\0', (size_t)n)) {
			*err = xasprintf("%s:%d: the line holds a NUL byte", path, lineno);
			rc = -1;
			break;
		}
		const char *p = skip_blanks(line);
		if (*p == '\0' || *p == '#')
			continue;
		char source[PATH_MAX + 32];
		snprintf(source, sizeof(source), "%s:%d", path, lineno);
		char *msg = NULL;
		if (crontab_add(tab, line, NULL, source, &msg) < 0) {
			*err = xasprintf("%s: %s", source, msg);
			free(msg);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		*err = xasprintf("cannot read crontab file %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

void crontab_clear(struct bf_crontab *tab)
{
	for (size_t i = 0; i < tab->n; i++)
		crontab_schedule_clear(&tab->items[i]);
	free(tab->items);
	tab->items = NULL;
	tab->n = 0;
}

/* ---- occurrences ---------------------------------------------------------- */

static bool day_matches(const struct bf_cron_schedule *s, int mday, int wday)
{
	bool dom = (s->days >> mday) & 1u;
	bool dow = (s->weekdays >> wday) & 1u;
	bool dom_restricted = s->days != ALL_DAYS;
	bool dow_restricted = s->weekdays != ALL_WEEKDAYS;
	/* classic cron: both restricted, either one fires */
	if (dom_restricted && dow_restricted)
		return dom || dow;
	if (dom_restricted)
		return dom;
	if (dow_restricted)
		return dow;
	return true;
}

bool crontab_matches(const struct bf_cron_schedule *s, time_t t)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return false;
	return ((s->minutes >> tm.tm_min) & 1u) && ((s->hours >> tm.tm_hour) & 1u) &&
	       ((s->months >> (tm.tm_mon + 1)) & 1u) && day_matches(s, tm.tm_mday, tm.tm_wday);
}

/* tm normalised (fields out of range carried) and its time_t. */
static time_t normalise(struct tm *tm)
{
	time_t t = timegm(tm);
	gmtime_r(&t, tm);
	return t;
}

time_t crontab_next(const struct bf_cron_schedule *s, time_t after)
{
	time_t t = after - ((after % 60) + 60) % 60 + 60;
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return -1;
	int limit_year = tm.tm_year + NEXT_SEARCH_YEARS;
	while (tm.tm_year <= limit_year) {
		if (!((s->months >> (tm.tm_mon + 1)) & 1u)) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = 0;
			tm.tm_min = 0;
		} else if (!day_matches(s, tm.tm_mday, tm.tm_wday)) {
			tm.tm_mday++;
			tm.tm_hour = 0;
			tm.tm_min = 0;
		} else if (!((s->hours >> tm.tm_hour) & 1u)) {
			tm.tm_hour++;
			tm.tm_min = 0;
		} else if (!((s->minutes >> tm.tm_min) & 1u)) {
			tm.tm_min++;
		} else {
			return timegm(&tm);
		}
		tm.tm_sec = 0;
		tm.tm_isdst = 0;
		normalise(&tm);
	}
	return -1;
}

void crontab_format_time(time_t t, char *buf, size_t size)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "?");
}

void crontab_format_duration(long seconds, char *buf, size_t size)
{
	static const struct {
		char unit;
		long seconds;
	} units[] = {{'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		long q = seconds / units[i].seconds;
		seconds %= units[i].seconds;
		if (q > 0 && n < size) {
			int w = snprintf(buf + n, size - n, "%ld%c", q, units[i].unit);
			if (w < 0)
				break;
			n += (size_t)w;
		}
	}
	if (n == 0)
		snprintf(buf, size, "0s");
}

void crontab_print(const struct bf_crontab *tab, time_t now, int n_next, FILE *out)
{
	if (tab->n == 0)
		return;
	fprintf(out, "\n[cron]    ; %zu schedule(s); times in UTC\n", tab->n);
	for (size_t i = 0; i < tab->n; i++) {
		const struct bf_cron_schedule *s = &tab->items[i];
		fprintf(out, "%s = %s    ; %s\n;   next:", s->id, s->text, s->source);
		time_t t = now;
		for (int k = 0; k < n_next; k++) {
			t = crontab_next(s, t);
			if (t < 0)
				break;
			char buf[32];
			crontab_format_time(t, buf, sizeof(buf));
			fprintf(out, "%s %s", k ? "," : "", buf);
		}
		if (s->fill_s > 0) {
			char fill[48];
			crontab_format_duration(s->fill_s, fill, sizeof(fill));
			fprintf(out, "; runs missed within %s are backfilled", fill);
		}
		fputc('\n', out);
	}
}
