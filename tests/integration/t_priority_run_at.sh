#!/usr/bin/env bash
# t_priority_run_at -- inside a queue, jobs start in order priority, then
# run_at, then id.  Jobs are inserted before the daemon starts (schema applied
# with backfilld --migrate), with explicit ids inserted out of order so that
# neither insertion nor physical order can pass for id order, and run in a
# single-worker bulk pool.  A job due in 2 s with the best priority must not
# start before its run_at, and must start within run_at + 1 s; jobs due in an
# hour, and a job of the unserved (concurrency 0) fast queue, never start.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record.log
bf_plugins testtasks
cat >"$T/backfilld.ini" <<EOF
[daemon]
poll_interval_ms = 50

[queue.bulk]
concurrency = 1

[queue.fast]
concurrency = 0

[testtasks]
record_file = $REC
EOF
: >"$REC"

bf_migrate -c "$T/backfilld.ini" >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "backfilld --migrate failed"; }

bf_log "inserting jobs while no daemon runs"
# id, priority, run_at offset from t0 (minutes); inserted in this (scrambled)
# order, one statement per row so that physical order is insertion order.
t0="timestamptz '2024-01-01 00:00:00+00'"
rows="
109 0 1
105 0 2
101 10 0
112 -10 5
103 5 0
110 -10 5
102 0 1
107 0 0
111 -20 10
104 5 0
106 -10 4
108 10 -5
"
echo "$rows" | while read -r id prio off; do
	[ -n "$id" ] || continue
	bf_sql "INSERT INTO $S.jobs (id, task, priority, run_at, payload)
	        VALUES ($id, 'test.record', $prio, $t0 + interval '$off minutes', '{\"sleep_ms\": 20}')"
done
# expected order by (priority, run_at, id):
#   111(-20) | 106(-10,+4) 110(-10,+5) 112(-10,+5) | 107(0,+0) 102(0,+1) 109(0,+1) 105(0,+2)
#   | 103(5,0) 104(5,0) | 108(10,-5) 101(10,0)
want="111 106 110 112 107 102 109 105 103 104 108 101"
# never due during the test, best priority
later=$(bf_sql "INSERT INTO $S.jobs (task, priority, run_at) VALUES ('test.record', -30, now() + interval '1 hour') RETURNING id")
# the fast queue has no pool in this daemon
fastjob=$(bf_sql "INSERT INTO $S.jobs (task, queue, priority) VALUES ('test.record', 'fast', -30) RETURNING id")

bf_start a -c "$T/backfilld.ini"
grep -q "serving bulk=1;" "$T/daemon-a.log" || bf_fail "daemon a should serve only bulk=1"

bf_log "a job due in 2 s with the best priority"
got=$(bf_sql "INSERT INTO $S.jobs (task, priority, run_at) VALUES ('test.record', -20, now() + interval '2 seconds')
              RETURNING id, (extract(epoch FROM run_at) * 1000000)::int8")
soon=${got%%|*}; soon_run_at_us=${got#*|}

bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id BETWEEN 101 AND 112" 0 20
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $soon" 0 10

bf_log "start order"
got=$(awk -v soon="$soon" '$1 == "start" && $2 != soon { printf "%s%s", sep, $2; sep = " " }' "$REC")
bf_eq "$got" "$want" "start order of the due jobs (priority, run_at, id)"
bf_eq "$(awk '$1 == "start" { print $3, $4 }' "$REC" | sort | uniq -c | awk '{ print $1, $2, $3 }')" \
	"13 bulk 1" "13 starts, all in bulk on attempt 1"
bf_eq "$(awk '$1 == "end"' "$REC" | wc -l)" 13 "13 ends"
# a single worker: every job ends before the next one starts
awk '{ if ($1 == "start" && open) bad = 1; open = ($1 == "start") } END { exit bad }' "$REC" ||
	bf_fail "jobs overlapped in a pool of concurrency 1: $(cat "$REC")"

bf_log "the job due in 2 s"
soon_start=$(awk -v id="$soon" '$1 == "start" && $2 == id { print $5 }' "$REC")
[ -n "$soon_start" ] || bf_fail "job $soon never started"
d=$(( soon_start - soon_run_at_us ))
bf_log "job $soon started $d us after its run_at"
[ "$d" -ge 0 ] || bf_fail "job $soon started $(( -d )) us before its run_at"
[ "$d" -le 1000000 ] || bf_fail "job $soon started $d us after its run_at (allowed: 1 s)"
# it came after every job due at once, although its priority is better
bf_eq "$(awk '$1 == "start" { last = $2 } END { print last }' "$REC")" "$soon" "the future job started last"

bf_log "jobs that must not have run"
bf_eq "$(bf_sql "SELECT string_agg(concat_ws(':', id, attempts, locked_at IS NULL), ',' ORDER BY id) FROM $S.jobs")" \
	"$later:0:t,$fastjob:0:t" "only the job due in an hour and the fast job are left, never claimed"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing dead-lettered"

bf_stop a >"$T/stop-a.rc"
bf_eq "$(cat "$T/stop-a.rc")" 0 "daemon a exit status after SIGTERM"
echo "ok"
