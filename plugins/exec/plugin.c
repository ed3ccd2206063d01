/*
 * exec -- runs an external program for each job of a configured task,
 * without a shell.  Configuration ([exec] section; see README.md):
 *
 *   task.NAME = /abs/path/to/program arg1 "arg 2"
 *   timeout = SECONDS          (0, the default: no limit)
 *   max_error_bytes = BYTES    (4000, the default, is also the maximum)
 *
 * The child gets the payload JSON on stdin, the daemon's environment plus
 * BACKFILL_JOB_ID, _TASK, _QUEUE, _ATTEMPT, _MAX_ATTEMPTS, _PRIORITY,
 * _JOB_KEY and _SERIAL_KEY (the last two only when the job has them), its
 * own process group, default signal dispositions and an empty signal mask.
 * Each line of its stdout is logged at INFO; the last max_error_bytes of its
 * stderr become the job's error message when it does not succeed.
 *
 * Result mapping:
 *   exit 0                       -> BF_JOB_OK
 *   exit 75 (EX_TEMPFAIL)        -> BF_JOB_RETRY
 *   any other exit status        -> BF_JOB_FAIL (permanent)
 *   killed by a signal           -> BF_JOB_RETRY ("killed by signal N")
 *   could not be started         -> BF_JOB_RETRY ("cannot run PATH: ...")
 *   timeout passed               -> BF_JOB_RETRY ("timed out after N s")
 *   daemon aborts (BF_STOP_ABORT)-> BF_JOB_RETRY
 * On timeout or abort the process group gets SIGTERM, then SIGKILL once the
 * program has exited or 5 s have passed.  When the program fails without
 * writing to stderr, the error is the status ("exit status 3").
 *
 * Handlers run on many threads at once: the plugin state is read-only after
 * init, every fd is close-on-exec and closed before the handler returns, and
 * the child is always reaped.
 */
#include "exec_util.h"

#include <backfill/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXEC_DEFAULT_MAX_ERROR_BYTES 4000u
#define EXEC_MAX_ERROR_BYTES_LIMIT 4000u /* what the host keeps */
#define EXEC_TIMEOUT_LIMIT_S 31536000u   /* a year */
#define EXEC_KILL_GRACE_MS 5000
#define EXEC_POLL_MS 100          /* how often a waiting handler checks for stop */
#define EXEC_LOG_LINES_MAX 1000u  /* stdout lines logged per job */
#define EXEC_WRITE_CHUNK 65536u
#define EXEC_FINAL_DRAIN_MS 200

struct bf_exec_plugin;

/* One task.NAME key. */
struct bf_exec_task {
	struct bf_exec_task *next;
	const struct bf_exec_plugin *plugin; /* borrowed */
	char *name;
	char **argv; /* from exec_split_command: one allocation */
};

/* Plugin-wide state; read-only once init has returned. */
struct bf_exec_plugin {
	const struct bf_host_api *host;
	bf_plugin_ctx *ctx;
	uint32_t timeout_s;        /* 0: none */
	size_t max_error_bytes;
	char **environment;        /* the daemon's, copied at init */
	struct bf_exec_task *tasks;
};

/* One running job. */
struct bf_exec_run {
	bf_job *job;
	const struct bf_host_api *host;
	pid_t pid;
	int in_fd;  /* parent ends; -1 once closed */
	int out_fd;
	int err_fd;
	const char *payload;
	size_t payload_len;
	size_t payload_sent;
	struct bf_exec_lines out_lines;
	uint32_t lines_logged;
	uint64_t lines_not_logged;
	struct bf_exec_tail err_tail;
};

enum bf_exec_stop {
	EXEC_STOP_NONE,    /* the program ran to its end */
	EXEC_STOP_TIMEOUT, /* the timeout passed */
	EXEC_STOP_ABORT,   /* the daemon asked to stop now */
};

static const char *error_text(int err, char *buf, size_t size)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(err, buf, size);
#else
	if (strerror_r(err, buf, size) != 0)
		snprintf(buf, size, "error %d", err);
	return buf;
#endif
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* ---- configuration ---------------------------------------------------- */

static void plugin_free(struct bf_exec_plugin *pl)
{
	if (pl == NULL)
		return;
	struct bf_exec_task *t = pl->tasks;
	while (t != NULL) {
		struct bf_exec_task *next = t->next;
		free(t->argv);
		free(t->name);
		free(t);
		t = next;
	}
	if (pl->environment != NULL) {
		for (size_t i = 0; pl->environment[i] != NULL; i++)
			free(pl->environment[i]);
		free(pl->environment);
	}
	free(pl);
}

static int copy_environment(struct bf_exec_plugin *pl)
{
	size_t n = 0;
	while (environ != NULL && environ[n] != NULL)
		n++;
	pl->environment = calloc(n + 1, sizeof(char *));
	if (pl->environment == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		pl->environment[i] = strdup(environ[i]);
		if (pl->environment[i] == NULL)
			return -1;
	}
	return 0;
}

/* Parses a decimal number without sign or suffix, at most limit. */
static int parse_uint(const char *s, uint32_t limit, uint32_t *out)
{
	uint64_t v = 0;
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > limit)
			return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static void config_error(const struct bf_exec_plugin *pl, const char *fmt,
                         ...) __attribute__((format(printf, 2, 3)));

static void config_error(const struct bf_exec_plugin *pl, const char *fmt,
                         ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pl->host->log(pl->ctx, BF_LOG_ERROR, msg);
}

/* Checks that the program of task.NAME can be run. */
static int check_program(const struct bf_exec_plugin *pl, const char *key,
                         const char *path)
{
	char ebuf[128];
	struct stat st;
	if (path[0] != '/') {
		config_error(pl,
		             "[exec] %s: program \"%s\" is not an absolute path "
		             "(there is no PATH search)",
		             key, path);
		return -1;
	}
	if (stat(path, &st) != 0) {
		config_error(pl, "[exec] %s: program \"%s\": %s", key, path,
		             error_text(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		config_error(pl, "[exec] %s: program \"%s\" is not a regular file",
		             key, path);
		return -1;
	}
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) != 0) {
		config_error(pl, "[exec] %s: program \"%s\" is not executable: %s",
		             key, path, error_text(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	return 0;
}

static int32_t exec_handle(bf_job *job, void *task_data);

static int add_task(struct bf_exec_plugin *pl, const char *key,
                    const char *value)
{
	const char *name = key + strlen("task.");
	char err[256];
	char **argv = NULL;
	size_t argc = 0;

	if (*name == '\0') {
		config_error(pl, "[exec] %s: missing task name after \"task.\"",
		             key);
		return -1;
	}
	if (exec_split_command(value, &argv, &argc, err, sizeof(err)) != 0) {
		config_error(pl, "[exec] %s: %s", key, err);
		return -1;
	}
	if (argc == 0) {
		config_error(pl, "[exec] %s: empty command", key);
		free(argv);
		return -1;
	}
	if (check_program(pl, key, argv[0]) != 0) {
		free(argv);
		return -1;
	}
	struct bf_exec_task *t = calloc(1, sizeof(*t));
	if (t == NULL || (t->name = strdup(name)) == NULL) {
		config_error(pl, "[exec] %s: out of memory", key);
		free(t);
		free(argv);
		return -1;
	}
	t->argv = argv;
	t->plugin = pl;
	t->next = pl->tasks;
	pl->tasks = t;

	int32_t rc = pl->host->register_task(pl->ctx, name, exec_handle, t);
	if (rc == BF_ERR_EXISTS) {
		config_error(pl,
		             "[exec] %s: task \"%s\" is already registered (by "
		             "this or another plugin)",
		             key, name);
		return -1;
	}
	if (rc != BF_OK) {
		config_error(pl, "[exec] %s: cannot register task \"%s\" (error %d)",
		             key, name, (int)rc);
		return -1;
	}
	return 0;
}

static int32_t exec_init(bf_plugin_ctx *ctx, const struct bf_host_api *host,
                         void **state)
{
	struct bf_exec_plugin *pl = calloc(1, sizeof(*pl));
	*state = NULL;
	if (pl == NULL) {
		host->log(ctx, BF_LOG_ERROR, "[exec] out of memory");
		return BF_ERR_NOMEM;
	}
	pl->host = host;
	pl->ctx = ctx;
	pl->max_error_bytes = EXEC_DEFAULT_MAX_ERROR_BYTES;
	if (copy_environment(pl) != 0) {
		config_error(pl, "[exec] out of memory");
		plugin_free(pl);
		return BF_ERR_NOMEM;
	}

	/* Settings first, so the order of keys does not matter. */
	uint32_t count = host->config_count(ctx);
	for (uint32_t i = 0; i < count; i++) {
		const char *key = host->config_key(ctx, i);
		const char *value = host->config_value(ctx, i);
		uint32_t v;
		if (key == NULL || value == NULL)
			continue;
		if (strcmp(key, "timeout") == 0) {
			if (parse_uint(value, EXEC_TIMEOUT_LIMIT_S, &v) != 0) {
				config_error(pl,
				             "[exec] timeout: \"%s\" is not a number "
				             "of seconds from 0 (none) to %u",
				             value, EXEC_TIMEOUT_LIMIT_S);
				goto fail;
			}
			pl->timeout_s = v;
		} else if (strcmp(key, "max_error_bytes") == 0) {
			if (parse_uint(value, EXEC_MAX_ERROR_BYTES_LIMIT, &v) != 0) {
				config_error(pl,
				             "[exec] max_error_bytes: \"%s\" is not a "
				             "number from 0 to %u (the daemon keeps "
				             "at most %u bytes of error text)",
				             value, EXEC_MAX_ERROR_BYTES_LIMIT,
				             EXEC_MAX_ERROR_BYTES_LIMIT);
				goto fail;
			}
			pl->max_error_bytes = v;
		} else if (strncmp(key, "task.", 5) != 0) {
			config_error(pl,
			             "[exec] unknown key \"%s\" (known: task.NAME, "
			             "timeout, max_error_bytes)",
			             key);
			goto fail;
		}
	}
	uint32_t tasks = 0;
	for (uint32_t i = 0; i < count; i++) {
		const char *key = host->config_key(ctx, i);
		const char *value = host->config_value(ctx, i);
		if (key == NULL || value == NULL || strncmp(key, "task.", 5) != 0)
			continue;
		if (add_task(pl, key, value) != 0)
			goto fail;
		tasks++;
	}
	if (tasks == 0)
		host->log(ctx, BF_LOG_INFO,
		          "[exec] no task.NAME keys: no tasks registered");
	*state = pl;
	return BF_OK;
fail:
	plugin_free(pl);
	return BF_ERR_INVALID;
}

static void exec_shutdown(void *state)
{
	plugin_free(state);
}

/* ---- running a job ---------------------------------------------------- */

/* Moves fd above 2 so that the child's dup2 onto 0, 1, 2 cannot clobber
 * it (only matters when the daemon runs with a standard fd closed). */
static int fd_above_stdio(int *fd)
{
	if (*fd > 2)
		return 0;
	int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (moved < 0)
		return -1;
	close(*fd);
	*fd = moved;
	return 0;
}

/* A close-on-exec pipe with both ends above 2; returns 0 or an errno
 * value. */
static int make_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		return errno;
	if (fd_above_stdio(&fds[0]) != 0 || fd_above_stdio(&fds[1]) != 0) {
		int err = errno;
		close_fd(&fds[0]);
		close_fd(&fds[1]);
		return err;
	}
	return 0;
}

static void set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/*
 * Starts argv[0] with stdin, stdout and stderr on fresh pipes whose parent
 * ends go to run.  Returns 0 or an errno value.
 */
static int spawn_child(struct bf_exec_run *run, char *const argv[],
                       char *const envp[])
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	sigset_t no_signals, all_signals;
	int rc;

	if ((rc = make_pipe(in)) != 0 || (rc = make_pipe(out)) != 0 ||
	    (rc = make_pipe(err)) != 0)
		goto out_pipes;
	rc = posix_spawn_file_actions_init(&actions);
	if (rc != 0)
		goto out_pipes;
	rc = posix_spawnattr_init(&attr);
	if (rc != 0)
		goto out_actions;

	/* The pipes are close-on-exec; dup2 onto 0..2 clears the flag on
	 * the copies.  Close anything else the daemon left inheritable. */
	if ((rc = posix_spawn_file_actions_adddup2(&actions, in[0], 0)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&actions, out[1], 1)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&actions, err[1], 2)) != 0)
		goto out_attr;
#if defined(__GLIBC__) && defined(__GLIBC_MINOR__)
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34)
	if ((rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) != 0)
		goto out_attr;
#endif
#endif
	/* Own process group (so timeouts can kill the whole tree); no
	 * blocked signals and default dispositions, whatever the daemon's
	 * worker thread uses (the daemon ignores SIGPIPE, for one). */
	sigemptyset(&no_signals);
	sigfillset(&all_signals);
	if ((rc = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (rc = posix_spawnattr_setsigmask(&attr, &no_signals)) != 0 ||
	    (rc = posix_spawnattr_setsigdefault(&attr, &all_signals)) != 0 ||
	    (rc = posix_spawnattr_setflags(
	         &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                    POSIX_SPAWN_SETSIGDEF)) != 0)
		goto out_attr;

	rc = posix_spawn(&run->pid, argv[0], &actions, &attr, argv, envp);
	if (rc == 0) {
		run->in_fd = in[1];
		run->out_fd = out[0];
		run->err_fd = err[0];
		in[1] = out[0] = err[0] = -1;
		set_nonblocking(run->in_fd);
		set_nonblocking(run->out_fd);
		set_nonblocking(run->err_fd);
	}
out_attr:
	posix_spawnattr_destroy(&attr);
out_actions:
	posix_spawn_file_actions_destroy(&actions);
out_pipes:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	return rc;
}

/*
 * write(2) that never raises SIGPIPE in the daemon: SIGPIPE is blocked for
 * this thread during the call, and one raised by it is consumed before the
 * mask is restored.  Returns like write(); EPIPE when the child closed
 * stdin.
 */
static ssize_t write_no_sigpipe(int fd, const void *buf, size_t n)
{
	sigset_t pipe_set, old_mask, pending;
	int was_pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

	ssize_t w = write(fd, buf, n);
	int saved = errno;
	if (w < 0 && saved == EPIPE && !was_pending) {
		const struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	errno = saved;
	return w;
}

static void log_stdout_line(void *arg, const char *line)
{
	struct bf_exec_run *run = arg;
	if (run->lines_logged < EXEC_LOG_LINES_MAX) {
		run->host->job_log(run->job, BF_LOG_INFO, line);
		run->lines_logged++;
	} else {
		run->lines_not_logged++;
	}
}

static void send_payload(struct bf_exec_run *run)
{
	while (run->payload_sent < run->payload_len) {
		size_t n = run->payload_len - run->payload_sent;
		if (n > EXEC_WRITE_CHUNK)
			n = EXEC_WRITE_CHUNK;
		ssize_t w = write_no_sigpipe(run->in_fd,
		                             run->payload + run->payload_sent, n);
		if (w > 0) {
			run->payload_sent += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return; /* pipe full: poll again */
		break;          /* EPIPE: the program does not read stdin */
	}
	close_fd(&run->in_fd);
}

/* Reads what is there; returns the bytes read, closing fd at EOF. */
static size_t read_output(struct bf_exec_run *run, int *fd, int is_stdout)
{
	char buf[8192];
	size_t total = 0;
	for (int i = 0; i < 16; i++) {
		ssize_t r = read(*fd, buf, sizeof(buf));
		if (r > 0) {
			total += (size_t)r;
			if (is_stdout)
				exec_lines_feed(&run->out_lines, buf, (size_t)r,
				                log_stdout_line, run);
			else
				exec_tail_append(&run->err_tail, buf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		close_fd(fd); /* EOF or error */
		break;
	}
	return total;
}

/*
 * Waits up to wait_ms for the pipes, then moves data: payload to stdin,
 * stdout to the log, stderr to the tail.  Sleeps when no pipe is open.
 * Returns the number of output bytes read.
 */
static size_t pump(struct bf_exec_run *run, int wait_ms)
{
	struct pollfd fds[3];
	int *which[3];
	nfds_t n = 0;
	size_t got = 0;

	if (run->in_fd >= 0) {
		fds[n] = (struct pollfd){.fd = run->in_fd, .events = POLLOUT};
		which[n++] = &run->in_fd;
	}
	if (run->out_fd >= 0) {
		fds[n] = (struct pollfd){.fd = run->out_fd, .events = POLLIN};
		which[n++] = &run->out_fd;
	}
	if (run->err_fd >= 0) {
		fds[n] = (struct pollfd){.fd = run->err_fd, .events = POLLIN};
		which[n++] = &run->err_fd;
	}
	if (poll(n > 0 ? fds : NULL, n, wait_ms) <= 0)
		return 0; /* timeout or EINTR: the caller loops */
	for (nfds_t i = 0; i < n; i++) {
		if (fds[i].revents == 0)
			continue;
		if (which[i] == &run->in_fd)
			send_payload(run);
		else
			got += read_output(run, which[i], which[i] == &run->out_fd);
	}
	return got;
}

/* Reads what the pipes still hold once the program has exited; does not
 * wait for processes it left behind that keep them open. */
static void final_drain(struct bf_exec_run *run)
{
	close_fd(&run->in_fd);
	int64_t until = monotonic_ms() + EXEC_FINAL_DRAIN_MS;
	while ((run->out_fd >= 0 || run->err_fd >= 0) && monotonic_ms() < until)
		if (pump(run, 0) == 0)
			break;
	close_fd(&run->out_fd);
	close_fd(&run->err_fd);
}

/* Signals the program and its process group (it may have left it). */
static void signal_child(const struct bf_exec_run *run, int sig)
{
	kill(-run->pid, sig);
	kill(run->pid, sig);
}

/* True once the child has exited; leaves it unreaped (a zombie keeps its
 * pid and process group id from being reused). */
static int child_exited(const struct bf_exec_run *run)
{
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, (id_t)run->pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
		return errno != EINTR;
	return info.si_pid != 0;
}

/*
 * Stops the program: SIGTERM to its process group; SIGKILL once it has
 * exited or EXEC_KILL_GRACE_MS have passed; output is drained meanwhile.
 */
static void terminate_child(struct bf_exec_run *run)
{
	close_fd(&run->in_fd);
	signal_child(run, SIGTERM);
	int64_t until = monotonic_ms() + EXEC_KILL_GRACE_MS;
	for (;;) {
		if (child_exited(run))
			break;
		int64_t left = until - monotonic_ms();
		if (left <= 0)
			break;
		int wait_ms = left < EXEC_POLL_MS ? (int)left : EXEC_POLL_MS;
		if (run->out_fd < 0 && run->err_fd < 0 && wait_ms > 10)
			wait_ms = 10; /* nothing to read: just nap */
		pump(run, wait_ms);
	}
	signal_child(run, SIGKILL);
}

/* Reaps the child; returns 0 and its wait status, or an errno value. */
static int reap_child(const struct bf_exec_run *run, int *status)
{
	for (;;) {
		pid_t w = waitpid(run->pid, status, 0);
		if (w == run->pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return errno;
	}
}

/*
 * Runs the program to its end, its timeout or an abort; the child is
 * reaped and every pipe closed on return.  Returns the stop reason; *status
 * gets the wait status and *wait_err an errno value if reaping failed.
 */
static enum bf_exec_stop supervise(struct bf_exec_run *run,
                                   uint32_t timeout_s, int *status,
                                   int *wait_err)
{
	int64_t deadline = timeout_s > 0
	                       ? monotonic_ms() + (int64_t)timeout_s * 1000
	                       : INT64_MAX;
	int nap_ms = 1;
	enum bf_exec_stop stop = EXEC_STOP_NONE;

	*wait_err = 0;
	if (run->payload_len == 0)
		close_fd(&run->in_fd);
	for (;;) {
		if (run->host->job_stop_requested(run->job) == BF_STOP_ABORT) {
			stop = EXEC_STOP_ABORT;
			break;
		}
		int64_t left = deadline - monotonic_ms();
		if (left <= 0) {
			stop = EXEC_STOP_TIMEOUT;
			break;
		}
		int wait_ms = left < EXEC_POLL_MS ? (int)left : EXEC_POLL_MS;
		if (run->in_fd < 0 && run->out_fd < 0 && run->err_fd < 0) {
			/* Output closed: the program is exiting, most likely.
			 * Poll for it with a short, growing nap. */
			wait_ms = wait_ms < nap_ms ? wait_ms : nap_ms;
			nap_ms = nap_ms < 50 ? nap_ms * 2 : 50;
		}
		pump(run, wait_ms);

		pid_t w = waitpid(run->pid, status, WNOHANG);
		if (w == run->pid) {
			final_drain(run);
			return EXEC_STOP_NONE;
		}
		if (w < 0 && errno != EINTR) {
			/* ECHILD: someone else reaped it (SIGCHLD ignored?). */
			*wait_err = errno;
			final_drain(run);
			return EXEC_STOP_NONE;
		}
	}
	terminate_child(run);
	*wait_err = reap_child(run, status);
	final_drain(run);
	return stop;
}

static int32_t exec_handle(bf_job *job, void *task_data)
{
	const struct bf_exec_task *task = task_data;
	const struct bf_exec_plugin *pl = task->plugin;
	const struct bf_host_api *host = pl->host;
	struct bf_exec_run run = {
		.job = job,
		.host = host,
		.pid = -1,
		.in_fd = -1,
		.out_fd = -1,
		.err_fd = -1,
	};
	char msg[512], ebuf[128];
	int32_t result;
	char **envp = NULL;
	char *error = NULL;

	exec_lines_init(&run.out_lines);
	if (exec_tail_init(&run.err_tail, pl->max_error_bytes) != 0) {
		host->job_set_error(job, "exec: out of memory");
		return BF_JOB_RETRY;
	}
	run.payload = host->job_payload(job, &run.payload_len);
	if (run.payload == NULL)
		run.payload_len = 0;

	const struct bf_exec_job_env job_env = {
		.job_id = host->job_id(job),
		.task = host->job_task(job),
		.queue = host->job_queue(job),
		.attempt = host->job_attempt(job),
		.max_attempts = host->job_max_attempts(job),
		.priority = host->job_priority(job),
		.job_key = host->job_key(job),
		.serial_key = host->job_serial_key(job),
	};
	envp = exec_env_build(pl->environment, &job_env);
	if (envp == NULL) {
		host->job_set_error(job, "exec: out of memory");
		result = BF_JOB_RETRY;
		goto out;
	}

	int rc = spawn_child(&run, task->argv, envp);
	if (rc != 0) {
		snprintf(msg, sizeof(msg), "cannot run %s: %s", task->argv[0],
		         error_text(rc, ebuf, sizeof(ebuf)));
		host->job_set_error(job, msg);
		result = BF_JOB_RETRY;
		goto out;
	}

	int status = 0, wait_err = 0;
	enum bf_exec_stop stop = supervise(&run, pl->timeout_s, &status,
	                                   &wait_err);
	exec_lines_finish(&run.out_lines, log_stdout_line, &run);
	if (run.lines_not_logged > 0) {
		snprintf(msg, sizeof(msg),
		         "%" PRIu64 " more stdout lines not logged (limit %u)",
		         run.lines_not_logged, EXEC_LOG_LINES_MAX);
		host->job_log(job, BF_LOG_INFO, msg);
	}

	if (stop == EXEC_STOP_TIMEOUT) {
		snprintf(msg, sizeof(msg), "timed out after %" PRIu32 " s",
		         pl->timeout_s);
		host->job_set_error(job, msg);
		result = BF_JOB_RETRY;
		goto out;
	}
	if (stop == EXEC_STOP_ABORT) {
		host->job_set_error(job,
		                    "stopped: the daemon is shutting down");
		result = BF_JOB_RETRY;
		goto out;
	}
	if (wait_err != 0) {
		snprintf(msg, sizeof(msg), "cannot get the exit status of %s: %s",
		         task->argv[0], error_text(wait_err, ebuf, sizeof(ebuf)));
		host->job_set_error(job, msg);
		result = BF_JOB_RETRY;
		goto out;
	}
	result = exec_result_from_status(status, msg, sizeof(msg));
	if (result != BF_JOB_OK) {
		error = exec_tail_string(&run.err_tail);
		if (error != NULL && error[0] != '\0') {
			/* stderr is the error; keep the status in the log. */
			host->job_log(job, BF_LOG_INFO, msg);
			host->job_set_error(job, error);
		} else {
			host->job_set_error(job, msg);
		}
	}
out:
	free(error);
	free(envp);
	exec_tail_free(&run.err_tail);
	return result;
}

static const struct bf_plugin exec_plugin = {
	.struct_size = sizeof(struct bf_plugin),
	.magic = BF_PLUGIN_MAGIC,
	.abi_major = BF_PLUGIN_ABI_MAJOR,
	.abi_minor = BF_PLUGIN_ABI_MINOR,
	.name = "exec",
	.version = "0.1.0",
	.init = exec_init,
	.shutdown = exec_shutdown,
};

BF_PLUGIN_DECLARE_ENTRY
{
	return &exec_plugin;
}
