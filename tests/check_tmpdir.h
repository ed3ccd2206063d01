/* check_tmpdir.h -- for unit tests that write files: run a Check suite
 * inside a fresh temporary directory (the caller's mkdtemp template), then
 * remove it.  Header-only: each test binary includes it once. */
#ifndef BACKFILLD_CHECK_TMPDIR_H
#define BACKFILLD_CHECK_TMPDIR_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int check_tmpdir_remove(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Creates tmpdir from its template, runs the suite, removes tmpdir; returns
 * the process exit status. */
static int check_run_in_tmpdir(Suite *suite, char *tmpdir)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmpdir, check_tmpdir_remove, 16, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* BACKFILLD_CHECK_TMPDIR_H */
