/* output.h -- what backfillctl prints: aligned tables and records for people,
 * one JSON document (jansson) for programs, both built from libpq results. */
#ifndef BACKFILLCTL_OUTPUT_H
#define BACKFILLCTL_OUTPUT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* How a table cell shows a value.  Every format escapes control characters
 * (a last_error may hold anything) and shows NULL as "-". */
enum output_fmt {
	OUTPUT_FMT_AUTO,  /* by type: booleans yes/no, timestamps to the second, text as is */
	OUTPUT_FMT_SHORT, /* text: its first line, at most OUTPUT_SHORT_MAX characters */
	OUTPUT_FMT_AGE,   /* a number of seconds: 0.4s, 42s, 3m12s, 2h05m, 3d04h */
};

#define OUTPUT_SHORT_MAX 60

/* A column of a human table: the result column it shows (borrowed), its
 * heading and its format.  Numbers and ages are right-aligned. */
struct bf_output_col {
	const char *name;
	const char *heading;
	enum output_fmt fmt;
};

/* A table of text cells, printed with aligned columns. */
struct bf_output_grid;

/* headings: ncols strings (copied); right[i]: right-align column i (may be
 * NULL: all left).  Caller frees with output_grid_free. */
struct bf_output_grid *output_grid_new(size_t ncols, const char *const *headings, const bool *right);
void output_grid_free(struct bf_output_grid *g);
/* Adds a row of ncols cells (copied; NULL shows as "-"). */
void output_grid_add(struct bf_output_grid *g, const char *const *cells);
void output_grid_print(const struct bf_output_grid *g, FILE *out);

/* Prints res as a table of the given columns; a name that res lacks is a
 * programming error (aborts). */
void output_table(FILE *out, const PGresult *res, const struct bf_output_col *cols, size_t ncols);

/* Prints one row of res as "name  value" lines, every column except the
 * hidden ones; JSON values indented, multi-line text aligned. */
void output_record(FILE *out, const PGresult *res, int row);

/* One cell of res as text for people.  Caller frees. */
char *output_cell(const PGresult *res, int row, int col, enum output_fmt fmt);

/* seconds as a short age ("3m12s"; negative counts as 0) into buf. */
void output_age(double seconds, char *buf, size_t size);

/* Result columns named "h_..." exist for the human output only: JSON leaves
 * them out, and so does output_record. */
bool output_hidden(const char *column);

/* A value as JSON: NULL null, booleans, integers and numbers as such, json
 * and jsonb parsed, timestamps in ISO 8601 ("2026-11-29T10:42:00.5+00:00"),
 * everything else a string.  New reference. */
json_t *output_json_value(const PGresult *res, int row, int col);
/* A row as an object of its non-hidden columns.  New reference. */
json_t *output_json_row(const PGresult *res, int row);
/* Every row, as an array of those objects.  New reference. */
json_t *output_json_rows(const PGresult *res);
/* Prints doc (indented, then a newline) and drops the reference. */
__attribute__((warn_unused_result)) int output_json_print(FILE *out, json_t *doc);

/* A new reference to a string of s; bytes that are not UTF-8 become '?'
 * (jansson only takes UTF-8). */
json_t *output_json_string(const char *s);

#endif
