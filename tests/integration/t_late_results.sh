#!/usr/bin/env bash
# t_late_results -- a result, or a claim, that reaches the database late
# never touches a later run of the job.  Row locks held from psql stretch
# the windows that are otherwise a few milliseconds wide:
# 1. declared dead while a result waits: the old run's result must not
#    finish the job's second run, nor free its serial key;
# 2. a finish whose reply was lost, sent again after the reconnect while the
#    retried job runs again: the repeat must not unlock that new run;
# 3. a claim left running when another connection dropped, committing after
#    the reconnect: its job must be handed back and run, not stay locked.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record
dbname=${DATABASE_URL##*/}
starts() { grep -c "^start $1 " "$REC" 2>/dev/null || true; }
ends() { grep -c "^end $1 " "$REC" 2>/dev/null || true; }
# field 5 (time, us) of the Nth "start|end ID" line
at() { awk -v k="$1" -v id="$2" -v n="$3" '$1 == k && $2 == id && ++c == n { print $5 }' "$REC"; }
locked() { [ "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id = $1 AND locked_by IS NOT NULL")" = 1 ]; }
started() { [ "$(starts "$1")" -ge "$2" ]; }
ended() { [ "$(ends "$1")" -ge "$2" ]; }
claim_waits() {
	[ "$(bf_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = '$dbname'
	              AND application_name = 'backfilld' AND wait_event_type = 'Lock'")" = 1 ]
}
ini() {
	cat >"$T/$1.ini" <<EOF
[daemon]
poll_interval_ms = 50
heartbeat_interval = 1
heartbeat_timeout = 60
[queue.fast]
concurrency = 0
[queue.bulk]
concurrency = 3
[testtasks]
record_file = $REC
EOF
}

bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }

# ---------------------------------------------------------------------------
bf_log "1. a result waiting when the daemon is declared dead"
ini a; : >"$REC"
bf_start a -c "$T/a.ini"
w=$(bf_sql "SELECT id FROM $S.workers")
A=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"sleep_ms\": 1500}')")
bf_wait_for 10 "job $A claimed" locked "$A"
bf_hold lockA "SELECT 1 FROM $S.jobs WHERE id = $A FOR UPDATE;"
V=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"sleep_ms\": 4000}', serial_key => 'k')")
bf_wait_for 10 "the first run of job $V to end" ended "$V" 1
sleep 0.3 # V's result now waits behind A's finish, blocked on the row lock
# what recover_dead_workers does to a dead daemon, done by hand
bf_sql "DELETE FROM $S.workers WHERE id = '$w';
        UPDATE $S.jobs SET locked_by = NULL, locked_at = NULL, attempts = attempts - 1 WHERE id = $V;
        DELETE FROM $S.serial_locks WHERE job_id = $V" >/dev/null
bf_wait_for 10 "the second run of job $V" started "$V" 2
S2=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"sleep_ms\": 100}', serial_key => 'k')")
sleep 0.3
bf_release lockA COMMIT
sleep 1
bf_eq "$(bf_sql "SELECT locked_by IS NOT NULL FROM $S.jobs WHERE id = $V")" t \
	"job $V is still held by its second run after the old result went in"
bf_wait_for 15 "job $S2 to end" ended "$S2" 1
[ "$(at start "$S2" 1)" -ge "$(at end "$V" 2)" ] ||
	bf_fail "job $S2 (serial key k) started while job $V (same key) ran: $(cat "$REC")"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 10
bf_eq "$(bf_sql "SELECT count(*) FROM $S.serial_locks")" 0 "no serial lock left"
bf_stop a >/dev/null

# ---------------------------------------------------------------------------
bf_log "2. a finish repeated after a lost connection, while the retried job runs again"
ini b; : >"$REC"
bf_start b -c "$T/b.ini"
R=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"sleep_ms\": 1500, \"fail_until_attempt\": 2, \"retry_delay_ms\": 0}')")
bf_wait_for 10 "job $R claimed" locked "$R"
bf_hold lockR "SELECT 1 FROM $S.jobs WHERE id = $R FOR UPDATE;"
C=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"sleep_ms\": 2500}')")
bf_wait_for 10 "job $C claimed" locked "$C"
bf_hold lockC "SELECT 1 FROM $S.jobs WHERE id = $C FOR UPDATE;"
bf_wait_for 10 "job $C to end" ended "$C" 1
sleep 0.2 # R's finish (a retry) is blocked; C's result waits behind it
# the claim link polls every 50 ms: wait for a moment it is idle
end_idle_claim() {
	[ "$(bf_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	             WHERE datname = '$dbname' AND application_name = 'backfilld' AND state = 'idle'
	               AND query LIKE '%claim%'")" -ge 1 ]
}
bf_wait_for 5 "an idle claim connection to end" end_idle_claim
bf_wait_for 10 "the reconnect" grep -q "reconnected" "$T/daemon-b.log"
sleep 0.3
bf_release lockR COMMIT # the abandoned finish records R's retry now
bf_wait_for 10 "attempt 2 of job $R" started "$R" 2
bf_release lockC COMMIT # the repeated finish goes through during attempt 2
sleep 3
bf_eq "$(awk -v id="$R" '$1 == "start" && $2 == id { print $4 }' "$REC" | paste -sd, -)" "1,2" \
	"job $R ran attempt 1, then attempt 2 once, never two at a time"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 10
bf_stop b >/dev/null

# ---------------------------------------------------------------------------
bf_log "3. a claim that commits after its connection was abandoned"
ini c; : >"$REC"
bf_start c -c "$T/c.ini"
bf_hold blocker "INSERT INTO $S.serial_locks (serial_key, job_id, locked_by) VALUES ('k', -1, 'someone');"
sleep 0.3
X=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"sleep_ms\": 10}', serial_key => 'k')")
bf_wait_for 10 "a claim waiting on the serial key" claim_waits
bf_sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = '$dbname' AND application_name = 'backfilld' AND state = 'idle' LIMIT 1" >/dev/null
bf_wait_for 10 "the reconnect" grep -q "reconnected" "$T/daemon-c.log"
sleep 0.3
bf_release blocker ROLLBACK # the abandoned claim takes job X and commits
bf_wait_for 10 "job $X to run" ended "$X" 1
grep -q "returned 1 job(s) this daemon had claimed without receiving the claim's reply" "$T/daemon-c.log" ||
	bf_fail "no line about the job handed back"
Y=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"sleep_ms\": 10}', serial_key => 'k')")
bf_wait_for 10 "job $Y (same serial key) to run" ended "$Y" 1
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 10
bf_eq "$(bf_sql "SELECT count(*) FROM $S.serial_locks")" 0 "no serial lock left"
bf_stop c >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status"
echo "ok"
