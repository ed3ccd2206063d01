/*
 * check_exec.c -- unit tests for the pure parts of the exec plugin
 * (plugins/exec/exec_util.c): command-line splitting, exit-status mapping,
 * the stderr tail, the stdout line splitter and the child's environment.
 */
#include "exec/exec_util.h"

#include <backfill/plugin.h>

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- command-line splitting ------------------------------------------- */

/* Splits line and checks the words; words ends with NULL. */
static void expect_words(const char *line, const char *const *words)
{
	char **argv = NULL;
	size_t argc = 99;
	char err[256];
	int rc = exec_split_command(line, &argv, &argc, err, sizeof(err));
	ck_assert_msg(rc == 0, "split [%s] failed: %s", line, err);
	size_t n = 0;
	while (words[n] != NULL)
		n++;
	ck_assert_uint_eq(argc, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(argv[i], words[i]);
	ck_assert_ptr_null(argv[n]);
	free(argv);
}

/* Splits line, expects an error whose text contains needle. */
static void expect_split_error(const char *line, const char *needle)
{
	char *sentinel = NULL;
	char **argv = &sentinel;
	size_t argc = 99;
	char err[256];
	int rc = exec_split_command(line, &argv, &argc, err, sizeof(err));
	ck_assert_msg(rc == -1, "split [%s] should fail", line);
	ck_assert_ptr_null(argv);
	ck_assert_uint_eq(argc, 0);
	ck_assert_msg(strstr(err, needle) != NULL,
	              "error for [%s] is [%s], expected to contain [%s]", line,
	              err, needle);
}

START_TEST(split_plain_words)
{
	expect_words("/bin/echo a b", (const char *const[]){"/bin/echo", "a", "b", NULL});
	expect_words("  \t/bin/true\t\t x  ", (const char *const[]){"/bin/true", "x", NULL});
	expect_words("/bin/true", (const char *const[]){"/bin/true", NULL});
	expect_words("a\nb\r\nc", (const char *const[]){"a", "b", "c", NULL});
}
END_TEST

START_TEST(split_empty_line)
{
	expect_words("", (const char *const[]){NULL});
	expect_words(" \t  ", (const char *const[]){NULL});
}
END_TEST

START_TEST(split_double_quotes)
{
	expect_words("/p \"arg 2\" x", (const char *const[]){"/p", "arg 2", "x", NULL});
	/* \" \\ \$ \` are escapes inside double quotes; others stay. */
	expect_words("\"a\\\"b\" \"c\\\\d\" \"\\$HOME\" \"\\`x\\`\"",
	             (const char *const[]){"a\"b", "c\\d", "$HOME", "`x`", NULL});
	expect_words("\"a\\nb\" \"C:\\dir\"",
	             (const char *const[]){"a\\nb", "C:\\dir", NULL});
	expect_words("\"it's\" \"|;&<>()\"",
	             (const char *const[]){"it's", "|;&<>()", NULL});
}
END_TEST

START_TEST(split_single_quotes)
{
	expect_words("'a \"b\" \\c $d'", (const char *const[]){"a \"b\" \\c $d", NULL});
	expect_words("'' x", (const char *const[]){"", "x", NULL});
}
END_TEST

START_TEST(split_backslash_escapes)
{
	expect_words("/p 'a\\'b", (const char *const[]){"/p", "a\\b", NULL});
	expect_words("a\\ b c", (const char *const[]){"a b", "c", NULL});
	expect_words("\\\"q\\' \\\\ \\|", (const char *const[]){"\"q'", "\\", "|", NULL});
	expect_words("\\$HOME", (const char *const[]){"$HOME", NULL});
}
END_TEST

START_TEST(split_adjacent_parts_join)
{
	expect_words("a\"b c\"'d e'f g", (const char *const[]){"ab cd ef", "g", NULL});
	expect_words("/p \"\" ''x \"\"", (const char *const[]){"/p", "", "x", "", NULL});
}
END_TEST

START_TEST(split_errors)
{
	expect_split_error("/p \"abc", "unterminated double quote");
	expect_split_error("/p \"abc", "column 4");
	expect_split_error("/p 'abc", "unterminated single quote");
	/* No escapes in single quotes: 'a\' is closed, the last ' opens. */
	expect_split_error("/p 'a\\'b'", "unterminated single quote");
	expect_split_error("/p \"a\\\"", "unterminated double quote");
	expect_split_error("/p abc\\", "escapes nothing");
	expect_split_error("/p a | b", "unquoted '|' at column 6");
	expect_split_error("/p >out", "unquoted '>'");
	expect_split_error("/p $HOME", "without a shell");
	expect_split_error("/p a;b", "unquoted ';'");
	expect_split_error("/p `x`", "unquoted '`'");
	expect_split_error("/p a&", "unquoted '&'");
}
END_TEST

START_TEST(split_error_without_buffer)
{
	char **argv = NULL;
	size_t argc = 0;
	ck_assert_int_eq(exec_split_command("'open", &argv, &argc, NULL, 0), -1);
	ck_assert_ptr_null(argv);
}
END_TEST

START_TEST(split_many_short_words)
{
	/* The worst case for the word bound: one-byte words. */
	char line[2000];
	for (size_t i = 0; i < 1000; i++) {
		line[2 * i] = 'x';
		line[2 * i + 1] = ' ';
	}
	line[1998] = 'y';
	line[1999] = '\0';
	char **argv = NULL;
	size_t argc = 0;
	ck_assert_int_eq(exec_split_command(line, &argv, &argc, NULL, 0), 0);
	ck_assert_uint_eq(argc, 1000);
	ck_assert_str_eq(argv[998], "x");
	ck_assert_str_eq(argv[999], "y");
	ck_assert_ptr_null(argv[1000]);
	free(argv);

	/* And empty words: "" "" "" ... */
	char empties[3 * 300 + 1];
	for (size_t i = 0; i < 300; i++)
		memcpy(empties + 3 * i, "\"\" ", 3);
	empties[sizeof(empties) - 1] = '\0';
	ck_assert_int_eq(exec_split_command(empties, &argv, &argc, NULL, 0), 0);
	ck_assert_uint_eq(argc, 300);
	ck_assert_str_eq(argv[299], "");
	free(argv);
}
END_TEST

/* ---- exit-status mapping, with real children -------------------------- */

/* Forks a child that exits with code (or, when sig > 0, kills itself with
 * sig) and returns its wait status. */
static int child_status(int code, int sig)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (sig > 0) {
			signal(sig, SIG_DFL);
			kill(getpid(), sig);
		}
		_exit(code);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_mapping(int code, int sig, int32_t result, const char *why)
{
	char buf[64];
	int status = child_status(code, sig);
	ck_assert_int_eq(exec_result_from_status(status, buf, sizeof(buf)), result);
	ck_assert_str_eq(buf, why);
	ck_assert_int_eq(exec_result_from_status(status, NULL, 0), result);
}

START_TEST(status_exit_0_is_ok)
{
	expect_mapping(0, 0, BF_JOB_OK, "");
}
END_TEST

START_TEST(status_exit_75_is_retry)
{
	expect_mapping(75, 0, BF_JOB_RETRY, "exit status 75");
}
END_TEST

START_TEST(status_other_exit_is_fail)
{
	expect_mapping(3, 0, BF_JOB_FAIL, "exit status 3");
	expect_mapping(1, 0, BF_JOB_FAIL, "exit status 1");
	expect_mapping(255, 0, BF_JOB_FAIL, "exit status 255");
	expect_mapping(74, 0, BF_JOB_FAIL, "exit status 74");
}
END_TEST

START_TEST(status_signal_is_retry)
{
	expect_mapping(0, SIGKILL, BF_JOB_RETRY, "killed by signal 9");
	expect_mapping(0, SIGTERM, BF_JOB_RETRY, "killed by signal 15");
}
END_TEST

START_TEST(status_why_is_truncated_safely)
{
	char buf[6];
	int status = child_status(3, 0);
	ck_assert_int_eq(exec_result_from_status(status, buf, sizeof(buf)),
	                 BF_JOB_FAIL);
	ck_assert_str_eq(buf, "exit ");
}
END_TEST

/* ---- stderr tail ------------------------------------------------------ */

static char *tail_of(struct bf_exec_tail *tail)
{
	char *s = exec_tail_string(tail);
	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(tail_keeps_short_output)
{
	struct bf_exec_tail tail;
	ck_assert_int_eq(exec_tail_init(&tail, 10), 0);
	exec_tail_append(&tail, "hello", 5);
	char *s = tail_of(&tail);
	ck_assert_str_eq(s, "hello");
	free(s);
	ck_assert_uint_eq(tail.total, 5);
	exec_tail_free(&tail);
}
END_TEST

START_TEST(tail_keeps_last_bytes_with_marker)
{
	struct bf_exec_tail tail;
	ck_assert_int_eq(exec_tail_init(&tail, 10), 0);
	exec_tail_append(&tail, "0123", 4);
	exec_tail_append(&tail, "456789", 6);
	exec_tail_append(&tail, "abc", 3);
	char *s = tail_of(&tail);
	/* Kept: "3456789abc"; the marker takes the first three bytes. */
	ck_assert_str_eq(s, "...6789abc");
	ck_assert_uint_le(strlen(s), 10);
	free(s);

	/* One append longer than the buffer. */
	exec_tail_append(&tail, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26);
	s = tail_of(&tail);
	ck_assert_str_eq(s, "...TUVWXYZ");
	free(s);
	ck_assert_uint_eq(tail.total, 4 + 6 + 3 + 26);
	exec_tail_free(&tail);
	exec_tail_free(&tail); /* freed twice: still fine */
	exec_tail_free(NULL);
}
END_TEST

START_TEST(tail_matches_reference_for_any_split)
{
	/* Append a known stream in chunks of varied size; the kept bytes
	 * must always be the stream's last cap bytes. */
	char stream[5000];
	for (size_t i = 0; i < sizeof(stream); i++)
		stream[i] = (char)('a' + (i * 7 + i / 13) % 26);
	for (size_t cap = 1; cap < 70; cap += 3) {
		struct bf_exec_tail tail;
		ck_assert_int_eq(exec_tail_init(&tail, cap), 0);
		size_t fed = 0, step = 1;
		while (fed < sizeof(stream)) {
			size_t n = step % 97;
			if (n > sizeof(stream) - fed)
				n = sizeof(stream) - fed;
			exec_tail_append(&tail, stream + fed, n);
			fed += n;
			step = step * 5 + 3;
			size_t want = fed < cap ? fed : cap;
			ck_assert_uint_eq(tail.len, want);
			for (size_t i = 0; i < want; i++)
				ck_assert_int_eq(tail.buf[(tail.start + i) % cap],
				                 stream[fed - want + i]);
		}
		exec_tail_free(&tail);
	}
}
END_TEST

START_TEST(tail_trims_trailing_newlines_and_hides_nul)
{
	struct bf_exec_tail tail;
	ck_assert_int_eq(exec_tail_init(&tail, 100), 0);
	static const char out[] = "bad\0input\nsecond line \n\n";
	exec_tail_append(&tail, out, sizeof(out) - 1);
	char *s = tail_of(&tail);
	ck_assert_str_eq(s, "bad?input\nsecond line");
	free(s);
	exec_tail_free(&tail);
}
END_TEST

START_TEST(tail_cut_does_not_split_utf8)
{
	struct bf_exec_tail tail;
	ck_assert_int_eq(exec_tail_init(&tail, 8), 0);
	/* The last 8 bytes are C3 A9 C3 A9 C3 A9 'o' 'k'; the marker takes
	 * three, which would leave a lone continuation byte (A9) first, so
	 * one more goes. */
	exec_tail_append(&tail, "xx\xc3\xa9\xc3\xa9\xc3\xa9ok", 10);
	char *s = tail_of(&tail);
	ck_assert_uint_eq((unsigned char)s[0], '.');
	ck_assert_uint_eq((unsigned char)s[3] & 0xC0u, 0xC0u);
	ck_assert_str_eq(s, "...\xc3\xa9ok");
	ck_assert_uint_le(strlen(s), 8);
	free(s);
	exec_tail_free(&tail);
}
END_TEST

START_TEST(tail_with_zero_capacity)
{
	struct bf_exec_tail tail;
	ck_assert_int_eq(exec_tail_init(&tail, 0), 0);
	exec_tail_append(&tail, "anything", 8);
	char *s = tail_of(&tail);
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_uint_eq(tail.total, 8);
	exec_tail_free(&tail);
}
END_TEST

START_TEST(tail_too_small_for_marker)
{
	struct bf_exec_tail tail;
	ck_assert_int_eq(exec_tail_init(&tail, 3), 0);
	exec_tail_append(&tail, "abcdef", 6);
	char *s = tail_of(&tail);
	ck_assert_str_eq(s, "def");
	free(s);
	exec_tail_free(&tail);
}
END_TEST

/* ---- stdout lines ----------------------------------------------------- */

struct collected {
	char lines[16][EXEC_LINE_MAX + 64];
	size_t n;
};

static void collect(void *arg, const char *line)
{
	struct collected *c = arg;
	ck_assert_uint_lt(c->n, 16);
	snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s", line);
}

START_TEST(lines_split_across_feeds)
{
	struct bf_exec_lines lines;
	struct collected c;
	memset(&c, 0, sizeof(c));
	exec_lines_init(&lines);
	exec_lines_feed(&lines, "hel", 3, collect, &c);
	ck_assert_uint_eq(c.n, 0);
	exec_lines_feed(&lines, "lo\nwor", 6, collect, &c);
	exec_lines_feed(&lines, "ld\r\n\nlast", 9, collect, &c);
	exec_lines_finish(&lines, collect, &c);
	ck_assert_uint_eq(c.n, 4);
	ck_assert_str_eq(c.lines[0], "hello");
	ck_assert_str_eq(c.lines[1], "world");
	ck_assert_str_eq(c.lines[2], "");
	ck_assert_str_eq(c.lines[3], "last");
	exec_lines_finish(&lines, collect, &c);
	ck_assert_uint_eq(c.n, 4);
}
END_TEST

START_TEST(lines_long_line_is_cut)
{
	struct bf_exec_lines lines;
	struct collected c;
	memset(&c, 0, sizeof(c));
	char data[1502];
	memset(data, 'x', 1500);
	data[1500] = '\n';
	data[1501] = 'y';
	exec_lines_init(&lines);
	exec_lines_feed(&lines, data, 700, collect, &c);
	exec_lines_feed(&lines, data + 700, sizeof(data) - 700, collect, &c);
	exec_lines_finish(&lines, collect, &c);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(strlen(c.lines[0]),
	                  EXEC_LINE_MAX + strlen(" [500 bytes cut]"));
	ck_assert_ptr_nonnull(strstr(c.lines[0], "x [500 bytes cut]"));
	ck_assert_str_eq(c.lines[1], "y");
}
END_TEST

START_TEST(lines_hide_control_characters)
{
	struct bf_exec_lines lines;
	struct collected c;
	memset(&c, 0, sizeof(c));
	exec_lines_init(&lines);
	exec_lines_feed(&lines, "a\tb\x1b[31mred\x7f\0z\n", 15, collect, &c);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_str_eq(c.lines[0], "a\tb?[31mred??z");
}
END_TEST

/* ---- environment ------------------------------------------------------ */

static size_t env_count(char *const *env, const char *entry)
{
	size_t n = 0;
	for (size_t i = 0; env[i] != NULL; i++)
		if (strcmp(env[i], entry) == 0)
			n++;
	return n;
}

static size_t env_count_prefix(char *const *env, const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; env[i] != NULL; i++)
		if (strncmp(env[i], prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

START_TEST(env_adds_job_variables)
{
	char *base[] = {"PATH=/usr/bin:/bin", "BACKFILL_JOB_ID=stale",
	                "HOME=/var/lib/backfill", "BACKFILL_JOB_IDX=kept",
	                "BACKFILL_JOB_KEY=stale", "BACKFILL_LOG_LEVEL=debug",
	                NULL};
	const struct bf_exec_job_env job = {
		.job_id = 9007199254740993LL,
		.task = "resize",
		.queue = "bulk",
		.attempt = 2,
		.max_attempts = 25,
		.priority = -5,
		.job_key = NULL,
		.serial_key = NULL,
	};
	char **env = exec_env_build(base, &job);
	ck_assert_ptr_nonnull(env);
	ck_assert_uint_eq(env_count(env, "PATH=/usr/bin:/bin"), 1);
	ck_assert_uint_eq(env_count(env, "HOME=/var/lib/backfill"), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_JOB_IDX=kept"), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_LOG_LEVEL=debug"), 1);
	ck_assert_uint_eq(env_count_prefix(env, "BACKFILL_JOB_ID="), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_JOB_ID=9007199254740993"), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_TASK=resize"), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_QUEUE=bulk"), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_ATTEMPT=2"), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_MAX_ATTEMPTS=25"), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_PRIORITY=-5"), 1);
	/* No key: the stale inherited one is gone, none is added. */
	ck_assert_uint_eq(env_count_prefix(env, "BACKFILL_JOB_KEY="), 0);
	ck_assert_uint_eq(env_count_prefix(env, "BACKFILL_SERIAL_KEY="), 0);
	size_t n = 0;
	while (env[n] != NULL)
		n++;
	ck_assert_uint_eq(n, 4 + 6);
	free(env);
}
END_TEST

START_TEST(env_with_keys_and_no_base)
{
	const struct bf_exec_job_env job = {
		.job_id = 1,
		.task = "t",
		.queue = "fast",
		.attempt = 1,
		.max_attempts = 1,
		.priority = 0,
		.job_key = "user:42",
		.serial_key = "account=7",
	};
	char **env = exec_env_build(NULL, &job);
	ck_assert_ptr_nonnull(env);
	ck_assert_uint_eq(env_count(env, "BACKFILL_JOB_KEY=user:42"), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_SERIAL_KEY=account=7"), 1);
	ck_assert_uint_eq(env_count(env, "BACKFILL_JOB_ID=1"), 1);
	size_t n = 0;
	while (env[n] != NULL)
		n++;
	ck_assert_uint_eq(n, 8);
	free(env);
}
END_TEST

static Suite *exec_suite(void)
{
	Suite *s = suite_create("exec");

	TCase *split = tcase_create("split");
	tcase_add_test(split, split_plain_words);
	tcase_add_test(split, split_empty_line);
	tcase_add_test(split, split_double_quotes);
	tcase_add_test(split, split_single_quotes);
	tcase_add_test(split, split_backslash_escapes);
	tcase_add_test(split, split_adjacent_parts_join);
	tcase_add_test(split, split_errors);
	tcase_add_test(split, split_error_without_buffer);
	tcase_add_test(split, split_many_short_words);
	suite_add_tcase(s, split);

	TCase *status = tcase_create("status");
	tcase_add_test(status, status_exit_0_is_ok);
	tcase_add_test(status, status_exit_75_is_retry);
	tcase_add_test(status, status_other_exit_is_fail);
	tcase_add_test(status, status_signal_is_retry);
	tcase_add_test(status, status_why_is_truncated_safely);
	suite_add_tcase(s, status);

	TCase *tail = tcase_create("tail");
	tcase_add_test(tail, tail_keeps_short_output);
	tcase_add_test(tail, tail_keeps_last_bytes_with_marker);
	tcase_add_test(tail, tail_matches_reference_for_any_split);
	tcase_add_test(tail, tail_trims_trailing_newlines_and_hides_nul);
	tcase_add_test(tail, tail_cut_does_not_split_utf8);
	tcase_add_test(tail, tail_with_zero_capacity);
	tcase_add_test(tail, tail_too_small_for_marker);
	suite_add_tcase(s, tail);

	TCase *lines = tcase_create("lines");
	tcase_add_test(lines, lines_split_across_feeds);
	tcase_add_test(lines, lines_long_line_is_cut);
	tcase_add_test(lines, lines_hide_control_characters);
	suite_add_tcase(s, lines);

	TCase *env = tcase_create("env");
	tcase_add_test(env, env_adds_job_variables);
	tcase_add_test(env, env_with_keys_and_no_base);
	suite_add_tcase(s, env);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(exec_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
