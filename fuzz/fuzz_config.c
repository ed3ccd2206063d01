/* fuzz_config.c -- libFuzzer harness for the configuration loader
 * (daemon/config.c): the input is the contents of the ini file.  A load
 * either fails with one error line or gives a configuration that prints
 * and masks its password; both are checked. */
#include "config.h"
#include "fuzz_memfile.h"
#include "log.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		log_set_level(LOG_LEVEL_ERROR);
		quiet = 1;
	}
	/* no crontab file: the input could name /dev/zero; [cron] keys are
	 * still parsed (and fuzz_crontab covers the file format) */
	const struct bf_config_override overrides[] = {{"cron-file", ""}};
	const struct bf_config_args args = {
	    .path = fuzz_memfile(data, size),
	    .path_required = true,
	    .environ = NULL,
	    .overrides = overrides,
	    .noverrides = 1,
	};
	struct bf_config *cfg = NULL;
	char *err = NULL;
	if (config_load(&args, &cfg, &err) < 0) {
		/* an error is one line of text */
		if (!err || !err[0] || strchr(err, '\n'))
			abort();
		free(err);
		return 0;
	}
	if (err || !cfg || config_active_queues(cfg) == 0)
		abort();
	config_print(cfg, fuzz_devnull());
	char *masked = config_mask_conninfo(cfg->database_url);
	free(masked);
	for (size_t i = 0; i < cfg->nqueues; i++)
		if (config_queue(cfg, cfg->queues[i].name) == NULL)
			abort();
	/* a reload of the same file finds nothing to keep */
	struct bf_config *again = NULL;
	if (config_load(&args, &again, &err) < 0)
		abort(); /* the same input loaded a moment ago */
	if (config_keep_restart_only(again, cfg) != 0)
		abort();
	config_free(again);
	config_free(cfg);
	return 0;
}
