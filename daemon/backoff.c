/* backoff.c -- retry delay formulas. */
#include "backoff.h"

#include <math.h>

double backoff_job_delay_s(int attempts)
{
	if (attempts < 0)
		attempts = 0;
	if (attempts > 10)
		attempts = 10;
	return exp((double)attempts);
}

int64_t backoff_reconnect_ms(int failures, double random01)
{
	if (failures < 1)
		failures = 1;
	double ms = 100.0 * pow(2.0, (double)(failures > 20 ? 20 : failures - 1));
	if (ms > 10000.0)
		ms = 10000.0;
	if (!(random01 >= 0.0)) /* also NaN */
		random01 = 0.0;
	if (random01 > 1.0)
		random01 = 1.0;
	return (int64_t)(ms * (0.5 + 0.5 * random01));
}
