/*
 * check_job.c -- unit tests for daemon/job.c (job_set_error: UTF-8 cleaning
 * and the 4000-byte cut) and the text buffer of daemon/db.c (buf_printf,
 * buf_array_text: the text[] literals the finish batch sends).
 */
#include "db.h"
#include "job.h"

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_MAX 4000

/* ---- job_set_error ----------------------------------------------------- */

/* True when s is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static bool valid_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		size_t len;
		unsigned cp;
		if (s[0] < 0x80) {
			s++;
			continue;
		} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
			len = 2;
			cp = s[0] & 0x1fu;
		} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
			len = 3;
			cp = s[0] & 0x0fu;
		} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
			len = 4;
			cp = s[0] & 0x07u;
		} else {
			return false;
		}
		for (size_t i = 1; i < len; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3fu);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += len;
	}
	return true;
}

static void expect_error_text(const char *in, const char *want)
{
	struct bf_job job;
	memset(&job, 0, sizeof(job));
	job_set_error(&job, in);
	ck_assert_ptr_nonnull(job.error);
	ck_assert_msg(strcmp(job.error, want) == 0, "job_set_error(\"%s\") gave \"%s\", expected \"%s\"",
	              in, job.error, want);
	ck_assert(valid_utf8(job.error));
	free(job.error);
}

START_TEST(error_keeps_valid_utf8)
{
	static const char *const same[] = {
		"",
		"plain ascii: connection refused (errno 111)",
		"tab\tand newline\n kept",
		"caf\xc3\xa9 \xe2\x82\xac 100 \xf0\x9f\x98\x80",  /* é € 😀 */
		"\xc2\x80 \xdf\xbf",                               /* U+0080, U+07FF */
		"\xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf", /* U+0800 U+D7FF U+E000 U+FFFF */
		"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf",               /* U+10000, U+10FFFF */
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		expect_error_text(same[i], same[i]);
}
END_TEST

START_TEST(error_replaces_invalid_bytes)
{
	expect_error_text("\xff", "?");
	expect_error_text("a\xff" "b\xfe" "c", "a?b?c");
	expect_error_text("\x80 lone continuation", "? lone continuation");
	expect_error_text("\xbf\xbf", "??");
	/* truncated sequences */
	expect_error_text("end \xc3", "end ?");
	expect_error_text("\xe2\x82x", "??x");
	expect_error_text("\xf0\x9f\x98", "???");
	expect_error_text("\xf0\x9f\x98 ok", "??? ok");
	expect_error_text("\xc3\xc3\xa9", "?\xc3\xa9");
	/* overlong encodings */
	expect_error_text("\xc0\x80", "??");
	expect_error_text("\xc1\xbf", "??");
	expect_error_text("\xe0\x80\xaf", "???");
	expect_error_text("\xe0\x9f\xbf", "???");
	expect_error_text("\xf0\x82\x82\xac", "????");
	expect_error_text("\xf0\x8f\xbf\xbf", "????");
	/* UTF-16 surrogates */
	expect_error_text("\xed\xa0\x80", "???");
	expect_error_text("\xed\xbf\xbf", "???");
	expect_error_text("x\xed\xa0\xbd\xed\xb8\x80y", "x??????y"); /* CESU-8 pair */
	/* beyond U+10FFFF, and 5- and 6-byte forms */
	expect_error_text("\xf4\x90\x80\x80", "????");
	expect_error_text("\xf7\xbf\xbf\xbf", "????");
	expect_error_text("\xf8\x88\x80\x80\x80", "?????");
	expect_error_text("\xfc\x84\x80\x80\x80\x80", "??????");
}
END_TEST

START_TEST(error_cut_at_4000_bytes)
{
	char *big = malloc(10001);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 10000);
	big[10000] = '\0';
	struct bf_job job;
	memset(&job, 0, sizeof(job));
	job_set_error(&job, big);
	ck_assert_uint_eq(strlen(job.error), ERROR_MAX);
	ck_assert_int_eq(memcmp(job.error, big, ERROR_MAX), 0);

	/* exactly 4000 and 3999 bytes are kept whole */
	big[ERROR_MAX] = '\0';
	job_set_error(&job, big);
	ck_assert_str_eq(job.error, big);
	big[ERROR_MAX - 1] = '\0';
	job_set_error(&job, big);
	ck_assert_str_eq(job.error, big);

	/* a cut inside a multi-byte character leaves valid UTF-8, within
	 * the limit, with everything before the character kept */
	for (size_t lead = ERROR_MAX - 4; lead <= ERROR_MAX; lead++) {
		memset(big, 'a', lead);
		memcpy(big + lead, "\xf0\x9f\x98\x80\xe2\x82\xac", 7);
		big[lead + 7] = '\0';
		job_set_error(&job, big);
		ck_assert_uint_le(strlen(job.error), ERROR_MAX);
		ck_assert_msg(valid_utf8(job.error), "lead %zu: invalid UTF-8", lead);
		ck_assert_int_eq(memcmp(job.error, big, lead < ERROR_MAX ? lead : ERROR_MAX), 0);
	}
	/* all multi-byte: 2000 x U+00E9 is 4000 bytes, 2001 is cut */
	for (size_t i = 0; i < 2001; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	big[4002] = '\0';
	job_set_error(&job, big);
	ck_assert_uint_eq(strlen(job.error), ERROR_MAX);
	ck_assert_int_eq(memcmp(job.error, big, ERROR_MAX), 0);
	free(job.error);
	free(big);
}
END_TEST

START_TEST(error_null_clears_and_last_wins)
{
	struct bf_job job;
	memset(&job, 0, sizeof(job));
	job_set_error(&job, NULL);
	ck_assert_ptr_null(job.error);
	job_set_error(&job, "first");
	ck_assert_str_eq(job.error, "first");
	job_set_error(&job, "second");
	ck_assert_str_eq(job.error, "second");
	job_set_error(&job, NULL);
	ck_assert_ptr_null(job.error);
	job_set_error(&job, "");
	ck_assert_str_eq(job.error, "");
	free(job.error);
}
END_TEST

START_TEST(error_copies_the_message)
{
	char msg[] = "mutable";
	struct bf_job job;
	memset(&job, 0, sizeof(job));
	job_set_error(&job, msg);
	ck_assert_ptr_ne(job.error, msg);
	msg[0] = 'X';
	ck_assert_str_eq(job.error, "mutable");
	free(job.error);
}
END_TEST

START_TEST(job_free_frees_everything)
{
	job_free(NULL);
	struct bf_job *job = calloc(1, sizeof(*job));
	ck_assert_ptr_nonnull(job);
	job->task = strdup("t");
	job->queue = strdup("fast");
	job->payload = strdup("{}");
	job->job_key = strdup("k");
	job->serial_key = NULL;
	job_set_error(job, "e");
	job_free(job); /* valgrind: no leak */
}
END_TEST

/* ---- text buffer ------------------------------------------------------- */

START_TEST(buf_printf_appends)
{
	struct bf_buf b = {0};
	buf_printf(&b, "%s", "");
	ck_assert_ptr_nonnull(b.data);
	ck_assert_str_eq(b.data, "");
	ck_assert_uint_eq(b.len, 0);
	buf_printf(&b, "{%d,%s", 42, "x");
	buf_printf(&b, ",%lld}", -7LL);
	ck_assert_str_eq(b.data, "{42,x,-7}");
	ck_assert_uint_eq(b.len, strlen("{42,x,-7}"));
	/* past the first allocation */
	buf_printf(&b, "%0600d", 1);
	ck_assert_uint_eq(b.len, 9 + 600);
	ck_assert_uint_eq(strlen(b.data), b.len);
	ck_assert_int_eq(b.data[b.len - 1], '1');
	ck_assert_int_eq(b.data[9], '0');
	ck_assert_uint_gt(b.cap, b.len);
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	buf_printf(&b, "%c%c", 'o', 'k');
	ck_assert_str_eq(b.data, "ok");
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	buf_free(&b);
	buf_reset(&b); /* on an empty buffer */
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(buf_append_grows)
{
	struct bf_buf b = {0};
	size_t total = 0;
	for (int i = 0; i < 1000; i++) {
		buf_append(&b, "abcdefg", (size_t)(i % 8));
		total += (size_t)(i % 8);
		ck_assert_uint_eq(b.len, total);
		ck_assert_int_eq(b.data[b.len], '\0');
	}
	ck_assert_uint_eq(strlen(b.data), total);
	ck_assert_int_eq(memcmp(b.data, "aababc", 6), 0);
	buf_free(&b);
}
END_TEST

static void expect_array(const char *const *elems, size_t n, const char *want)
{
	struct bf_buf b = {0};
	buf_append(&b, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append(&b, ",", 1);
		buf_array_text(&b, elems[i]);
	}
	buf_append(&b, "}", 1);
	ck_assert_msg(strcmp(b.data, want) == 0, "array [%s], expected [%s]", b.data, want);
	ck_assert_uint_eq(b.len, strlen(want));
	buf_free(&b);
}

START_TEST(array_text_quotes_and_escapes)
{
	expect_array((const char *const[]){"plain"}, 1, "{\"plain\"}");
	expect_array((const char *const[]){""}, 1, "{\"\"}");
	expect_array((const char *const[]){"say \"hi\""}, 1, "{\"say \\\"hi\\\"\"}");
	expect_array((const char *const[]){"C:\\dir\\"}, 1, "{\"C:\\\\dir\\\\\"}");
	expect_array((const char *const[]){"\\\""}, 1, "{\"\\\\\\\"\"}");
	/* array syntax inside an element stays inside the quotes */
	expect_array((const char *const[]){"a,b", "{c}", " d ", "NULL"}, 4,
	             "{\"a,b\",\"{c}\",\" d \",\"NULL\"}");
	expect_array((const char *const[]){"it's", "caf\xc3\xa9", "line\nbreak"}, 3,
	             "{\"it's\",\"caf\xc3\xa9\",\"line\nbreak\"}");
}
END_TEST

START_TEST(array_text_null_elements)
{
	expect_array((const char *const[]){NULL}, 1, "{NULL}");
	expect_array((const char *const[]){"a", NULL, "b", NULL}, 4, "{\"a\",NULL,\"b\",NULL}");
}
END_TEST

START_TEST(array_text_long_elements)
{
	/* all quotes: the escaped form is twice as long, plus the quotes */
	char *s = malloc(3001);
	ck_assert_ptr_nonnull(s);
	memset(s, '"', 3000);
	s[3000] = '\0';
	struct bf_buf b = {0};
	buf_append(&b, "{", 1);
	buf_array_text(&b, s);
	buf_append(&b, ",", 1);
	memset(s, '\\', 3000);
	buf_array_text(&b, s);
	buf_append(&b, "}", 1);
	ck_assert_uint_eq(b.len, 1 + 6002 + 1 + 6002 + 1);
	ck_assert_uint_eq(strlen(b.data), b.len);
	ck_assert_int_eq(b.data[1], '"');
	for (size_t i = 0; i < 3000; i++) {
		ck_assert_int_eq(b.data[2 + 2 * i], '\\');
		ck_assert_int_eq(b.data[3 + 2 * i], '"');
		ck_assert_int_eq(b.data[6005 + 2 * i], '\\');
		ck_assert_int_eq(b.data[6006 + 2 * i], '\\');
	}
	ck_assert_int_eq(b.data[6002], '"');
	ck_assert_int_eq(b.data[6003], ',');
	ck_assert_int_eq(b.data[b.len - 1], '}');
	buf_free(&b);

	/* many small elements after a reset: the buffer is reused */
	for (int i = 0; i < 500; i++)
		buf_array_text(&b, i % 3 ? "x\"y" : NULL);
	buf_reset(&b);
	buf_array_text(&b, "z");
	ck_assert_str_eq(b.data, "\"z\"");
	buf_free(&b);
	free(s);
}
END_TEST

static Suite *job_suite(void)
{
	Suite *s = suite_create("job");

	TCase *error = tcase_create("error");
	tcase_add_test(error, error_keeps_valid_utf8);
	tcase_add_test(error, error_replaces_invalid_bytes);
	tcase_add_test(error, error_cut_at_4000_bytes);
	tcase_add_test(error, error_null_clears_and_last_wins);
	tcase_add_test(error, error_copies_the_message);
	tcase_add_test(error, job_free_frees_everything);
	suite_add_tcase(s, error);

	TCase *buf = tcase_create("buf");
	tcase_add_test(buf, buf_printf_appends);
	tcase_add_test(buf, buf_append_grows);
	tcase_add_test(buf, array_text_quotes_and_escapes);
	tcase_add_test(buf, array_text_null_elements);
	tcase_add_test(buf, array_text_long_elements);
	suite_add_tcase(s, buf);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(job_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
