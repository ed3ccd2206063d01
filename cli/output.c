/* output.c -- what backfillctl prints: aligned tables and records for people,
 * one JSON document (jansson) for programs, both built from libpq results. */
#include "output.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The built-in type OIDs backfillctl's results carry (pg_type.dat; fixed). */
enum {
	OUTPUT_OID_BOOL = 16,
	OUTPUT_OID_INT8 = 20,
	OUTPUT_OID_INT2 = 21,
	OUTPUT_OID_INT4 = 23,
	OUTPUT_OID_OID = 26,
	OUTPUT_OID_JSON = 114,
	OUTPUT_OID_FLOAT4 = 700,
	OUTPUT_OID_FLOAT8 = 701,
	OUTPUT_OID_TIMESTAMP = 1114,
	OUTPUT_OID_TIMESTAMPTZ = 1184,
	OUTPUT_OID_NUMERIC = 1700,
	OUTPUT_OID_JSONB = 3802,
};

/* ---- a growing string ---------------------------------------------------- */

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (!p)
			abort();
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sbuf_adds(struct sbuf *b, const char *s) { sbuf_add(b, s, strlen(s)); }

/* The string built so far (an empty one if nothing was added); the caller
 * frees it. */
static char *sbuf_take(struct sbuf *b)
{
	if (!b->s)
		sbuf_add(b, "", 0);
	char *s = b->s;
	memset(b, 0, sizeof(*b));
	return s;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

/* Characters on screen (UTF-8 code points; wide characters count one). */
static size_t text_width(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			n++;
	return n;
}

/* Escape flags: keep line breaks (records) instead of showing them as \n;
 * stop at the first line break (OUTPUT_FMT_SHORT). */
#define ESC_KEEP_NEWLINES 1u
#define ESC_FIRST_LINE 2u

/* s with control characters (C0, DEL and the UTF-8 encoded C1 range) shown
 * as escapes, so that no value can move the cursor or recolour a terminal;
 * at most max characters (0: no limit), "..." marking a cut.  Caller frees. */
static char *escape_text(const char *s, unsigned flags, size_t max)
{
	struct sbuf b = {0};
	size_t chars = 0;
	bool cut = false;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (max && chars >= max) {
			cut = true;
			break;
		}
		char esc[8];
		size_t n = 1;
		if (*p == '\n' && (flags & ESC_FIRST_LINE)) {
			cut = p[1] != '\0';
			break;
		} else if (*p == '\n' && (flags & ESC_KEEP_NEWLINES)) {
			sbuf_add(&b, "\n", 1);
		} else if (*p == '\t' && (flags & ESC_KEEP_NEWLINES)) {
			sbuf_add(&b, "  ", 2);
		} else if (*p < 0x20 || *p == 0x7F) {
			const char *named = *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : *p == '\r' ? "\\r" : NULL;
			if (!named) {
				snprintf(esc, sizeof(esc), "\\x%02x", *p);
				named = esc;
			}
			sbuf_adds(&b, named);
		} else if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
			snprintf(esc, sizeof(esc), "\\u%04x", p[1]);
			sbuf_adds(&b, esc);
			n = 2;
		} else {
			/* one whole UTF-8 sequence, so a cut never splits one */
			while ((p[n] & 0xC0) == 0x80 && n < 4)
				n++;
			sbuf_add(&b, (const char *)p, n);
		}
		p += n;
		chars++;
	}
	if (cut)
		sbuf_adds(&b, "...");
	return sbuf_take(&b);
}

/* ---- types --------------------------------------------------------------- */

static bool is_integer_type(Oid t)
{
	return t == OUTPUT_OID_INT2 || t == OUTPUT_OID_INT4 || t == OUTPUT_OID_INT8 || t == OUTPUT_OID_OID;
}

static bool is_number_type(Oid t)
{
	return is_integer_type(t) || t == OUTPUT_OID_FLOAT4 || t == OUTPUT_OID_FLOAT8 ||
	       t == OUTPUT_OID_NUMERIC;
}

static bool is_json_type(Oid t) { return t == OUTPUT_OID_JSON || t == OUTPUT_OID_JSONB; }

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Length of the "YYYY-MM-DD HH:MM:SS" prefix of PostgreSQL's ISO output, or
 * 0 when s does not start with one ("infinity", a year > 9999). */
static size_t iso_prefix(const char *s)
{
	static const char shape[] = "dddd-dd-dd dd:dd:dd";
	size_t i;
	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
			return 0;
	}
	return i;
}

/* A timestamp as PostgreSQL prints it (DateStyle ISO) to the second: the
 * fraction goes, the zone stays.  Caller frees. */
static char *time_to_second(const char *s)
{
	size_t n = iso_prefix(s);
	char *out = xstrdup(s);
	if (n && out[n] == '.') {
		size_t f = n + 1;
		while (is_digit(out[f]))
			f++;
		memmove(out + n, out + f, strlen(out + f) + 1);
	}
	return out;
}

/* The same in ISO 8601: 'T' between date and time, the zone as +HH:MM. */
static char *time_to_iso8601(const char *s)
{
	size_t n = iso_prefix(s);
	if (!n)
		return xstrdup(s);
	struct sbuf b = {0};
	sbuf_add(&b, s, n);
	b.s[10] = 'T';
	const char *p = s + n;
	if (*p == '.') {
		size_t f = 1;
		while (is_digit(p[f]))
			f++;
		sbuf_add(&b, p, f);
		p += f;
	}
	if ((p[0] == '+' || p[0] == '-') && is_digit(p[1]) && is_digit(p[2]) && p[3] == '\0') {
		sbuf_add(&b, p, 3);
		sbuf_adds(&b, ":00");
	} else {
		sbuf_adds(&b, p);
	}
	return sbuf_take(&b);
}

void output_age(double seconds, char *buf, size_t size)
{
	if (!(seconds > 0)) /* NaN too */
		seconds = 0;
	if (seconds < 10) {
		snprintf(buf, size, "%.1fs", seconds);
		return;
	}
	long long s = (long long)(seconds + 0.5);
	if (s < 60)
		snprintf(buf, size, "%llds", s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

bool output_hidden(const char *column) { return strncmp(column, "h_", 2) == 0; }

char *output_cell(const PGresult *res, int row, int col, enum output_fmt fmt)
{
	if (PQgetisnull(res, row, col))
		return xstrdup("-");
	const char *v = PQgetvalue(res, row, col);
	Oid type = PQftype(res, col);
	switch (fmt) {
	case OUTPUT_FMT_AGE: {
		char buf[32];
		output_age(strtod(v, NULL), buf, sizeof(buf));
		return xstrdup(buf);
	}
	case OUTPUT_FMT_SHORT:
		return escape_text(v, ESC_FIRST_LINE, OUTPUT_SHORT_MAX);
	case OUTPUT_FMT_AUTO:
		break;
	}
	if (type == OUTPUT_OID_BOOL)
		return xstrdup(v[0] == 't' ? "yes" : "no");
	if (type == OUTPUT_OID_TIMESTAMPTZ || type == OUTPUT_OID_TIMESTAMP)
		return time_to_second(v);
	return escape_text(v, 0, 0);
}

/* ---- tables -------------------------------------------------------------- */

struct bf_output_grid {
	size_t ncols, nrows, cap;
	char **headings;
	bool *right;
	char **cells; /* row-major, nrows * ncols */
};

struct bf_output_grid *output_grid_new(size_t ncols, const char *const *headings, const bool *right)
{
	struct bf_output_grid *g = calloc(1, sizeof(*g));
	if (!g || !(g->headings = calloc(ncols, sizeof(char *))) || !(g->right = calloc(ncols, sizeof(bool))))
		abort();
	g->ncols = ncols;
	for (size_t i = 0; i < ncols; i++) {
		g->headings[i] = xstrdup(headings[i]);
		g->right[i] = right && right[i];
	}
	return g;
}

void output_grid_free(struct bf_output_grid *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nrows * g->ncols; i++)
		free(g->cells[i]);
	free(g->cells);
	for (size_t i = 0; i < g->ncols; i++)
		free(g->headings[i]);
	free(g->headings);
	free(g->right);
	free(g);
}

void output_grid_add(struct bf_output_grid *g, const char *const *cells)
{
	if (g->nrows == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 16;
		char **c = realloc(g->cells, g->cap * g->ncols * sizeof(char *));
		if (!c)
			abort();
		g->cells = c;
	}
	for (size_t i = 0; i < g->ncols; i++)
		g->cells[g->nrows * g->ncols + i] = xstrdup(cells[i] ? cells[i] : "-");
	g->nrows++;
}

static void print_row(const struct bf_output_grid *g, const size_t *width, char *const *cells, FILE *out)
{
	for (size_t i = 0; i < g->ncols; i++) {
		size_t pad = width[i] - text_width(cells[i]);
		bool last = i + 1 == g->ncols;
		if (g->right[i])
			fprintf(out, "%*s%s", (int)pad, "", cells[i]);
		else
			fprintf(out, "%s%*s", cells[i], last ? 0 : (int)pad, "");
		fputs(last ? "\n" : "  ", out);
	}
}

void output_grid_print(const struct bf_output_grid *g, FILE *out)
{
	size_t *width = calloc(g->ncols, sizeof(size_t));
	if (!width)
		abort();
	for (size_t i = 0; i < g->ncols; i++) {
		width[i] = text_width(g->headings[i]);
		for (size_t r = 0; r < g->nrows; r++) {
			size_t w = text_width(g->cells[r * g->ncols + i]);
			if (w > width[i])
				width[i] = w;
		}
	}
	print_row(g, width, g->headings, out);
	for (size_t r = 0; r < g->nrows; r++)
		print_row(g, width, g->cells + r * g->ncols, out);
	free(width);
}

void output_table(FILE *out, const PGresult *res, const struct bf_output_col *cols, size_t ncols)
{
	int *field = calloc(ncols, sizeof(int));
	const char **headings = calloc(ncols, sizeof(char *));
	bool *right = calloc(ncols, sizeof(bool));
	char **cells = calloc(ncols, sizeof(char *));
	if (!field || !headings || !right || !cells)
		abort();
	for (size_t i = 0; i < ncols; i++) {
		field[i] = PQfnumber(res, cols[i].name);
		if (field[i] < 0) {
			fprintf(stderr, "backfillctl: internal error: no column %s in the result\n", cols[i].name);
			abort();
		}
		headings[i] = cols[i].heading;
		right[i] = cols[i].fmt == OUTPUT_FMT_AGE ||
		           (cols[i].fmt == OUTPUT_FMT_AUTO && is_number_type(PQftype(res, field[i])));
	}
	struct bf_output_grid *g = output_grid_new(ncols, headings, right);
	for (int r = 0; r < PQntuples(res); r++) {
		for (size_t i = 0; i < ncols; i++)
			cells[i] = output_cell(res, r, field[i], cols[i].fmt);
		output_grid_add(g, (const char *const *)cells);
		for (size_t i = 0; i < ncols; i++)
			free(cells[i]);
	}
	output_grid_print(g, out);
	output_grid_free(g);
	free(cells);
	free(right);
	free(headings);
	free(field);
}

/* Prints text after a label of the given width; further lines are indented
 * to the same column. */
static void print_labelled(FILE *out, const char *label, int width, const char *text)
{
	fprintf(out, "%-*s  ", width, label);
	for (const char *p = text; *p; p++) {
		fputc(*p, out);
		if (*p == '\n' && p[1])
			fprintf(out, "%*s  ", width, "");
	}
	fputc('\n', out);
}

void output_record(FILE *out, const PGresult *res, int row)
{
	int width = 0;
	for (int c = 0; c < PQnfields(res); c++) {
		int w = (int)strlen(PQfname(res, c));
		if (!output_hidden(PQfname(res, c)) && w > width)
			width = w;
	}
	for (int c = 0; c < PQnfields(res); c++) {
		const char *name = PQfname(res, c);
		if (output_hidden(name))
			continue;
		char *text = NULL;
		if (!PQgetisnull(res, row, c) && is_json_type(PQftype(res, c))) {
			json_t *j = output_json_value(res, row, c);
			char *dumped = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY);
			json_decref(j);
			if (dumped) {
				text = escape_text(dumped, ESC_KEEP_NEWLINES, 0);
				free(dumped);
			}
		}
		if (!text && !PQgetisnull(res, row, c) && PQftype(res, c) != OUTPUT_OID_BOOL)
			text = escape_text(PQgetvalue(res, row, c), ESC_KEEP_NEWLINES, 0);
		if (!text)
			text = output_cell(res, row, c, OUTPUT_FMT_AUTO);
		print_labelled(out, name, width, text);
		free(text);
	}
}

/* ---- JSON ---------------------------------------------------------------- */

json_t *output_json_string(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	/* not UTF-8 (a SQL_ASCII database): keep ASCII, mark the rest */
	char *copy = xstrdup(s);
	for (unsigned char *p = (unsigned char *)copy; *p; p++)
		if (*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	if (!j)
		abort();
	return j;
}

/* A number as an integer when it is one and fits, else a real; a value no
 * JSON number can hold (NaN, Infinity) stays a string. */
static json_t *json_number(const char *s)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (!errno && end != s && !*end)
		return json_integer((json_int_t)n);
	errno = 0;
	double d = strtod(s, &end);
	if (!errno && end != s && !*end && isfinite(d))
		return json_real(d);
	return output_json_string(s);
}

json_t *output_json_value(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	const char *v = PQgetvalue(res, row, col);
	Oid type = PQftype(res, col);
	if (type == OUTPUT_OID_BOOL)
		return json_boolean(v[0] == 't');
	if (is_number_type(type))
		return json_number(v);
	if (is_json_type(type)) {
		json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
		if (!j) /* an integer beyond 64 bits: keep it, as a real */
			j = json_loads(v, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
		return j ? j : output_json_string(v);
	}
	if (type == OUTPUT_OID_TIMESTAMPTZ || type == OUTPUT_OID_TIMESTAMP) {
		char *iso = time_to_iso8601(v);
		json_t *j = output_json_string(iso);
		free(iso);
		return j;
	}
	return output_json_string(v);
}

json_t *output_json_row(const PGresult *res, int row)
{
	json_t *obj = json_object();
	if (!obj)
		abort();
	for (int c = 0; c < PQnfields(res); c++) {
		if (!output_hidden(PQfname(res, c)))
			json_object_set_new(obj, PQfname(res, c), output_json_value(res, row, c));
	}
	return obj;
}

json_t *output_json_rows(const PGresult *res)
{
	json_t *arr = json_array();
	if (!arr)
		abort();
	for (int r = 0; r < PQntuples(res); r++)
		json_array_append_new(arr, output_json_row(res, r));
	return arr;
}

int output_json_print(FILE *out, json_t *doc)
{
	int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY);
	json_decref(doc);
	if (rc < 0 || fputc('\n', out) == EOF)
		return -1;
	return 0;
}
