#!/usr/bin/env bash
# t_link_loss -- the daemon's database sessions (control connection, claim
# and finish links) are killed one at a time, at random, while 20000 short
# jobs run in two pools.  Each loss is logged, everything reconnects, claims
# whose reply was lost are handed back, a finish whose reply was lost is sent
# again; since the daemon itself never stops, every job runs exactly once,
# as attempt 1, and nothing is dead-lettered.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record
N=20000
KILLS=8
ends() { grep -c '^end ' "$REC" 2>/dev/null || true; }

cat >"$T/d.ini" <<EOF
[daemon]
poll_interval_ms = 100
[queue.fast]
concurrency = 10
[queue.bulk]
concurrency = 5
[testtasks]
record_file = $REC
EOF

bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
bf_sql "INSERT INTO $S.jobs (task, queue, payload)
        SELECT 'test.record', CASE WHEN i % 3 = 0 THEN 'bulk' ELSE 'fast' END,
               jsonb_build_object('sleep_ms', i % 3)
        FROM generate_series(1, $N) i"
all_ids=$(bf_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM $S.jobs")

bf_start d -c "$T/d.ini"
log=$T/daemon-d.log
dbname=${DATABASE_URL##*/}
killed=0
end=$(( $(date +%s) + 60 ))
while [ "$killed" -lt "$KILLS" ]; do
	[ "$(date +%s)" -le "$end" ] || bf_fail "only $killed sessions killed in 60 s"
	[ "$(bf_sql "SELECT count(*) FROM $S.jobs")" -gt 0 ] || bf_fail "all jobs done after $killed kills: too few to test with"
	n=$(bf_sql "SELECT count(pg_terminate_backend(pid)) FROM (
	              SELECT pid FROM pg_stat_activity
	              WHERE datname = '$dbname' AND application_name = 'backfilld'
	              ORDER BY random() LIMIT 1) s")
	killed=$((killed + n))
	sleep 0.1
done
bf_log "$killed daemon sessions killed; $(ends) jobs had ended"

bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 60
kill -0 "$(bf_pid d)" 2>/dev/null || bf_fail "the daemon died"
lost=$(grep -c "warn database: connection lost;" "$log" || true)
back=$(grep -c "info database: reconnected" "$log" || true)
bf_log "log: $lost 'connection lost', $back 'reconnected'"
grep -E "connection lost|reconnected|returned|no longer ours" "$log" | sed 's/^/#   /' | head -n 40
[ "$lost" -ge 1 ] && [ "$lost" -le "$killed" ] || bf_fail "$lost 'connection lost' lines for $killed kills"
[ "$back" -ge 1 ] || bf_fail "never reconnected"

bf_eq "$(awk '$1 == "end" { print $2 }' "$REC" | sort -n -u | paste -sd, -)" "$all_ids" "every job has an end line"
bf_eq "$(awk '$1 == "start" { print $2 }' "$REC" | sort -n | uniq -d | wc -l)" 0 "no job started twice"
bf_eq "$(awk '$1 == "start" && $4 != 1' "$REC" | wc -l)" 0 "every run was attempt 1"
bf_eq "$(grep -c 'no longer ours' "$log" || true)" 0 "no result was dropped"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing dead-lettered"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.serial_locks")" 0 "no serial lock left"

bf_stop d >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status after SIGTERM"
echo "ok"
