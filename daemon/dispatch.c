/* dispatch.c -- the job loop: claim, hand out, finish, in batches, from the
 * event loop's thread.  It alone owns the database connections, the pools'
 * counters and the list of finished jobs waiting to be recorded.
 *
 * Connections: the control connection (register, heartbeat, dead workers,
 * returns; the janitor and cron use it too) runs short statements and waits
 * for them.  Claims and finishes run on links of their own,
 * without blocking the loop: one link records finished jobs while others
 * claim for the pools, so their work runs on separate backends at once. */
#include "dispatch.h"

#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "config.h"
#include "cron.h"
#include "db.h"
#include "executor.h"
#include "janitor.h"
#include "job.h"
#include "jobsql.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "vacuum.h"

/* Claim links: pools share them in turn, one claim in flight per pool. */
#define CLAIM_LINKS_MAX 2
/* The link that LISTENs: the backend a NOTIFY wakes then runs the claim
 * for the first pool, without waking another backend first. */
#define LISTEN_LINK 1
/* Results waiting to be recorded (queued or being sent) above which no more
 * jobs are claimed: when finishing falls behind (a slow finish, a row lock
 * held from elsewhere) the daemon must not go on locking the whole backlog
 * for results it cannot record.  Normal finishes stay under ~1000. */
#define UNRECORDED_MAX 5000

enum link_op { LINK_IDLE, LINK_CLAIM, LINK_FINISH };

/* A connection that runs one claim or one finish at a time, asynchronously. */
struct bf_link {
	struct bf_dispatch *d;
	struct bf_db db;
	struct event *ev; /* its socket, while connected */
	enum link_op op;
	struct bf_pool *pool;  /* LINK_CLAIM: claiming for this pool */
	unsigned generation;   /* LINK_CLAIM: the worker's generation when sent */
	struct bf_job *batch;  /* LINK_FINISH: the jobs being recorded */
};

enum bf_dispatch_state {
	DISPATCH_RUNNING,  /* claiming and running */
	DISPATCH_DRAINING, /* shutdown asked: no new claims, waiting for running jobs */
	DISPATCH_DONE,     /* everything finished or returned; the loop may stop */
};

struct bf_dispatch {
	struct event_base *base;
	const struct bf_config *cfg;
	const struct bf_loader *loader;
	bool once;
	enum bf_dispatch_state state;
	atomic_int stop_level; /* BF_STOP_*, read by handlers */

	struct bf_db db; /* control connection */
	/* links[0] finishes, links[1..nlinks-1] claim */
	struct bf_link links[1 + CLAIM_LINKS_MAX];
	size_t nlinks;
	size_t next_pool; /* where the next claim's search for a pool starts */
	bool paused;      /* a claim or finish failed: wait for retry_ev */
	bool sweep_wanted; /* heartbeat: look for orphaned claims once no claim is in flight */
	char worker_id[160]; /* base_id, plus "#N" after being declared dead N-1 times */
	char base_id[128];
	unsigned generation;
	char host[256];
	char *tasks_literal;  /* text[] of every task we handle */
	char *queues_literal; /* text[] of the queues we serve */

	struct bf_pool **pools;
	size_t npools;
	struct bf_result_sink *sink;
	struct bf_janitor *janitor; /* NULL with --once */
	struct bf_vacuum *vacuum;   /* NULL with --once */
	struct bf_cron *cron;       /* NULL with --once */

	/* ids of jobs handed to threads whose results are not back yet */
	int64_t *running;
	size_t nrunning, running_cap;

	/* finished jobs not yet recorded in the database, oldest first */
	struct bf_job *finished;
	struct bf_job **finished_tail;
	/* results in finished and in the finish link's batch */
	size_t unrecorded;
	bool claims_held; /* claiming stopped for unrecorded results (logged) */

	struct event *sink_ev;
	struct event *notify_ev;
	struct event *poll_ev;
	struct event *heartbeat_ev;
	struct event *reconnect_ev;
	struct event *deadline_ev;
	struct event *retry_ev; /* re-run the tick after a failed statement */
	struct event *kick_ev;  /* run a tick from the loop, soon */
	int reconnect_failures;
	bool in_tick;
	bool started; /* dispatch_start ran */
};

static void tick(struct bf_dispatch *d);
static void connection_lost(struct bf_dispatch *d);
static void wake_pool(struct bf_pool *p);
static void wake_all_pools(struct bf_dispatch *d);

static void running_add(struct bf_dispatch *d, int64_t id)
{
	if (d->nrunning == d->running_cap) {
		d->running_cap = d->running_cap ? d->running_cap * 2 : 64;
		d->running = realloc(d->running, d->running_cap * sizeof(*d->running));
		if (!d->running)
			abort();
	}
	d->running[d->nrunning++] = id;
}

static void running_remove(struct bf_dispatch *d, int64_t id)
{
	for (size_t i = 0; i < d->nrunning; i++) {
		if (d->running[i] == id) {
			d->running[i] = d->running[--d->nrunning];
			return;
		}
	}
}

/* A bigint[] literal of the running ids, plus, if asked, the finished ones
 * (waiting, or being recorded on a link). */
static void ids_literal(const struct bf_dispatch *d, bool with_finished, struct bf_buf *out)
{
	buf_reset(out);
	buf_append(out, "{", 1);
	const char *sep = "";
	for (size_t i = 0; i < d->nrunning; i++) {
		buf_printf(out, "%s%lld", sep, (long long)d->running[i]);
		sep = ",";
	}
	for (size_t k = 0; with_finished && k <= d->nlinks; k++) {
		const struct bf_job *list = k < d->nlinks ? d->links[k].batch : d->finished;
		for (const struct bf_job *j = list; j; j = j->next) {
			buf_printf(out, "%s%lld", sep, (long long)j->id);
			sep = ",";
		}
	}
	buf_append(out, "}", 1);
}

static void schedule_retry(struct bf_dispatch *d, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(d->retry_ev, &tv);
}

/* ---- results ---------------------------------------------------------- */

static void take_results(struct bf_dispatch *d)
{
	struct bf_job *list = sink_take_all(d->sink);
	while (list) {
		struct bf_job *j = list;
		list = j->next;
		j->next = NULL;
		/* a slot freed in a full pool may let a due job run */
		bool was_full = pool_claim_room(j->pool) == 0;
		pool_job_done(j->pool, j);
		if (was_full)
			wake_pool(j->pool);
		running_remove(d, j->id);
		double ms = (double)(j->finished_us - j->started_us) / 1000.0;
		if (j->outcome == JOB_OUTCOME_DONE)
			log_job(LOG_LEVEL_DEBUG, j, "done in %.1f ms", ms);
		else
			log_job(j->outcome == JOB_OUTCOME_RETRY && j->attempts < j->max_attempts
			            ? LOG_LEVEL_INFO
			            : LOG_LEVEL_WARN,
			        j, "%s (ran %.1f ms): %s",
			        j->outcome == JOB_OUTCOME_FAIL           ? "failed permanently"
			        : j->attempts >= j->max_attempts ? "failed on its last attempt"
			                                         : "failed, will retry",
			        ms, j->error ? j->error : "");
		if (j->generation != d->generation) {
			/* claimed before this daemon was declared dead: the job was
			 * released and may run (or have run) elsewhere; its result
			 * must not finish that other run */
			log_job(LOG_LEVEL_WARN, j, "result dropped: the job was released when this daemon "
			                           "was declared dead");
			job_free(j);
			continue;
		}
		*d->finished_tail = j;
		d->finished_tail = &j->next;
		d->unrecorded++;
	}
}

/* Metrics and logs for a recorded batch; frees its jobs. */
static void batch_recorded(struct bf_dispatch *d, struct bf_job *batch, int completed, int retried, int dead)
{
	if (dead > 0)
		log_warn("%d job(s) moved to the dead-letter queue", dead);
	size_t n = 0, resent = 0;
	for (struct bf_job *j = batch, *next; j; j = next) {
		next = j->next;
		resent += j->resent;
		enum bf_metrics_outcome o = METRICS_OUTCOME_COMPLETED;
		if (j->outcome == JOB_OUTCOME_FAIL || (j->outcome == JOB_OUTCOME_RETRY && j->attempts >= j->max_attempts))
			o = METRICS_OUTCOME_DEAD;
		else if (j->outcome == JOB_OUTCOME_RETRY)
			o = METRICS_OUTCOME_RETRIED;
		metrics_job_finished(j->queue, j->task, o, (double)(j->finished_us - j->started_us) / 1e6);
		job_free(j);
		n++;
	}
	d->unrecorded -= n < d->unrecorded ? n : d->unrecorded;
	if (d->state == DISPATCH_RUNNING)
		vacuum_count(d->vacuum, n);
	size_t missing = n - (size_t)(completed + retried + dead);
	if ((size_t)(completed + retried + dead) > n)
		missing = 0;
	/* a finish whose reply was lost may have committed: its jobs were
	 * recorded then, and the repeat finds them gone */
	size_t already = missing < resent ? missing : resent;
	if (already > 0)
		log_info("%zu result(s) sent again after a lost connection had been recorded already", already);
	if (missing > already)
		log_warn("%zu finished job(s) were no longer ours (released after a lost heartbeat?); "
		         "their results were dropped",
		         missing - already);
}

/* Records every finished job in one statement on the control connection,
 * waiting for it (shutdown).  -1 if it could not (the jobs stay queued). */
static int flush_finished(struct bf_dispatch *d)
{
	if (!d->finished)
		return 0;
	int completed, retried, dead;
	if (jobsql_finish(&d->db, d->worker_id, d->finished, &completed, &retried, &dead) < 0)
		return -1;
	batch_recorded(d, d->finished, completed, retried, dead);
	d->finished = NULL;
	d->finished_tail = &d->finished;
	return 0;
}

/* Puts a batch that was not recorded back in front of the waiting ones. */
static void requeue_batch(struct bf_dispatch *d, struct bf_link *l)
{
	if (!l->batch)
		return;
	struct bf_job *last = l->batch;
	for (;;) {
		last->resent = true;
		if (!last->next)
			break;
		last = last->next;
	}
	last->next = d->finished;
	if (!d->finished)
		d->finished_tail = &last->next;
	d->finished = l->batch;
	l->batch = NULL;
}

/* Gives jobs back to the queue (attempt refunded) on the control
 * connection, and frees them. */
static void give_back(struct bf_dispatch *d, struct bf_job *list, const char *what)
{
	struct bf_buf ids = {0};
	size_t n = 0;
	buf_append(&ids, "{", 1);
	while (list) {
		struct bf_job *j = list;
		list = j->next;
		buf_printf(&ids, "%s%lld", n++ ? "," : "", (long long)j->id);
		job_free(j);
	}
	buf_append(&ids, "}", 1);
	if (n > 0) {
		if (db_connected(&d->db) && jobsql_return(&d->db, d->worker_id, ids.data) == 0)
			log_info("returned %zu job(s) %s, attempt refunded", n, what);
		else
			log_error("could not return %zu job(s) %s: they are released when this "
			          "worker's heartbeat times out (%d s)",
			          n, what, d->cfg->heartbeat_timeout_s);
	}
	buf_free(&ids);
}

static void on_sink(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tick(arg);
}

static void pause_links(struct bf_dispatch *d)
{
	d->paused = true;
	schedule_retry(d, 1000);
}

/* Hands back (attempt refunded) the jobs this worker holds in the database
 * but does not know of: claims whose reply never came.  A claim abandoned
 * with its connection can still commit later, so this runs after every
 * reconnect and at every heartbeat, always with no claim in flight. */
static int sweep_orphans(struct bf_dispatch *d)
{
	struct bf_buf keep = {0};
	ids_literal(d, true, &keep);
	int returned = 0;
	int rc = jobsql_return_except(&d->db, d->worker_id, keep.data, &returned);
	buf_free(&keep);
	if (rc == 0 && returned > 0)
		log_warn("returned %d job(s) this daemon had claimed without receiving the claim's reply "
		         "(a lost connection); attempt refunded",
		         returned);
	return rc;
}

/* ---- claiming --------------------------------------------------------- */

static void claimed(struct bf_dispatch *d, struct bf_link *l, PGresult *r)
{
	struct bf_pool *p = l->pool;
	l->op = LINK_IDLE;
	l->pool = NULL;
	p->claiming = false;
	if (!r) {
		pause_links(d);
		return;
	}
	struct bf_job *jobs = NULL;
	int n = jobsql_claim_parse(r, &jobs);
	PQclear(r);
	/* keep claiming until a claim comes back empty: a claim can return
	 * fewer jobs than asked although more are due (one per serial key) */
	p->maybe_more = n > 0 || p->rewake;
	p->rewake = false;
	if (!jobs)
		return;
	if (l->generation != d->generation) {
		/* this daemon was declared dead after the claim committed, and
		 * the jobs were released then: another daemon may run them */
		log_warn("%d job(s) claimed just before this daemon was declared dead were released; "
		         "not running them",
		         n);
		while (jobs) {
			struct bf_job *j = jobs;
			jobs = j->next;
			job_free(j);
		}
		return;
	}
	if (d->state != DISPATCH_RUNNING) {
		give_back(d, jobs, "claimed as the daemon began to stop");
		return;
	}
	while (jobs) {
		struct bf_job *j = jobs;
		jobs = j->next;
		j->next = NULL;
		j->handler = loader_find_task(d->loader, j->task);
		j->stop_level = &d->stop_level;
		j->generation = d->generation;
		if (!j->handler) { /* cannot happen: we claim only our tasks */
			log_error("job %lld: claimed task %s has no handler", (long long)j->id, j->task);
			abort();
		}
		log_job(LOG_LEVEL_DEBUG, j, "claimed (task %s)", j->task);
		metrics_jobs_claimed(j->queue, j->task, 1);
		running_add(d, j->id);
		pool_submit(p, j);
	}
}

static void recorded(struct bf_dispatch *d, struct bf_link *l, PGresult *r)
{
	l->op = LINK_IDLE;
	int completed, retried, dead;
	if (!r || jobsql_finish_parse(r, &completed, &retried, &dead) < 0) {
		PQclear(r);
		requeue_batch(d, l);
		pause_links(d);
		return;
	}
	PQclear(r);
	/* a freed serial key or a retry may make a job due: claim again (a
	 * claim that ran alongside may have missed it) */
	for (const struct bf_job *j = l->batch; j; j = j->next)
		if (j->serial_key || j->outcome != JOB_OUTCOME_DONE)
			wake_pool(j->pool);
	batch_recorded(d, l->batch, completed, retried, dead);
	l->batch = NULL;
}

static void link_done(struct bf_dispatch *d, struct bf_link *l, PGresult *r)
{
	if (l->op == LINK_CLAIM)
		claimed(d, l, r);
	else
		recorded(d, l, r);
}

static const char *link_what(const struct bf_link *l)
{
	return l->op == LINK_CLAIM ? "claim" : l->op == LINK_FINISH ? "finish" : "idle connection";
}

static void on_link(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_link *l = arg;
	struct bf_dispatch *d = l->d;
	if (l->op == LINK_IDLE) { /* a NOTIFY, or the server closing it */
		int n = db_poll_notifies(&l->db);
		if (n < 0) {
			connection_lost(d);
		} else if (n > 0) {
			wake_all_pools(d);
			tick(d);
		}
		return;
	}
	PGresult *r = NULL;
	int rc = db_read_result(&l->db, link_what(l), &r);
	if (rc == 0)
		return;
	if (rc < 0) {
		connection_lost(d);
		return;
	}
	link_done(d, l, r);
	tick(d);
}

/* Waits for whatever the links have in flight (shutdown). */
static void links_settle(struct bf_dispatch *d)
{
	for (size_t i = 0; i < d->nlinks; i++) {
		struct bf_link *l = &d->links[i];
		if (l->op == LINK_IDLE)
			continue;
		PGresult *r = NULL;
		if (db_wait_result(&l->db, link_what(l), &r) < 0) {
			connection_lost(d);
			return;
		}
		link_done(d, l, r);
	}
}

static bool all_idle(const struct bf_dispatch *d)
{
	for (size_t i = 0; i < d->npools; i++)
		if (d->pools[i]->in_flight > 0)
			return false;
	return true;
}

static bool links_busy(const struct bf_dispatch *d)
{
	for (size_t i = 0; i < d->nlinks; i++)
		if (d->links[i].op != LINK_IDLE)
			return true;
	return false;
}

static void wake_pool(struct bf_pool *p)
{
	p->maybe_more = true;
	if (p->claiming)
		p->rewake = true;
}

/* After a wake-up the search starts again from the first pool. */
static void wake_all_pools(struct bf_dispatch *d)
{
	for (size_t i = 0; i < d->npools; i++)
		wake_pool(d->pools[i]);
	d->next_pool = 0;
}

/* Whether results wait unrecorded in such numbers that claiming must
 * stop until they are recorded; logs the change. */
static bool claims_held(struct bf_dispatch *d)
{
	bool held = d->unrecorded >= (d->claims_held ? UNRECORDED_MAX / 2 : UNRECORDED_MAX);
	if (held && !d->claims_held)
		log_warn("%zu results wait to be recorded (finishing falls behind: a slow statement or a lock "
		         "held on a job row?); no more jobs are claimed until fewer than %d wait",
		         d->unrecorded, UNRECORDED_MAX / 2);
	else if (!held && d->claims_held)
		log_info("results recorded (%zu waiting); claiming again", d->unrecorded);
	d->claims_held = held;
	return held;
}

/* The next pool, in turn, that has room and may have due jobs. */
static struct bf_pool *next_pool_to_claim(struct bf_dispatch *d)
{
	if (claims_held(d))
		return NULL;
	for (size_t k = 0; k < d->npools; k++) {
		size_t i = (d->next_pool + k) % d->npools;
		struct bf_pool *p = d->pools[i];
		if (p->maybe_more && !p->claiming && pool_wants_claim(p)) {
			d->next_pool = (i + 1) % d->npools;
			return p;
		}
	}
	return NULL;
}

/* A statement could not be sent: the connection broke, or it failed. */
static void send_failed(struct bf_dispatch *d, struct bf_link *l)
{
	if (!db_connected(&l->db))
		connection_lost(d);
	else
		pause_links(d);
}

/* Sends what the idle links can do now: the waiting results, and a claim
 * for each pool with free slots. */
static void pump(struct bf_dispatch *d)
{
	struct bf_link *f = &d->links[0];
	if (f->op == LINK_IDLE && d->finished) {
		if (jobsql_finish_send(&f->db, d->worker_id, d->finished) < 0) {
			send_failed(d, f);
			return;
		}
		f->op = LINK_FINISH;
		f->batch = d->finished;
		d->finished = NULL;
		d->finished_tail = &d->finished;
	}
	if (d->state != DISPATCH_RUNNING)
		return;
	if (d->sweep_wanted) {
		/* no new claims until those in flight are back, then sweep */
		for (size_t i = 1; i < d->nlinks; i++)
			if (d->links[i].op == LINK_CLAIM)
				return;
		d->sweep_wanted = false;
		if (sweep_orphans(d) < 0 && !db_connected(&d->db)) {
			connection_lost(d);
			return;
		}
	}
	for (size_t i = 1; i < d->nlinks; i++) {
		struct bf_link *l = &d->links[i];
		if (l->op != LINK_IDLE)
			continue;
		struct bf_pool *p = next_pool_to_claim(d);
		if (!p)
			break;
		if (jobsql_claim_send(&l->db, d->worker_id, p->name, d->tasks_literal, pool_claim_room(p)) < 0) {
			send_failed(d, l);
			return;
		}
		l->op = LINK_CLAIM;
		l->pool = p;
		l->generation = d->generation;
		p->claiming = true;
		p->rewake = false;
	}
}

static void finish_shutdown(struct bf_dispatch *d)
{
	if (db_connected(&d->db) && !d->nrunning && jobsql_unregister(&d->db, d->worker_id) == 0)
		log_debug("unregistered worker %s", d->worker_id);
	d->state = DISPATCH_DONE;
	event_base_loopbreak(d->base);
}

/* One turn of work: take results, send them to be recorded, claim for free
 * slots.  Called on every wake-up (results, replies, NOTIFY, poll,
 * reconnect). */
static void tick(struct bf_dispatch *d)
{
	if (d->in_tick || d->state == DISPATCH_DONE)
		return;
	d->in_tick = true;
	take_results(d);
	if (!db_connected(&d->db)) {
		connection_lost(d);
		goto out;
	}
	if (!d->paused)
		pump(d);
	if (!db_connected(&d->db))
		goto out;
	/* NOTIFYs that arrived with a statement's reply: the socket will not
	 * wake us for them */
	if (db_take_notifies(&d->links[LISTEN_LINK].db) > 0) {
		wake_all_pools(d);
		event_active(d->kick_ev, EV_TIMEOUT, 0);
	}
	bool quiet = all_idle(d) && !d->finished && !links_busy(d);
	if (d->state == DISPATCH_RUNNING && d->once && quiet) {
		bool more = false;
		for (size_t i = 0; i < d->npools; i++)
			more |= d->pools[i]->maybe_more && d->pools[i]->concurrency > 0;
		if (!more) {
			log_info("--once: nothing more is due; exiting");
			finish_shutdown(d);
		}
	} else if (d->state == DISPATCH_DRAINING && quiet) {
		log_info("drained: every running job finished");
		finish_shutdown(d);
	}
out:
	d->in_tick = false;
}

/* The control connection's socket: readable when the server closes it
 * (it does not LISTEN; a NOTIFY would still be counted). */
static void on_notify(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_dispatch *d = arg;
	int n = db_poll_notifies(&d->db);
	if (n < 0) {
		connection_lost(d);
		return;
	}
	if (n > 0) {
		wake_all_pools(d);
		tick(d);
	}
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_dispatch *d = arg;
	wake_all_pools(d);
	tick(d);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tick(arg);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_dispatch *d = arg;
	d->paused = false;
	tick(d);
}

/* ---- connection ------------------------------------------------------- */

static int register_worker(struct bf_dispatch *d)
{
	return jobsql_register(&d->db, d->worker_id, d->host, (int)getpid(), d->queues_literal,
	                       d->cfg->heartbeat_timeout_s);
}

static int link_open(struct bf_link *l, bool listen)
{
	if (db_connect(&l->db, listen) < 0 || jobsql_prepare(&l->db, NULL) < 0) {
		db_disconnect(&l->db);
		return -1;
	}
	l->ev = event_new(l->d->base, db_socket(&l->db), EV_READ | EV_PERSIST, on_link, l);
	event_add(l->ev, NULL);
	return 0;
}

/* Closes a link.  A claim in flight may have committed: connect_db hands
 * such jobs back.  A batch being recorded waits to be sent again (every
 * change is guarded by the owner, so a repeat changes nothing). */
static void link_close(struct bf_link *l)
{
	if (l->ev)
		event_free(l->ev);
	l->ev = NULL;
	db_disconnect(&l->db);
	if (l->op == LINK_CLAIM)
		l->pool->claiming = false;
	else if (l->op == LINK_FINISH)
		requeue_batch(l->d, l);
	l->op = LINK_IDLE;
	l->pool = NULL;
}

static void close_all(struct bf_dispatch *d)
{
	for (size_t i = 0; i < d->nlinks; i++)
		link_close(&d->links[i]);
	if (d->notify_ev) {
		event_free(d->notify_ev);
		d->notify_ev = NULL;
	}
	db_disconnect(&d->db);
}

/* Connects (control connection and links), prepares, registers, hands back
 * jobs we hold but lost track of (sweep_orphans). */
static int connect_db(struct bf_dispatch *d)
{
	if (db_connect(&d->db, false) < 0)
		return -1;
	if (jobsql_prepare(&d->db, NULL) < 0 || register_worker(d) < 0)
		goto fail;
	for (size_t i = 0; i < d->nlinks; i++)
		if (link_open(&d->links[i], i == LISTEN_LINK && !d->once) < 0)
			goto fail;
	if (sweep_orphans(d) < 0)
		goto fail;
	if (!d->once) {
		if (d->notify_ev)
			event_free(d->notify_ev);
		d->notify_ev = event_new(d->base, db_socket(&d->db), EV_READ | EV_PERSIST, on_notify, d);
		event_add(d->notify_ev, NULL);
	}
	return 0;
fail:
	close_all(d);
	return -1;
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_dispatch *d = arg;
	if (connect_db(d) == 0) {
		log_info("database: reconnected to %s after %d failed attempt(s)", d->db.masked,
		         d->reconnect_failures);
		metrics_db_reconnect(METRICS_CONN_JOBS);
		d->reconnect_failures = 0;
		wake_all_pools(d);
		tick(d);
		cron_poke(d->cron);
		return;
	}
	d->reconnect_failures++;
	int64_t ms = backoff_reconnect_ms(d->reconnect_failures + 1, (double)rand() / RAND_MAX);
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	evtimer_add(d->reconnect_ev, &tv);
}

static void connection_lost(struct bf_dispatch *d)
{
	if (evtimer_pending(d->reconnect_ev, NULL))
		return;
	close_all(d);
	log_warn("database: connection lost; %zu job(s) running, %s result(s) waiting; reconnecting",
	         d->nrunning, d->finished ? "some" : "no");
	int64_t ms = backoff_reconnect_ms(d->reconnect_failures + 1, (double)rand() / RAND_MAX);
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	evtimer_add(d->reconnect_ev, &tv);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_dispatch *d = arg;
	if (!db_connected(&d->db))
		return;
	bool alive = true;
	if (jobsql_heartbeat(&d->db, d->worker_id, &alive) < 0) {
		if (!db_connected(&d->db))
			connection_lost(d);
		return;
	}
	if (!alive) {
		d->generation++;
		char old_id[sizeof(d->worker_id)];
		snprintf(old_id, sizeof(old_id), "%s", d->worker_id);
		snprintf(d->worker_id, sizeof(d->worker_id), "%s#%u", d->base_id, d->generation);
		log_warn("worker %s was declared dead by another daemon (no heartbeat for %d s); the "
		         "jobs it was running were released and may run twice; their results will be "
		         "dropped; re-registering as %s",
		         old_id, d->cfg->heartbeat_timeout_s, d->worker_id);
		if (register_worker(d) < 0)
			return;
	}
	/* claims abandoned with a lost connection may have committed since */
	d->sweep_wanted = true;
	event_active(d->kick_ev, EV_TIMEOUT, 0);
	int released = 0;
	if (jobsql_recover_dead(&d->db, d->worker_id, &released) == 0 && released > 0) {
		metrics_dead_workers_recovered(released);
		log_warn("released %d job(s) of dead worker(s); they will run again", released);
		wake_all_pools(d);
		tick(d);
	}
}

/* ---- shutdown --------------------------------------------------------- */

static void abort_running(struct bf_dispatch *d)
{
	atomic_store(&d->stop_level, BF_STOP_ABORT);
	links_settle(d);
	take_results(d);
	if (d->nrunning > 0) {
		struct bf_buf ids = {0};
		ids_literal(d, false, &ids);
		if (db_connected(&d->db) && jobsql_return(&d->db, d->worker_id, ids.data) == 0)
			log_warn("returned %zu unfinished job(s) to the queue, attempt refunded", d->nrunning);
		else
			log_error("could not return %zu unfinished job(s): they are released when this "
			          "worker's heartbeat times out (%d s)",
			          d->nrunning, d->cfg->heartbeat_timeout_s);
		buf_free(&ids);
	}
	if (db_connected(&d->db) && flush_finished(d) < 0)
		log_error("could not record finished jobs; they will run again");
	d->state = DISPATCH_DONE;
	if (db_connected(&d->db) && jobsql_unregister(&d->db, d->worker_id) < 0)
		log_warn("could not unregister worker %s", d->worker_id);
	event_base_loopbreak(d->base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bf_dispatch *d = arg;
	log_warn("shutdown timeout (%d s) reached with %zu job(s) still running", d->cfg->shutdown_timeout_s,
	         d->nrunning);
	abort_running(d);
}

/* Jobs claimed ahead that no thread started go back at once (refunded). */
static void return_queued(struct bf_dispatch *d)
{
	struct bf_job *all = NULL;
	for (size_t i = 0; i < d->npools; i++) {
		struct bf_job *list = pool_take_queued(d->pools[i]);
		while (list) {
			struct bf_job *j = list;
			list = j->next;
			running_remove(d, j->id);
			j->next = all;
			all = j;
		}
	}
	give_back(d, all, "claimed ahead and not started");
}

void dispatch_shutdown(struct bf_dispatch *d)
{
	if (d->state == DISPATCH_DONE)
		return;
	if (d->state == DISPATCH_DRAINING) {
		log_warn("second stop signal: not waiting for running jobs");
		abort_running(d);
		return;
	}
	d->state = DISPATCH_DRAINING;
	atomic_store(&d->stop_level, BF_STOP_DRAIN);
	janitor_stop(d->janitor);
	cron_stop(d->cron);
	if (d->poll_ev)
		evtimer_del(d->poll_ev);
	return_queued(d);
	log_info("shutting down: no new jobs; waiting up to %d s for %zu running job(s)",
	         d->cfg->shutdown_timeout_s, d->nrunning);
	struct timeval tv = {d->cfg->shutdown_timeout_s, 0};
	evtimer_add(d->deadline_ev, &tv);
	tick(d);
}

/* ---- pools and reload ------------------------------------------------- */

static struct bf_pool *find_pool(const struct bf_dispatch *d, const char *name)
{
	for (size_t i = 0; i < d->npools; i++)
		if (strcmp(d->pools[i]->name, name) == 0)
			return d->pools[i];
	return NULL;
}

/* Makes the pools match cfg's queues: new pools start, changed ones resize,
 * pools whose queue is gone or at 0 stop claiming.  Rebuilds the list of
 * served queues.  -1 if threads could not be started (what worked stays). */
static int apply_queues(struct bf_dispatch *d, const struct bf_config *cfg)
{
	int rc = 0;
	for (size_t i = 0; i < d->npools; i++) {
		const struct bf_queue_config *q = config_queue(cfg, d->pools[i]->name);
		int want = q ? q->concurrency : 0;
		if (want != d->pools[i]->concurrency) {
			log_info("pool %s: concurrency %d -> %d%s", d->pools[i]->name,
			         d->pools[i]->concurrency, want,
			         want < d->pools[i]->concurrency ? " (running jobs finish)" : "");
			if (pool_set_concurrency(d->pools[i], want) < 0)
				rc = -1;
		}
	}
	for (size_t i = 0; i < cfg->nqueues; i++) {
		if (cfg->queues[i].concurrency == 0 || find_pool(d, cfg->queues[i].name))
			continue;
		struct bf_pool *p = pool_new(&cfg->queues[i], d->sink);
		if (!p) {
			rc = -1;
			continue;
		}
		struct bf_pool **arr = realloc(d->pools, (d->npools + 1) * sizeof(*arr));
		if (!arr)
			abort();
		d->pools = arr;
		d->pools[d->npools++] = p;
		if (d->started)
			log_info("pool %s: started with concurrency %d", p->name, p->concurrency);
	}
	struct bf_buf b = {0};
	buf_append(&b, "{", 1);
	const char *sep = "";
	for (size_t i = 0; i < d->npools; i++) {
		if (d->pools[i]->concurrency == 0)
			continue;
		buf_append(&b, sep, strlen(sep));
		buf_array_text(&b, d->pools[i]->name);
		sep = ",";
	}
	buf_append(&b, "}", 1);
	free(d->queues_literal);
	d->queues_literal = b.data;
	return rc;
}

int dispatch_reconfigure(struct bf_dispatch *d, const struct bf_config *cfg)
{
	int rc = apply_queues(d, cfg);
	d->cfg = cfg;
	vacuum_reconfigure(d->vacuum, cfg);
	if (!d->once && d->state == DISPATCH_RUNNING) {
		struct timeval poll = {cfg->poll_interval_ms / 1000, (cfg->poll_interval_ms % 1000) * 1000};
		event_add(d->poll_ev, &poll); /* re-arms with the new interval */
		janitor_reconfigure(d->janitor, cfg);
		cron_reconfigure(d->cron, cfg);
	}
	if (db_connected(&d->db) && register_worker(d) < 0 && !db_connected(&d->db))
		connection_lost(d);
	wake_all_pools(d);
	tick(d);
	return rc;
}

/* ---- setup ------------------------------------------------------------ */

/* Cron enqueued jobs on our connection: their NOTIFY may already sit in
 * libpq's queue, so claim now rather than at the next poll. */
static void cron_enqueued(void *arg)
{
	struct bf_dispatch *d = arg;
	wake_all_pools(d);
	event_active(d->kick_ev, EV_TIMEOUT, 0);
}

struct bf_dispatch *dispatch_new(struct event_base *base, const struct bf_config *cfg,
                                 const struct bf_loader *loader, bool once)
{
	struct bf_dispatch *d = calloc(1, sizeof(*d));
	if (!d)
		abort();
	d->base = base;
	d->cfg = cfg;
	d->loader = loader;
	d->once = once;
	d->finished_tail = &d->finished;
	atomic_init(&d->stop_level, BF_STOP_NONE);
	db_init(&d->db, cfg->database_url, cfg->schema);
	if (gethostname(d->host, sizeof(d->host)) < 0)
		snprintf(d->host, sizeof(d->host), "unknown");
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	srand((unsigned)(ts.tv_nsec ^ getpid()));
	snprintf(d->base_id, sizeof(d->base_id), "%.64s:%d:%04x", d->host, (int)getpid(),
	         (unsigned)(rand() & 0xffff));
	d->generation = 1;
	snprintf(d->worker_id, sizeof(d->worker_id), "%s", d->base_id);

	struct bf_buf b = {0};
	buf_append(&b, "{", 1);
	for (size_t i = 0; i < loader_ntasks(loader); i++) {
		if (i)
			buf_append(&b, ",", 1);
		buf_array_text(&b, loader_task(loader, i)->name);
	}
	buf_append(&b, "}", 1);
	d->tasks_literal = b.data;

	d->sink = sink_new();
	if (!d->sink || apply_queues(d, cfg) < 0)
		goto fail;
	size_t nclaim = d->npools < 1 ? 1 : d->npools > CLAIM_LINKS_MAX ? CLAIM_LINKS_MAX : d->npools;
	d->nlinks = 1 + nclaim;
	for (size_t i = 0; i < d->nlinks; i++) {
		d->links[i].d = d;
		db_init(&d->links[i].db, cfg->database_url, cfg->schema);
	}

	d->sink_ev = event_new(base, sink_fd(d->sink), EV_READ | EV_PERSIST, on_sink, d);
	d->poll_ev = event_new(base, -1, EV_PERSIST, on_poll, d);
	d->heartbeat_ev = event_new(base, -1, EV_PERSIST, on_heartbeat, d);
	d->reconnect_ev = evtimer_new(base, on_reconnect, d);
	d->deadline_ev = evtimer_new(base, on_deadline, d);
	d->retry_ev = evtimer_new(base, on_retry, d);
	d->kick_ev = event_new(base, -1, 0, on_kick, d);
	event_add(d->sink_ev, NULL);
	if (!once) {
		d->janitor = janitor_new(base, cfg, &d->db);
		d->vacuum = vacuum_new(base, cfg);
		d->cron = cron_new(base, cfg, &d->db, cron_enqueued, d);
	}
	return d;
fail:
	dispatch_free(d);
	return NULL;
}

int dispatch_start(struct bf_dispatch *d)
{
	if (connect_db(d) < 0) {
		if (d->once)
			return -1;
		connection_lost(d);
	}
	/* heartbeats with --once too: a long job must not look abandoned */
	struct timeval hb = {d->cfg->heartbeat_interval_s, 0};
	event_add(d->heartbeat_ev, &hb);
	/* recover dead workers' jobs at start, before the first claim */
	on_heartbeat(-1, 0, d);
	if (!d->once) {
		struct timeval poll = {d->cfg->poll_interval_ms / 1000, (d->cfg->poll_interval_ms % 1000) * 1000};
		event_add(d->poll_ev, &poll);
		janitor_start(d->janitor);
		cron_start(d->cron);
	}
	d->started = true;
	struct bf_buf q = {0};
	for (size_t i = 0; i < d->npools; i++)
		buf_printf(&q, "%s%s=%d", i ? ", " : "", d->pools[i]->name, d->pools[i]->concurrency);
	log_info("worker %s serving %s; %zu task(s); schema %s on %s", d->worker_id, q.data,
	         loader_ntasks(d->loader), d->cfg->schema, d->db.masked);
	buf_free(&q);
	tick(d);
	return 0;
}

bool dispatch_finished(const struct bf_dispatch *d) { return d->state == DISPATCH_DONE; }

bool dispatch_idle(const struct bf_dispatch *d) { return d->nrunning == 0 && all_idle(d); }

const char *dispatch_worker_id(const struct bf_dispatch *d) { return d->worker_id; }

size_t dispatch_pools(const struct bf_dispatch *d, struct bf_metrics_pool *out, size_t max)
{
	for (size_t i = 0; i < d->npools && i < max; i++) {
		out[i].queue = d->pools[i]->name;
		out[i].concurrency = d->pools[i]->concurrency;
		out[i].in_flight = d->pools[i]->in_flight;
	}
	return d->npools;
}

void dispatch_free(struct bf_dispatch *d)
{
	if (!d)
		return;
	bool idle = dispatch_idle(d);
	struct event *evs[] = {d->sink_ev, d->notify_ev, d->poll_ev, d->heartbeat_ev,
	                       d->reconnect_ev, d->deadline_ev, d->retry_ev, d->kick_ev};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	cron_free(d->cron);
	janitor_free(d->janitor);
	vacuum_free(d->vacuum);
	for (size_t i = 0; i < d->nlinks; i++) {
		link_close(&d->links[i]);
		db_cleanup(&d->links[i].db);
	}
	if (idle) {
		for (size_t i = d->npools; i-- > 0;)
			pool_free(d->pools[i]);
		sink_free(d->sink);
	}
	/* else: handlers still run on threads that use the pools and the sink;
	 * the process is about to exit, so leave them be. */
	free(d->pools);
	for (struct bf_job *j = d->finished, *next; j; j = next) {
		next = j->next;
		job_free(j);
	}
	free(d->running);
	free(d->tasks_literal);
	free(d->queues_literal);
	db_cleanup(&d->db);
	free(d);
}
