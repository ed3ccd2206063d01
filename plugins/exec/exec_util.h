/*
 * exec_util.h -- the pure parts of the exec plugin: command-line splitting,
 * exit-status mapping, a bounded tail buffer for stderr, a line splitter for
 * stdout and the child's environment.  No host calls, no I/O: unit-tested by
 * tests/check_exec.c.
 */
#ifndef BACKFILL_EXEC_UTIL_H
#define BACKFILL_EXEC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define EXEC_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define EXEC_WARN_UNUSED
#endif

/* Exit status a program uses to ask for a retry (sysexits.h EX_TEMPFAIL). */
#define EXEC_EXIT_TEMPFAIL 75

/*
 * Splits a command line into words, without a shell:
 *  - words are separated by spaces, tabs and newlines;
 *  - 'single quotes' keep everything up to the next ' literally;
 *  - "double quotes" keep everything literally except that a backslash
 *    before " \ $ or ` stands for that character;
 *  - outside quotes, a backslash makes the next character literal;
 *  - quoted and unquoted parts next to each other form one word, and ""
 *    alone is an empty word;
 *  - unquoted | & ; < > ( ) $ ` are refused: there is no shell to give them
 *    a meaning, so quote them or run a wrapper script.
 * On success returns 0, sets *argv_out to a NULL-terminated array (one
 * allocation: caller frees with free()) and *argc_out to the number of words
 * (possibly 0).  On error returns -1 and writes a message naming the problem
 * and its column into err (may be NULL); *argv_out is set to NULL.
 */
int exec_split_command(const char *line, char ***argv_out, size_t *argc_out,
                       char *err, size_t err_size) EXEC_WARN_UNUSED;

/*
 * Maps a wait status (from waitpid) to a handler result:
 *   exited 0                  -> BF_JOB_OK    (why: "")
 *   exited 75 (EX_TEMPFAIL)   -> BF_JOB_RETRY (why: "exit status 75")
 *   exited with any other     -> BF_JOB_FAIL  (why: "exit status N")
 *   killed by signal N        -> BF_JOB_RETRY (why: "killed by signal N")
 *   anything else             -> BF_JOB_RETRY (why: "unexpected wait status")
 * why (may be NULL) receives the description, truncated to why_size.
 */
int32_t exec_result_from_status(int wait_status, char *why, size_t why_size);

/* Keeps the last `cap` bytes of a byte stream. */
struct bf_exec_tail {
	char *buf;      /* cap bytes, ring */
	size_t cap;
	size_t start;   /* index of the oldest byte kept */
	size_t len;     /* bytes kept, <= cap */
	uint64_t total; /* bytes appended in all */
};

/* cap may be 0 (keeps nothing).  Returns 0 or -1 when out of memory. */
int exec_tail_init(struct bf_exec_tail *tail, size_t cap) EXEC_WARN_UNUSED;
void exec_tail_append(struct bf_exec_tail *tail, const char *data, size_t n);
/*
 * The bytes kept, as a NUL-terminated string of at most tail->cap bytes,
 * caller frees; NULL when out of memory.  When older bytes were dropped the
 * string starts with "..." and a cut that does not split a UTF-8 sequence;
 * trailing newlines and spaces are removed; NUL bytes become '?'.
 */
char *exec_tail_string(const struct bf_exec_tail *tail);
/* Frees the buffer; the struct may be initialised again.  NULL is a no-op. */
void exec_tail_free(struct bf_exec_tail *tail);

/* Longest output line logged, in bytes; the rest of a longer line is
 * dropped and the line marked. */
#define EXEC_LINE_MAX 1000

/* Splits a byte stream into lines for logging. */
struct bf_exec_lines {
	char buf[EXEC_LINE_MAX + 1]; /* current line, NUL-terminated on emit */
	size_t len;                  /* bytes in buf */
	uint64_t dropped;            /* bytes of the current line not kept */
};

/* Called with each complete line: no newline, control characters replaced
 * by '?', at most EXEC_LINE_MAX bytes plus a " [N bytes cut]" note.
 * `line` is valid only during the call. */
typedef void (*exec_line_fn)(void *arg, const char *line);

void exec_lines_init(struct bf_exec_lines *lines);
/* Feeds n bytes; calls emit for each line completed by them. */
void exec_lines_feed(struct bf_exec_lines *lines, const char *data, size_t n,
                     exec_line_fn emit, void *arg);
/* End of stream: emits the last, unterminated line if there is one. */
void exec_lines_finish(struct bf_exec_lines *lines, exec_line_fn emit,
                       void *arg);

/* What the child learns about its job through the environment. */
struct bf_exec_job_env {
	int64_t job_id;
	const char *task;       /* borrowed */
	const char *queue;      /* borrowed */
	int32_t attempt;
	int32_t max_attempts;
	int32_t priority;
	const char *job_key;    /* borrowed; NULL when the job has none */
	const char *serial_key; /* borrowed; NULL when the job has none */
};

/*
 * Builds the child's environment: every "NAME=value" of base (a
 * NULL-terminated array, may be NULL) except the BACKFILL_* variables set
 * below, followed by BACKFILL_JOB_ID, BACKFILL_TASK, BACKFILL_QUEUE,
 * BACKFILL_ATTEMPT, BACKFILL_MAX_ATTEMPTS, BACKFILL_PRIORITY and, when the
 * job has them, BACKFILL_JOB_KEY and BACKFILL_SERIAL_KEY.  Entries of base
 * are borrowed (they must outlive the result); the array and the new
 * entries are one allocation: caller frees with free().  NULL when out of
 * memory.
 */
char **exec_env_build(char *const *base, const struct bf_exec_job_env *job);

#endif /* BACKFILL_EXEC_UTIL_H */
