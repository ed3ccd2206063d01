/*
 * check_backoff.c -- unit tests for daemon/backoff.c: the job retry delay
 * e^min(attempts, 10) seconds and the reconnect delay (100 ms doubling to
 * 10 s, times a jitter in [0.5, 1]).
 */
#include "backoff.h"

#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- job delay ---------------------------------------------------------- */

START_TEST(job_delay_is_e_to_the_attempts)
{
	static const double want[] = {
		2.718281828459045, /* 1 */
		7.38905609893065,  /* 2 */
		20.085536923187668,
		54.598150033144236,
		148.4131591025766,
		403.4287934927351,
		1096.6331584284585,
		2980.9579870417283,
		8103.083927575384,
		22026.465794806718, /* 10 */
	};
	for (int n = 1; n <= 10; n++) {
		double d = backoff_job_delay_s(n);
		ck_assert_msg(fabs(d - want[n - 1]) < 1e-9 * want[n - 1], "delay(%d) = %.17g, want %.17g",
		              n, d, want[n - 1]);
		ck_assert_double_eq_tol(d, exp((double)n), 1e-9);
	}
}
END_TEST

START_TEST(job_delay_capped_at_ten)
{
	const double cap = 22026.465794806718;
	for (int n = 10; n <= 12; n++)
		ck_assert_double_eq_tol(backoff_job_delay_s(n), cap, 1e-6);
	ck_assert_double_eq_tol(backoff_job_delay_s(25), cap, 1e-6);
	ck_assert_double_eq_tol(backoff_job_delay_s(1000000), cap, 1e-6);
	ck_assert_double_eq_tol(backoff_job_delay_s(INT_MAX), cap, 1e-6);
	/* about 6.1 hours */
	ck_assert_double_gt(backoff_job_delay_s(11), 6.1 * 3600);
	ck_assert_double_lt(backoff_job_delay_s(11), 6.2 * 3600);
}
END_TEST

START_TEST(job_delay_without_attempts_is_one_second)
{
	ck_assert_double_eq(backoff_job_delay_s(0), 1.0);
	ck_assert_double_eq(backoff_job_delay_s(-1), 1.0);
	ck_assert_double_eq(backoff_job_delay_s(-100), 1.0);
	ck_assert_double_eq(backoff_job_delay_s(INT_MIN), 1.0);
}
END_TEST

START_TEST(job_delay_never_decreases)
{
	double prev = 0.0;
	for (int n = -3; n <= 40; n++) {
		double d = backoff_job_delay_s(n);
		ck_assert_msg(d >= prev, "delay(%d) = %g < delay(%d) = %g", n, d, n - 1, prev);
		ck_assert(isfinite(d));
		prev = d;
	}
}
END_TEST

/* ---- reconnect delay --------------------------------------------------- */

START_TEST(reconnect_doubles_from_100ms)
{
	/* random01 = 1: no jitter reduction */
	static const int64_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000};
	for (int f = 1; f <= 8; f++)
		ck_assert_int_eq(backoff_reconnect_ms(f, 1.0), want[f - 1]);
}
END_TEST

START_TEST(reconnect_capped_at_10s)
{
	for (int f = 8; f <= 100; f++)
		ck_assert_int_eq(backoff_reconnect_ms(f, 1.0), 10000);
	ck_assert_int_eq(backoff_reconnect_ms(1000000, 1.0), 10000);
	ck_assert_int_eq(backoff_reconnect_ms(INT_MAX, 1.0), 10000);
	ck_assert_int_eq(backoff_reconnect_ms(INT_MAX, 0.0), 5000);
}
END_TEST

START_TEST(reconnect_before_first_failure)
{
	ck_assert_int_eq(backoff_reconnect_ms(0, 1.0), 100);
	ck_assert_int_eq(backoff_reconnect_ms(-5, 1.0), 100);
	ck_assert_int_eq(backoff_reconnect_ms(INT_MIN, 0.0), 50);
}
END_TEST

START_TEST(reconnect_jitter_in_half_to_one)
{
	for (int f = 1; f <= 30; f++) {
		int64_t full = backoff_reconnect_ms(f, 1.0);
		int64_t half = backoff_reconnect_ms(f, 0.0);
		ck_assert_int_eq(half, full / 2);
		int64_t prev = half;
		for (int i = 0; i <= 100; i++) {
			double r = i / 100.0;
			int64_t ms = backoff_reconnect_ms(f, r);
			ck_assert_msg(ms >= full / 2 && ms <= full, "f=%d r=%g: %lld not in [%lld, %lld]", f,
			              r, (long long)ms, (long long)(full / 2), (long long)full);
			ck_assert_int_ge(ms, prev); /* more random01, more delay */
			prev = ms;
		}
	}
	ck_assert_int_eq(backoff_reconnect_ms(3, 0.5), 300);
	ck_assert_int_eq(backoff_reconnect_ms(20, 0.5), 7500);
}
END_TEST

START_TEST(reconnect_clamps_random01)
{
	ck_assert_int_eq(backoff_reconnect_ms(4, -1.0), 400);
	ck_assert_int_eq(backoff_reconnect_ms(4, -1e300), 400);
	ck_assert_int_eq(backoff_reconnect_ms(4, 2.0), 800);
	ck_assert_int_eq(backoff_reconnect_ms(4, 1e300), 800);
	ck_assert_int_eq(backoff_reconnect_ms(4, INFINITY), 800);
	ck_assert_int_eq(backoff_reconnect_ms(4, -INFINITY), 400);
}
END_TEST

START_TEST(reconnect_with_rand)
{
	/* as the dispatcher calls it */
	srand(42);
	for (int i = 0; i < 1000; i++) {
		int f = 1 + i % 12;
		int64_t full = backoff_reconnect_ms(f, 1.0);
		int64_t ms = backoff_reconnect_ms(f, (double)rand() / RAND_MAX);
		ck_assert_int_ge(ms, full / 2);
		ck_assert_int_le(ms, full);
	}
}
END_TEST

static Suite *backoff_suite(void)
{
	Suite *s = suite_create("backoff");

	TCase *job = tcase_create("job");
	tcase_add_test(job, job_delay_is_e_to_the_attempts);
	tcase_add_test(job, job_delay_capped_at_ten);
	tcase_add_test(job, job_delay_without_attempts_is_one_second);
	tcase_add_test(job, job_delay_never_decreases);
	suite_add_tcase(s, job);

	TCase *reconnect = tcase_create("reconnect");
	tcase_add_test(reconnect, reconnect_doubles_from_100ms);
	tcase_add_test(reconnect, reconnect_capped_at_10s);
	tcase_add_test(reconnect, reconnect_before_first_failure);
	tcase_add_test(reconnect, reconnect_jitter_in_half_to_one);
	tcase_add_test(reconnect, reconnect_clamps_random01);
	tcase_add_test(reconnect, reconnect_with_rand);
	suite_add_tcase(s, reconnect);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(backoff_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
