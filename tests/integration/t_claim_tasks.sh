#!/usr/bin/env bash
# t_claim_tasks -- claim_jobs with one or several tasks (migration 007): it
# claims exactly the first due jobs of those tasks in priority, run_at, id
# order, across tasks; never a job of another task, even one queued ahead;
# skips rows another session holds and goes further down; one job per
# serial key per call.  Then a real daemon serving two of three tasks drains
# its share with thousands of unhandled jobs queued ahead of it.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
W=w-claim
bf_plugins testtasks noop
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
bf_sql "SELECT $S.worker_register('$W', 'test', 1, '0', ARRAY['fast'], interval '1 hour')" >/dev/null

# 3000 jobs of a task nobody claims, queued an hour ahead of everything;
# 300 each of a, b and c at mixed priorities and past times; 100 of each in
# the future
bf_sql "SET search_path TO $S;
        INSERT INTO jobs (task, queue, payload, run_at)
        SELECT 'other', 'fast', '{}', now() - interval '2 hours' FROM generate_series(1, 3000);
        INSERT INTO jobs (task, queue, payload, priority, run_at)
        SELECT t, 'fast', '{}', (i * 7 + length(t)) % 11 - 5, now() - interval '1 hour' + (i % 97) * interval '1 s'
        FROM unnest(ARRAY['a', 'b', 'c']) t, generate_series(1, 300) i;
        INSERT INTO jobs (task, queue, payload, priority, run_at)
        SELECT t, 'fast', '{}', -10, now() + interval '1 hour'
        FROM unnest(ARRAY['a', 'b', 'c']) t, generate_series(1, 100) i"

# ids of the first N due, unlocked jobs of TASKS (a SQL array literal) in
# claim order, and of a claim of N: both sorted by id, comma-separated
first() {
	bf_sql "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM (
	          SELECT id FROM $S.jobs WHERE queue = 'fast' AND task = ANY ($1) AND locked_at IS NULL
	            AND run_at <= now() ${3:-} ORDER BY priority, run_at, id LIMIT $2) s"
}
claim() {
	bf_sql "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM $S.claim_jobs('$W', 'fast', $1, $2)"
}

bf_log "several tasks: the first due jobs across them, in order"
want=$(first "ARRAY['a','b']" 50)
bf_eq "$(claim "ARRAY['a','b']" 50)" "$want" "claim of 50 from a and b"
want=$(first "ARRAY['a','b','c']" 120)
bf_eq "$(claim "ARRAY['c','b','a','zzz']" 120)" "$want" "claim of 120 from c, b, a and a task with no jobs"

bf_log "one task, and the same task twice"
want=$(first "ARRAY['c']" 40)
bf_eq "$(claim "ARRAY['c']" 40)" "$want" "claim of 40 from c"
want=$(first "ARRAY['c']" 10)
bf_eq "$(claim "ARRAY['c','c']" 10)" "$want" "claim of 10 from c, c"

bf_log "nothing due: nothing claimed; a task of its own queue ahead is never taken"
bf_eq "$(claim "ARRAY['zzz','yyy']" 10)" "" "claim for tasks without jobs"
bf_eq "$(claim "ARRAY['a']" 0)" "" "claim of 0"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE task = 'other' AND (attempts > 0 OR locked_by IS NOT NULL)")" 0 \
	"jobs of the unclaimed task touched"

bf_log "rows another session holds are skipped, further jobs taken instead"
held=$(bf_sql "SELECT string_agg(id::text, ',') FROM (
                 SELECT id FROM $S.jobs WHERE task = 'a' AND locked_at IS NULL AND run_at <= now()
                 ORDER BY priority, run_at, id LIMIT 10) s")
bf_hold rows "SELECT 1 FROM $S.jobs WHERE id IN ($held) FOR UPDATE;"
bf_wait_for 10 "the rows to be held" grep -q . "$T/rows.out" 2>/dev/null || sleep 0.5
got=$(claim "ARRAY['a','b']" 30)
bf_release rows ROLLBACK
n=$(awk -F, '{ print NF }' <<<"$got")
bf_eq "$n" 30 "jobs claimed beside held rows"
for id in ${held//,/ }; do
	case ",$got," in *",$id,"*) bf_fail "held job $id was claimed" ;; esac
done
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id IN ($got) AND (task NOT IN ('a', 'b') OR run_at > now() OR locked_by <> '$W')")" 0 \
	"claimed jobs that are not due jobs of a and b, locked by the worker"

bf_log "a task whose first jobs are all held leaves its share to the other tasks"
bf_sql "INSERT INTO $S.jobs (task, queue, payload, priority) SELECT 'h', 'fast', '{}', -50 FROM generate_series(1, 5)" >/dev/null
bf_hold hrows "SELECT 1 FROM $S.jobs WHERE task = 'h' FOR UPDATE;"
sleep 0.5
want=$(first "ARRAY['b']" 5)
got=$(claim "ARRAY['h','b']" 5)
bf_release hrows ROLLBACK
bf_eq "$got" "$want" "claim of 5 from h (all 5 held) and b"
bf_sql "DELETE FROM $S.jobs WHERE task = 'h'" >/dev/null

bf_log "one job per serial key per claim, the first in order"
bf_sql "SET search_path TO $S;
        INSERT INTO jobs (task, queue, payload, priority, serial_key) VALUES
          ('d', 'fast', '{}', -100, 'k1'), ('e', 'fast', '{}', -99, 'k1'), ('e', 'fast', '{}', -98, 'k2')" >/dev/null
first_k1=$(bf_sql "SELECT id FROM $S.jobs WHERE serial_key = 'k1' ORDER BY priority LIMIT 1")
k2=$(bf_sql "SELECT id FROM $S.jobs WHERE serial_key = 'k2'")
bf_eq "$(claim "ARRAY['d','e']" 5)" "$first_k1,$k2" "claim with two jobs of key k1"
bf_eq "$(claim "ARRAY['d','e']" 5)" "" "claim while k1 and k2 run"

bf_log "a daemon serving a and c drains them past 3000 unhandled jobs"
bf_sql "DELETE FROM $S.jobs WHERE locked_by IS NOT NULL OR task NOT IN ('other', 'a', 'b', 'c') OR run_at > now();
        DELETE FROM $S.serial_locks;
        UPDATE $S.jobs SET task = 'noop' WHERE task = 'a';
        UPDATE $S.jobs SET task = 'test.record', payload = '{}' WHERE task = 'c'" >/dev/null
nrec=$(bf_sql "SELECT count(*) FROM $S.jobs WHERE task = 'test.record'")
REC=$T/record
cat >"$T/d.ini" <<EOF
[daemon]
poll_interval_ms = 50
[testtasks]
record_file = $REC
EOF
: >"$REC"
bf_start d -c "$T/d.ini"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE task IN ('noop', 'test.record')" 0 60
bf_eq "$(grep -c '^end ' "$REC")" "$nrec" "test.record jobs run"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE task = 'other' AND attempts = 0 AND locked_by IS NULL")" 3000 \
	"unhandled jobs left untouched"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE task = 'b' AND attempts = 0")" "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE task = 'b'")" \
	"jobs of b left untouched"
bf_stop d >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status"
echo "ok"
