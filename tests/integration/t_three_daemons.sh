#!/usr/bin/env bash
# t_three_daemons -- three daemons (bulk 5, fast 5 each) on one database run
# 20000 jobs (test.record, no sleep), split over queues fast and bulk and
# inserted in 20 batches while the daemons run: every job runs exactly once
# (one start and one end line, attempt 1, in its own queue, over the three
# record files), jobs and dlq end empty, every daemon took a share.  Prints
# the elapsed time and the rate.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
N=20000
BATCHES=20
bf_plugins testtasks
for n in A B C; do
	cat >"$T/$n.ini" <<-EOF
		[queue.bulk]
		concurrency = 5
		[queue.fast]
		concurrency = 5
		[testtasks]
		record_file = $T/rec-$n
	EOF
	: >"$T/rec-$n"
done
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
for n in A B C; do bf_start "$n" -c "$T/$n.ini"; done
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 3 "three daemons registered"

bf_log "inserting $N jobs in $BATCHES batches while the daemons run"
t0=$(date +%s%3N)
: >"$T/jobs"
per=$(( N / BATCHES ))
for b in $(seq 1 "$BATCHES"); do
	bf_sql "INSERT INTO $S.jobs (task, queue)
	        SELECT 'test.record', CASE WHEN g % 2 = 0 THEN 'fast' ELSE 'bulk' END
	        FROM generate_series(1, $per) g
	        RETURNING id, queue" >>"$T/jobs"
	sleep 0.05
done
t_ins=$(date +%s%3N)
bf_eq "$(wc -l <"$T/jobs")" "$N" "ids returned by the inserts"
# the daemons were already at work while the inserts went on
done_during=$(cat "$T"/rec-[ABC] | grep -c '^end ' || true)
bf_log "inserts took $(( t_ins - t0 )) ms; $done_during job(s) had already ended by then"
[ "$done_during" -gt 0 ] || bf_fail "no job ended while the inserts went on"

bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 80
t1=$(date +%s%3N)
ms=$(( t1 - t0 ))
printf '%d jobs on 3 daemons in %d.%03d s: %d jobs/s\n' "$N" $(( ms / 1000 )) $(( ms % 1000 )) $(( N * 1000 / ms ))
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "dlq is empty"

python3 - "$T/jobs" "$T"/rec-A "$T"/rec-B "$T"/rec-C <<'PY' || bf_fail "record files: see above"
import sys, collections
jobs = dict(l.strip().split("|") for l in open(sys.argv[1]))
starts, ends = collections.Counter(), collections.Counter()
share = {}
errors = []
for path in sys.argv[2:]:
    n = 0
    for line in open(path):
        f = line.split()
        if len(f) != 5:
            errors.append("%s: malformed line %r" % (path, line))
            continue
        what, i, q, att = f[:4]
        (starts if what == "start" else ends)[i] += 1
        n += what == "end"
        if i not in jobs:
            errors.append("unknown job %s ran" % i)
        elif q != jobs[i] or att != "1":
            errors.append("job %s ran in queue %s attempt %s, want %s attempt 1" % (i, q, att, jobs[i]))
    share[path.rsplit("-", 1)[1]] = n
for i in jobs:
    if starts[i] != 1 or ends[i] != 1:
        errors.append("job %s: %d start(s), %d end(s), want 1 and 1" % (i, starts[i], ends[i]))
total_s, total_e = sum(starts.values()), sum(ends.values())
print("record lines: %d starts, %d ends; jobs ended per daemon: %s"
      % (total_s, total_e, ", ".join("%s %d" % kv for kv in sorted(share.items()))))
if total_s != len(jobs) or total_e != len(jobs):
    errors.append("%d starts and %d ends, want %d each" % (total_s, total_e, len(jobs)))
for d, n in share.items():
    if n == 0:
        errors.append("daemon %s ran no job" % d)
if errors:
    print("\n".join(errors[:20]) + ("\n... %d errors" % len(errors) if len(errors) > 20 else ""))
    sys.exit(1)
PY

bf_eq "$(cat "$T"/daemon-*.log | grep -c 'of dead worker(s)\|was declared dead\|moved to the dead-letter')" 0 \
	"no daemon taken for dead, nothing dead-lettered"
for n in A B C; do
	bf_stop "$n" >"$T/rc.$n"
	bf_eq "$(cat "$T/rc.$n")" 0 "exit status of $n after SIGTERM"
done
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "all unregistered"
echo "ok"
