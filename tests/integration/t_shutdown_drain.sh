#!/usr/bin/env bash
# t_shutdown_drain -- graceful stop (PRODUCT.md 3.3): on SIGTERM (or SIGINT)
# the daemon stops claiming, lets running jobs finish, unregisters and exits 0;
# with a short shutdown_timeout it returns the unfinished jobs to the queue
# with their attempt refunded, and they complete after a restart.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record
now_ms() { date +%s%3N; }

# cfg FILE SHUTDOWN_TIMEOUT: pool of 3 on queue bulk, nothing on fast.
cfg() {
	cat >"$1" <<-EOF
		[daemon]
		shutdown_timeout = $2
		[queue.bulk]
		concurrency = 3
		[queue.fast]
		concurrency = 0
		[testtasks]
		record_file = $REC
	EOF
}

# count_lines WORD: lines of the record file starting with WORD.
count_lines() { grep -c "^$1 " "$REC" 2>/dev/null || true; }

# wait_lines WORD N [SECONDS]: until the record file has N lines of WORD.
wait_lines() {
	local end=$(( $(date +%s) + ${3:-20} ))
	while [ "$(date +%s)" -le "$end" ]; do
		[ "$(count_lines "$1")" -ge "$2" ] && return 0
		sleep 0.02
	done
	bf_fail "waited for $2 '$1' lines in $REC, got $(count_lines "$1")"
}

# ids WORD: sorted job ids of the record lines of WORD, comma-separated.
ids() { awk -v w="$1" '$1 == w { print $2 }' "$REC" | sort -n | paste -sd, -; }

# insert N SLEEP_MS: N jobs of test.record on queue bulk.
insert() {
	bf_sql "INSERT INTO $S.jobs (task, payload)
	        SELECT 'test.record', jsonb_build_object('sleep_ms', $2) FROM generate_series(1, $1)"
}

bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }

# drain_case NAME SIGNAL: 8 jobs of 1.5 s, pool of 3; the signal arrives when
# the first 3 run.
drain_case() {
	local name=$1 sig=$2
	bf_log "$sig drains: running jobs finish, queued jobs stay untouched, exit 0"
	bf_sql "TRUNCATE $S.jobs" ; rm -f "$REC"
	cfg "$T/$name.ini" 30
	insert 8 1500
	bf_start "$name" -c "$T/$name.ini"
	wait_lines start 3
	local running; running=$(ids start)
	bf_eq "$(bf_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM $S.jobs WHERE locked_by IS NOT NULL")" \
		"$running" "the 3 started jobs are the locked ones"
	bf_eq "$(count_lines end)" 0 "no job finished before the signal"
	local pid t0 rc=0
	pid=$(bf_pid "$name")
	t0=$(now_ms)
	kill -"$sig" "$pid"
	# a job inserted while draining (its NOTIFY wakes the daemon) is not claimed
	until grep -q "shutting down: no new jobs" "$T/daemon-$name.log"; do
		[ $(( $(now_ms) - t0 )) -le 1000 ] || bf_fail "no 'shutting down' line 1 s after SIG$sig"
		sleep 0.01
	done
	insert 1 10
	wait "$pid" || rc=$?
	local elapsed=$(( $(now_ms) - t0 ))
	bf_log "$name: exit status $rc after ${elapsed} ms"
	bf_eq "$rc" 0 "exit status after $sig"
	# it waited for the running jobs (1.5 s each, started together)
	[ "$elapsed" -ge 700 ] || bf_fail "$name exited after ${elapsed} ms: it did not wait for its jobs"
	[ "$elapsed" -le 5000 ] || bf_fail "$name took ${elapsed} ms to drain 1.5 s jobs"
	bf_eq "$(count_lines start)" 3 "no job started after $sig"
	bf_eq "$(ids end)" "$running" "the 3 running jobs finished (end lines)"
	bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id IN ($running)")" 0 "finished jobs are gone from jobs"
	bf_eq "$(bf_sql "SELECT count(*), sum(attempts), count(locked_by), count(locked_at), count(last_error)
	                 FROM $S.jobs")" "6|0|0|0|0" "the 5 queued jobs and the one inserted while draining are untouched"
	bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing dead-lettered"
	bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "the daemon unregistered"
	grep -q "received SIG$sig" "$T/daemon-$name.log" || bf_fail "no 'received SIG$sig' line"
	grep -q "drained: every running job finished" "$T/daemon-$name.log" || bf_fail "no 'drained' line"
}

drain_case term TERM

bf_log "shutdown_timeout = 1: unfinished jobs go back to the queue, attempt refunded"
bf_sql "TRUNCATE $S.jobs"; rm -f "$REC"
cfg "$T/timeout.ini" 1
insert 5 10000
bf_start timeout -c "$T/timeout.ini"
wait_lines start 3
running=$(ids start)
pid=$(bf_pid timeout)
t0=$(now_ms)
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
elapsed=$(( $(now_ms) - t0 ))
bf_log "timeout: exit status $rc after ${elapsed} ms"
bf_eq "$rc" 0 "exit status after SIGTERM with shutdown_timeout = 1"
[ "$elapsed" -ge 900 ] || bf_fail "exited after ${elapsed} ms, before shutdown_timeout (1 s)"
[ "$elapsed" -le 2500 ] || bf_fail "exited after ${elapsed} ms, expected about 1 s (shutdown_timeout = 1)"
grep -q "shutdown timeout (1 s) reached with 3 job(s) still running" "$T/daemon-timeout.log" ||
	bf_fail "no 'shutdown timeout reached with 3 job(s)' line"
grep -q "returned 3 unfinished job(s) to the queue, attempt refunded" "$T/daemon-timeout.log" ||
	bf_fail "no 'returned 3 unfinished job(s)' line"
bf_eq "$(bf_sql "SELECT string_agg(concat_ws(':', id, attempts, locked_by IS NULL, locked_at IS NULL,
                                              run_at <= now()), ',' ORDER BY id)
                 FROM $S.jobs WHERE id IN ($running)")" \
	"$(for i in ${running//,/ }; do printf '%s:0:t:t:t,' "$i"; done | sed 's/,$//')" \
	"the 3 interrupted jobs are queued, unlocked, due, with attempts 0"
bf_eq "$(bf_sql "SELECT count(*), sum(attempts), count(locked_by) FROM $S.jobs")" "5|0|0" \
	"all 5 jobs are still queued with attempts 0"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing dead-lettered"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.serial_locks")" 0 "no serial lock left"

bf_log "after a restart the returned jobs complete (as attempt 1)"
bf_sql "UPDATE $S.jobs SET payload = '{\"sleep_ms\": 50}'"
rm -f "$REC"
cfg "$T/again.ini" 30
bf_start again -c "$T/again.ini"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 20
wait_lines end 5
bf_stop again >"$T/rc.again"
bf_eq "$(cat "$T/rc.again")" 0 "exit status of the restarted daemon"
all=$(awk '$1 == "end" { print $2 ":" $4 }' "$REC" | sort -n | paste -sd, -)
bf_eq "$(awk '$1 == "end" { print $4 }' "$REC" | sort -u | paste -sd, -)" 1 \
	"every job ran again as attempt 1 (the interrupted attempt was refunded) [$all]"
bf_eq "$(awk '$1 == "end" { print $2 }' "$REC" | sort -u | wc -l)" 5 "5 distinct jobs completed"

drain_case int INT

bf_log "a second SIGTERM stops waiting: running jobs are returned at once"
bf_sql "TRUNCATE $S.jobs"; rm -f "$REC"
cfg "$T/second.ini" 30
insert 5 10000
bf_start second -c "$T/second.ini"
wait_lines start 3
running=$(ids start)
pid=$(bf_pid second)
kill -TERM "$pid"
end=$(( $(date +%s) + 5 ))
until grep -q "shutting down: no new jobs; waiting up to 30 s for 3 running job(s)" "$T/daemon-second.log"; do
	[ "$(date +%s)" -le "$end" ] || bf_fail "no 'shutting down' line after the first SIGTERM"
	sleep 0.02
done
kill -0 "$pid" 2>/dev/null || bf_fail "the daemon exited on the first SIGTERM with 3 jobs of 10 s running"
t0=$(now_ms)
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
elapsed=$(( $(now_ms) - t0 ))
bf_log "second: exit status $rc ${elapsed} ms after the second SIGTERM"
bf_eq "$rc" 0 "exit status after a second SIGTERM"
[ "$elapsed" -le 1500 ] || bf_fail "exited ${elapsed} ms after the second SIGTERM"
grep -q "second stop signal: not waiting for running jobs" "$T/daemon-second.log" || bf_fail "no 'second stop signal' line"
grep -q "returned 3 unfinished job(s) to the queue, attempt refunded" "$T/daemon-second.log" ||
	bf_fail "no 'returned 3 unfinished job(s)' line"
bf_eq "$(bf_sql "SELECT count(*), sum(attempts), count(locked_by), count(last_error) FROM $S.jobs")" "5|0|0|0" \
	"all 5 jobs queued again, attempts 0, unlocked"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "the daemon unregistered"

bf_log "SIGTERM while waiting for an unreachable database at start: exit 0"
log=$T/daemon-nodb.log
"$BIN" --plugin-dir "$PLUGINS" -c "$T/second.ini" --database-url postgresql://u:secret@127.0.0.1:1/x >"$log" 2>&1 &
pid=$!; BF_PIDS+=("$pid")
end=$(( $(date +%s) + 10 ))
until grep -q "database: not reachable yet; retrying" "$log"; do
	[ "$(date +%s)" -le "$end" ] || bf_fail "no 'not reachable yet' line: $(cat "$log")"
	sleep 0.02
done
t0=$(now_ms)
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
elapsed=$(( $(now_ms) - t0 ))
bf_eq "$rc" 0 "exit status after SIGTERM while waiting for the database ($(cat "$log"))"
[ "$elapsed" -le 1000 ] || bf_fail "exited ${elapsed} ms after SIGTERM while waiting for the database"
if grep -q secret "$log"; then bf_fail "the password is printed: $(grep secret "$log")"; fi

echo "ok"
