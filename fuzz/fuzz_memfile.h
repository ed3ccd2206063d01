/* fuzz_memfile.h -- for harnesses whose parser reads a file: the input goes
 * into an in-memory file that the parser opens by its /proc/self/fd path.
 * Header-only: each harness includes it once. */
#ifndef BACKFILLD_FUZZ_MEMFILE_H
#define BACKFILLD_FUZZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Replaces the file's contents with data; returns its path (static). */
static const char *fuzz_memfile(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz-input", 0);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		perror("fuzz input file");
		abort();
	}
	return path;
}

/* A stream that discards what is printed to it. */
static FILE *fuzz_devnull(void)
{
	static FILE *f;
	if (!f && !(f = fopen("/dev/null", "w"))) {
		perror("/dev/null");
		abort();
	}
	return f;
}

#endif /* BACKFILLD_FUZZ_MEMFILE_H */
