#!/usr/bin/env bash
# t_serial_key -- at most one job per serial key runs at a time, across
# daemons.  Two daemons share the database: a serves only queue bulk, b only
# queue side (both with concurrency 10), and each serial key has half of its
# jobs in each queue, so both daemons necessarily run jobs of the same key and
# the exclusion must hold between them.  From the record file: no two jobs of
# one key overlap, jobs without a key do run in parallel, every job ran
# exactly once, in its queue's daemon.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record.log
bf_plugins testtasks
cat >"$T/backfilld.ini" <<EOF
[daemon]
poll_interval_ms = 50

[queue.fast]
concurrency = 0

[queue.bulk]
concurrency = 10

[queue.side]
concurrency = 10

[testtasks]
record_file = $REC
EOF
: >"$REC"

bf_start a -c "$T/backfilld.ini" --queue side=0
bf_start b -c "$T/backfilld.ini" --queue bulk=0
grep -q "serving bulk=10;" "$T/daemon-a.log" || bf_fail "daemon a should serve only bulk=10"
grep -q "serving side=10;" "$T/daemon-b.log" || bf_fail "daemon b should serve only side=10"

bf_log "60 jobs: 20 with serial_key s1, 20 with s2, 20 without; half in bulk, half in side"
bf_sql "INSERT INTO $S.jobs (task, queue, serial_key, payload)
        SELECT 'test.record',
               CASE WHEN (g / 3) % 2 = 0 THEN 'bulk' ELSE 'side' END,
               CASE g % 3 WHEN 1 THEN 's1' WHEN 2 THEN 's2' END,
               '{\"sleep_ms\": 50}'
        FROM generate_series(1, 60) g
        ORDER BY g
        RETURNING id, queue, coalesce(serial_key, '-')" >"$T/jobs"
bf_eq "$(awk -F'|' '{ print $2, $3 }' "$T/jobs" | sort | uniq -c | awk '{ printf "%s:%s:%s ", $2, $3, $1 }')" \
	"bulk:-:10 bulk:s1:10 bulk:s2:10 side:-:10 side:s1:10 side:s2:10 " "job mix"

bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 30
bf_eq "$(bf_sql "SELECT count(*) FROM $S.serial_locks")" 0 "no serial lock left"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing dead-lettered"

python3 - "$REC" "$T/jobs" <<'PY' || bf_fail "record file check failed: $(sort -k5n "$REC" | head -200)"
import sys, collections
rec, jobsfile = sys.argv[1], sys.argv[2]
jobs = {}
for line in open(jobsfile):
    i, q, k = line.strip().split("|")
    jobs[i] = (q, k)
runs = collections.defaultdict(dict)  # id -> {"start": t, "end": t}
errors = []
for line in open(rec):
    f = line.split()
    if len(f) != 5 or f[0] not in ("start", "end"):
        errors.append("malformed line %r" % line)
        continue
    what, i, q, att, t = f[0], f[1], f[2], f[3], int(f[4])
    if i not in jobs:
        errors.append("unknown job %s ran" % i)
        continue
    if what in runs[i]:
        errors.append("job %s: second %s line (ran twice?)" % (i, what))
    runs[i][what] = t
    if q != jobs[i][0] or att != "1":
        errors.append("job %s: ran in %s attempt %s, want %s attempt 1" % (i, q, att, jobs[i][0]))
for i in jobs:
    if set(runs.get(i, {})) != {"start", "end"}:
        errors.append("job %s: record lines %s, want one start and one end" % (i, sorted(runs.get(i, {}))))
if errors:
    print("\n".join(errors[:20]))
    sys.exit(1)

def max_overlap(ids):
    ev = []
    for i in ids:
        ev.append((runs[i]["start"], 1))
        ev.append((runs[i]["end"], -1))
    ev.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best

for key in ("s1", "s2"):
    ids = sorted((i for i in jobs if jobs[i][1] == key), key=lambda i: runs[i]["start"])
    for a, b in zip(ids, ids[1:]):
        if runs[b]["start"] <= runs[a]["end"]:
            errors.append("serial key %s: job %s (%s) started %d us before job %s (%s) ended"
                          % (key, b, jobs[b][0], runs[a]["end"] - runs[b]["start"], a, jobs[a][0]))
    span = (runs[ids[-1]]["end"] - runs[ids[0]]["start"]) / 1e6
    handoffs = sum(jobs[a][0] != jobs[b][0] for a, b in zip(ids, ids[1:]))
    print("serial key %s: max overlap %d, %d jobs in %.2f s, %d hand-over(s) between daemons"
          % (key, max_overlap(ids), len(ids), span, handoffs))
    if max_overlap(ids) != 1:
        errors.append("serial key %s: max overlap %d, want 1" % (key, max_overlap(ids)))
free = [i for i in jobs if jobs[i][1] == "-"]
mo = max_overlap(free)
print("jobs without a key: max overlap %d" % mo)
if mo <= 1:
    errors.append("jobs without a serial key never ran in parallel (max overlap %d)" % mo)
if errors:
    print("\n".join(errors[:20]))
    sys.exit(1)
PY

for n in a b; do
	bf_stop "$n" >"$T/stop-$n.rc"
	bf_eq "$(cat "$T/stop-$n.rc")" 0 "daemon $n exit status after SIGTERM"
done

# Phase 2: a serial key must hold back only the jobs of that key.  One daemon,
# bulk = 10, and a poll interval of 5 s, so only the daemon's own reaction to
# the INSERT's NOTIFY and to finished jobs can run these jobs in time: 5 jobs
# of key s3 (the lowest ids, 50 ms each) and 10 jobs without a key.  The 10
# free jobs fit the free slots at once, and each s3 job can start as soon as
# the previous one ended: all 15 are done in about 0.3 s.  Neither the free
# jobs nor the next job of a key may wait for the fallback poll.
bf_log "phase 2: jobs due behind a serial key do not wait for the poll"
: >"$REC"
bf_start c -c "$T/backfilld.ini" --queue side=0 --poll-interval-ms 5000
got=$(bf_sql "INSERT INTO $S.jobs (task, serial_key, payload)
              SELECT 'test.record', CASE WHEN g <= 5 THEN 's3' END, '{\"sleep_ms\": 50}'
              FROM generate_series(1, 15) g ORDER BY g
              RETURNING id, coalesce(serial_key, '-'), (extract(epoch FROM now()) * 1000000)::int8")
ins_us=$(echo "$got" | head -n 1 | cut -d'|' -f3)
echo "$got" | cut -d'|' -f1,2 >"$T/jobs2"
end=$(( $(date +%s%N) / 1000000 + 3000 ))
while [ "$(bf_sql "SELECT count(*) FROM $S.jobs")" != 0 ] && [ $(( $(date +%s%N) / 1000000 )) -lt "$end" ]; do
	sleep 0.05
done
python3 - "$REC" "$T/jobs2" "$ins_us" <<'PY' || bf_fail "phase 2: due jobs waited (poll interval 5 s); see above"
import sys
rec, jobsfile, ins = sys.argv[1], sys.argv[2], int(sys.argv[3])
key = dict(l.strip().split("|") for l in open(jobsfile))
start, stop = {}, {}
for line in open(rec):
    what, i, q, att, t = line.split()
    (start if what == "start" else stop)[i] = (int(t) - ins) / 1000.0
def ms(d, i):
    return "%.0f ms" % d[i] if i in d else "not yet"
print("after the INSERT (ms): " + ", ".join("%s%s start %s end %s" % (i, "/" + key[i] if key[i] != "-" else "",
      ms(start, i), ms(stop, i)) for i in sorted(key, key=int)))
errors = []
free = [i for i in key if key[i] == "-"]
late = [i for i in free if start.get(i, 1e9) > 1000]
if late:
    errors.append("%d of %d jobs without a serial key did not start within 1 s of their INSERT, with "
                  "free slots in the pool (held back behind jobs of key s3): %s"
                  % (len(late), len(free), ", ".join("%s (%s)" % (i, ms(start, i)) for i in late)))
chain = sorted((i for i in key if key[i] == "s3"), key=int)
for a, b in zip(chain, chain[1:]):
    if a in stop and start.get(b, 1e9) - stop[a] > 1000:
        if b in start:
            errors.append("s3 job %s started %.0f ms after s3 job %s ended: the next job of a serial "
                          "key waited for the poll" % (b, start[b] - stop[a], a))
        else:
            errors.append("s3 job %s had not started 3 s after the INSERT, although s3 job %s ended "
                          "%s after it: the next job of a serial key waits for the poll" % (b, a, ms(stop, a)))
        break
undone = [i for i in key if i not in stop]
if undone:
    errors.append("%d of 15 jobs not done 3 s after the INSERT (about 0.3 s of work)" % len(undone))
if errors:
    print("\n".join(errors))
    sys.exit(1)
PY
bf_stop c >"$T/stop-c.rc"
bf_eq "$(cat "$T/stop-c.rc")" 0 "daemon c exit status after SIGTERM"
echo "ok"
