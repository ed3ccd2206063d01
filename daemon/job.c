/* job.c -- job lifetime and the error text that goes to last_error. */
#include "job.h"

#include <stdlib.h>
#include <string.h>

#define JOB_ERROR_MAX 4000

void job_free(struct bf_job *job)
{
	if (!job)
		return;
	free(job->task);
	free(job->queue);
	free(job->payload);
	free(job->job_key);
	free(job->serial_key);
	free(job->error);
	free(job);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned int cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	static const unsigned int min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void job_set_error(struct bf_job *job, const char *msg)
{
	char *old = job->error; /* freed last: msg may point into it */
	job->error = NULL;
	if (!msg) {
		free(old);
		return;
	}
	size_t n = strnlen(msg, JOB_ERROR_MAX);
	char *out = malloc(n + 1);
	if (!out) {
		free(old);
		return;
	}
	const unsigned char *s = (const unsigned char *)msg;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(s + i, n - i);
		if (l == 0) {
			out[o++] = '?';
			i++;
		} else {
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
		}
	}
	out[o] = '\0';
	job->error = out;
	free(old);
}
