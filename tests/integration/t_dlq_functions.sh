#!/usr/bin/env bash
# t_dlq_functions -- the dead-letter queue and stale-lock SQL of
# sql/004_dlq.sql (and dlq_put of 002), against a real PostgreSQL and without
# the daemon: a daemon is simulated by calling claim_jobs / finish_jobs (003)
# with made-up worker ids, registered with worker_register where a "live"
# worker is needed.  Covers: a job exhausted by finish_jobs lands in the dlq;
# requeue (and its errors), success of a requeued job deletes its dlq row, a
# second death updates the same row (keyed and key-less: no duplicates);
# requeue_many all or nothing; delete; purge (dry run, filters); stats;
# dlq_sweep (oldest first, never a running or row-locked job, atomic);
# release_stale_locks (only unknown owners, only past the timeouts, refund,
# guarded against a racing completion).  The schema is applied twice, to
# $BACKFILL_SCHEMA and to other_schema, to prove nothing is hard-coded.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
O=other_schema
[ "$S" != "$O" ] || O=other_schema2
bf_apply_sql_by_hand
BACKFILL_SCHEMA=$O bf_apply_sql_by_hand
# Unqualified names below resolve to $S; timestamps print in UTC.
export PGOPTIONS="-c search_path=\"${S// /\\ }\" -c TimeZone=UTC"


# The simulated daemon.
# claim WORKER TASK [QUEUE]: claim due jobs of TASK; prints their ids (a,b).
claim() { bf_sql "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM claim_jobs('$1', '${3:-bulk}', ARRAY['$2'], 10)"; }
# claimed_of IDS: SQL for the claim times (finish_jobs's fencing token) of
# the jobs IDS (a,b), in that order, as the daemon keeps them from its claim.
claimed_of() {
	echo "ARRAY(SELECT (extract(epoch FROM j.locked_at) * 1000000)::int8
	        FROM unnest(ARRAY[$1]::bigint[]) WITH ORDINALITY u(id, n)
	        LEFT JOIN jobs j ON j.id = u.id ORDER BY u.n)"
}
# finish WORKER ID OUTCOME [ERROR]: report one job; prints completed|retried|dead.
finish() {
	bf_sql "SELECT completed, retried, dead FROM finish_jobs('$1', ARRAY[$2]::bigint[], $(claimed_of "$2"),
	        ARRAY[$3]::smallint[], ARRAY['${4:-error}'], ARRAY[0]::float8[])"
}
W=w-sim   # a simulated daemon: claim_jobs claims only for registered workers
bf_sql "SELECT worker_register('$W', 'sim-host', 1, 'test', ARRAY['bulk'], interval '1 day')" >/dev/null

bf_log "migration 004 and search_path pinning"
bf_eq "$(bf_sql "SELECT string_agg(version || ':' || name, ',' ORDER BY version) FROM migrations WHERE version <= 4")" \
	"1:001_schema,2:002_functions,3:003_worker,4:004_dlq" "migration rows"
for s in "$S" "$O"; do
	bf_eq "$(bf_sql "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	                 WHERE n.nspname = '$s' AND p.proname IN ('dlq_put', 'dlq_requeue', 'dlq_requeue_many',
	                   'dlq_delete', 'dlq_delete_by_job_key', 'dlq_purge', 'dlq_stats', 'dlq_sweep',
	                   'release_stale_locks')
	                   AND array_to_string(p.proconfig, ',') = 'search_path=' || quote_ident('$s')")" 9 \
		"all 9 dlq functions in $s pin search_path to $s"
done

bf_log "a job whose last attempt asks for a retry lands in the dlq"
a=$(bf_sql "SELECT id FROM add_job('x.exhaust', '{\"n\":1}', job_key => 'ek', max_attempts => 2,
                                   priority => 3, serial_key => 'ser-e')")
bf_eq "$(claim $W x.exhaust)" "$a" "first claim"
# a result carrying another claim's time (an earlier run's) changes nothing
bf_eq "$(bf_sql "SELECT completed, retried, dead FROM finish_jobs('$W', ARRAY[$a]::bigint[],
                 ARRAY[(SELECT (extract(epoch FROM locked_at) * 1000000)::int8 - 1 FROM jobs WHERE id = $a)],
                 ARRAY[2]::smallint[], ARRAY['stale'], ARRAY[0]::float8[])")" "0|0|0" "a stale result is ignored"
bf_eq "$(bf_sql "SELECT locked_by, attempts FROM jobs WHERE id = $a")|$(bf_sql "SELECT count(*) FROM serial_locks WHERE job_id = $a")" \
	"$W|1|1" "the job and its serial lock stay with the current claim"
bf_eq "$(finish $W "$a" 1 'first try')" "0|1|0" "first attempt retried"
bf_eq "$(claim $W x.exhaust)" "$a" "second claim"
bf_eq "$(finish $W "$a" 1 'second try')" "0|0|1" "last attempt: dead"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE id = $a")" 0 "exhausted job left jobs"
bf_eq "$(bf_sql "SELECT count(*) FROM serial_locks")" 0 "its serial lock is gone"
d=$(bf_sql "SELECT id FROM dlq WHERE job_key = 'ek'")
bf_eq "$(bf_sql "SELECT original_job_id = $a, task, payload, queue, priority, job_key, serial_key, max_attempts,
                        attempts, failure_reason, failure_count, last_error, requeued_count,
                        last_requeued_at IS NULL, notes IS NULL, failed_at > now() - interval '1 minute'
                 FROM dlq WHERE id = $d")" \
	"t|x.exhaust|{\"n\": 1}|bulk|3|ek|ser-e|2|2|exceeded maximum attempts (2/2)|1|second try|0|t|t|t" "dlq row"

bf_log "requeue, then success deletes the dlq row"
out=$(psql -X -q -tA "$DATABASE_URL" -c "LISTEN \"$S.jobs\"" \
	-c "SELECT id, task, payload, queue, priority, max_attempts, job_key, serial_key, attempts, dlq_id,
	           locked_at IS NULL, run_at <= now(), last_error IS NULL
	    FROM dlq_requeue($d, 'retry after the fix')")
case $out in *"Asynchronous notification \"$S.jobs\""*) ;; *) bf_fail "requeue did not NOTIFY: [$out]" ;; esac
r=${out%%|*}
bf_eq "${out%%$'\n'*}" "$r|x.exhaust|{\"n\": 1}|bulk|3|2|ek|ser-e|0|$d|t|t|t" "requeued job"
[ "$r" != "$a" ] || bf_fail "requeue must insert a new job"
bf_eq "$(bf_sql "SELECT requeued_count, notes, last_requeued_at > now() - interval '1 minute', failure_count
                 FROM dlq WHERE id = $d")" "1|retry after the fix|t|1" "dlq row kept, requeue recorded"
bf_eq "$(claim $W x.exhaust)" "$r" "requeued job claimed"
bf_eq "$(finish $W "$r" 0)" "1|0|0" "requeued job succeeds"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE id = $d")" 0 "success deleted the dlq row"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE id = $r")" 0 "and the job"

bf_log "a success of a same-key job that was not requeued keeps the dlq row"
k=$(bf_sql "SELECT id FROM add_job('x.same', job_key => 'sk1', max_attempts => 1)")
bf_eq "$(claim $W x.same)" "$k" "claim"
bf_eq "$(finish $W "$k" 2 'dead')" "0|0|1" "dead"
k2=$(bf_sql "SELECT id FROM add_job('x.same', job_key => 'sk1')")
bf_eq "$(claim $W x.same)" "$k2" "claim the fresh same-key job"
bf_eq "$(finish $W "$k2" 0)" "1|0|0" "it succeeds"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE job_key = 'sk1'")" 1 "the key's dlq row stays"

bf_log "a requeued keyed job that dies again updates its dlq row"
k=$(bf_sql "SELECT id FROM add_job('x.keyed', '[1]', job_key => 'k2', max_attempts => 1)")
claim $W x.keyed >/dev/null
bf_eq "$(finish $W "$k" 2 'first death')" "0|0|1" "keyed job dead"
d2=$(bf_sql "SELECT id FROM dlq WHERE job_key = 'k2'")
j2=$(bf_sql "SELECT id FROM dlq_requeue($d2)")
bf_eq "$(claim $W x.keyed)" "$j2" "claim requeued keyed job"
bf_eq "$(finish $W "$j2" 2 'second death')" "0|0|1" "requeued keyed job dead again"
bf_eq "$(bf_sql "SELECT count(*), min(id), min(failure_count), min(requeued_count), min(original_job_id),
                        min(last_error), min(failure_reason)
                 FROM dlq WHERE task = 'x.keyed'")" \
	"1|$d2|2|1|$j2|second death|permanent failure reported by the handler" "keyed: same row, failure_count 2"

bf_log "a requeued key-less job that dies again updates its dlq row (no duplicate)"
k=$(bf_sql "SELECT id FROM add_job('x.keyless', '{\"v\":1}', max_attempts => 1)")
claim $W x.keyless >/dev/null
bf_eq "$(finish $W "$k" 1 'out of attempts')" "0|0|1" "key-less job dead"
d3=$(bf_sql "SELECT id FROM dlq WHERE original_job_id = $k")
j3=$(bf_sql "SELECT id FROM dlq_requeue($d3, 'try again')")
bf_eq "$(bf_sql "SELECT dlq_id, job_key IS NULL FROM jobs WHERE id = $j3")" "$d3|t" "requeued key-less job"
bf_eq "$(claim $W x.keyless)" "$j3" "claim requeued key-less job"
bf_eq "$(finish $W "$j3" 1 'still broken')" "0|0|1" "requeued key-less job dead again"
bf_eq "$(bf_sql "SELECT count(*), min(id), min(failure_count), min(requeued_count), min(original_job_id),
                        min(last_error), min(failure_reason), min(notes)
                 FROM dlq WHERE task = 'x.keyless'")" \
	"1|$d3|2|1|$j3|still broken|exceeded maximum attempts (1/1)|try again" "key-less: same row, failure_count 2"
# requeued twice, both die in one finish_jobs call: one row, + 2
j4=$(bf_sql "SELECT id FROM dlq_requeue($d3)")
j5=$(bf_sql "SELECT id FROM dlq_requeue($d3)")
bf_eq "$(claim $W x.keyless)" "$j4,$j5" "claim both"
bf_eq "$(bf_sql "SELECT completed, retried, dead FROM finish_jobs('$W', ARRAY[$j4, $j5]::bigint[], $(claimed_of "$j4, $j5"),
                 ARRAY[2, 2]::smallint[], ARRAY['e4', 'e5'], ARRAY[0, 0]::float8[])")" "0|0|2" "both dead in one call"
bf_eq "$(bf_sql "SELECT count(*), min(id), min(failure_count), min(requeued_count), min(original_job_id), min(last_error)
                 FROM dlq WHERE task = 'x.keyless'")" \
	"1|$d3|4|3|$j5|e5" "two deaths of one call: one row, failure_count + 2, the last job's fields"
# the dlq row was deleted meanwhile: the job gets a new row
j6=$(bf_sql "SELECT id FROM dlq_requeue($d3)")
bf_eq "$(bf_sql "SELECT dlq_delete($d3)")" t "delete the row of a requeued job"
bf_eq "$(bf_sql "SELECT count(*) FROM fail_jobs(ARRAY[$j6])")" 1 "the requeued job dies"
bf_eq "$(bf_sql "SELECT count(*), min(original_job_id), min(failure_count), bool_and(id <> $d3) FROM dlq WHERE task = 'x.keyless'")" \
	"1|$j6|1|t" "a new dlq row when the old one is gone"

bf_log "fail_jobs + requeue + dlq_put, keyed and key-less"
f=$(bf_sql "SELECT id FROM add_job('f.keyed', '{\"a\":1}', job_key => 'fk')")
bf_sql "SELECT fail_jobs(ARRAY[$f], 'bad data')" >/dev/null
fd=$(bf_sql "SELECT id FROM dlq WHERE job_key = 'fk'")
f2=$(bf_sql "SELECT id FROM dlq_requeue($fd)")
bf_eq "$(bf_sql "SELECT count(*) FROM fail_jobs(ARRAY[$f2], 'still bad')")" 1 "fail the requeued keyed job"
bf_eq "$(bf_sql "SELECT count(*), min(id), min(original_job_id), min(failure_count), min(requeued_count), min(failure_reason)
                 FROM dlq WHERE task = 'f.keyed'")" "1|$fd|$f2|2|1|still bad" "keyed: one row"
g=$(bf_sql "SELECT id FROM add_job('f.keyless', '[1]')")
bf_sql "SELECT fail_jobs(ARRAY[$g])" >/dev/null
gd=$(bf_sql "SELECT id FROM dlq WHERE original_job_id = $g")
g2=$(bf_sql "SELECT id FROM dlq_requeue($gd)")
bf_eq "$(bf_sql "SELECT count(*) FROM fail_jobs(ARRAY[$g2])")" 1 "fail the requeued key-less job"
bf_eq "$(bf_sql "SELECT count(*), min(id), min(original_job_id), min(failure_count), min(requeued_count)
                 FROM dlq WHERE task = 'f.keyless'")" "1|$gd|$g2|2|1" "key-less: one row"
# a key-less job never requeued still gets its own row each time
bf_sql "SELECT fail_jobs(ARRAY[id]) FROM add_job('f.keyless', '[2]')" >/dev/null
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE task = 'f.keyless'")" 2 "a fresh key-less job: a new row"
# one dlq_put call: two jobs from row gd, a job from row fd that lost its key
# to a newer job, and that newer job (key fk, not requeued): two rows touched
h1=$(bf_sql "SELECT id FROM dlq_requeue($gd)")
h2=$(bf_sql "SELECT id FROM dlq_requeue($gd)")
h3=$(bf_sql "SELECT id FROM dlq_requeue($fd)")
bf_sql "UPDATE jobs SET job_key = NULL WHERE id = $h3" # as remove_job does to a running job
h4=$(bf_sql "SELECT id FROM add_job('f.keyed', '{\"a\":4}', job_key => 'fk')")
got=$(bf_sql "WITH gone AS (DELETE FROM jobs j WHERE id IN ($h1, $h2, $h3, $h4) RETURNING j)
              SELECT dlq_put(array_agg(g.j ORDER BY (g.j).id), ARRAY['r1', 'r2', 'r3', 'r4'], NULL) FROM gone g")
bf_eq "$got" 4 "dlq_put of four jobs"
bf_eq "$(bf_sql "SELECT count(*), min(failure_count), min(requeued_count), min(original_job_id), min(failure_reason)
                 FROM dlq WHERE id = $gd")" "1|4|3|$h2|r2" "two jobs of row gd: + 2, the last one's fields"
bf_eq "$(bf_sql "SELECT count(*), min(id), min(failure_count), min(original_job_id), min(failure_reason), min(job_key), min(payload::text)
                 FROM dlq WHERE task = 'f.keyed'")" "1|$fd|4|$h4|r4|fk|{\"a\": 4}" \
	"key-lost job joins its row by dlq_id, the newer job by key: one row, + 2"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE task IN ('f.keyed', 'f.keyless')")" 3 "no duplicates"

bf_log "requeue errors"
bf_err "SELECT dlq_requeue(999999)" P0002 "dlq_requeue: dlq row 999999 does not exist"
bf_err "SELECT dlq_requeue(NULL)" 22023 "dlq_requeue: dlq_id must not be NULL"
q=$(bf_sql "SELECT id FROM add_job('q.key', job_key => 'qk')")
bf_sql "SELECT fail_jobs(ARRAY[$q])" >/dev/null
dq=$(bf_sql "SELECT id FROM dlq WHERE job_key = 'qk'")
q2=$(bf_sql "SELECT id FROM add_job('q.key', job_key => 'qk')")
bf_err "SELECT dlq_requeue($dq)" 23505 "dlq_requeue: dlq row $dq: job_key 'qk' is already queued (job id $q2)" "remove_job"
bf_eq "$(claim $W q.key)" "$q2" "the same-key job starts"
bf_err "SELECT dlq_requeue($dq)" 23505 "dlq_requeue: dlq row $dq: job_key 'qk' is running (job id $q2, locked by $W since"
bf_eq "$(bf_sql "SELECT requeued_count, notes IS NULL FROM dlq WHERE id = $dq")" "0|t" "refused requeues changed nothing"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE dlq_id = $dq")" 0 "and inserted nothing"

bf_log "dlq_requeue_many"
m1=$(bf_sql "SELECT id FROM add_job('m.a')"); bf_sql "SELECT fail_jobs(ARRAY[$m1])" >/dev/null
m2=$(bf_sql "SELECT id FROM add_job('m.b')"); bf_sql "SELECT fail_jobs(ARRAY[$m2])" >/dev/null
r1=$(bf_sql "SELECT id FROM dlq WHERE original_job_id = $m1")
r2=$(bf_sql "SELECT id FROM dlq WHERE original_job_id = $m2")
bf_err "SELECT dlq_requeue_many(ARRAY[$r1, 999999, $r2])" P0002 "dlq_requeue_many: dlq row 999999 does not exist; nothing was requeued"
bf_err "SELECT dlq_requeue_many(ARRAY[$r1, $r2, $dq])" 23505 "dlq row $dq: job_key 'qk' is running"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE dlq_id IN ($r1, $r2)")" 0 "all or nothing: nothing requeued"
bf_eq "$(bf_sql "SELECT sum(requeued_count) FROM dlq WHERE id IN ($r1, $r2)")" 0 "requeued_count unchanged"
bf_err "SELECT dlq_requeue_many(NULL)" 22023 "dlq_requeue_many: ids must not be NULL"
bf_err "SELECT dlq_requeue_many(ARRAY[$r1, NULL])" 22023 "dlq_requeue_many: ids[2] is NULL"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq_requeue_many(ARRAY[]::bigint[])")" 0 "requeue_many of nothing"
bf_eq "$(bf_sql "SELECT string_agg(dlq_id || ':' || task, ',') FROM dlq_requeue_many(ARRAY[$r2, $r1, $r2], 'batch')")" \
	"$r2:m.b,$r1:m.a" "requeue_many in the given order, duplicates once"
bf_eq "$(bf_sql "SELECT string_agg(requeued_count || ':' || notes, ',' ORDER BY id) FROM dlq WHERE id IN ($r1, $r2)")" \
	"1:batch,1:batch" "requeue_many recorded"
bf_sql "SELECT dlq_requeue($r1)" >/dev/null
bf_eq "$(bf_sql "SELECT requeued_count, notes FROM dlq WHERE id = $r1")" "2|batch" "NULL notes keep the old notes"
bf_sql "SELECT dlq_requeue($r1, 'new note')" >/dev/null
bf_eq "$(bf_sql "SELECT requeued_count, notes FROM dlq WHERE id = $r1")" "3|new note" "notes overwritten"

bf_log "dlq_delete and dlq_delete_by_job_key"
bf_sql "SELECT fail_jobs(ARRAY[id]) FROM add_job('del.k', job_key => 'dk')" >/dev/null
bf_sql "SELECT fail_jobs(ARRAY[id]) FROM add_job('del.n')" >/dev/null
dn=$(bf_sql "SELECT id FROM dlq WHERE task = 'del.n'")
bf_eq "$(bf_sql "SELECT dlq_delete($dn)")" t "delete by id"
bf_eq "$(bf_sql "SELECT dlq_delete($dn)")" f "delete of a missing id"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE task = 'del.n'")" 0 "row deleted"
bf_err "SELECT dlq_delete(NULL)" 22023 "dlq_delete: dlq_id must not be NULL"
bf_eq "$(bf_sql "SELECT dlq_delete_by_job_key('dk')")" 1 "delete by key"
bf_eq "$(bf_sql "SELECT dlq_delete_by_job_key('dk')")" 0 "delete by a missing key"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE task = 'del.k'")" 0 "keyed row deleted"
bf_err "SELECT dlq_delete_by_job_key(NULL)" 22023 "dlq_delete_by_job_key: job_key must be a non-empty string, got NULL" "dlq_delete(dlq_id)"
bf_err "SELECT dlq_delete_by_job_key('')" 22023 "job_key must be a non-empty string, got an empty string"

bf_log "dlq_purge"
bf_sql "DELETE FROM dlq; DELETE FROM jobs; DELETE FROM serial_locks"
bf_sql "SELECT fail_jobs(ARRAY[id]) FROM (SELECT (add_job(t, queue => q)).id FROM (VALUES
          ('p.a', 'bulk'), ('p.a', 'bulk'), ('p.a', 'fast'), ('p.b', 'bulk'), ('p.c', 'bulk')) v(t, q)) x" >/dev/null
bf_sql "UPDATE dlq SET failed_at = now() - interval '10 days' WHERE task IN ('p.a', 'p.b');
        UPDATE dlq SET failed_at = now() - interval '1 hour' WHERE task = 'p.c'"
purge() { bf_sql "SELECT deleted, task, queue FROM dlq_purge($1)" | paste -sd' '; }
bf_eq "$(purge "interval '1 day', dry_run => true")" "2|p.a|bulk 1|p.a|fast 1|p.b|bulk" "dry run counts per task and queue"
bf_eq "$(purge "'1 day', 'p.a', dry_run => true")" "2|p.a|bulk 1|p.a|fast" "dry run with a task filter"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq")" 5 "dry runs deleted nothing"
bf_eq "$(purge "'1 day', task => 'p.a', queue => 'bulk'")" "2|p.a|bulk" "purge with task and queue filters"
bf_eq "$(bf_sql "SELECT string_agg(task || '/' || queue, ',' ORDER BY task, queue) FROM dlq")" \
	"p.a/fast,p.b/bulk,p.c/bulk" "only the matching rows were deleted"
bf_eq "$(purge "'1 day', queue => 'bulk'")" "1|p.b|bulk" "purge with a queue filter spares the young row"
bf_eq "$(purge "'2 hours'")" "1|p.a|fast" "purge without filters"
bf_eq "$(purge "'2 hours'")" "" "nothing left to purge"
bf_eq "$(purge "'30 minutes', 'p.nope'")" "" "an unknown task matches nothing"
bf_eq "$(purge "'30 minutes'")" "1|p.c|bulk" "purge of the young row with a shorter age"
bf_err "SELECT dlq_purge(NULL)" 22023 "dlq_purge: older_than must be a non-negative interval, got NULL"
bf_err "SELECT dlq_purge('-1 day')" 22023 "dlq_purge: older_than must be a non-negative interval, got -1 days"
bf_err "SELECT dlq_purge('1 day', dry_run => NULL)" 22023 "dlq_purge: dry_run must be true or false"

bf_log "dlq_stats"
bf_eq "$(bf_sql "SELECT dlq_stats()")" \
	"$(bf_sql "SELECT '{\"total\": 0, \"by_task\": {}, \"by_queue\": {}, \"oldest_failed_at\": null,
	                   \"newest_failed_at\": null, \"requeued\": 0, \"failure_count\": 0}'::jsonb")" "stats of an empty dlq"
bf_sql "SELECT fail_jobs(ARRAY[id]) FROM (SELECT (add_job(t, queue => q)).id FROM (VALUES
          ('s.a', 'bulk'), ('s.a', 'fast'), ('s.b', 'bulk')) v(t, q)) x" >/dev/null
bf_sql "UPDATE dlq SET failed_at = '2024-01-02 03:04:05+00', failure_count = 1, requeued_count = 0 WHERE task = 's.a' AND queue = 'bulk';
        UPDATE dlq SET failed_at = '2024-02-01 00:00:00+00', failure_count = 2, requeued_count = 1 WHERE task = 's.a' AND queue = 'fast';
        UPDATE dlq SET failed_at = '2024-03-01 12:00:00.5+00', failure_count = 3, requeued_count = 4 WHERE task = 's.b'"
bf_eq "$(bf_sql "SELECT dlq_stats()")" \
	"$(bf_sql "SELECT '{\"total\": 3, \"by_task\": {\"s.a\": 2, \"s.b\": 1}, \"by_queue\": {\"bulk\": 2, \"fast\": 1},
	                   \"oldest_failed_at\": \"2024-01-02T03:04:05+00:00\",
	                   \"newest_failed_at\": \"2024-03-01T12:00:00.5+00:00\",
	                   \"requeued\": 5, \"failure_count\": 6}'::jsonb")" "stats"

bf_log "dlq_sweep"
bf_sql "DELETE FROM dlq; DELETE FROM jobs"
mkjob() { bf_sql "SELECT id FROM add_job('$1', max_attempts => ${2:-3})"; }
e1=$(mkjob w.e1 3); e2=$(mkjob w.e2 2); e3=$(mkjob w.e3 3); e4=$(mkjob w.e4 1); e5=$(mkjob w.e5 3); e6=$(mkjob w.e6 3)
bf_sql "UPDATE jobs SET attempts = max_attempts, last_error = 'e1 err', updated_at = now() - interval '3 hours' WHERE id = $e1"
bf_eq "$(bf_sql "SELECT attempts FROM reschedule_jobs(ARRAY[$e2], attempts => 2)")" 2 "exhaust e2 with reschedule_jobs"
bf_sql "UPDATE jobs SET updated_at = now() - interval '2 hours' WHERE id = $e2;
        UPDATE jobs SET attempts = max_attempts, updated_at = now() - interval '1 hour' WHERE id = $e3;
        UPDATE jobs SET attempts = 1, locked_at = now() - interval '5 hours', locked_by = '$W',
                        updated_at = now() - interval '5 hours' WHERE id = $e4;  -- running its last attempt
        UPDATE jobs SET attempts = 2, updated_at = now() - interval '6 hours' WHERE id = $e5;  -- not exhausted
        UPDATE jobs SET attempts = max_attempts, updated_at = now() - interval '4 hours' WHERE id = $e6"
# another transaction holds e6's row lock (e.g. an operator's UPDATE)
PGAPPNAME=bf_locker psql -X -q -tA "$DATABASE_URL" \
	-c "BEGIN; SELECT 1 FROM jobs WHERE id = $e6 FOR UPDATE; SELECT pg_sleep(60); COMMIT;" >/dev/null 2>&1 &
locker=$!
bf_wait_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bf_locker' AND wait_event = 'PgSleep'" 1
bf_eq "$(bf_sql "SELECT dlq_sweep(2)")" 2 "sweep(2) moves two"
bf_eq "$(bf_sql "SELECT string_agg(original_job_id || ':' || failure_reason || ':' || coalesce(last_error, '-'), ',' ORDER BY original_job_id)
                 FROM dlq")" \
	"$e1:exceeded maximum attempts (3/3); found by the DLQ processor:e1 err,$e2:exceeded maximum attempts (2/2); found by the DLQ processor:-" \
	"the two oldest unlocked exhausted jobs, skipping the row-locked older one"
bf_eq "$(bf_sql "SELECT dlq_sweep()")" 1 "sweep moves the third"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE original_job_id = $e3")" 1 "e3 moved"
bf_eq "$(bf_sql "SELECT dlq_sweep()")" 0 "nothing else while e6 is row-locked"
bf_sql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'bf_locker'" >/dev/null
wait "$locker" || true
bf_eq "$(bf_sql "SELECT dlq_sweep()")" 1 "e6 moved once its row lock is gone"
bf_eq "$(bf_sql "SELECT dlq_sweep()")" 0 "nothing left"
bf_eq "$(bf_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs")" "$e4,$e5" \
	"the running exhausted job and the not exhausted job stay"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE original_job_id IN ($e4, $e5)")" 0 "and are not in the dlq"
# a requeued job exhausted again: its dlq row is updated
rq=$(bf_sql "SELECT id FROM dlq_requeue((SELECT id FROM dlq WHERE original_job_id = $e1))")
bf_sql "UPDATE jobs SET attempts = max_attempts WHERE id = $rq"
bf_eq "$(bf_sql "SELECT dlq_sweep()")" 1 "sweep of a requeued exhausted job"
bf_eq "$(bf_sql "SELECT count(*), min(original_job_id), min(failure_count) FROM dlq WHERE task = 'w.e1'")" "1|$rq|2" \
	"the requeued job's dlq row updated"
# atomic: if the dlq insert fails, the job stays in jobs
bf_sql "UPDATE jobs SET attempts = max_attempts, locked_at = NULL, locked_by = NULL WHERE id = $e5"
bf_sql "CREATE FUNCTION public.dlq_boom() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN RAISE EXCEPTION 'dlq insert refused'; END \$\$;
        CREATE TRIGGER boom BEFORE INSERT ON dlq FOR EACH ROW EXECUTE FUNCTION public.dlq_boom()"
bf_err "SELECT dlq_sweep()" P0001 "dlq insert refused"
bf_sql "DROP TRIGGER boom ON dlq; DROP FUNCTION public.dlq_boom()"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE id = $e5")" 1 "job still in jobs after a failed sweep"
bf_eq "$(bf_sql "SELECT dlq_sweep()")" 1 "swept on the next try"
bf_err "SELECT dlq_sweep(0)" 22023 "dlq_sweep: max_jobs must be at least 1, got 0"
bf_err "SELECT dlq_sweep(NULL)" 22023 "dlq_sweep: max_jobs must be at least 1, got NULL"

bf_log "release_stale_locks"
bf_sql "DELETE FROM dlq; DELETE FROM jobs; DELETE FROM serial_locks"
bf_sql "SELECT worker_register('w-live', 'host-a', 101, 'test', ARRAY['bulk'], interval '30 seconds')" >/dev/null
# registered but silent for a day: recover_dead_workers' business, not ours
bf_sql "SELECT worker_register('w-silent', 'host-b', 102, 'test', ARRAY['bulk'], interval '30 seconds');
        UPDATE workers SET heartbeat_at = now() - interval '1 day' WHERE id = 'w-silent'" >/dev/null
job() { bf_sql "SELECT id FROM add_job('$1', serial_key => '$2')"; }
live=$(job l.live sk-live); silent=$(job l.silent sk-silent); ghost=$(job l.ghost sk-ghost)
young=$(job l.young sk-young); zero=$(bf_sql "SELECT id FROM add_job('l.zero')")
bf_eq "$(claim w-live l.live)" "$live" "live worker claims"
bf_eq "$(claim w-silent l.silent)" "$silent" "silent worker claims"
# unknown owners: claim_jobs needs a registered worker, so register, claim,
# and remove the row (as if it vanished with its locks still held)
claim_then_vanish() {
	bf_sql "SELECT worker_register('$1', 'host-x', 103, 'test', ARRAY['bulk'], interval '30 seconds')" >/dev/null
	claim "$1" "$2"
	bf_sql "DELETE FROM workers WHERE id = '$1'" >/dev/null
}
bf_eq "$(claim_then_vanish w-ghost l.ghost)" "$ghost" "unknown worker claims"
bf_eq "$(claim_then_vanish w-young l.young)" "$young" "another unknown worker claims"
bf_sql "UPDATE jobs SET locked_at = now() - interval '1 day' WHERE id IN ($live, $silent);
        UPDATE serial_locks SET locked_at = now() - interval '1 day' WHERE job_id IN ($live, $silent);
        UPDATE jobs SET locked_at = now() - interval '2 hours' WHERE id = $ghost;
        UPDATE serial_locks SET locked_at = now() - interval '2 hours' WHERE job_id = $ghost;
        UPDATE jobs SET locked_at = now() - interval '1 minute' WHERE id = $young;
        -- its serial lock is past the queue timeout, but its job still runs
        UPDATE serial_locks SET locked_at = now() - interval '10 minutes' WHERE job_id = $young;
        -- locked without an attempt counted: the refund stops at 0
        UPDATE jobs SET locked_at = now() - interval '2 hours', locked_by = 'w-zero' WHERE id = $zero;
        -- serial locks whose job is gone
        INSERT INTO serial_locks (serial_key, job_id, locked_by, locked_at) VALUES
            ('sk-orphan', 999999, 'w-gone', now() - interval '10 minutes'),
            ('sk-orphan-young', 999998, 'w-gone', now() - interval '1 minute')"
ghost_since=$(bf_sql "SELECT locked_at FROM jobs WHERE id = $ghost")
zero_since=$(bf_sql "SELECT locked_at FROM jobs WHERE id = $zero")
out=$(psql -X -q -tA "$DATABASE_URL" -c "LISTEN \"$S.jobs\"" \
	-c "SELECT serial_locks_released, jobs_released FROM release_stale_locks(interval '5 minutes', interval '30 minutes')")
case $out in "2|2"*"Asynchronous notification \"$S.jobs\""*) ;; *) bf_fail "release_stale_locks: [$out]" ;; esac
bf_eq "$(bf_sql "SELECT attempts, locked_at IS NULL, locked_by IS NULL, updated_at > now() - interval '1 minute', last_error
                 FROM jobs WHERE id = $ghost")" \
	"0|t|t|t|lock held by unknown worker w-ghost since $ghost_since released after 00:30:00" \
	"unknown owner's old job released, attempt refunded"
bf_eq "$(bf_sql "SELECT attempts, locked_at IS NULL, last_error FROM jobs WHERE id = $zero")" \
	"0|t|lock held by unknown worker w-zero since $zero_since released after 00:30:00" "refund stops at 0"
bf_eq "$(bf_sql "SELECT string_agg(serial_key, ',' ORDER BY serial_key) FROM serial_locks")" \
	"sk-live,sk-orphan-young,sk-silent,sk-young" "old unknown-owner serial locks of jobs not running released"
bf_eq "$(bf_sql "SELECT string_agg(id || ':' || locked_by || ':' || attempts, ',' ORDER BY id) FROM jobs WHERE locked_at IS NOT NULL")" \
	"$live:w-live:1,$silent:w-silent:1,$young:w-young:1" "registered workers' jobs (a day old) and the young lock untouched"
out=$(psql -X -q -tA "$DATABASE_URL" -c "LISTEN \"$S.jobs\"" \
	-c "SELECT serial_locks_released, jobs_released FROM release_stale_locks('5 minutes', '30 minutes')")
bf_eq "$out" "0|0" "a second run releases nothing and does not NOTIFY"
# the unknown owner comes back late: its finish changes nothing
bf_eq "$(finish w-ghost "$ghost" 0)" "0|0|0" "late finish of a released job"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE id = $ghost AND locked_at IS NULL")" 1 "the released job waits to run again"
bf_sql "SELECT worker_register('w-other', 'host-o', 104, 'test', ARRAY['bulk'], interval '30 seconds')" >/dev/null
bf_eq "$(claim w-other l.ghost)" "$ghost" "and is claimed again"
bf_eq "$(bf_sql "SELECT attempts FROM jobs WHERE id = $ghost")" 1 "with the refunded attempt counted once"
# once the young lock is old, its job and serial lock go together
bf_sql "UPDATE jobs SET locked_at = now() - interval '1 hour' WHERE id = $young"
bf_eq "$(bf_sql "SELECT serial_locks_released, jobs_released FROM release_stale_locks('5 minutes', '30 minutes')")" "1|1" \
	"stale job lock and its serial lock released together"
# an unregistered worker's locks are unknown
bf_sql "SELECT worker_unregister('w-live')" >/dev/null
bf_eq "$(bf_sql "SELECT serial_locks_released, jobs_released FROM release_stale_locks('5 minutes', '30 minutes')")" "1|1" \
	"after worker_unregister its day-old locks are released"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE id = $silent AND locked_by = 'w-silent'")" 1 "the silent registered worker's job is still untouched"
# a completion racing the clean-up wins: another session finishes (retry) a
# stale job of an unknown owner and holds its transaction open
race=$(bf_sql "SELECT id FROM add_job('l.race', max_attempts => 5)")
bf_eq "$(claim_then_vanish w-racer l.race)" "$race" "racer claims"
bf_sql "UPDATE jobs SET locked_at = now() - interval '2 hours' WHERE id = $race"
PGAPPNAME=bf_racer psql -X -q -tA "$DATABASE_URL" \
	-c "BEGIN; SELECT finish_jobs('w-racer', ARRAY[$race]::bigint[], $(claimed_of "$race"), ARRAY[1]::smallint[], ARRAY['racer retry'], ARRAY[0]::float8[]); SELECT pg_sleep(2); COMMIT;" \
	>"$T/racer.out" 2>&1 &
racer=$!
bf_wait_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bf_racer' AND wait_event = 'PgSleep'" 1
bf_eq "$(bf_sql "SELECT jobs_released FROM release_stale_locks('5 minutes', '30 minutes')")" 0 \
	"the clean-up waited for the racing finish and released nothing"
wait "$racer" || bf_fail "racer failed: $(cat "$T/racer.out")"
bf_eq "$(bf_sql "SELECT attempts, locked_at IS NULL, last_error FROM jobs WHERE id = $race")" "1|t|racer retry" \
	"the racing retry is not overwritten (no refund, its own last_error)"
bf_err "SELECT release_stale_locks(NULL, '30 minutes')" 22023 "release_stale_locks: queue_lock_timeout must be a non-negative interval, got NULL"
bf_err "SELECT release_stale_locks('5 minutes', '-1 minute')" 22023 "release_stale_locks: job_lock_timeout must be a non-negative interval, got -00:01:00"

bf_log "a second schema ($O) is independent"
export PGOPTIONS="-c search_path=public"
id=$(bf_sql "SELECT id FROM \"$O\".add_job('o.a', job_key => 'ok')")
bf_sql "SELECT \"$O\".fail_jobs(ARRAY[$id])" >/dev/null
od=$(bf_sql "SELECT id FROM \"$O\".dlq WHERE job_key = 'ok'")
before=$(bf_sql "SELECT count(*) FROM \"$S\".jobs")
out=$(psql -X -q -tA "$DATABASE_URL" -c "LISTEN \"$O.jobs\"" -c "SELECT dlq_id FROM \"$O\".dlq_requeue($od)")
case $out in "$od"*"Asynchronous notification \"$O.jobs\""*) ;; *) bf_fail "$O requeue: [$out]" ;; esac
bf_eq "$(bf_sql "SELECT count(*) FROM \"$O\".jobs WHERE job_key = 'ok' AND dlq_id = $od")" 1 "requeued into $O.jobs"
bf_eq "$(bf_sql "SELECT count(*) FROM \"$S\".jobs")" "$before" "nothing written to $S"
bf_eq "$(bf_sql "SELECT (\"$O\".dlq_stats())->>'total'")" 1 "$O stats"

echo "ok"
