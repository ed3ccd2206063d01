# backfillctl against a real database: every command in human and --json
# form (the JSON parsed and checked against the tables), its exit codes
# (64 usage, 1 not found or refused by PostgreSQL, 69 unreachable database),
# PostgreSQL's message and hint passed through, a password that is never
# printed, another schema, and a real daemon's worker, running job and
# serial-key lock as `workers` and `locks` show them.
. "$(dirname "$0")/lib.sh"

CTL=$BF_BUILD/backfillctl
S=$BACKFILL_SCHEMA
URL=$DATABASE_URL
bf_plugins noop testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migration failed"; }

# ctl RC ARGS...: runs backfillctl, stdout in $T/out, stderr in $T/err, and
# fails unless it exits RC.
ctl() {
	local want=$1 rc=0
	shift
	"$CTL" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	[ "$rc" = "$want" ] ||
		bf_fail "backfillctl $*: exit $rc, expected $want; stdout [$(cat "$T/out")] stderr [$(cat "$T/err")]"
}
# js EXPR: a Python expression over the JSON document of $T/out, as d; a
# tuple prints as its items joined with ", ".
js() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
r = eval(sys.argv[2])
print(", ".join(map(str, r)) if isinstance(r, tuple) else r)' "$T/out" "$1" ||
		bf_fail "stdout is not the expected JSON: $(cat "$T/out")"
}
out_has() { grep -qF -- "$1" "$T/out" || bf_fail "stdout lacks [$1]: $(cat "$T/out")"; }
err_has() { grep -qF -- "$1" "$T/err" || bf_fail "stderr lacks [$1]: $(cat "$T/err")"; }
out_empty() { [ ! -s "$T/out" ] || bf_fail "stdout should be empty: $(cat "$T/out")"; }
# the table on lines FROM..TO of $T/out has its last column right-aligned:
# every line is as long as the header
aligned() {
	sed -n "$1,$2p" "$T/out" | awk 'NR == 1 { n = length($0) } length($0) != n { bad = 1 } END { exit bad }' ||
		bf_fail "table not aligned: $(cat "$T/out")"
}

bf_log "usage errors exit 64 before connecting (the URL is unreachable)"
export DATABASE_URL=postgresql://127.0.0.1:1/nothing
ctl 64
err_has "Usage: backfillctl"
out_empty
for args in "bogus" "--bogus status" "status --bogus" "status extra" "dlq" "dlq bogus" "dlq show" \
	"dlq show abc" "dlq show 0" "dlq requeue 1 2" "dlq delete -- -5" "enqueue" \
	"enqueue t --max-attempts 0" "enqueue t --priority 1.5" "dlq list --limit 0" "dlq list --offset x" \
	"dlq purge" "status -d" "-s Bad-Name status"; do
	# shellcheck disable=SC2086
	ctl 64 $args
	out_empty
	grep -q '^backfillctl: .*; try `backfillctl --help`$' "$T/err" || bf_fail "usage message for [$args]: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" = 1 ] || bf_fail "usage error for [$args] is not one line: $(cat "$T/err")"
done
BACKFILL_SCHEMA='x"; drop table jobs; --' ctl 64 status
err_has 'invalid schema name "x"; drop table jobs; --" (from BACKFILL_SCHEMA)'
ctl 0 --help
out_has "Exit codes: 0 ok, 1 the operation failed"
ctl 0 dlq list -h
out_has "Usage: backfillctl"
ctl 0 --version
bf_eq "$(cat "$T/out")" "backfillctl $("$BIN" --version | awk '{ print $2 }')" "--version"

bf_log "an unreachable database exits 69; the password never shows"
pw=S3cret-pw-4711
(exec 3<>/dev/tcp/127.0.0.1/1) 2>/dev/null && bf_fail "port 1 is open here; the test needs a closed port"
for url in "postgresql://alice:$pw@127.0.0.1:1/db" "postgresql://alice@127.0.0.1:1/db?password=$pw" \
	"host=127.0.0.1 port=1 user=alice password=$pw dbname=db" "host=127.0.0.1 port=1 password='$pw x' dbname=db"; do
	ctl 69 -d "$url" status
	err_has "backfillctl: cannot connect to "
	err_has "(from --database-url)"
	err_has "***"
	out_empty
	DATABASE_URL=$url ctl 69 --json dlq list
	err_has "(from DATABASE_URL)"
	out_empty
	! grep -qF "$pw" "$T/err" || bf_fail "the password shows: $(cat "$T/err")"
done
# a URL libpq cannot parse is a usage error, and still masked
ctl 64 -d "postgresql://alice:${pw}%zz@127.0.0.1:1/db" status
err_has "invalid database URL"
! grep -qF "$pw" "$T/err" || bf_fail "the password shows: $(cat "$T/err")"
# the flag beats the environment
export DATABASE_URL=postgresql://127.0.0.1:1/nothing
ctl 0 -d "$URL" status
export DATABASE_URL=$URL

bf_log "a schema that is not there: PostgreSQL's error with our hint, exit 1"
ctl 1 -s nosuch status
err_has 'relation "nosuch.jobs" does not exist; hint: is backfilld'"'"'s schema "nosuch" applied'
out_empty

bf_log "status of an empty schema"
ctl 0 status
out_has "schema $S"
grep -q '^(total) *0 *0 *0 *0 *0 *-$' "$T/out" || bf_fail "empty status: $(cat "$T/out")"
ctl 0 status --json
bf_eq "$(js 'd["queues"], d["total"]["ready"], d["dlq"], d["workers"]["registered"], d["schema"]')" \
	"[], 0, 0, 0, $S" "empty status as JSON"

bf_log "enqueue"
ctl 0 enqueue email.send '{"to": "a@example.com"}'
grep -qx '[0-9][0-9]*' "$T/out" || bf_fail "enqueue does not print just the id: $(cat "$T/out")"
id1=$(cat "$T/out")
bf_eq "$(bf_sql "SELECT task, payload, queue, priority, max_attempts, job_key IS NULL FROM $S.jobs WHERE id = $id1")" \
	'email.send|{"to": "a@example.com"}|bulk|0|8|t' "plain enqueue"
ctl 0 enqueue report.build '{"n": 1}' --queue fast --priority FAST_HIGH --run-at '2030-01-01 00:00:00+00' \
	--job-key daily --max-attempts 3 --serial-key acct:1
id2=$(cat "$T/out")
bf_eq "$(bf_sql "SELECT task, payload, queue, priority, run_at = '2030-01-01 00:00:00+00', max_attempts, job_key, serial_key FROM $S.jobs WHERE id = $id2")" \
	'report.build|{"n": 1}|fast|-10|t|3|daily|acct:1' "enqueue with every option"
# options go anywhere; the payload from stdin; --json gives the job
echo '[1, 2]' | "$CTL" --json enqueue --priority -7 batch - >"$T/out" 2>"$T/err" || bf_fail "enqueue from stdin: $(cat "$T/err")"
id3=$(js 'd["id"]')
bf_eq "$(js 'd["task"], d["priority"], d["payload"], d["queue"], d["attempts"], "T" in d["run_at"]')" \
	"batch, -7, [1, 2], bulk, 0, True" "enqueue --json"
bf_eq "$(bf_sql "SELECT payload FROM $S.jobs WHERE id = $id3")" "[1, 2]" "payload from stdin"
ctl 0 enqueue report.build --job-key daily --job-key-mode unsafe_dedupe
bf_eq "$(cat "$T/out")" "$id2" "unsafe_dedupe returns the existing job"
# what PostgreSQL refuses: its message and hint, exit 1, nothing on stdout
ctl 1 enqueue x 42
err_has "backfillctl: add_job: payload must be a JSON object or array, got a JSON number; hint: Wrap a scalar"
out_empty
ctl 1 enqueue x '{bad'
err_has "invalid input syntax for type json"
ctl 1 enqueue x --priority NOPE
err_has "priority: unknown priority name 'NOPE'"
ctl 1 enqueue x --job-key k --job-key-mode weird
err_has "unknown job_key_mode 'weird'"
[ "$(wc -l <"$T/err")" = 1 ] || bf_fail "an SQL error takes more than one line: $(cat "$T/err")"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 3 "jobs after the refused enqueues"

bf_log "status counts"
bf_sql "INSERT INTO $S.jobs (task, attempts, max_attempts) VALUES ('spent', 2, 2)" >/dev/null
ctl 0 status
grep -q '^bulk  *2  *0  *0  *1  *0 ' "$T/out" || bf_fail "bulk line: $(cat "$T/out")"
grep -q '^fast  *0  *1  *0  *0  *0  *-$' "$T/out" || bf_fail "fast line: $(cat "$T/out")"
grep -q '^(total)  *2  *1  *0  *1  *0 ' "$T/out" || bf_fail "total line: $(cat "$T/out")"
aligned 3 6
ctl 0 --json status
bf_eq "$(js '[(q["queue"], q["ready"], q["scheduled"], q["exhausted"]) for q in d["queues"]]')" \
	"[('bulk', 2, 0, 1), ('fast', 0, 1, 0)]" "status queues as JSON"
bf_eq "$(js 'd["total"]["ready"], d["total"]["scheduled"], d["total"]["oldest_ready_s"] >= 0')" "2, 1, True" \
	"status total as JSON"

bf_log "dlq list, show, stats"
ctl 0 dlq list
out_has "no dead-letter rows"
ctl 0 dlq stats --json
bf_eq "$(js 'd["total"], d["by_task"]')" "0, {}" "stats of an empty dlq"
# two dead jobs; the error holds a line break and a terminal escape
bf_sql "SELECT count(*) FROM $S.fail_jobs(ARRAY[$id1, $id3], E'SMTP said no\\nsecond line \\x1b[31mred')" >/dev/null
d1=$(bf_sql "SELECT id FROM $S.dlq WHERE original_job_id = $id1")
d3=$(bf_sql "SELECT id FROM $S.dlq WHERE original_job_id = $id3")
ctl 0 dlq list
head -n 1 "$T/out" | grep -q '^ID  TASK  *QUEUE  *FAILED_AT  *FAILURES  *REQUEUED  *JOB_KEY  *ERROR$' ||
	bf_fail "dlq list header: $(cat "$T/out")"
grep -q "^ *$d1  email.send  *bulk .* SMTP said no\.\.\.$" "$T/out" || bf_fail "dlq list row: $(cat "$T/out")"
out_has "2 rows"
! grep -q $'\x1b' "$T/out" || bf_fail "a terminal escape reached the table"
col=$(head -n 1 "$T/out" | awk '{ print index($0, "TASK") }')
awk -v c="$col" 'NR > 1 && NF > 2 && substr($0, c, 5) != "email" && substr($0, c, 5) != "batch" { exit 1 }' "$T/out" ||
	bf_fail "dlq list columns not aligned: $(cat "$T/out")"
ctl 0 dlq list --json --task batch
bf_eq "$(js 'd["total"], len(d["rows"]), d["rows"][0]["id"], d["rows"][0]["payload"], d["rows"][0]["last_error"]')" \
	"1, 1, $d3, [1, 2], SMTP said no
second line "$'\x1b'"[31mred" "dlq list --json --task"
ctl 0 dlq list --limit 1 --offset 1
out_has "row 2 of 2"
ctl 0 dlq list --limit 1
out_has "row 1 of 2"
out_has "(more with --offset 1)"
ctl 0 dlq list --queue nope
out_has "no dead-letter rows match"
ctl 0 dlq show "$d1"
grep -q "^task  *email.send$" "$T/out" || bf_fail "dlq show: $(cat "$T/out")"
grep -q '^ *"to": "a@example.com"$' "$T/out" || bf_fail "dlq show payload: $(cat "$T/out")"
grep -q '^ *second line \\x1b\[31mred$' "$T/out" || bf_fail "dlq show last_error: $(cat "$T/out")"
ctl 0 dlq show "$d1" --json
bf_eq "$(js 'd["id"], d["original_job_id"], d["task"], d["failure_count"], d["requeued_count"], d["notes"]')" \
	"$d1, $id1, email.send, 1, 0, None" "dlq show --json"
ctl 1 dlq show 999999
err_has "backfillctl: dlq row 999999 does not exist"
out_empty
ctl 1 --json dlq show 999999
out_empty
ctl 0 dlq stats
grep -q '^rows  *2$' "$T/out" || bf_fail "dlq stats: $(cat "$T/out")"
grep -q '^email.send  *1$' "$T/out" || bf_fail "dlq stats by task: $(cat "$T/out")"
grep -q '^bulk  *2$' "$T/out" || bf_fail "dlq stats by queue: $(cat "$T/out")"
ctl 0 dlq stats --json
bf_eq "$(js 'd["total"], d["by_task"], d["by_queue"], d["failure_count"]')" \
	"2, {'batch': 1, 'email.send': 1}, {'bulk': 2}, 2" "dlq stats --json"
ctl 0 status --json
bf_eq "$(js 'd["dlq"]')" 2 "status counts the dlq"

bf_log "dlq requeue"
ctl 0 dlq requeue "$d1" --notes 'SMTP fixed'
grep -q "^requeued dlq row $d1 as job [0-9][0-9]*$" "$T/out" || bf_fail "requeue: $(cat "$T/out")"
j1=$(awk '{ print $NF }' "$T/out")
bf_eq "$(bf_sql "SELECT task, dlq_id, attempts FROM $S.jobs WHERE id = $j1")" "email.send|$d1|0" "requeued job"
bf_eq "$(bf_sql "SELECT requeued_count, notes FROM $S.dlq WHERE id = $d1")" "1|SMTP fixed" "requeued dlq row"
ctl 0 --json dlq requeue "$d3"
bf_eq "$(js 'd["dlq_id"], d["task"], d["payload"]')" "$d3, batch, [1, 2]" "requeue --json"
ctl 1 dlq requeue 999999
err_has "dlq_requeue: dlq row 999999 does not exist; hint: It may have been deleted"
# a key taken by a waiting job: PostgreSQL's detail and hint come through
bf_sql "INSERT INTO $S.dlq (task, queue, max_attempts, failure_reason, job_key) VALUES ('keyed', 'bulk', 8, 'test', 'k1')" >/dev/null
dk=$(bf_sql "SELECT id FROM $S.dlq WHERE job_key = 'k1'")
ctl 0 enqueue keyed --job-key k1
ctl 1 dlq requeue "$dk"
err_has "job_key 'k1' is already queued"
err_has "; detail: Job "
err_has "; hint: Wait for that job to finish"

bf_log "dlq purge"
bf_sql "UPDATE $S.dlq SET failed_at = now() - interval '40 days' WHERE id IN ($d1, $dk)" >/dev/null
ctl 0 dlq purge --older-than '30 days' --dry-run
grep -q '^TASK  *QUEUE  *WOULD_DELETE$' "$T/out" || bf_fail "purge --dry-run: $(cat "$T/out")"
out_has "would delete 2 dead-letter rows (dry run: nothing was deleted)"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 3 "a dry run deletes nothing"
ctl 0 --json dlq purge --older-than '30 days' --dry-run --task keyed
bf_eq "$(js 'd["dry_run"], d["deleted"], d["groups"]')" \
	"True, 1, [{'task': 'keyed', 'queue': 'bulk', 'deleted': 1}]" "purge --dry-run --json"
ctl 0 dlq purge --older-than '30 days' --queue fast
out_has "deleted 0 dead-letter rows"
ctl 0 dlq purge --older-than '30 days' --task email.send
grep -q '^email.send  *bulk  *1$' "$T/out" || bf_fail "purge: $(cat "$T/out")"
out_has "deleted 1 dead-letter row"
ctl 0 --json dlq purge --older-than '30 days'
bf_eq "$(js 'd["dry_run"], d["deleted"], d["older_than"]')" "False, 1, 30 days" "purge --json"
bf_eq "$(bf_sql "SELECT id FROM $S.dlq")" "$d3" "what purge left"
ctl 1 dlq purge --older-than banana
err_has 'invalid input syntax for type interval: "banana"'

bf_log "dlq delete"
ctl 0 dlq delete "$d3"
bf_eq "$(cat "$T/out")" "deleted dlq row $d3" "dlq delete"
ctl 1 dlq delete "$d3"
err_has "dlq row $d3 does not exist"
bf_sql "INSERT INTO $S.dlq (task, queue, max_attempts, failure_reason) VALUES ('t', 'bulk', 8, 'test')" >/dev/null
ctl 0 --json dlq delete "$(bf_sql "SELECT id FROM $S.dlq")"
bf_eq "$(js 'd["deleted"]')" True "dlq delete --json"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "dlq after the deletes"

bf_log "workers and locks without a daemon"
ctl 0 workers
bf_eq "$(cat "$T/out")" "no workers registered" "no workers"
ctl 0 workers --json
bf_eq "$(js 'd["workers"]')" "[]" "no workers as JSON"
ctl 0 locks
out_has "running jobs: none"
out_has "serial-key locks: none"
# a worker whose heartbeat stopped, and a lock whose owner nobody knows
bf_sql "SELECT $S.worker_register('gone:1:0001', 'gone', 1, '0.0.9', ARRAY['bulk'], interval '30 seconds');
        UPDATE $S.workers SET heartbeat_at = now() - interval '5 minutes'" >/dev/null
bf_sql "UPDATE $S.jobs SET locked_at = now() - interval '2 hours', locked_by = 'ghost', attempts = 1 WHERE id = $j1;
        INSERT INTO $S.serial_locks (serial_key, job_id, locked_by) VALUES ('acct:ghost', $j1, 'ghost')" >/dev/null
ctl 0 workers
grep -q '^gone:1:0001  gone  *1  0\.0\.9  *bulk .* 5m0[0-9]s  dead  *0$' "$T/out" || bf_fail "dead worker: $(cat "$T/out")"
ctl 0 workers --json
bf_eq "$(js 'd["workers"][0]["state"], d["workers"][0]["queues"], d["workers"][0]["heartbeat_age_s"] >= 300')" \
	"dead, ['bulk'], True" "dead worker as JSON"
ctl 0 locks
grep -q "^ *$j1  email.send  *bulk  *1/8  *ghost  *2h00m  unknown  *-$" "$T/out" || bf_fail "ghost lock: $(cat "$T/out")"
grep -q "^acct:ghost  *$j1  ghost  .* unknown  *yes$" "$T/out" || bf_fail "ghost serial lock: $(cat "$T/out")"
bf_sql "UPDATE $S.jobs SET locked_at = NULL, locked_by = NULL, attempts = 0 WHERE id = $j1;
        DELETE FROM $S.serial_locks; DELETE FROM $S.workers" >/dev/null

bf_log "a real daemon: its worker, running job and serial-key lock"
cat >"$T/d.ini" <<EOF
[testtasks]
record_file = $T/rec
EOF
bf_start a -c "$T/d.ini" --shutdown-timeout 1
ctl 0 enqueue test.record '{"sleep_ms": 30000}' --queue fast --serial-key acct:7
jr=$(cat "$T/out")
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $jr AND locked_at IS NOT NULL" 1 10
ctl 0 workers
grep -q "^[^ ]*  $(hostname)  *$(bf_pid a)  0\.1\.0  *\(fast,bulk\|bulk,fast\)  .*  alive  *1$" "$T/out" ||
	bf_fail "the daemon's worker: $(cat "$T/out")"
ctl 0 --json workers
bf_eq "$(js 'len(d["workers"]), d["workers"][0]["pid"], d["workers"][0]["state"], d["workers"][0]["running"], d["workers"][0]["heartbeat_age_s"] < 30')" \
	"1, $(bf_pid a), alive, 1, True" "the daemon's worker as JSON"
wid=$(js 'd["workers"][0]["id"]')
ctl 0 locks
grep -q "^ *$jr  test.record  *fast  *1/8  *$wid  .*  alive  *acct:7$" "$T/out" || bf_fail "running job: $(cat "$T/out")"
grep -q "^acct:7  *$jr  $wid  .*  alive  *yes$" "$T/out" || bf_fail "serial lock: $(cat "$T/out")"
ctl 0 --json locks
bf_eq "$(js '[(r["id"], r["locked_by"], r["owner_state"], r["serial_key"]) for r in d["running"]]')" \
	"[($jr, '$wid', 'alive', 'acct:7')]" "running jobs as JSON"
bf_eq "$(js '[(s["serial_key"], s["job_id"], s["owner_state"], s["job_running"]) for s in d["serial_locks"]]')" \
	"[('acct:7', $jr, 'alive', True)]" "serial locks as JSON"
ctl 0 status --json
bf_eq "$(js '[q["running"] for q in d["queues"] if q["queue"] == "fast"], d["workers"]')" \
	"[1], {'registered': 1, 'alive': 1}" "status with a running job"
bf_stop a >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "daemon exit status"

bf_log "another schema, by flag and by environment"
bf_migrate --schema ops >>"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migration of ops failed"; }
ctl 0 -s ops enqueue ops.task
bf_eq "$(bf_sql "SELECT task FROM ops.jobs")" "ops.task" "enqueue into schema ops"
BACKFILL_SCHEMA=ops ctl 0 --json status
bf_eq "$(js 'd["schema"], d["total"]["ready"]')" "ops, 1" "status of schema ops"

bf_log "output that cannot be written is a failure"
rc=0
"$CTL" status >/dev/full 2>"$T/err" || rc=$?
bf_eq "$rc" 1 "exit status when stdout is full"
err_has "backfillctl: cannot write the output"
echo "backfillctl ok"
