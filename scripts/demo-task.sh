#!/bin/sh
# demo-task.sh -- an `exec` task handler in plain shell, used by `make demo`:
# reads the job's JSON payload on stdin, prints a line, exits 0 (done).
# Exit 75 would ask for a retry; any other non-zero code fails permanently.
payload=$(cat)
echo "demo.shell ran job $BACKFILL_JOB_ID (attempt $BACKFILL_ATTEMPT of $BACKFILL_MAX_ATTEMPTS) with payload $payload"
exit 0
