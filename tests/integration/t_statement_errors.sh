#!/usr/bin/env bash
# t_statement_errors -- SQL that fails on a live connection:
#  1. a migration that fails (a table of that name already exists) is
#     rolled back whole: --migrate exits 69 naming the migration and the
#     error, leaves no migrations table, and succeeds once the conflict is
#     gone;
#  2. a recurring job's statement that fails (a CHECK constraint refuses
#     its task) is logged and that occurrence skipped, while another
#     schedule's missed occurrences are still backfilled at start; the
#     failed schedule's last_execution does not move;
#  3. a DLQ processor sweep that fails (dlq_sweep renamed away) is logged
#     with its doubling wait; once the function is back the next sweep
#     moves the exhausted job into the dlq.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
bf_plugins noop
latest=$("$BIN" --version | sed -n 's/.*schema version \([0-9]*\).*/\1/p')
[ -n "$latest" ] || bf_fail "cannot read the schema version from --version"

# ---------------------------------------------------------------------------
bf_log "1. a failing migration is rolled back"
bf_sql "CREATE SCHEMA $S; CREATE TABLE $S.jobs (mine int); INSERT INTO $S.jobs VALUES (7)"
rc=0; bf_migrate >"$T/migrate1.out" 2>&1 || rc=$?
cat "$T/migrate1.out"
bf_eq "$rc" 69 "--migrate over a conflicting table: exit status"
grep -q 'migration 001_' "$T/migrate1.out" || bf_fail "the error does not name the migration"
grep -q 'already exists' "$T/migrate1.out" || bf_fail "the error does not say what failed"
bf_eq "$(bf_sql "SELECT to_regclass('$S.migrations') IS NULL, (SELECT string_agg(mine::text, ',') FROM $S.jobs)")" \
	"t|7" "nothing of the failed migration is left, the table is untouched"
bf_sql "DROP TABLE $S.jobs"
bf_migrate >"$T/migrate2.out" 2>&1 || { cat "$T/migrate2.out"; bf_fail "--migrate failed once the conflict was gone"; }
bf_eq "$(bf_sql "SELECT max(version) FROM $S.migrations")" "$latest" "schema version after --migrate"

# ---------------------------------------------------------------------------
bf_log "2. a cron statement that fails skips that occurrence only"
bf_sql "ALTER TABLE $S.jobs ADD CONSTRAINT test_refuses_cron_bad CHECK (task <> 'cron.bad')"
# both schedules last ran four minutes ago (keep clear of a minute boundary)
while [ "$(date +%S)" -gt 50 ] || [ "$(date +%S)" -lt 3 ]; do sleep 1; done
bf_sql "INSERT INTO $S.known_crontabs (id, known_since, last_execution) VALUES
          ('good', now() - interval '1 hour', date_trunc('minute', now()) - interval '4 minutes'),
          ('bad', now() - interval '1 hour', date_trunc('minute', now()) - interval '4 minutes')"
before=$(bf_sql "SELECT last_execution FROM $S.known_crontabs WHERE id = 'bad'")
cat >"$T/cron.ini" <<'INI'
[daemon]
dlq_processor_interval = 1
[cron]
bad = * * * * * cron.bad ?fill=10m
good = * * * * * cron.good ?fill=10m
INI
bf_start A -c "$T/cron.ini"
# the minutes after last_execution up to now: 4 of them (a 5th if a minute
# began meanwhile)
bf_wait_sql "SELECT count(*) >= 4 FROM $S.jobs WHERE task = 'cron.good' AND (payload->'_cron'->>'backfilled')::bool" t 20
grep -q "cron: bad: the occurrence .* was not enqueued (see the error above); skipping it" "$T/daemon-A.log" ||
	bf_fail "the failed occurrence was not logged"
grep -q 'test_refuses_cron_bad' "$T/daemon-A.log" || bf_fail "the database's error was not logged"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE task = 'cron.bad'")" 0 "jobs of the refused schedule"
bf_eq "$(bf_sql "SELECT last_execution FROM $S.known_crontabs WHERE id = 'bad'")" "$before" \
	"the refused schedule's last_execution"

# ---------------------------------------------------------------------------
bf_log "3. a failing DLQ sweep is retried with a growing wait"
bf_sql "ALTER FUNCTION $S.dlq_sweep RENAME TO dlq_sweep_away"
for i in $(seq 1 100); do
	[ "$(grep -c 'DLQ processor: sweep failed; next try in' "$T/daemon-A.log")" -ge 2 ] && break
	sleep 0.1
done
waits=$(grep -o 'DLQ processor: sweep failed; next try in [0-9]* s' "$T/daemon-A.log" | awk '{print $(NF-1)}' | head -n 2 | paste -sd, -)
bf_eq "$waits" "2,4" "waits after the first two failed sweeps"
# an exhausted job nobody runs: the sweep's work once it is back
j=$(bf_sql "INSERT INTO $S.jobs (task, attempts, max_attempts) VALUES ('nobody.runs', 3, 3) RETURNING id")
bf_sql "ALTER FUNCTION $S.dlq_sweep_away RENAME TO dlq_sweep"
bf_wait_sql "SELECT count(*) FROM $S.dlq WHERE original_job_id = $j" 1 15
bf_stop A >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status after SIGTERM"
