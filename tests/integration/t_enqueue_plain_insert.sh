#!/usr/bin/env bash
# t_enqueue_plain_insert -- enqueueing without any client library: a plain
# INSERT naming only task (and one with a payload) from psql is a complete
# enqueue and wakes the idle daemon through NOTIFY (the fallback poll is set
# to 60 s, so only NOTIFY can wake it in time); add_job with named
# parameters too.  A job for a task no plugin handles and a job for a queue no
# pool serves are never claimed (attempts 0, not locked) while the others run.
# A 1000-row INSERT ... SELECT is fully processed, each job exactly once.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record.log
bf_plugins testtasks
cat >"$T/backfilld.ini" <<EOF
[daemon]
poll_interval_ms = 60000

[testtasks]
record_file = $REC
EOF
: >"$REC"

# rec_lines WHAT ID: the record lines "WHAT ID ..." (queue attempt), one per line
rec_lines() { awk -v w="$1" -v id="$2" '$1 == w && $2 == id { print $3, $4 }' "$REC"; }
# rec_time WHAT ID: the timestamp (us) of the single "WHAT ID" record line
rec_time() { awk -v w="$1" -v id="$2" '$1 == w && $2 == id { print $5 }' "$REC"; }

bf_start a -c "$T/backfilld.ini"
# the daemon applied the schema itself and serves the default pools
grep -q "serving fast=10, bulk=5;" "$T/daemon-a.log" || bf_fail "daemon a does not serve fast=10, bulk=5"

bf_log "jobs nobody may claim: unknown task, unserved queue"
nobody=$(bf_sql "INSERT INTO $S.jobs (task) VALUES ('nobody.handles') RETURNING id")
reports=$(bf_sql "INSERT INTO $S.jobs (task, queue) VALUES ('test.record', 'reports') RETURNING id")

bf_log "plain INSERT naming only task"
got=$(bf_sql "INSERT INTO $S.jobs (task) VALUES ('test.record')
              RETURNING id, (extract(epoch FROM now()) * 1000000)::int8")
plain=${got%%|*}; plain_ins_us=${got#*|}
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $plain" 0 10
bf_eq "$(rec_lines start "$plain")" "bulk 1" "plain insert: one start, queue bulk, attempt 1"
bf_eq "$(rec_lines end "$plain")" "bulk 1" "plain insert: one end"
lat=$(( $(rec_time start "$plain") - plain_ins_us ))
bf_log "plain insert started ${lat} us after the INSERT"
[ "$lat" -ge 0 ] && [ "$lat" -lt 1000000 ] ||
	bf_fail "plain insert must start within 1 s through NOTIFY (poll is 60 s), took ${lat} us"

bf_log "plain INSERT with a payload"
payload=$(bf_sql "INSERT INTO $S.jobs (task, payload) VALUES ('test.record', '{\"sleep_ms\": 300}') RETURNING id")
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $payload" 0 10
bf_eq "$(rec_lines start "$payload")" "bulk 1" "payload insert: one start"
bf_eq "$(rec_lines end "$payload")" "bulk 1" "payload insert: one end"
took=$(( $(rec_time end "$payload") - $(rec_time start "$payload") ))
[ "$took" -ge 300000 ] || bf_fail "payload {\"sleep_ms\": 300} reached the handler: ran ${took} us, want >= 300000"

bf_log "add_job with named parameters"
named=$(bf_sql "SELECT id FROM $S.add_job(task => 'test.record2', payload => '{\"sleep_ms\": 10}',
                                          queue => 'fast', priority => -5, max_attempts => 2,
                                          job_key => 'named-1', run_at => now())")
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $named" 0 10
bf_eq "$(rec_lines start "$named")" "fast 1" "add_job: one start in queue fast, attempt 1"
bf_eq "$(rec_lines end "$named")" "fast 1" "add_job: one end"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE job_key = 'named-1'")" 0 "add_job row gone"

bf_log "1000-row INSERT ... SELECT"
bf_sql "INSERT INTO $S.jobs (task, queue, payload)
        SELECT CASE WHEN g % 2 = 0 THEN 'test.record' ELSE 'test.record2' END,
               CASE WHEN g % 3 = 0 THEN 'fast' ELSE 'bulk' END,
               jsonb_build_object('n', g)
        FROM generate_series(1, 1000) g
        RETURNING id" >"$T/bulk-ids"
bf_eq "$(wc -l <"$T/bulk-ids")" 1000 "1000 ids returned"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id NOT IN ($nobody, $reports)" 0 30

bf_log "the unclaimable jobs stayed untouched"
bf_eq "$(bf_sql "SELECT id, task, queue, attempts, locked_at IS NULL, locked_by IS NULL, last_error IS NULL
                 FROM $S.jobs ORDER BY id")" \
	"$nobody|nobody.handles|bulk|0|t|t|t
$reports|test.record|reports|0|t|t|t" "only the unclaimable jobs are left, never claimed"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing dead-lettered"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.serial_locks")" 0 "no serial locks"

bf_log "every job ran exactly once"
printf '%s\n' "$plain" "$payload" "$named" >>"$T/bulk-ids"
python3 - "$REC" "$T/bulk-ids" "$nobody" "$reports" <<'PY' || bf_fail "record file check failed"
import sys, collections
rec, idfile, nobody, reports = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
want = [l.strip() for l in open(idfile) if l.strip()]
assert len(want) == len(set(want)) == 1003, len(want)
starts, ends = collections.Counter(), collections.Counter()
bad = []
for line in open(rec):
    f = line.split()
    if len(f) != 5 or f[0] not in ("start", "end"):
        bad.append(line)
        continue
    (starts if f[0] == "start" else ends)[f[1]] += 1
    if f[3] != "1":
        bad.append(line)
errors = []
if bad:
    errors.append("malformed lines or attempt != 1: %r" % bad[:5])
for i in want:
    if starts[i] != 1 or ends[i] != 1:
        errors.append("job %s: %d start(s), %d end(s)" % (i, starts[i], ends[i]))
extra = (set(starts) | set(ends)) - set(want)
if extra:
    errors.append("unexpected job ids in the record: %s" % sorted(extra)[:10])
for i in (nobody, reports):
    if i in starts:
        errors.append("unclaimable job %s ran" % i)
if errors:
    print("\n".join(errors[:20]))
    sys.exit(1)
print("record ok: %d jobs, each started and ended once" % len(want))
PY

# bf_stop must run in this shell (not in $(...)) to be able to wait for the daemon
bf_stop a >"$T/stop-a.rc"
bf_eq "$(cat "$T/stop-a.rc")" 0 "daemon a exit status after SIGTERM"
bf_eq "$(bf_sql "SELECT string_agg(concat_ws(':', id, attempts, locked_at IS NULL), ',' ORDER BY id) FROM $S.jobs")" \
	"$nobody:0:t,$reports:0:t" "unclaimable jobs still untouched after the stop"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "worker unregistered"
echo "ok"
