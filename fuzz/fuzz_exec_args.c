/* fuzz_exec_args.c -- libFuzzer harness for the exec plugin's command-line
 * splitter and child environment (plugins/exec/exec_util.c): the input is
 * a task's command line from the ini file, then (after a NUL) the job's
 * job_key and serial_key and some inherited environment entries, one per
 * line.  Checks: a split either fails with a message and no words, or its
 * words, each put in single quotes, split back into the same words; the
 * environment holds each BACKFILL_ variable once, with the job's values. */
#include "exec/exec_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The words as one line that must split back into them: '...' each, a
 * quote inside written as '\'' (close, escaped quote, reopen). */
static char *quote_words(char *const *argv, size_t argc)
{
	size_t n = 1;
	for (size_t i = 0; i < argc; i++)
		n += 4 * strlen(argv[i]) + 3;
	char *line = malloc(n);
	if (!line)
		abort();
	char *o = line;
	for (size_t i = 0; i < argc; i++) {
		if (i > 0)
			*o++ = ' ';
		*o++ = '\'';
		for (const char *c = argv[i]; *c; c++) {
			if (*c == '\'') {
				memcpy(o, "'\\''", 4);
				o += 4;
			} else {
				*o++ = *c;
			}
		}
		*o++ = '\'';
	}
	*o = '\0';
	return line;
}

static void check_split(const char *line)
{
	char **argv = NULL;
	size_t argc = 0;
	char err[256];
	if (exec_split_command(line, &argv, &argc, err, sizeof(err)) != 0) {
		if (argv != NULL || argc != 0 || err[0] == '\0')
			abort();
		return;
	}
	if (argv == NULL || argv[argc] != NULL)
		abort();
	char *again_line = quote_words(argv, argc);
	char **again = NULL;
	size_t again_argc = 0;
	if (exec_split_command(again_line, &again, &again_argc, err, sizeof(err)) != 0)
		abort(); /* single-quoted words always split */
	if (again_argc != argc)
		abort();
	for (size_t i = 0; i < argc; i++)
		if (strcmp(argv[i], again[i]) != 0)
			abort();
	free(again);
	free(again_line);
	free(argv);
}

/* How many entries of env start with "NAME=", and the value of the last. */
static size_t count_var(char *const *env, const char *name, const char **value)
{
	size_t n = 0, l = strlen(name);
	for (size_t i = 0; env[i]; i++) {
		if (strncmp(env[i], name, l) == 0 && env[i][l] == '=') {
			n++;
			*value = env[i] + l + 1;
		}
	}
	return n;
}

static void check_env(char *rest)
{
	/* job_key \n serial_key \n entries... ("-" : the job has none) */
	char *lines[16] = {0};
	size_t nlines = 0;
	for (char *save = NULL, *l = strtok_r(rest, "\n", &save); l && nlines < 15;
	     l = strtok_r(NULL, "\n", &save))
		lines[nlines++] = l;
	const char *job_key = nlines > 0 && strcmp(lines[0], "-") != 0 ? lines[0] : NULL;
	const char *serial_key = nlines > 1 && strcmp(lines[1], "-") != 0 ? lines[1] : NULL;
	char **base = nlines > 2 ? &lines[2] : NULL;
	const struct bf_exec_job_env job = {
	    .job_id = -42, .task = "fuzz.task", .queue = "bulk", .attempt = 3,
	    .max_attempts = 8, .priority = -20, .job_key = job_key, .serial_key = serial_key,
	};
	char **env = exec_env_build(base, &job);
	if (!env)
		abort();
	const char *v = NULL;
	if (count_var(env, "BACKFILL_JOB_ID", &v) != 1 || strcmp(v, "-42") != 0)
		abort();
	if (count_var(env, "BACKFILL_TASK", &v) != 1 || strcmp(v, "fuzz.task") != 0)
		abort();
	if (count_var(env, "BACKFILL_PRIORITY", &v) != 1 || strcmp(v, "-20") != 0)
		abort();
	size_t keys = count_var(env, "BACKFILL_JOB_KEY", &v);
	if (keys != (job_key ? 1u : 0u) || (job_key && strcmp(v, job_key) != 0))
		abort();
	keys = count_var(env, "BACKFILL_SERIAL_KEY", &v);
	if (keys != (serial_key ? 1u : 0u) || (serial_key && strcmp(v, serial_key) != 0))
		abort();
	free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	check_split(text);
	size_t first = strlen(text);
	if (first < size)
		check_env(text + first + 1);
	free(text);
	return 0;
}
