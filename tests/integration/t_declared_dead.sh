# A live daemon that another declared dead (its heartbeat looked too old)
# must not let a run from before that finish the job's new run: the old
# result is dropped, the daemon re-registers under a new worker id, and the
# job's serial key stays held until the new run ends.
. "$(dirname "$0")/lib.sh"

REC=$T/record.log
bf_plugins testtasks
cat >"$T/backfilld.ini" <<EOF
[daemon]
poll_interval_ms = 50
heartbeat_interval = 1
heartbeat_timeout = 3
[queue.fast]
concurrency = 0
[queue.bulk]
concurrency = 2
[testtasks]
record_file = $REC
EOF
bf_start a -c "$T/backfilld.ini"
wid=$(bf_sql "SELECT id FROM backfill.workers")
j1=$(bf_sql "SELECT id FROM backfill.add_job('test.record', '{\"sleep_ms\": 2000}', serial_key => 's')")
bf_wait_sql "SELECT count(*) FROM backfill.jobs WHERE id = $j1 AND locked_by IS NOT NULL" 1 5
j2=$(bf_sql "SELECT id FROM backfill.add_job('test.record', '{\"sleep_ms\": 10}', serial_key => 's')")
sleep 0.3

bf_log "declare worker $wid dead, as another daemon would"
released=$(bf_sql "UPDATE backfill.workers SET heartbeat_at = now() - interval '1 day' WHERE id = '$wid'; SELECT backfill.recover_dead_workers('someone-else')" | tail -n 1)
bf_eq "$released" 1 "jobs released"
bf_wait_sql "SELECT count(*) FROM backfill.jobs" 0 15
bf_stop a >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status"

grep -q "re-registering as $wid#2" "$T/daemon-a.log" || bf_fail "no re-registration under a new id"
grep -q "job $j1 .*result dropped" "$T/daemon-a.log" || bf_fail "the first run's result was not dropped"
starts=$(awk -v j="$j1" '$1 == "start" && $2 == j' "$REC" | wc -l)
bf_eq "$starts" 2 "runs of job $j1 (once before, once after the release)"
last_end=$(awk -v j="$j1" '$1 == "end" && $2 == j { if ($5 > m) m = $5 } END { print m }' "$REC")
j2_start=$(awk -v j="$j2" '$1 == "start" && $2 == j { print $5 }' "$REC")
[ -n "$j2_start" ] && [ "$j2_start" -ge "$last_end" ] ||
	bf_fail "job $j2 of serial key s started at $j2_start, before job $j1's second run ended at $last_end"
echo "ok: old result dropped, serial key held through the second run"
