#!/usr/bin/env bash
# t_db_restart -- PostgreSQL restarts (fast) while 3000 short jobs run
# (PRODUCT.md 3.3): the daemon logs the lost connection, reconnects, and every
# job completes; a job runs twice only if it was running at the restart (at
# most a handful; the number is printed).  Restarts the run's cluster, which
# the other tests share: they run one after another, so that is fine.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record
N=3000
POOL=10
now_ms() { date +%s%3N; }
ends() { grep -c '^end ' "$REC" 2>/dev/null || true; }

# poll_interval_ms is long so that, once idle, only NOTIFY (LISTEN renewed
# after the reconnect) can wake the daemon in time.
cat >"$T/d.ini" <<EOF
[daemon]
poll_interval_ms = 600000
[queue.bulk]
concurrency = $POOL
[queue.fast]
concurrency = 0
[testtasks]
record_file = $REC
EOF

bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
bf_sql "INSERT INTO $S.jobs (task, payload)
        SELECT 'test.record', jsonb_build_object('sleep_ms', i % 6) FROM generate_series(1, $N) i"
all_ids=$(bf_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM $S.jobs")

t_start=$(now_ms)
bf_start d -c "$T/d.ini"
# restart once a fifth of the jobs is done
end=$(( $(date +%s) + 30 ))
while [ "$(ends)" -lt $((N / 5)) ]; do
	[ "$(date +%s)" -le "$end" ] || bf_fail "only $(ends) jobs done after 30 s"
	sleep 0.02
done
before=$(ends)
t0=$(now_ms)
"$BF_ROOT/scripts/pgcluster" restart "$BF_PGDIR" fast || bf_fail "pgcluster restart failed"
restart_ms=$(( $(now_ms) - t0 ))
left=$(bf_sql "SELECT count(*) FROM $S.jobs")
bf_log "PostgreSQL restarted in ${restart_ms} ms after $before end lines; $left job(s) left right after"
[ "$left" -gt 0 ] || bf_fail "every job was done by the end of the restart: the restart was not in the middle"

bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 60
bf_log "all $N jobs done $(( $(now_ms) - t_start )) ms after the daemon started"
kill -0 "$(bf_pid d)" 2>/dev/null || bf_fail "the daemon died"
log=$T/daemon-d.log
grep -q "warn database: connection lost; [0-9]* job(s) running" "$log" || bf_fail "no 'database: connection lost' line"
grep -q "info database: reconnected to postgresql://.* after [0-9]* failed attempt(s)" "$log" ||
	bf_fail "no 'database: reconnected' line"
grep -E "connection lost|reconnected|returned|no longer ours" "$log" | sed 's/^/#   /'

bf_eq "$(awk '$1 == "end" { print $2 }' "$REC" | sort -n -u | paste -sd, -)" "$all_ids" "every job has an end line"
twice=$(awk '$1 == "end" { print $2 }' "$REC" | sort -n | uniq -d | paste -sd, -)
ntwice=$(awk '$1 == "end" { print $2 }' "$REC" | sort -n | uniq -d | grep -c . || true)
echo "# jobs with two end lines (running at the restart): $ntwice [$twice]"
bf_eq "$(awk '$1 == "end" { print $2 }' "$REC" | sort -n | uniq -c | awk '$1 > 2' | wc -l)" 0 "no job ran three times"
[ "$ntwice" -le "$POOL" ] || bf_fail "$ntwice jobs ran twice, more than the $POOL that can run at once"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing dead-lettered"

bf_log "restart while the daemon is idle: it reconnects and LISTENs again"
lost=$(grep -c "database: connection lost;" "$log")
back=$(grep -c "database: reconnected" "$log")
"$BF_ROOT/scripts/pgcluster" restart "$BF_PGDIR" fast || bf_fail "pgcluster restart failed"
end=$(( $(date +%s) + 20 ))
until [ "$(grep -c "database: reconnected" "$log")" -gt "$back" ]; do
	[ "$(date +%s)" -le "$end" ] || bf_fail "no new 'reconnected' line 20 s after an idle restart"
	sleep 0.05
done
bf_eq "$(grep -c "database: connection lost;" "$log")" "$((lost + 1))" "the idle daemon logged the lost connection once"
t0=$(now_ms)
id=$(bf_sql "INSERT INTO $S.jobs (task) VALUES ('test.record') RETURNING id")
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 5
bf_log "a job inserted after the idle reconnect ran within $(( $(now_ms) - t0 )) ms (poll interval 600 s: NOTIFY works)"
bf_eq "$(awk -v id="$id" '$1 == "end" && $2 == id { print $4 }' "$REC")" 1 "the new job ran once"

bf_stop d >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "the daemon unregistered"

echo "ok"
