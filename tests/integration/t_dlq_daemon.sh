#!/usr/bin/env bash
# t_dlq_daemon -- the dead-letter queue round trip through the daemon:
#  1. a job retried until its attempts run out lands in the dlq; requeued
#     unchanged it dies again into the same dlq row (failure_count 2,
#     requeued_count 1);
#  2. a keyed job that failed permanently, requeued after its dlq row's
#     payload was fixed, succeeds and its dlq row is gone;
#  3. the DLQ processor (dlq_processor_interval = 1) moves an exhausted job
#     that nobody runs into the dlq within 3 s; with dlq_processor_interval =
#     0 (a second daemon run) it does not;
#  4. the stale-lock cleanup (stale_job_lock_timeout = 600,
#     stale_lock_cleanup_interval = 1) releases a job locked an hour ago by an
#     unknown worker, attempt refunded, and it runs; a job locked 5 minutes
#     ago by the same unknown worker is left alone.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record.log
: >"$REC"
bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
# every change of last_error, as it happened
bf_sql "CREATE TABLE public.audit (id bigint, attempts int, locked_at timestamptz, locked_by text,
                                   last_error text, at timestamptz DEFAULT clock_timestamp());
        CREATE FUNCTION public.audit_f() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN
            INSERT INTO public.audit (id, attempts, locked_at, locked_by, last_error)
            VALUES (NEW.id, NEW.attempts, NEW.locked_at, NEW.locked_by, NEW.last_error);
            RETURN NEW;
        END \$\$;
        CREATE TRIGGER audit AFTER UPDATE ON $S.jobs FOR EACH ROW
            WHEN (OLD.last_error IS DISTINCT FROM NEW.last_error)
            EXECUTE FUNCTION public.audit_f()"

runs() { awk -v id="$1" '$2 == id { print $1 ":" $4 }' "$REC" | paste -sd, -; }
now_ms() { date +%s%3N; }

cat >"$T/a.ini" <<EOF
[daemon]
poll_interval_ms = 50
dlq_processor_interval = 1
[testtasks]
record_file = $REC
EOF
bf_start A -c "$T/a.ini"

# ---------------------------------------------------------------------------
bf_log "1. retried until exhausted -> dlq; requeued unchanged -> same dlq row"
r1=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"result\":\"retry\",\"error\":\"boom\",\"retry_delay_ms\":50}', max_attempts => 2)")
bf_wait_sql "SELECT count(*) FROM $S.dlq WHERE original_job_id = $r1" 1 10
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id = $r1")" 0 "the dead job left jobs"
d1=$(bf_sql "SELECT id FROM $S.dlq WHERE original_job_id = $r1")
bf_eq "$(bf_sql "SELECT task, queue, attempts, max_attempts, failure_count, requeued_count, last_error, failure_reason,
                        payload->>'result', job_key IS NULL, last_requeued_at IS NULL
                 FROM $S.dlq WHERE id = $d1")" \
	"test.record|bulk|2|2|1|0|boom|exceeded maximum attempts (2/2)|retry|t|t" "dlq row of job $r1"
bf_eq "$(runs "$r1")" "start:1,end:1,start:2,end:2" "job $r1 ran attempts 1 and 2"

r2=$(bf_sql "SELECT id FROM $S.dlq_requeue($d1)")
[ -n "$r2" ] && [ "$r2" != "$r1" ] || bf_fail "dlq_requeue returned job [$r2]"
bf_eq "$(bf_sql "SELECT requeued_count, last_requeued_at IS NOT NULL, failure_count FROM $S.dlq WHERE id = $d1")" \
	"1|t|1" "dlq row right after the requeue"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $r2" 0 10
bf_wait_sql "SELECT failure_count FROM $S.dlq WHERE id = $d1" 2 5
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 1 "still one dlq row"
bf_eq "$(bf_sql "SELECT original_job_id, attempts, failure_count, requeued_count, last_error, failure_reason
                 FROM $S.dlq WHERE id = $d1")" \
	"$r2|2|2|1|boom|exceeded maximum attempts (2/2)" "same dlq row after the requeued job died again"
bf_eq "$(runs "$r2")" "start:1,end:1,start:2,end:2" "requeued job $r2 ran attempts 1 and 2"

# ---------------------------------------------------------------------------
bf_log "2. a keyed job failed permanently; fix the payload in its dlq row, requeue: it succeeds, the row goes"
k1=$(bf_sql "SELECT id FROM $S.add_job('test.record', '{\"result\":\"fail\"}', job_key => 'k')")
bf_wait_sql "SELECT count(*) FROM $S.dlq WHERE job_key = 'k'" 1 10
dk=$(bf_sql "SELECT id FROM $S.dlq WHERE job_key = 'k'")
bf_eq "$(bf_sql "SELECT original_job_id, attempts, failure_count, failure_reason, last_error FROM $S.dlq WHERE id = $dk")" \
	"$k1|1|1|permanent failure reported by the handler|handler reported a permanent failure without an error message" \
	"dlq row of keyed job $k1"
bf_eq "$(runs "$k1")" "start:1,end:1" "keyed job $k1 ran once"
bf_sql "UPDATE $S.dlq SET payload = '{\"result\":\"ok\"}' WHERE id = $dk"
got=$(bf_sql "SELECT id, job_key, dlq_id, payload->>'result', attempts FROM $S.dlq_requeue($dk, 'payload fixed')")
k2=${got%%|*}
bf_eq "${got#*|}" "k|$dk|ok|0" "the requeued keyed job (job_key, dlq_id, payload result, attempts)"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $k2" 0 10
bf_eq "$(runs "$k2")" "start:1,end:1" "requeued keyed job $k2 ran once and succeeded"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq WHERE id = $dk OR job_key = 'k'")" 0 "its dlq row is gone"
bf_eq "$(bf_sql "SELECT string_agg(id::text, ',') FROM $S.dlq")" "$d1" "only the first dlq row is left"

# ---------------------------------------------------------------------------
bf_log "3. the DLQ processor moves an exhausted job nobody runs"
t0=$(now_ms)
x=$(bf_sql "INSERT INTO $S.jobs (task, attempts, max_attempts, last_error)
            VALUES ('test.record', 3, 3, 'crashed on the last attempt') RETURNING id")
moved=
while [ $(( $(now_ms) - t0 )) -le 4000 ]; do
	[ "$(bf_sql "SELECT count(*) FROM $S.dlq WHERE original_job_id = $x")" = 1 ] && { moved=$(( $(now_ms) - t0 )); break; }
	sleep 0.05
done
[ -n "$moved" ] || bf_fail "exhausted job $x not in the dlq 4 s after its insert (dlq_processor_interval = 1)"
bf_log "exhausted job $x moved to the dlq after $moved ms"
[ "$moved" -le 3000 ] || bf_fail "exhausted job $x moved after $moved ms, want within 3 s"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id = $x")" 0 "exhausted job left jobs"
bf_eq "$(bf_sql "SELECT attempts, max_attempts, failure_count, failure_reason, last_error FROM $S.dlq WHERE original_job_id = $x")" \
	"3|3|1|exceeded maximum attempts (3/3); found by the DLQ processor|crashed on the last attempt" \
	"dlq row of the exhausted job"
bf_eq "$(runs "$x")" "" "the exhausted job never ran"
grep -q "DLQ processor: moved 1 exhausted job(s) to the dead-letter queue" "$T/daemon-A.log" ||
	bf_fail "A's log lacks 'DLQ processor: moved 1 exhausted job(s)'"

bf_stop A >"$T/rc.A"
bf_eq "$(cat "$T/rc.A")" 0 "exit status of A after SIGTERM"

# ---------------------------------------------------------------------------
bf_log "3b. dlq_processor_interval = 0: exhausted jobs stay"
cat >"$T/b.ini" <<EOF
[daemon]
poll_interval_ms = 50
dlq_processor_interval = 0
stale_job_lock_timeout = 600
stale_lock_cleanup_interval = 1
[testtasks]
record_file = $REC
EOF
y1=$(bf_sql "INSERT INTO $S.jobs (task, attempts, max_attempts) VALUES ('test.record', 3, 3) RETURNING id")
bf_start B -c "$T/b.ini"
grep -q "warn stale_job_lock_timeout = 600 s is under 900 s" "$T/daemon-B.log" ||
	bf_fail "B did not warn about stale_job_lock_timeout = 600"

bf_log "4. the stale-lock cleanup releases a job an unknown worker locked an hour ago"
ghost=$(bf_sql "INSERT INTO $S.jobs (task, attempts, locked_at, locked_by)
                VALUES ('test.record', 1, now() - interval '1 hour', 'ghost') RETURNING id")
young=$(bf_sql "INSERT INTO $S.jobs (task, attempts, locked_at, locked_by)
                VALUES ('test.record', 1, now() - interval '5 minutes', 'ghost') RETURNING id")
y2=$(bf_sql "INSERT INTO $S.jobs (task, attempts, max_attempts) VALUES ('test.record', 3, 3) RETURNING id")
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $ghost" 0 5
bf_eq "$(runs "$ghost")" "start:1,end:1" "the ghost's job ran once, as attempt 1 (attempt refunded)"
bf_eq "$(bf_sql "SELECT attempts, locked_at IS NULL, locked_by IS NULL,
                        last_error LIKE 'lock held by unknown worker ghost since % released after 00:10:00'
                 FROM public.audit WHERE id = $ghost ORDER BY at LIMIT 1")" "0|t|t|t" \
	"the ghost's job as released: attempts 0, unlocked, last_error names the ghost [$(bf_sql "SELECT last_error FROM public.audit WHERE id = $ghost ORDER BY at LIMIT 1")]"
grep -q "stale-lock cleanup: released 0 serial-key lock(s) and 1 job lock(s) held by unknown workers" "$T/daemon-B.log" ||
	bf_fail "B's log lacks 'stale-lock cleanup: released 0 serial-key lock(s) and 1 job lock(s)'"

sleep 3  # three more sweeps of the cleanup, and of the DLQ processor if it ran
bf_eq "$(bf_sql "SELECT attempts, locked_by, locked_at < now() - interval '4 minutes' FROM $S.jobs WHERE id = $young")" \
	"1|ghost|t" "a lock younger than stale_job_lock_timeout is left alone"
bf_eq "$(bf_sql "SELECT string_agg(id::text || ':' || attempts || '/' || max_attempts, ',' ORDER BY id)
                 FROM $S.jobs WHERE id IN ($y1, $y2)")" "$y1:3/3,$y2:3/3" \
	"with dlq_processor_interval = 0 the exhausted jobs stay in jobs"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq WHERE original_job_id IN ($y1, $y2)")" 0 "and are not in the dlq"
bf_eq "$(runs "$y1")$(runs "$y2")$(runs "$young")" "" "exhausted jobs and the young ghost's job never ran"
bf_eq "$(grep -c 'DLQ processor' "$T/daemon-B.log")" 0 "B's DLQ processor never ran"
bf_eq "$(grep -c 'stale-lock cleanup: released' "$T/daemon-B.log")" 1 "B's cleanup released only the old ghost lock"

bf_sql "DELETE FROM $S.jobs WHERE id IN ($y1, $y2, $young)"
bf_stop B >"$T/rc.B"
bf_eq "$(cat "$T/rc.B")" 0 "exit status of B after SIGTERM"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 0 "jobs is empty"
bf_eq "$(bf_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM $S.dlq")" \
	"$d1,$(bf_sql "SELECT id FROM $S.dlq WHERE original_job_id = $x")" "dlq: the twice-dead job and the swept one"
echo "ok"
