#!/usr/bin/env bash
# t_sql_functions -- the SQL API of sql/002_functions.sql, against a real
# PostgreSQL and without the daemon: plain INSERT, add_job and its job_key
# modes (also under concurrency), the enqueue helpers, priority(), every
# validation error, dlq_put, and the admin functions (which must skip jobs a
# daemon is running).  The schema is applied twice, to $BACKFILL_SCHEMA and to
# other_schema, to prove nothing is hard-coded.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
O=other_schema
[ "$S" != "$O" ] || O=other_schema2
bf_apply_sql_by_hand
BACKFILL_SCHEMA=$O bf_apply_sql_by_hand
# Unqualified names below resolve to $S.
export PGOPTIONS="-c search_path=\"${S// /\\ }\""


# lock ID [WORKER]: make the job look claimed by a daemon.
lock() { bf_sql "UPDATE jobs SET locked_at = now(), locked_by = '${2:-w1}', attempts = attempts + 1 WHERE id = $1"; }

bf_log "migrations and search_path pinning"
bf_eq "$(bf_sql "SELECT name FROM migrations WHERE version = 2")" "002_functions" "migration row"
for s in "$S" "$O"; do
	bf_eq "$(bf_sql "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	                 WHERE n.nspname = '$s' AND p.proname IN ('dlq_put', 'add_job', 'priority',
	                   'enqueue_emergency', 'enqueue_critical', 'enqueue_fast_with_retries',
	                   'enqueue_fast', 'enqueue_bulk', 'enqueue_bulk_with_retries', 'enqueue_serial',
	                   'remove_job', 'reschedule_jobs', 'complete_jobs', 'fail_jobs')
	                   AND array_to_string(p.proconfig, ',') = 'search_path=' || quote_ident('$s')")" 14 \
		"all 14 functions in $s pin search_path to $s"
done

bf_log "plain INSERT naming only task"
got=$(bf_sql "INSERT INTO jobs (task) VALUES ('plain.task')
              RETURNING payload, queue, priority, attempts, max_attempts, job_key IS NULL,
                        serial_key IS NULL, locked_at IS NULL, run_at <= now()")
bf_eq "$got" "{}|bulk|0|0|8|t|t|t|t" "plain insert defaults"

bf_log "add_job with named parameters"
got=$(psql -X -q -v ON_ERROR_STOP=1 -tA "$DATABASE_URL" -c "SET search_path TO public" -c \
	"SELECT task, payload, queue, priority, max_attempts, job_key,
	        run_at BETWEEN now() + interval '299 seconds' AND now() + interval '301 seconds'
	 FROM \"$S\".add_job('email.send', '{\"to\":\"a\"}', queue => 'fast',
	                     run_at => now() + interval '5 minutes', job_key => 'welcome:42')")
bf_eq "$got" 'email.send|{"to": "a"}|fast|0|8|welcome:42|t' "add_job named params (caller search_path=public)"
got=$(bf_sql "SELECT payload, queue, priority, max_attempts, job_key IS NULL, serial_key IS NULL,
                     run_at = now()
              FROM add_job('t.defaults', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
bf_eq "$got" "{}|bulk|0|8|t|t|t" "NULL arguments mean the defaults"
got=$(bf_sql "SELECT task, payload, queue, priority, max_attempts, serial_key
              FROM add_job('t.all', '[1]', queue => 'q1', max_attempts => 3, priority => -7,
                           serial_key => 'acct:1')")
bf_eq "$got" "t.all|[1]|q1|-7|3|acct:1" "add_job all columns"
got=$(bf_sql "SELECT priority FROM add_job('t.p', priority => priority('bulk_low'))")
bf_eq "$got" "5" "add_job with a named priority"

bf_log "job_key mode replace"
id=$(bf_sql "SELECT id FROM add_job('t.a', '{\"a\":1}', job_key => 'rk', run_at => now() + interval '1 hour')")
bf_sql "UPDATE jobs SET attempts = 2, last_error = 'boom', updated_at = now() - interval '1 minute' WHERE id = $id"
got=$(bf_sql "SELECT id, task, payload, queue, priority, max_attempts, serial_key, attempts,
                     last_error IS NULL, updated_at = now(),
                     run_at BETWEEN now() + interval '119 minutes' AND now() + interval '121 minutes'
              FROM add_job('t.b', '{\"b\":2}', queue => 'fast', priority => -3, max_attempts => 4,
                           serial_key => 's1', job_key => 'rk', run_at => now() + interval '2 hours')")
bf_eq "$got" "$id|t.b|{\"b\": 2}|fast|-3|4|s1|0|t|t|t" "replace updates in place, object replaced, run_at moved"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE job_key = 'rk'")" 1 "still one row for rk"
bf_sql "SELECT add_job('t.arr', '[1,2]', job_key => 'ra')" >/dev/null
got=$(bf_sql "SELECT payload FROM add_job('t.arr', '[3]', job_key => 'ra', job_key_mode => 'replace')")
bf_eq "$got" "[1, 2, 3]" "replace concatenates two arrays"
got=$(bf_sql "SELECT payload FROM add_job('t.arr', '{\"x\":1}', job_key => 'ra')")
bf_eq "$got" '{"x": 1}' "replace: object replaces array"
got=$(bf_sql "SELECT payload FROM add_job('t.arr', '[4]', job_key => 'ra')")
bf_eq "$got" '[4]' "replace: array replaces object"
# the in-place update wakes daemons on <schema>.jobs
out=$(psql -X -q -tA "$DATABASE_URL" -c "LISTEN \"$S.jobs\"" -c "SELECT 'updated' FROM add_job('t.arr', job_key => 'ra')")
case $out in *"updated"*"Asynchronous notification \"$S.jobs\""*) ;; *) bf_fail "no NOTIFY on update in place: [$out]" ;; esac

bf_log "job_key mode preserve_run_at"
id=$(bf_sql "SELECT id FROM add_job('t.p', '{\"v\":1}', job_key => 'pk', run_at => now() + interval '1 hour')")
old_run_at=$(bf_sql "SELECT run_at FROM jobs WHERE id = $id")
got=$(bf_sql "SELECT id, payload, run_at = '$old_run_at'
              FROM add_job('t.p', '{\"v\":2}', job_key => 'pk', job_key_mode => 'preserve_run_at',
                           run_at => now() + interval '5 hours')")
bf_eq "$got" "$id|{\"v\": 2}|t" "preserve_run_at keeps run_at of a never-attempted job"
bf_sql "UPDATE jobs SET attempts = 1, last_error = 'failed once' WHERE id = $id"
got=$(bf_sql "SELECT id, attempts, last_error IS NULL,
                     run_at BETWEEN now() + interval '299 minutes' AND now() + interval '301 minutes'
              FROM add_job('t.p', job_key => 'pk', job_key_mode => 'preserve_run_at',
                           run_at => now() + interval '5 hours')")
bf_eq "$got" "$id|0|t|t" "preserve_run_at takes the new run_at once the job was attempted"

bf_log "job_key mode unsafe_dedupe"
id=$(bf_sql "SELECT id FROM add_job('t.u', '{\"v\":1}', job_key => 'uk', job_key_mode => 'unsafe_dedupe')")
[ -n "$id" ] || bf_fail "unsafe_dedupe did not insert"
bf_sql "UPDATE jobs SET updated_at = now() - interval '1 hour' WHERE id = $id"
got=$(bf_sql "SELECT id, task, payload, updated_at < now() - interval '59 minutes'
              FROM add_job('t.other', '{\"v\":2}', queue => 'fast', job_key => 'uk',
                           job_key_mode => 'unsafe_dedupe')")
bf_eq "$got" "$id|t.u|{\"v\": 1}|t" "unsafe_dedupe returns the existing row unchanged"
lock "$id"
got=$(bf_sql "SELECT id, locked_by FROM add_job('t.u', job_key => 'uk', job_key_mode => 'unsafe_dedupe')")
bf_eq "$got" "$id|w1" "unsafe_dedupe returns the existing row even when running"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE task IN ('t.u', 't.other')")" 1 "unsafe_dedupe inserted nothing"

bf_log "a running or exhausted keyed row is not modified; a new row is inserted"
for mode in replace preserve_run_at; do
	id=$(bf_sql "SELECT id FROM add_job('t.l', '[1]', job_key => 'lk-$mode', run_at => now() - interval '1 minute')")
	lock "$id"
	before=$(bf_sql "SELECT task, payload, run_at, attempts, max_attempts, locked_at, locked_by, last_error FROM jobs WHERE id = $id")
	new=$(bf_sql "SELECT id FROM add_job('t.l2', '[2]', job_key => 'lk-$mode', job_key_mode => '$mode')")
	[ -n "$new" ] && [ "$new" != "$id" ] || bf_fail "$mode: expected a new row, got [$new] (old $id)"
	bf_eq "$(bf_sql "SELECT task, payload, run_at, attempts, max_attempts, locked_at, locked_by, last_error FROM jobs WHERE id = $id")" \
		"$before" "$mode: the running row keeps all its fields"
	bf_eq "$(bf_sql "SELECT job_key IS NULL FROM jobs WHERE id = $id")" t "$mode: the running row lost its key"
	bf_eq "$(bf_sql "SELECT task, payload, attempts, locked_at IS NULL FROM jobs WHERE id = $new AND job_key = 'lk-$mode'")" \
		"t.l2|[2]|0|t" "$mode: the new row carries the key and the new payload only"
done
id=$(bf_sql "SELECT id FROM add_job('t.x', job_key => 'xk', max_attempts => 2)")
bf_sql "UPDATE jobs SET attempts = 2 WHERE id = $id"
new=$(bf_sql "SELECT id FROM add_job('t.x', job_key => 'xk')")
[ -n "$new" ] && [ "$new" != "$id" ] || bf_fail "exhausted: expected a new row, got [$new] (old $id)"
bf_eq "$(bf_sql "SELECT job_key IS NULL, attempts FROM jobs WHERE id = $id")" "t|2" "the exhausted row lost its key, unchanged otherwise"

bf_log "concurrency: 20 sessions, one key, always a row"
run_concurrently() { # SQL-PRINTING-AN-ID PREFIX: 20 sessions at once; files $T/PREFIX.N
	local i pids=()
	for i in $(seq 1 20); do
		bf_sql "${1//@I@/$i}" >"$T/$2.$i" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || true; done
	for i in $(seq 1 20); do
		grep -qE '^[0-9]+$' "$T/$2.$i" || bf_fail "$2 session $i printed no id: [$(cat "$T/$2.$i")]"
	done
}
run_concurrently "SELECT id FROM add_job('t.c', '[@I@]', job_key => 'ck')" c
bf_eq "$(cat "$T"/c.* | sort -u | wc -l)" 1 "every replace session got the same row"
bf_eq "$(bf_sql "SELECT count(*), jsonb_array_length(min(payload::text)::jsonb) FROM jobs WHERE job_key = 'ck'")" \
	"1|20" "one row whose payload holds all 20 concurrent items"
run_concurrently "SELECT id FROM add_job('t.d', '{\"n\":@I@}', job_key => 'dk', job_key_mode => 'unsafe_dedupe')" d
bf_eq "$(cat "$T"/d.* | sort -u | wc -l)" 1 "every unsafe_dedupe session got the same row"
run_concurrently "SELECT id FROM add_job('t.e', job_key => 'ek', job_key_mode => 'preserve_run_at', run_at => now() + interval '@I@ minutes')" e
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE job_key = 'ek'")" 1 "one row for the preserve_run_at key"
# with the keyed row running: every call still returns a row and exactly one
# row carries the key afterwards
id=$(bf_sql "SELECT id FROM add_job('t.f', job_key => 'fk')")
lock "$id"
run_concurrently "SELECT id FROM add_job('t.f', '[@I@]', job_key => 'fk')" f
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE job_key = 'fk' AND locked_at IS NULL AND id <> $id")" 1 \
	"one new unlocked row carries the key of the running job"
bf_eq "$(bf_sql "SELECT locked_by, job_key IS NULL FROM jobs WHERE id = $id")" "w1|t" "running row untouched but for its key"

bf_log "enqueue helpers"
for spec in "enqueue_emergency|fast|-20|8" "enqueue_critical|fast|-10|12" \
	"enqueue_fast_with_retries|fast|-10|3" "enqueue_fast|fast|-5|8" \
	"enqueue_bulk|bulk|0|8" "enqueue_bulk_with_retries|bulk|0|5"; do
	fn=${spec%%|*}
	bf_eq "$(bf_sql "SELECT queue, priority, max_attempts, payload, job_key IS NULL FROM $fn('h.$fn')")" \
		"${spec#*|}|{}|t" "$fn defaults"
	bf_eq "$(bf_sql "SELECT task, queue, priority, max_attempts, payload, job_key FROM $fn('h.$fn', '{\"k\":1}', 'key-$fn')")" \
		"h.$fn|${spec#*|}|{\"k\": 1}|key-$fn" "$fn with payload and key"
	bf_eq "$(bf_sql "SELECT payload FROM $fn('h.$fn', '{\"k\":2}', job_key => 'key-$fn')")" '{"k": 2}' "$fn replaces by key"
done
bf_eq "$(bf_sql "SELECT task, serial_key, payload, priority, queue, max_attempts, job_key IS NULL FROM enqueue_serial('h.s', 'acct:7')")" \
	"h.s|acct:7|{}|0|bulk|8|t" "enqueue_serial defaults"
bf_eq "$(bf_sql "SELECT serial_key, payload, priority, queue, job_key FROM enqueue_serial('h.s', 'acct:8', '[1]', -5, 'fast', 'sk1')")" \
	"acct:8|[1]|-5|fast|sk1" "enqueue_serial all arguments"
bf_eq "$(bf_sql "SELECT serial_key, priority FROM enqueue_serial('h.s', serial_key => 'acct:9', priority => priority('FAST_HIGH'))")" \
	"acct:9|-10" "enqueue_serial named arguments"
bf_err "SELECT enqueue_serial('h.s', NULL)" 22023 "enqueue_serial: serial_key is required"
bf_err "SELECT enqueue_serial('h.s', '')" 22023 "serial_key must be 1 to 512 characters"
bf_err "SELECT enqueue_fast('')" 22023 "add_job: task must be a non-empty string"

bf_log "priority()"
bf_eq "$(bf_sql "SELECT priority('EMERGENCY'), priority('FAST_HIGH'), priority('FAST_DEFAULT'),
                        priority('BULK_DEFAULT'), priority('BULK_LOW'), priority('BULK_LOWEST'),
                        priority('fast_high'), priority('Bulk_Low'), pg_typeof(priority('bulk_low'))")" \
	"-20|-10|-5|0|5|10|-10|5|smallint" "named priorities"
bf_eq "$(bf_sql "SELECT provolatile FROM pg_proc WHERE oid = 'priority(text)'::regprocedure")" i "priority() is IMMUTABLE"
bf_err "SELECT priority('HIGH')" 22023 "unknown priority name 'HIGH'" \
	"EMERGENCY (-20), FAST_HIGH (-10), FAST_DEFAULT (-5), BULK_DEFAULT (0), BULK_LOW (5), BULK_LOWEST (10)"
bf_err "SELECT priority(NULL)" 22023 "unknown priority name NULL"

bf_log "add_job validation errors"
bf_err "SELECT add_job(NULL)" 22023 "add_job: task must be a non-empty string, got NULL" "HINT:"
bf_err "SELECT add_job('')" 22023 "add_job: task must be a non-empty string, got an empty string"
bf_err "SELECT add_job(repeat('x', 129))" 22023 "add_job: task is 129 characters long; at most 128 are allowed"
bf_eq "$(bf_sql "SELECT length(task) FROM add_job(repeat('x', 128))")" 128 "128-char task accepted"
bf_err "SELECT add_job('t', queue => '')" 22023 "add_job: queue must be 1 to 128 characters, got an empty string" "default queue 'bulk'"
bf_err "SELECT add_job('t', queue => repeat('q', 129))" 22023 "add_job: queue must be 1 to 128 characters, got 129 characters"
bf_err "SELECT add_job('t', max_attempts => 0)" 22023 "add_job: max_attempts must be between 1 and 32767, got 0"
bf_err "SELECT add_job('t', max_attempts => -1)" 22023 "max_attempts must be between 1 and 32767, got -1"
bf_err "SELECT add_job('t', max_attempts => 32768)" 22023 "max_attempts must be between 1 and 32767, got 32768"
bf_eq "$(bf_sql "SELECT max_attempts FROM add_job('t.max', max_attempts => 32767)")" 32767 "max_attempts 32767 accepted"
bf_err "SELECT add_job('t', priority => 32768)" 22023 "add_job: priority must be between -32768 and 32767, got 32768" "priority('FAST_HIGH')"
bf_err "SELECT add_job('t', priority => -32769)" 22023 "priority must be between -32768 and 32767, got -32769"
bf_eq "$(bf_sql "SELECT priority FROM add_job('t.pr', priority => -32768)")" -32768 "priority -32768 accepted"
bf_err "SELECT add_job('t', job_key => '')" 22023 "add_job: job_key must be 1 to 512 characters, got an empty string" "NULL"
bf_err "SELECT add_job('t', job_key => repeat('k', 513))" 22023 "job_key must be 1 to 512 characters, got 513 characters"
bf_err "SELECT add_job('t', serial_key => '')" 22023 "add_job: serial_key must be 1 to 512 characters, got an empty string"
bf_err "SELECT add_job('t', job_key_mode => 'dedupe')" 22023 \
	"add_job: unknown job_key_mode 'dedupe'; allowed: replace, preserve_run_at, unsafe_dedupe"
bf_err "SELECT add_job('t', job_key => 'k', job_key_mode => 'REPLACE')" 22023 "unknown job_key_mode 'REPLACE'"
bf_err "SELECT add_job('t', '\"text\"')" 22023 "add_job: payload must be a JSON object or array, got a JSON string" '{"value": 42}'
bf_err "SELECT add_job('t', '42')" 22023 "payload must be a JSON object or array, got a JSON number"
bf_err "SELECT add_job('t', 'null')" 22023 "payload must be a JSON object or array, got a JSON null"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE task = 't'")" 0 "no rejected job was inserted"

bf_log "dlq_put"
a=$(bf_sql "SELECT id FROM add_job('d.a', '{\"n\":1}', job_key => 'dq', priority => 3, max_attempts => 2, serial_key => 'sx', run_at => now() - interval '1 hour')")
b=$(bf_sql "SELECT id FROM add_job('d.b', job_key => 'dq2')")
c=$(bf_sql "SELECT id FROM add_job('d.c')")
bf_sql "UPDATE jobs SET last_error = 'own error', attempts = 2 WHERE id IN ($a, $b, $c)"
got=$(bf_sql "WITH d AS (DELETE FROM jobs j WHERE id IN ($a, $b, $c) RETURNING j)
              SELECT dlq_put(array_agg(d.j ORDER BY (d.j).id), ARRAY['r1', NULL, 'r3'], ARRAY['e1', NULL, NULL]) FROM d")
bf_eq "$got" 3 "dlq_put returns the number of jobs put"
bf_eq "$(bf_sql "SELECT d.original_job_id = $a, d.task, d.payload, d.queue, d.priority, d.job_key, d.serial_key,
                        d.max_attempts, d.attempts, d.failure_reason, d.failure_count, d.last_error,
                        d.original_run_at < now() - interval '59 minutes', d.original_created_at IS NOT NULL,
                        d.failed_at > now() - interval '1 minute'
                 FROM dlq d WHERE d.job_key = 'dq'")" \
	"t|d.a|{\"n\": 1}|bulk|3|dq|sx|2|2|r1|1|e1|t|t|t" "dlq row fields"
bf_eq "$(bf_sql "SELECT failure_reason, last_error FROM dlq WHERE original_job_id = $b")" "failed permanently|own error" \
	"NULL reason gets a default, NULL error keeps the job's last_error"
bf_eq "$(bf_sql "SELECT failure_reason, last_error, job_key IS NULL FROM dlq WHERE original_job_id = $c")" "r3|own error|t" "keyless row"
bf_eq "$(bf_sql "SELECT dlq_put(NULL, NULL, NULL)")" 0 "dlq_put of nothing"
# two rows with one key in one call: no error, one dlq row, counted twice
bf_sql "SELECT add_job('d.dup1', '[1]'), add_job('d.dup2', '[2]')" >/dev/null
got=$(bf_sql "SELECT dlq_put(ARRAY[jsonb_populate_record(a, '{\"job_key\": \"same\"}'),
                                   jsonb_populate_record(b, '{\"job_key\": \"same\"}')],
                             ARRAY['first', 'second'], NULL)
              FROM jobs a, jobs b WHERE a.task = 'd.dup1' AND b.task = 'd.dup2'")
bf_eq "$got" 2 "duplicate key in one call does not error"
bf_eq "$(bf_sql "SELECT count(*), min(task), min(payload::text), min(failure_reason), min(failure_count) FROM dlq WHERE job_key = 'same'")" \
	"1|d.dup2|[2]|second|2" "duplicate key collapses into one row (the last one) counted twice"
bf_sql "DELETE FROM jobs WHERE task LIKE 'd.dup%'"

bf_log "fail_jobs"
a=$(bf_sql "SELECT id FROM add_job('f.a', '{\"n\":1}', job_key => 'fj', priority => 4, max_attempts => 3, serial_key => 'ser')")
b=$(bf_sql "SELECT id FROM add_job('f.b')")
r=$(bf_sql "SELECT id FROM add_job('f.running')")
lock "$r"
got=$(bf_sql "SELECT string_agg(id || ':' || task, ',' ORDER BY id) FROM fail_jobs(ARRAY[$a, $b, $r, 999999])")
bf_eq "$got" "$a:f.a,$b:f.b" "fail_jobs returns the moved unlocked jobs"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE id IN ($a, $b)")" 0 "failed jobs left jobs"
bf_eq "$(bf_sql "SELECT locked_by FROM jobs WHERE id = $r")" w1 "running job untouched"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE original_job_id = $r")" 0 "running job not dead-lettered"
bf_eq "$(bf_sql "SELECT task, payload, priority, max_attempts, serial_key, failure_reason, last_error, failure_count
                 FROM dlq WHERE job_key = 'fj'")" \
	'f.a|{"n": 1}|4|3|ser|Manually marked as failed|Manually marked as failed|1' "fail_jobs default reason"
a2=$(bf_sql "SELECT id FROM add_job('f.a2', '[7]', job_key => 'fj')")
bf_eq "$(bf_sql "SELECT id FROM fail_jobs(ARRAY[$a2], 'operator gave up')")" "$a2" "second failure of the key"
bf_eq "$(bf_sql "SELECT count(*), min(original_job_id), min(task), min(payload::text), min(failure_reason),
                        min(last_error), min(failure_count)
                 FROM dlq WHERE job_key = 'fj'")" \
	"1|$a2|f.a2|[7]|operator gave up|operator gave up|2" "second failure of a key bumps failure_count and overwrites"
c=$(bf_sql "SELECT id FROM add_job('f.c')")
bf_eq "$(bf_sql "SELECT id FROM fail_jobs(ARRAY[$c], NULL)")" "$c" "fail_jobs with a NULL reason"
bf_eq "$(bf_sql "SELECT failure_reason FROM dlq WHERE original_job_id = $c")" \
	"Manually marked as failed" "NULL reason means the default"
bf_eq "$(bf_sql "SELECT count(*) FROM fail_jobs(ARRAY[]::bigint[])")" 0 "fail_jobs of nothing"
# atomic: if the dlq insert fails, the job stays in jobs
d=$(bf_sql "SELECT id FROM add_job('f.d')")
bf_sql "CREATE FUNCTION public.dlq_boom() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN RAISE EXCEPTION 'dlq insert refused'; END \$\$;
        CREATE TRIGGER boom BEFORE INSERT ON dlq FOR EACH ROW EXECUTE FUNCTION public.dlq_boom()"
bf_err "SELECT fail_jobs(ARRAY[$d])" P0001 "dlq insert refused"
bf_sql "DROP TRIGGER boom ON dlq; DROP FUNCTION public.dlq_boom()"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE id = $d")" 1 "job still in jobs after a failed fail_jobs"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE original_job_id = $d")" 0 "and not in dlq"

bf_log "remove_job"
id=$(bf_sql "SELECT id FROM add_job('r.a', '{\"x\":1}', job_key => 'rm')")
bf_eq "$(bf_sql "SELECT id, task, job_key FROM remove_job('rm')")" "$id|r.a|rm" "remove_job returns the deleted job"
bf_eq "$(bf_sql "SELECT count(*) FROM jobs WHERE id = $id")" 0 "removed job is gone"
bf_eq "$(bf_sql "SELECT id IS NULL FROM remove_job('rm')")" t "remove_job of a missing key returns NULL"
bf_eq "$(bf_sql "SELECT remove_job(NULL) IS NULL")" t "remove_job(NULL) returns NULL"
id=$(bf_sql "SELECT id FROM add_job('r.b', job_key => 'rm2')")
lock "$id"
bf_eq "$(bf_sql "SELECT id IS NULL FROM remove_job('rm2')")" t "remove_job of a running job returns NULL"
bf_eq "$(bf_sql "SELECT job_key IS NULL, locked_by, attempts FROM jobs WHERE id = $id")" "t|w1|1" \
	"the running job stays, without its key"

bf_log "reschedule_jobs"
a=$(bf_sql "SELECT id FROM add_job('s.a', priority => 1, max_attempts => 5)")
b=$(bf_sql "SELECT id FROM add_job('s.b', priority => 2, max_attempts => 6)")
r=$(bf_sql "SELECT id FROM add_job('s.r', priority => 3)")
lock "$r"
bf_sql "UPDATE jobs SET updated_at = now() - interval '1 hour', attempts = 5 WHERE id = $a"
out=$(psql -X -q -tA "$DATABASE_URL" -c "LISTEN \"$S.jobs\"" \
	-c "SELECT string_agg(id::text, ',' ORDER BY id) FROM reschedule_jobs(ARRAY[$a, $b, $r], run_at => now() + interval '1 day', priority => -9)")
case $out in "$a,$b"*"Asynchronous notification \"$S.jobs\""*) ;; *) bf_fail "reschedule_jobs: [$out]" ;; esac
bf_eq "$(bf_sql "SELECT string_agg(concat_ws(':', priority, attempts, max_attempts, run_at > now() + interval '23 hours', updated_at > now() - interval '1 minute'), ',' ORDER BY id)
                 FROM jobs WHERE id IN ($a, $b)")" "-9:5:5:t:t,-9:0:6:t:t" "reschedule_jobs set run_at and priority only"
bf_eq "$(bf_sql "SELECT priority, run_at < now() + interval '1 hour' FROM jobs WHERE id = $r")" "3|t" "running job not rescheduled"
bf_eq "$(bf_sql "SELECT attempts, max_attempts, priority FROM reschedule_jobs(ARRAY[$a], attempts => 0, max_attempts => 9)")" \
	"0|9|-9" "reschedule_jobs revives an exhausted job"
bf_eq "$(bf_sql "SELECT count(*) FROM reschedule_jobs(ARRAY[$r], priority => 0)")" 0 "reschedule_jobs of a running job returns nothing"
bf_err "SELECT reschedule_jobs(ARRAY[$a], priority => 40000)" 22023 "reschedule_jobs: priority must be between -32768 and 32767, got 40000"
bf_err "SELECT reschedule_jobs(ARRAY[$a], attempts => -1)" 22023 "reschedule_jobs: attempts must be between 0 and 32767, got -1"
bf_err "SELECT reschedule_jobs(ARRAY[$a], max_attempts => 0)" 22023 "reschedule_jobs: max_attempts must be between 1 and 32767, got 0"

bf_log "complete_jobs"
got=$(bf_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM complete_jobs(ARRAY[$a, $b, $r])")
bf_eq "$got" "$a,$b" "complete_jobs returns the deleted unlocked jobs"
bf_eq "$(bf_sql "SELECT string_agg(id::text, ',') FROM jobs WHERE id IN ($a, $b, $r)")" "$r" "only the running job is left"
bf_eq "$(bf_sql "SELECT count(*) FROM dlq WHERE original_job_id IN ($a, $b)")" 0 "completed jobs are not dead-lettered"

bf_log "a second schema ($O) is independent"
export PGOPTIONS="-c search_path=public"
before=$(bf_sql "SELECT count(*) FROM \"$S\".jobs")
out=$(psql -X -q -tA "$DATABASE_URL" -c "LISTEN \"$O.jobs\"" \
	-c "SELECT id FROM \"$O\".add_job('o.a', '[1]', job_key => 'ck')" \
	-c "SELECT payload FROM \"$O\".add_job('o.a', '[2]', job_key => 'ck')")
case $out in *"[1, 2]"*"Asynchronous notification \"$O.jobs\""*) ;; *) bf_fail "$O add_job: [$out]" ;; esac
bf_eq "$(bf_sql "SELECT count(*) FROM \"$O\".jobs WHERE job_key = 'ck'")" 1 "$O has its own row for key ck"
bf_eq "$(bf_sql "SELECT count(*) FROM \"$S\".jobs")" "$before" "nothing written to $S"
bf_eq "$(bf_sql "SELECT jsonb_array_length(payload) FROM \"$S\".jobs WHERE job_key = 'ck'")" 20 "$S row for key ck unchanged"
id=$(bf_sql "SELECT id FROM \"$O\".enqueue_fast('o.f', job_key => 'of')")
bf_eq "$(bf_sql "SELECT count(*) FROM \"$O\".fail_jobs(ARRAY[$id])")" 1 "$O fail_jobs"
bf_eq "$(bf_sql "SELECT count(*) FROM \"$O\".dlq WHERE job_key = 'of'")" 1 "dead-lettered into $O.dlq"
bf_eq "$(bf_sql "SELECT count(*) FROM \"$S\".dlq WHERE job_key = 'of'")" 0 "not into $S.dlq"

echo "ok"
