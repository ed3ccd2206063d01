/*
 * benchctl -- timing helper of bench/backfilld-bench (libpq; Linux /proc).
 *
 *   benchctl exec URL SQL
 *       Runs SQL (one simple-protocol call, autocommit: the commit and its
 *       WAL flush are included) and prints "seconds=S", timed from sending
 *       the statement to receiving its result.
 *
 *   benchctl drain URL SCHEMA TIMEOUT_S LOGFILE PIDFILE -- PROGRAM ARGS...
 *       Connects first, then starts the clock, starts PROGRAM (stdout and
 *       stderr to LOGFILE, its pid written to PIDFILE) and stops the clock
 *       when SCHEMA.jobs is empty.  The table is probed every 5 ms on this
 *       one connection with "SELECT id FROM jobs ORDER BY id LIMIT 1" (a
 *       primary key probe: a count(*) every 5 ms would itself be a sequential
 *       scan of the whole table, i.e. a real load); after the clock stopped
 *       count(*) is checked to be 0.  Then PROGRAM is stopped with SIGTERM
 *       (its graceful stop) and waited for.  Prints
 *       seconds= first_done_ms= cpu_s= utime_s= stime_s= rss_kb= rss_hwm_kb=
 *       threads= pg_cpu_s= host_cpu_busy= polls= left= dlq= stop_s=
 *       daemon_exit= db_commits= wal_syncs= wal_mb= claim_calls=
 *       jobs_per_claim= claim_ms= finish_calls= jobs_per_finish= finish_ms=
 *       cpu_s: PROGRAM's utime+stime from /proc/PID/stat at the end of the
 *       drain; pg_cpu_s: CPU of the whole PostgreSQL cluster (postmaster and
 *       all its children, exited ones included) over the drain, when the
 *       server runs on this machine (else "na"); host_cpu_busy: fraction of
 *       all cores busy (/proc/stat) over the drain.  db_commits: commits in
 *       the database from start to the daemon's exit (pg_stat_database,
 *       this helper's own probes subtracted; includes the daemon's start and
 *       stop and anything else using the database); wal_syncs, wal_mb:
 *       pg_stat_wal's WAL flushes and bytes meanwhile (whole cluster; "na"
 *       before PostgreSQL 14).  Counters are as fresh as the statistics
 *       system makes them (the daemon's backend reports when it exits).
 *       claim_* and finish_*: calls of SCHEMA.claim_jobs / finish_jobs and
 *       the server time spent in them (pg_stat_user_functions; PROGRAM runs
 *       with PGOPTIONS="-c track_functions=pl" for that, unless
 *       BENCH_TRACK_FUNCTIONS=0); jobs_per_* = the jobs present at the start
 *       divided by the calls, i.e. the mean batch the daemon chose.
 *
 *   benchctl drain URL SCHEMA TIMEOUT_S LOGFILE PIDFILE [--task TASK]
 *                  [--copies K] -- PROGRAM ARGS...
 *       The same, with options (bench/backfilld-scale uses them):
 *       --task TASK counts only the jobs of TASK with an id from lo to hi,
 *       the lowest and highest id of the jobs of TASK due (run_at <= now())
 *       at the start: the clock stops when none of them is left; other rows
 *       (future-dated jobs, tasks nobody handles) stay.  The probe becomes
 *       "SELECT id FROM jobs WHERE task = TASK AND id BETWEEN lo AND hi
 *       ORDER BY id LIMIT 1": keep other rows out of that id range (enqueue
 *       them before or after), or they are counted, or walked past.
 *       --copies K starts K copies of PROGRAM together (one LOGFILE, their
 *       pids one a line in PIDFILE); cpu_s, utime_s, stime_s, rss_kb,
 *       rss_hwm_kb and threads are then summed over the copies, stop_s
 *       waits for all of them, daemon_exit is the first non-zero exit
 *       status (else 0).
 *
 *   benchctl idle URL PID SECONDS
 *       Samples process PID for SECONDS: cpu_pct= (utime+stime delta, % of
 *       one core) rss_kb= (VmRSS at the end) wakeups_per_s= (context
 *       switches of all its threads) pg_cpu_pct= (the cluster's CPU meanwhile,
 *       % of one core, including this helper's single connection, idle).
 *
 * Exit status: 0 ok, 1 failure (message on stderr), 2 usage.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	double d = t - now_s();
	if (d <= 0)
		return;
	struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "benchctl: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static PGconn *connect_db(const char *url)
{
	PGconn *c = PQconnectdb(url);
	if (!c || PQstatus(c) != CONNECTION_OK)
		die("cannot connect: %s", c ? PQerrorMessage(c) : "out of memory");
	PGresult *r = PQexec(c, "SET client_min_messages = warning");
	PQclear(r);
	return c;
}

static PGresult *must(PGconn *c, PGresult *r, const char *what)
{
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "benchctl: %s: %s", what, PQerrorMessage(c));
		exit(1);
	}
	return r;
}

/* ---- /proc ------------------------------------------------------------ */

struct pstat {
	int ok;
	long ppid;
	unsigned long long utime, stime, cutime, cstime; /* clock ticks */
	long threads;
};

static int read_pstat(long pid, struct pstat *ps)
{
	char path[64], buf[2048];
	memset(ps, 0, sizeof(*ps));
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields resume after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p++;
	/* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice num_threads */
	char state;
	long ppid, pgrp, session, tty, tpgid, prio, nice, threads;
	unsigned long flags, minflt, cminflt, majflt, cmajflt;
	unsigned long long ut, st, cut, cst;
	if (sscanf(p, " %c %ld %ld %ld %ld %ld %lu %lu %lu %lu %lu %llu %llu %llu %llu %ld %ld %ld",
	           &state, &ppid, &pgrp, &session, &tty, &tpgid, &flags, &minflt, &cminflt, &majflt,
	           &cmajflt, &ut, &st, &cut, &cst, &prio, &nice, &threads) != 18)
		return -1;
	ps->ok = 1;
	ps->ppid = ppid;
	ps->utime = ut;
	ps->stime = st;
	ps->cutime = cut;
	ps->cstime = cst;
	ps->threads = threads;
	return 0;
}

/* A "Key:   N kB" line of /proc/PID/status, or -1. */
static long status_kb(long pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t klen = strlen(key);
	long v = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Context switches of every thread of PID. */
static long long ctxt_switches(long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long long total = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char sp[320], line[256];
		snprintf(sp, sizeof(sp), "/proc/%ld/task/%s/status", pid, e->d_name);
		FILE *f = fopen(sp, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
				total += strtoll(line + 24, NULL, 10);
			else if (strncmp(line, "nonvoluntary_ctxt_switches:", 27) == 0)
				total += strtoll(line + 27, NULL, 10);
		}
		fclose(f);
	}
	closedir(d);
	return total;
}

/* The postmaster of the server behind this connection, if it runs here:
 * the parent of our backend, whose own stat we can read. */
static long find_postmaster(PGconn *c)
{
	PGresult *r = must(c, PQexec(c, "SELECT pg_backend_pid()"), "pg_backend_pid");
	long backend = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	struct pstat ps;
	if (read_pstat(backend, &ps) < 0)
		return -1;
	char path[64], comm[64] = "";
	snprintf(path, sizeof(path), "/proc/%ld/comm", ps.ppid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "postgres", 8) == 0 ? ps.ppid : -1;
}

/* CPU ticks of the postmaster and all its (live and reaped) children. */
static long long cluster_ticks(long postmaster)
{
	struct pstat ps;
	if (postmaster <= 0 || read_pstat(postmaster, &ps) < 0)
		return -1;
	long long total = (long long)(ps.utime + ps.stime + ps.cutime + ps.cstime);
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		long pid = strtol(e->d_name, NULL, 10);
		struct pstat cs;
		if (read_pstat(pid, &cs) == 0 && cs.ppid == postmaster)
			total += (long long)(cs.utime + cs.stime + cs.cutime + cs.cstime);
	}
	closedir(d);
	return total;
}

struct hostcpu {
	unsigned long long busy, total;
};

static void read_hostcpu(struct hostcpu *h)
{
	unsigned long long v[8] = {0};
	h->busy = h->total = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			h->total += v[i];
		h->busy = h->total - v[3] - v[4]; /* minus idle and iowait */
	}
	fclose(f);
}

/* Database-wide counters: commits of this database, WAL syncs and bytes
 * (pg_stat_wal, PostgreSQL 14+).  -1 where unavailable.  Statistics reach
 * these views when a backend goes idle (at most once a second) or exits. */
struct dbstat {
	long long commits, wal_syncs, wal_bytes;
};

static void read_dbstat(const char *url, struct dbstat *s)
{
	s->commits = s->wal_syncs = s->wal_bytes = -1;
	PGconn *c = PQconnectdb(url);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return;
	}
	PGresult *r = PQexec(c, "SELECT xact_commit FROM pg_stat_database "
	                        "WHERE datname = current_database()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		s->commits = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	r = PQexec(c, "SELECT wal_sync, wal_bytes FROM pg_stat_wal");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		s->wal_syncs = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		s->wal_bytes = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	}
	PQclear(r);
	PQfinish(c);
}

/* Calls and total server time (ms) of SCHEMA.claim_jobs and finish_jobs
 * (pg_stat_user_functions: counted only in sessions with track_functions
 * on, reported when the session goes idle or exits).  -1 if unknown. */
struct fnstat {
	long long claim_calls, finish_calls;
	double claim_ms, finish_ms;
};

static void read_fnstat(const char *url, const char *schema, struct fnstat *f)
{
	f->claim_calls = f->finish_calls = -1;
	f->claim_ms = f->finish_ms = -1;
	PGconn *c = PQconnectdb(url);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return;
	}
	const char *params[1] = {schema};
	PGresult *r = PQexecParams(c,
	                           "SELECT p.proname, coalesce(s.calls, 0), coalesce(s.total_time, 0) "
	                           "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
	                           "LEFT JOIN pg_stat_user_functions s ON s.funcid = p.oid "
	                           "WHERE n.nspname = $1 AND p.proname IN ('claim_jobs', 'finish_jobs')",
	                           1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		for (int i = 0; i < PQntuples(r); i++) {
			long long calls = strtoll(PQgetvalue(r, i, 1), NULL, 10);
			double ms = strtod(PQgetvalue(r, i, 2), NULL);
			if (strcmp(PQgetvalue(r, i, 0), "claim_jobs") == 0) {
				f->claim_calls = calls;
				f->claim_ms = ms;
			} else {
				f->finish_calls = calls;
				f->finish_ms = ms;
			}
		}
	}
	PQclear(r);
	PQfinish(c);
}

/* ---- commands --------------------------------------------------------- */

static int cmd_exec(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: benchctl exec URL SQL\n");
		return 2;
	}
	PGconn *c = connect_db(argv[0]);
	double t0 = now_s();
	PGresult *r = PQexec(c, argv[1]);
	double t1 = now_s();
	PQclear(must(c, r, "statement"));
	printf("seconds=%.4f\n", t1 - t0);
	PQfinish(c);
	return 0;
}

#define DRAIN_MAX_COPIES 16

static int drain_usage(void)
{
	fprintf(stderr, "usage: benchctl drain URL SCHEMA TIMEOUT_S LOGFILE PIDFILE [--task TASK] "
	                "[--copies K] -- PROGRAM ARGS...\n");
	return 2;
}

static int cmd_drain(int argc, char **argv)
{
	if (argc < 7)
		return drain_usage();
	const char *url = argv[0], *schema = argv[1], *logfile = argv[3], *pidfile = argv[4];
	double timeout = strtod(argv[2], NULL);
	const char *task = NULL;
	int copies = 1, a = 5;
	while (a < argc && strcmp(argv[a], "--") != 0) {
		if (strcmp(argv[a], "--task") == 0 && a + 1 < argc) {
			task = argv[a + 1];
		} else if (strcmp(argv[a], "--copies") == 0 && a + 1 < argc) {
			copies = atoi(argv[a + 1]);
			if (copies < 1 || copies > DRAIN_MAX_COPIES)
				return drain_usage();
		} else {
			return drain_usage();
		}
		a += 2;
	}
	if (a + 1 >= argc)
		return drain_usage();
	char **prog = argv + a + 1;

	PGconn *c = connect_db(url);
	char *ident = PQescapeIdentifier(c, schema, strlen(schema));
	char probe[512], count[512], dlq[512];
	const char *params[3] = {task, NULL, NULL};
	int nparams = 0;
	char lo[32] = "", hi[32] = "";
	PGresult *r;
	if (task) {
		/* the id range of TASK's jobs, so the probe never walks other rows */
		snprintf(probe, sizeof(probe),
		         "SELECT min(id), max(id) FROM %s.jobs WHERE task = $1 AND run_at <= now()",
		         ident);
		r = must(c, PQexecParams(c, probe, 1, NULL, params, NULL, NULL, 0), "id range");
		if (PQgetisnull(r, 0, 0))
			die("%s.jobs has no due job of task %s before the drain", schema, task);
		snprintf(lo, sizeof(lo), "%s", PQgetvalue(r, 0, 0));
		snprintf(hi, sizeof(hi), "%s", PQgetvalue(r, 0, 1));
		PQclear(r);
		params[1] = lo;
		params[2] = hi;
		nparams = 3;
		snprintf(probe, sizeof(probe),
		         "SELECT id FROM %s.jobs WHERE task = $1 AND id BETWEEN $2 AND $3 "
		         "ORDER BY id LIMIT 1",
		         ident);
		snprintf(count, sizeof(count),
		         "SELECT count(*) FROM %s.jobs WHERE task = $1 AND id BETWEEN $2 AND $3", ident);
	} else {
		snprintf(probe, sizeof(probe), "SELECT id FROM %s.jobs ORDER BY id LIMIT 1", ident);
		snprintf(count, sizeof(count), "SELECT count(*) FROM %s.jobs", ident);
	}
	snprintf(dlq, sizeof(dlq), "SELECT count(*) FROM %s.dlq", ident);
	PQfreemem(ident);
	PQclear(must(c, PQprepare(c, "probe", probe, nparams, NULL), "prepare"));
	PQclear(must(c, PQprepare(c, "count", count, nparams, NULL), "prepare"));
	r = must(c, PQexecPrepared(c, "probe", nparams, params, NULL, NULL, 0), "probe");
	if (PQntuples(r) == 0)
		die("%s.jobs is empty before the drain", schema);
	PQclear(r);
	r = must(c, PQexecPrepared(c, "count", nparams, params, NULL, NULL, 0), "count");
	long long nrows = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	r = must(c, PQexecPrepared(c, "probe", nparams, params, NULL, NULL, 0), "probe");
	char first_id[32];
	snprintf(first_id, sizeof(first_id), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);

	long postmaster = find_postmaster(c);
	struct dbstat d0, d1;
	read_dbstat(url, &d0);
	struct fnstat f0, f1;
	read_fnstat(url, schema, &f0);
	/* the daemon's session counts calls of claim_jobs/finish_jobs (a clock
	 * read before and after each call); BENCH_TRACK_FUNCTIONS=0 turns it off */
	const char *track = getenv("BENCH_TRACK_FUNCTIONS");
	int tracking = !(track && strcmp(track, "0") == 0);
	long long pg0 = cluster_ticks(postmaster);
	struct hostcpu h0, h1;
	read_hostcpu(&h0);

	int logfd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		die("cannot open %s", logfile);
	fflush(NULL);
	double t0 = now_s();
	pid_t pids[DRAIN_MAX_COPIES];
	for (int k = 0; k < copies; k++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			if (tracking)
				setenv("PGOPTIONS", "-c track_functions=pl", 1);
			else
				unsetenv("PGOPTIONS");
			dup2(logfd, 1);
			dup2(logfd, 2);
			execv(prog[0], prog);
			fprintf(stderr, "benchctl: cannot run %s: %s\n", prog[0], strerror(errno));
			_exit(127);
		}
		pids[k] = pid;
	}
	close(logfd);
	FILE *pf = fopen(pidfile, "w");
	if (!pf)
		die("cannot write %s", pidfile);
	for (int k = 0; k < copies; k++)
		fprintf(pf, "%ld\n", (long)pids[k]);
	fclose(pf);

	double first_done = -1, next = t0, t1;
	long polls = 0;
	for (;;) {
		next += 0.005;
		sleep_until(next);
		for (int k = 0; k < copies; k++) {
			int status;
			if (waitpid(pids[k], &status, WNOHANG) == pids[k]) {
				fprintf(stderr, "benchctl: %s exited during the drain (status %d); see %s\n",
				        prog[0],
				        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
				        logfile);
				for (int o = 0; o < copies; o++)
					if (o != k)
						kill(pids[o], SIGTERM);
				return 1;
			}
		}
		r = must(c, PQexecPrepared(c, "probe", nparams, params, NULL, NULL, 0), "probe");
		polls++;
		int empty = PQntuples(r) == 0;
		if (first_done < 0 && (empty || strcmp(PQgetvalue(r, 0, 0), first_id) != 0))
			first_done = now_s() - t0;
		PQclear(r);
		t1 = now_s();
		if (empty)
			break;
		if (t1 - t0 > timeout) {
			fprintf(stderr, "benchctl: not drained after %.0f s; see %s\n", timeout, logfile);
			for (int k = 0; k < copies; k++)
				kill(pids[k], SIGTERM);
			return 1;
		}
	}
	struct pstat ps = {0};
	long rss = 0, hwm = 0;
	for (int k = 0; k < copies; k++) {
		struct pstat one;
		if (read_pstat(pids[k], &one) == 0) {
			ps.utime += one.utime;
			ps.stime += one.stime;
			ps.threads += one.threads;
		}
		rss += status_kb(pids[k], "VmRSS");
		hwm += status_kb(pids[k], "VmHWM");
	}
	long long pg1 = cluster_ticks(postmaster);
	read_hostcpu(&h1);

	/* stop PROGRAM as an operator would (SIGTERM: graceful drain), so that
	 * nothing of it is left behind; its exit status is reported */
	double s0 = now_s();
	for (int k = 0; k < copies; k++)
		kill(pids[k], SIGTERM);
	int exit_code = -1, running = copies;
	int done[DRAIN_MAX_COPIES] = {0};
	while (running > 0) {
		for (int k = 0; k < copies; k++) {
			int status = 0;
			if (done[k] || waitpid(pids[k], &status, WNOHANG) != pids[k])
				continue;
			done[k] = 1;
			running--;
			int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			if (exit_code <= 0)
				exit_code = code;
		}
		if (running > 0 && now_s() - s0 > 60) {
			fprintf(stderr, "benchctl: %s did not stop 60 s after SIGTERM; killing it\n",
			        prog[0]);
			for (int k = 0; k < copies; k++) {
				if (done[k])
					continue;
				int status;
				kill(pids[k], SIGKILL);
				waitpid(pids[k], &status, 0);
			}
			break;
		}
		if (running > 0)
			sleep_until(now_s() + 0.005);
	}
	double stop_s = now_s() - s0;

	r = must(c, PQexecPrepared(c, "count", nparams, params, NULL, NULL, 0), "count");
	long long left = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	r = must(c, PQexec(c, dlq), "dlq count");
	long long dead = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	sleep_until(now_s() + 0.7); /* let the walwriter report */
	read_dbstat(url, &d1);
	read_fnstat(url, schema, &f1);
	char fn[256] = "claim_calls=na finish_calls=na";
	if (tracking && f0.claim_calls >= 0 && f1.claim_calls >= 0 && f0.finish_calls >= 0 &&
	    f1.finish_calls >= 0) {
		long long cc = f1.claim_calls - f0.claim_calls, fc = f1.finish_calls - f0.finish_calls;
		snprintf(fn, sizeof(fn),
		         "claim_calls=%lld jobs_per_claim=%.1f claim_ms=%.0f finish_calls=%lld "
		         "jobs_per_finish=%.1f finish_ms=%.0f",
		         cc, cc > 0 ? (double)nrows / (double)cc : 0, f1.claim_ms - f0.claim_ms, fc,
		         fc > 0 ? (double)nrows / (double)fc : 0, f1.finish_ms - f0.finish_ms);
	}
	char commits[32] = "na", syncs[32] = "na", walmb[32] = "na";
	if (d0.commits >= 0 && d1.commits >= 0) /* minus this helper's own */
		snprintf(commits, sizeof(commits), "%lld", d1.commits - d0.commits - polls - 8);
	if (d0.wal_syncs >= 0 && d1.wal_syncs >= 0) {
		snprintf(syncs, sizeof(syncs), "%lld", d1.wal_syncs - d0.wal_syncs);
		snprintf(walmb, sizeof(walmb), "%.1f", (double)(d1.wal_bytes - d0.wal_bytes) / 1e6);
	}

	double tck = (double)sysconf(_SC_CLK_TCK);
	char pgcpu[32] = "na";
	if (pg0 >= 0 && pg1 >= 0)
		snprintf(pgcpu, sizeof(pgcpu), "%.2f", (double)(pg1 - pg0) / tck);
	double busy = h1.total > h0.total
	                  ? (double)(h1.busy - h0.busy) / (double)(h1.total - h0.total)
	                  : 0;
	printf("seconds=%.3f first_done_ms=%.1f cpu_s=%.2f utime_s=%.2f stime_s=%.2f rss_kb=%ld "
	       "rss_hwm_kb=%ld threads=%ld pg_cpu_s=%s host_cpu_busy=%.2f polls=%ld left=%lld "
	       "dlq=%lld stop_s=%.3f daemon_exit=%d db_commits=%s wal_syncs=%s wal_mb=%s %s\n",
	       t1 - t0, first_done * 1000, (double)(ps.utime + ps.stime) / tck,
	       (double)ps.utime / tck, (double)ps.stime / tck, rss, hwm, ps.threads, pgcpu, busy,
	       polls, left, dead, stop_s, exit_code, commits, syncs, walmb, fn);
	return left == 0 && exit_code == 0 ? 0 : 1;
}

static int cmd_idle(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: benchctl idle URL PID SECONDS\n");
		return 2;
	}
	long pid = strtol(argv[1], NULL, 10);
	double secs = strtod(argv[2], NULL);
	PGconn *c = connect_db(argv[0]);
	long postmaster = find_postmaster(c);
	struct pstat a, b;
	if (read_pstat(pid, &a) < 0)
		die("no process %s", argv[1]);
	long long cs0 = ctxt_switches(pid);
	long long pg0 = cluster_ticks(postmaster);
	double t0 = now_s();
	sleep_until(t0 + secs);
	double t1 = now_s();
	if (read_pstat(pid, &b) < 0)
		die("process %s is gone", argv[1]);
	long long cs1 = ctxt_switches(pid);
	long long pg1 = cluster_ticks(postmaster);
	long rss = status_kb(pid, "VmRSS");
	PQfinish(c);
	double tck = (double)sysconf(_SC_CLK_TCK), dt = t1 - t0;
	double cpu = (double)(b.utime + b.stime - a.utime - a.stime) / tck;
	char pgcpu[32] = "na";
	if (pg0 >= 0 && pg1 >= 0)
		snprintf(pgcpu, sizeof(pgcpu), "%.2f", 100.0 * (double)(pg1 - pg0) / tck / dt);
	printf("cpu_pct=%.2f rss_kb=%ld wakeups_per_s=%.1f pg_cpu_pct=%s threads=%ld\n",
	       100.0 * cpu / dt, rss, (double)(cs1 - cs0) / dt, pgcpu, b.threads);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "exec") == 0)
		return cmd_exec(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "drain") == 0)
		return cmd_drain(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "idle") == 0)
		return cmd_idle(argc - 2, argv + 2);
	fprintf(stderr, "usage: benchctl exec|drain|idle ... (see bench/benchctl.c)\n");
	return 2;
}
