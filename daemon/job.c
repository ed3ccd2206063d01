/* job.c -- job lifetime and the error text that goes to last_error. */
#include "job.h"

#include <stdlib.h>

#include "host/host_rules.h"

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

void job_set_error(struct bf_job *job, const char *msg)
{
	char *old = job->error; /* freed last: msg may point into it */
	job->error = msg ? bf_host_rules_clean_error(msg) : NULL;
	free(old);
}
