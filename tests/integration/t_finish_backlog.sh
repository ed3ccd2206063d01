#!/usr/bin/env bash
# t_finish_backlog -- when results cannot be recorded (here: a psql session
# holds a row lock on a finished job, so the finish statement waits), the
# daemon stops claiming once a few thousand results wait, instead of locking
# the whole backlog for results it cannot record; it says so in its log, and
# claims again once the results are recorded.  Every job still runs exactly
# once.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record
N=20000
BOUND=5000 # UNRECORDED_MAX in daemon/dispatch.c
ends() { grep -c '^end ' "$REC" 2>/dev/null || true; }
locked_count() { bf_sql "SELECT count(*) FROM $S.jobs WHERE locked_by IS NOT NULL"; }

cat >"$T/d.ini" <<EOF
[daemon]
poll_interval_ms = 50
heartbeat_interval = 1
[queue.fast]
concurrency = 10
[queue.bulk]
concurrency = 0
[testtasks]
record_file = $REC
EOF
: >"$REC"

bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
bf_start d -c "$T/d.ini"
log=$T/daemon-d.log

# job A runs; a psql session locks its row, so recording A's result waits
A=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"sleep_ms\": 500}', queue => 'fast')")
a_locked() { [ "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id = $A AND locked_by IS NOT NULL")" = 1 ]; }
bf_wait_for 10 "job $A claimed" a_locked
bf_hold lockA "SELECT 1 FROM $S.jobs WHERE id = $A FOR UPDATE;"
# N short jobs, due once A's finish is stuck behind the lock
bf_sql "INSERT INTO $S.jobs (task, queue, payload, run_at)
        SELECT 'test.record', 'fast', '{}', now() + interval '1.5 s' FROM generate_series(1, $N)"
all_ids=$(bf_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM $S.jobs WHERE id <> $A")
bf_wait_for 10 "job $A to end" grep -q "^end $A " "$REC"
short_ones_run() { [ "$(ends)" -gt 100 ]; }
bf_wait_for 20 "the short jobs to start" short_ones_run

# the number of jobs run must stop growing well below N
prev=-1
cur=$(ends)
stable=0
end=$(( $(date +%s) + 30 ))
while [ "$stable" -lt 10 ]; do
	[ "$(date +%s)" -le "$end" ] || bf_fail "jobs kept running for 30 s while nothing was recorded ($cur ended)"
	sleep 0.1
	prev=$cur
	cur=$(ends)
	if [ "$cur" = "$prev" ]; then stable=$((stable + 1)); else stable=0; fi
done
held=$(locked_count)
bf_log "with the finish blocked: $cur jobs ended, $held locked by the daemon (of $((N + 1)))"
[ "$cur" -lt "$N" ] || bf_fail "all $cur jobs ran while none could be recorded"
[ "$held" -lt $((BOUND + 2500)) ] || bf_fail "$held jobs locked while results waited (bound $BOUND)"
[ "$cur" -ge "$BOUND" ] || bf_fail "only $cur jobs ran before claiming stopped (bound $BOUND)"
grep -q "results wait to be recorded" "$log" || bf_fail "no log line says claiming stopped"
kill -0 "$(bf_pid d)" 2>/dev/null || bf_fail "the daemon died"

bf_release lockA COMMIT
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 60
grep -q "claiming again" "$log" || bf_fail "no log line says claiming resumed"
grep -E "results wait|claiming again" "$log" | sed 's/^/#   /'

# every job ran exactly once, A included
starts=$(awk '$1 == "start" { print $2 }' "$REC" | sort -n | uniq -c | awk '$1 != 1' | head -n 5)
[ -z "$starts" ] || bf_fail "jobs started more than once (count id): $starts"
ran=$(awk '$1 == "start" && $2 != '"$A"' { print $2 }' "$REC" | sort -n | paste -sd,)
[ "$ran" = "$all_ids" ] || bf_fail "the jobs that ran are not the jobs enqueued"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "dead-lettered jobs"
bf_stop d >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status"
echo "ok"
