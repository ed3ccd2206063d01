/* fuzz_crontab.c -- libFuzzer harness for the crontab parser
 * (daemon/crontab.c): the input is a crontab file.  Every schedule parsed
 * must have a next occurrence that is a later whole minute it matches, and
 * its [cron] listing must print. */
#include "crontab.h"
#include "fuzz_memfile.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Some instants: the epoch, a leap day, a year end, a Sunday midnight. */
static const time_t instants[] = {0, 1709164799, 1798761599, 1795478400, 4102444799};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bf_crontab tab = {0};
	char *err = NULL;
	if (crontab_load_file(&tab, fuzz_memfile(data, size), true, &err) < 0) {
		if (!err || !err[0])
			abort();
		free(err);
		crontab_clear(&tab);
		return 0;
	}
	for (size_t i = 0; i < tab.n; i++) {
		const struct bf_cron_schedule *s = &tab.items[i];
		if (!s->id || !s->task || !s->payload || !s->text || !s->source)
			abort();
		for (size_t j = i + 1; j < tab.n; j++)
			if (strcmp(s->id, tab.items[j].id) == 0)
				abort(); /* ids are unique */
		for (size_t k = 0; k < sizeof(instants) / sizeof(instants[0]); k++) {
			time_t next = crontab_next(s, instants[k]);
			if (next < 0)
				abort(); /* "a parsed schedule always has" one */
			if (next <= instants[k] || next % 60 != 0 || !crontab_matches(s, next))
				abort();
		}
	}
	crontab_print(&tab, instants[1], 2, fuzz_devnull());
	crontab_clear(&tab);
	return 0;
}
