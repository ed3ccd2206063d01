/* executor.c -- the threaded handler executor and the result sink. */
#include "executor.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "loader.h"
#include "log.h"

struct bf_result_sink {
	pthread_mutex_t mu;
	struct bf_job *head, *tail;
	int efd;
};

struct bf_executor {
	char name[64];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct bf_job *head, *tail;
	int quit;
	unsigned active; /* handlers running now */
	unsigned limit;  /* at most this many at once (a shrunk pool) */
	unsigned nthreads;
	pthread_t *threads;
	struct bf_result_sink *sink;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct bf_result_sink *sink_new(void)
{
	struct bf_result_sink *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	pthread_mutex_init(&s->mu, NULL);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		log_error("executor: eventfd: %s", strerror(errno));
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	return s;
}

void sink_free(struct bf_result_sink *sink)
{
	if (!sink)
		return;
	for (struct bf_job *j = sink->head, *next; j; j = next) {
		next = j->next;
		job_free(j);
	}
	close(sink->efd);
	pthread_mutex_destroy(&sink->mu);
	free(sink);
}

int sink_fd(const struct bf_result_sink *sink) { return sink->efd; }

void sink_push(struct bf_result_sink *sink, struct bf_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&sink->mu);
	int was_empty = sink->head == NULL;
	if (sink->tail)
		sink->tail->next = job;
	else
		sink->head = job;
	sink->tail = job;
	pthread_mutex_unlock(&sink->mu);
	if (was_empty) {
		uint64_t one = 1;
		ssize_t w = write(sink->efd, &one, sizeof(one));
		(void)w; /* EAGAIN only if the counter is saturated: already awake */
	}
}

struct bf_job *sink_take_all(struct bf_result_sink *sink)
{
	uint64_t v;
	ssize_t r = read(sink->efd, &v, sizeof(v));
	(void)r;
	pthread_mutex_lock(&sink->mu);
	struct bf_job *all = sink->head;
	sink->head = sink->tail = NULL;
	pthread_mutex_unlock(&sink->mu);
	return all;
}

static void *worker_main(void *arg)
{
	struct bf_executor *ex = arg;
	for (;;) {
		pthread_mutex_lock(&ex->mu);
		while (!ex->quit && (!ex->head || ex->active >= ex->limit))
			pthread_cond_wait(&ex->cv, &ex->mu);
		if (ex->quit) {
			pthread_mutex_unlock(&ex->mu);
			return NULL;
		}
		struct bf_job *job = ex->head;
		ex->head = job->next;
		if (!ex->head)
			ex->tail = NULL;
		ex->active++;
		pthread_mutex_unlock(&ex->mu);

		job->next = NULL;
		job->started_us = now_us();
		loader_run_job(job);
		job->finished_us = now_us();

		pthread_mutex_lock(&ex->mu);
		ex->active--;
		if (ex->head) /* a thread held back by the limit may go now */
			pthread_cond_signal(&ex->cv);
		pthread_mutex_unlock(&ex->mu);
		sink_push(ex->sink, job);
	}
}

void executor_set_limit(struct bf_executor *ex, unsigned limit)
{
	pthread_mutex_lock(&ex->mu);
	ex->limit = limit;
	pthread_cond_broadcast(&ex->cv);
	pthread_mutex_unlock(&ex->mu);
}

int executor_grow(struct bf_executor *ex, unsigned threads)
{
	if (threads <= ex->nthreads)
		return 0;
	pthread_t *t = realloc(ex->threads, threads * sizeof(pthread_t));
	if (!t)
		abort();
	ex->threads = t;
	while (ex->nthreads < threads) {
		unsigned i = ex->nthreads;
		int rc = pthread_create(&ex->threads[i], NULL, worker_main, ex);
		if (rc != 0) {
			log_error("executor: cannot start worker thread %u of pool %s: %s", i + 1, ex->name,
			          strerror(rc));
			return -1;
		}
		char tname[32]; /* pthread names are cut to 15 bytes */
		snprintf(tname, sizeof(tname), "bf-%.6s-%u", ex->name, i + 1);
		tname[15] = '\0';
		pthread_setname_np(ex->threads[i], tname);
		ex->nthreads++;
	}
	return 0;
}

struct bf_executor *executor_new(const char *name, unsigned threads, struct bf_result_sink *sink)
{
	struct bf_executor *ex = calloc(1, sizeof(*ex));
	if (!ex)
		abort();
	snprintf(ex->name, sizeof(ex->name), "%s", name);
	pthread_mutex_init(&ex->mu, NULL);
	pthread_cond_init(&ex->cv, NULL);
	ex->sink = sink;
	ex->limit = threads;
	if (executor_grow(ex, threads) < 0) {
		executor_free(ex);
		return NULL;
	}
	return ex;
}

void executor_submit(struct bf_executor *ex, struct bf_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&ex->mu);
	if (ex->tail)
		ex->tail->next = job;
	else
		ex->head = job;
	ex->tail = job;
	pthread_cond_signal(&ex->cv);
	pthread_mutex_unlock(&ex->mu);
}

struct bf_job *executor_take_queued(struct bf_executor *ex)
{
	pthread_mutex_lock(&ex->mu);
	struct bf_job *list = ex->head;
	ex->head = ex->tail = NULL;
	pthread_mutex_unlock(&ex->mu);
	return list;
}

void executor_free(struct bf_executor *ex)
{
	if (!ex)
		return;
	pthread_mutex_lock(&ex->mu);
	ex->quit = 1;
	pthread_cond_broadcast(&ex->cv);
	pthread_mutex_unlock(&ex->mu);
	for (unsigned i = 0; i < ex->nthreads; i++)
		pthread_join(ex->threads[i], NULL);
	for (struct bf_job *j = ex->head, *next; j; j = next) {
		next = j->next;
		job_free(j);
	}
	free(ex->threads);
	pthread_cond_destroy(&ex->cv);
	pthread_mutex_destroy(&ex->mu);
	free(ex);
}
