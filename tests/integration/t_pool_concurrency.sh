#!/usr/bin/env bash
# t_pool_concurrency -- each queue is a pool with its own concurrency, and the
# observed concurrency is exactly the configured one: the ini sets fast = 3
# and bulk = 2, FAST_QUEUE_CONCURRENCY=4 in the environment overrides fast,
# and a third queue, reports = 2, comes from the ini alone.  Pools are
# isolated: with bulk flooded, a fast job inserted afterwards starts at once.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record.log
bf_plugins testtasks
cat >"$T/backfilld.ini" <<EOF
[daemon]
poll_interval_ms = 50

[queue.fast]
concurrency = 3

[queue.bulk]
concurrency = 2

[queue.reports]
concurrency = 2

[testtasks]
record_file = $REC
EOF
: >"$REC"
export FAST_QUEUE_CONCURRENCY=4

bf_start a -c "$T/backfilld.ini"
grep -q "serving fast=4, bulk=2, reports=2;" "$T/daemon-a.log" ||
	bf_fail "daemon a should serve fast=4, bulk=2, reports=2: $(grep serving "$T/daemon-a.log")"
bf_eq "$(bf_sql "SELECT array_to_string(queues, ',') FROM $S.workers")" "fast,bulk,reports" "registered queues"

# overlap FILE: "queue max_overlap jobs" per queue, from the record file;
# fails unless every job has exactly one start and one end line.
overlap() {
	python3 - "$1" <<'PY'
import sys, collections
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    what, i, q, att, t = line.split()
    key = (q, i, att)
    if what in runs[key]:
        sys.exit("job %s attempt %s: two %s lines" % (i, att, what))
    runs[key][what] = int(t)
ev = collections.defaultdict(list)
n = collections.Counter()
for (q, i, att), r in runs.items():
    if set(r) != {"start", "end"}:
        sys.exit("job %s attempt %s: lines %s" % (i, att, sorted(r)))
    ev[q] += [(r["start"], 1), (r["end"], -1)]
    n[q] += 1
for q in sorted(ev):
    cur = best = 0
    for _, d in sorted(ev[q]):  # an end sorts before a start at the same instant
        cur += d
        best = max(best, cur)
    print(q, best, n[q])
PY
}

bf_log "40 fast, 40 bulk and 10 reports jobs of 200 ms"
bf_sql "INSERT INTO $S.jobs (task, queue, payload)
        SELECT 'test.record', q, '{\"sleep_ms\": 200}'::jsonb
        FROM generate_series(1, 40) g, unnest(ARRAY['fast', 'bulk']) q
        UNION ALL
        SELECT 'test.record2', 'reports', '{\"sleep_ms\": 200}'::jsonb FROM generate_series(1, 10)"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 90 "90 jobs enqueued"
# while they run, the database never shows more running jobs than slots
for i in $(seq 1 10); do
	got=$(bf_sql "SELECT coalesce(max(n), 0) > 4 OR coalesce(max(n) FILTER (WHERE queue <> 'fast'), 0) > 2
	              FROM (SELECT queue, count(*) AS n FROM $S.jobs WHERE locked_at IS NOT NULL GROUP BY queue) x")
	bf_eq "$got" f "running jobs per queue within the pool sizes ($(bf_sql "SELECT string_agg(queue || '=' || n, ' ')
		FROM (SELECT queue, count(*) AS n FROM $S.jobs WHERE locked_at IS NOT NULL GROUP BY queue) x"))"
	sleep 0.1
done
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 20
bf_eq "$(overlap "$REC")" "bulk 2 40
fast 4 40
reports 2 10" "observed max concurrency and job count per queue"
bf_eq "$(awk '{ print $4 }' "$REC" | sort -u)" 1 "every job ran on its first attempt"

bf_log "a flooded bulk pool does not delay fast jobs"
: >"$REC"
bf_sql "INSERT INTO $S.jobs (task, queue, payload)
        SELECT 'test.record', 'bulk', '{\"sleep_ms\": 100}' FROM generate_series(1, 200)"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE queue = 'bulk' AND locked_at IS NOT NULL" 2 5
for i in 1 2 3; do
	got=$(bf_sql "INSERT INTO $S.jobs (task, queue) VALUES ('test.record', 'fast')
	              RETURNING id, (extract(epoch FROM now()) * 1000000)::int8")
	id=${got%%|*}; ins_us=${got#*|}
	bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $id" 0 5
	start_us=$(awk -v id="$id" '$1 == "start" && $2 == id { print $5 }' "$REC")
	[ -n "$start_us" ] || bf_fail "fast job $id has no start line"
	lat=$(( (start_us - ins_us) / 1000 ))
	bf_log "fast job $id started $lat ms after its insert"
	[ "$lat" -ge 0 ] && [ "$lat" -le 500 ] || bf_fail "fast job $id started $lat ms after its insert, want <= 500 ms"
	left=$(bf_sql "SELECT count(*) FROM $S.jobs WHERE queue = 'bulk' AND locked_at IS NULL")
	[ "$left" -ge 150 ] || bf_fail "bulk was not flooded any more ($left waiting)"
	sleep 0.2
done

bf_log "stop: remove the waiting bulk jobs, let the running ones finish"
bf_sql "DELETE FROM $S.jobs WHERE locked_at IS NULL"
bf_stop a >"$T/stop-a.rc"
bf_eq "$(cat "$T/stop-a.rc")" 0 "daemon a exit status after SIGTERM"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 0 "the running bulk jobs finished during the stop"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing dead-lettered"
# every flood job that started also ended (the stop let them finish)
bf_eq "$(overlap "$REC" | awk '{ print $1, $2 }')" "bulk 2
fast 1" "during the flood: bulk at its 2 slots, one fast job at a time"
echo "ok"
