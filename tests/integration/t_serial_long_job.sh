#!/usr/bin/env bash
# t_serial_long_job -- a serial-key job that runs far longer than
# stale_queue_lock_timeout (1 s) and stale_job_lock_timeout (2 s), with the
# stale-lock cleanup every second, on one of two daemons: the cleanup never
# releases a registered daemon's serial lock nor its job, so the second job
# of the key starts only after the first ended, and the first ran exactly
# once.  The risky values are warned about at start.  Control: in the same
# run, a serial lock and a job lock held by an unknown worker ('ghost') are
# released by that cleanup (so it does run, with those timeouts).
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
bf_plugins testtasks
cfg() {
	cat >"$T/$1.ini" <<-EOF
		[daemon]
		poll_interval_ms = 50
		stale_queue_lock_timeout = 1
		stale_job_lock_timeout = 2
		stale_lock_cleanup_interval = 1
		[queue.bulk]
		concurrency = 5
		[queue.fast]
		concurrency = 0
		[testtasks]
		record_file = $T/rec-$1
	EOF
	: >"$T/rec-$1"
}
runs() { cat "$T"/rec-A "$T"/rec-B | awk -v id="$1" '$2 == id { print $1 ":" $4 }' | paste -sd, -; }
rec_time() { cat "$T"/rec-A "$T"/rec-B | awk -v w="$1" -v id="$2" '$1 == w && $2 == id { print $5 }'; }

cfg A; cfg B
bf_start A -c "$T/A.ini"
bf_start B -c "$T/B.ini"

bf_log "the risky values are warned about at start"
for n in A B; do
	grep -q "warn stale_queue_lock_timeout = 1 s is under 60 s" "$T/daemon-$n.log" ||
		bf_fail "daemon $n did not warn about stale_queue_lock_timeout = 1"
	grep -q "error stale_job_lock_timeout = 2 s is under 300 s: jobs of a worker without a heartbeat row may run twice" "$T/daemon-$n.log" ||
		bf_fail "daemon $n did not warn about stale_job_lock_timeout = 2"
done

bf_log "job 1 (serial key k, 5 s), then job 2 (same key) right after"
j1=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"sleep_ms\": 5000}', serial_key => 'k')")
j2=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{}', serial_key => 'k')")
bf_wait_sql "SELECT locked_by IS NOT NULL FROM $S.jobs WHERE id = $j1" t 5
owner=$(bf_sql "SELECT locked_by FROM $S.jobs WHERE id = $j1")
bf_eq "$(bf_sql "SELECT job_id || '|' || locked_by FROM $S.serial_locks WHERE serial_key = 'k'")" "$j1|$owner" "serial lock of k"

bf_log "control: a serial lock and a job lock of an unknown worker, 10 s old"
g=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{}', serial_key => 'g')")
bf_sql "INSERT INTO $S.serial_locks (serial_key, job_id, locked_by, locked_at)
        VALUES ('g', 999999999, 'ghost', now() - interval '10 seconds')"
ghost=$(bf_sql "INSERT INTO $S.jobs (task, attempts, locked_at, locked_by)
                VALUES ('test.record', 1, now() - interval '10 seconds', 'ghost') RETURNING id")

# watch job 1 until it is gone: still attempt 1, locked by the same daemon,
# holding the key; job 2 waits, never claimed
samples=0
end=$(( $(date +%s) + 15 ))
while :; do
	# one statement, one snapshot
	st=$(bf_sql "SELECT (SELECT attempts || '|' || coalesce(locked_by, '-') FROM $S.jobs WHERE id = $j1),
	                    coalesce((SELECT job_id || '|' || locked_by FROM $S.serial_locks WHERE serial_key = 'k'), '-|-'),
	                    (SELECT attempts || '|' || coalesce(locked_by, '-') FROM $S.jobs WHERE id = $j2)")
	[ "${st%%|*}" = "" ] && break  # job 1 is done
	bf_eq "$st" "1|$owner|$j1|$owner|0|-" \
		"job 1 (attempts|locked_by), serial lock of k (job_id|locked_by), job 2 (attempts|locked_by) while job 1 runs (sample $samples)"
	samples=$((samples + 1))
	[ "$(date +%s)" -le "$end" ] || bf_fail "job 1 not done after 15 s"
	sleep 0.1
done
bf_log "job 1 watched $samples times"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 10

bf_log "from the record files"
bf_eq "$(runs "$j1")" "start:1,end:1" "job 1 ran exactly once, as attempt 1"
bf_eq "$(runs "$j2")" "start:1,end:1" "job 2 ran once"
e1=$(rec_time end "$j1"); s1=$(rec_time start "$j1"); s2=$(rec_time start "$j2")
[ $(( e1 - s1 )) -ge 5000000 ] || bf_fail "job 1 ran only $(( e1 - s1 )) us"
[ "$s2" -gt "$e1" ] || bf_fail "job 2 started $(( e1 - s2 )) us before job 1 ended: two jobs of serial key k ran at once"
bf_log "job 2 started $(( (s2 - e1) / 1000 )) ms after job 1 ended"
[ "$samples" -ge 20 ] || bf_fail "only $samples samples of a 5 s job: its row went early"

bf_log "control: the ghost's locks were released and their jobs ran"
bf_eq "$(runs "$g")" "start:1,end:1" "the job behind the ghost's serial lock ran once"
bf_eq "$(runs "$ghost")" "start:1,end:1" "the ghost's job ran once, as attempt 1 (attempt refunded)"
[ "$(rec_time start "$g")" -lt "$e1" ] || bf_fail "the ghost's serial lock was not released while job 1 ran"
[ "$(rec_time start "$ghost")" -lt "$e1" ] || bf_fail "the ghost's job was not released while job 1 ran"
released=$(cat "$T/daemon-A.log" "$T/daemon-B.log" |
	sed -n 's/.*stale-lock cleanup: released \([0-9]*\) serial-key lock(s) and \([0-9]*\) job lock(s) held by unknown workers.*/\1 \2/p' |
	awk '{ s += $1; j += $2 } END { print s + 0, j + 0 }')
bf_eq "$released" "1 1" "serial-key and job locks released by the cleanups (summed over both daemons)"

bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing in the dlq"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.serial_locks")" 0 "no serial lock left"
bf_eq "$(cat "$T"/daemon-*.log | grep -c 'of dead worker(s)\|was declared dead')" 0 "no daemon was taken for dead"
bf_stop A >"$T/rc.A"; bf_stop B >"$T/rc.B"
bf_eq "$(cat "$T/rc.A") $(cat "$T/rc.B")" "0 0" "exit status of A and B after SIGTERM"
echo "ok"
