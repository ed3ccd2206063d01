/* check_files.h -- file fixtures for unit tests that load plugins and check
 * what the daemon logs: read a file whole, copy one (a plugin) with a given
 * mode, and capture what is written to fd 2 (where the daemon logs) between
 * two calls.  Header-only (static inline: a test uses what it needs), like
 * check_tmpdir.h. */
#ifndef BACKFILLD_CHECK_FILES_H
#define BACKFILLD_CHECK_FILES_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The file's whole text (caller frees); fails the test if it cannot be
 * opened. */
static inline char *check_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	ck_assert_ptr_nonnull(out);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, out);
	fclose(f);
	fclose(out);
	return text;
}

/* Copies the file from to dir/name (its path in to, size bytes) with
 * exactly the given mode, whatever the umask. */
static inline void check_copy_file(const char *from, const char *dir, const char *name, mode_t mode,
                                   char *to, size_t size)
{
	snprintf(to, size, "%s/%s", dir, name);
	int in = open(from, O_RDONLY);
	ck_assert_msg(in >= 0, "cannot open %s: %s (build it first: make all)", from, strerror(errno));
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(out >= 0, "cannot create %s: %s", to, strerror(errno));
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	ck_assert_int_eq(close(out), 0);
	ck_assert_int_eq(chmod(to, mode), 0);
}

/* What is written to fd 2 between check_capture_start and
 * check_capture_end. */
struct check_capture {
	int saved_fd;
	char path[PATH_MAX];
};

/* Sends fd 2 to a new file in dir until check_capture_end. */
static inline void check_capture_start(struct check_capture *c, const char *dir)
{
	snprintf(c->path, sizeof(c->path), "%s/stderr.XXXXXX", dir);
	int fd = mkstemp(c->path);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	c->saved_fd = dup(STDERR_FILENO);
	ck_assert_int_ge(c->saved_fd, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
}

/* Gives fd 2 back; the captured text (caller frees). */
static inline char *check_capture_end(struct check_capture *c)
{
	fflush(stderr);
	ck_assert_int_ge(dup2(c->saved_fd, STDERR_FILENO), 0);
	close(c->saved_fd);
	char *text = check_read_file(c->path);
	unlink(c->path);
	return text;
}

#endif /* BACKFILLD_CHECK_FILES_H */
