#!/usr/bin/env bash
# t_admin_http -- the metrics and admin HTTP endpoint of a real daemon:
# /metrics is valid Prometheus text (promtool check metrics when installed,
# always our own strict reader) and its counters move as jobs run, the
# janitor's too; the queue-depth and DLQ gauges; /health is 200, then 503
# while the database is unreachable (the daemon reaches PostgreSQL through a
# TCP proxy of this test, which is killed and restarted: the shared cluster
# keeps running), then 200 again; /status; the DLQ list, show, requeue,
# delete and purge (dry run and real) and /locks/status, with the bearer
# token (401 without or with a wrong one); changing endpoints off (403) on a
# non-loopback listener without a token, open on loopback without one;
# malformed and oversized requests get a 4xx and never hurt the daemon; a
# busy port stops the start with exit 1; --check-config masks the token.
. "$(dirname "$0")/lib.sh"
unset BACKFILL_ADMIN_LISTEN # lib.sh turns the endpoint off; here the ini files set it

S=$BACKFILL_SCHEMA
REC=$T/record.log
# the interpreter itself, not a wrapper (pyenv's shims fork): the proxy's
# pid must be the process that holds the sockets
PY=$(python3 -c 'import sys; print(sys.executable)')
H="$PY $BF_ROOT/tests/integration/admin_http.py"
TOKEN=t0ken-$RANDOM-$RANDOM-abcdefghij
: >"$REC"
bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }

# The dispatcher's calls into metrics.c (claimed/finished/reconnect) and
# its pool snapshot arrive separately from the admin module: check them
# once dispatch.c makes them.

free_port() { $H free-port; }
PA=$(free_port); PB=$(free_port); PC=$(free_port); PROXY=$(free_port)
while [ "$PB" = "$PA" ]; do PB=$(free_port); done
while [ "$PC" = "$PA" ] || [ "$PC" = "$PB" ]; do PC=$(free_port); done
while [ "$PROXY" = "$PA" ] || [ "$PROXY" = "$PB" ] || [ "$PROXY" = "$PC" ]; do PROXY=$(free_port); done

start_proxy() {
	$H proxy "$PROXY" "$BF_PGPORT" >"$T/proxy.log" 2>&1 &
	PROXY_PID=$!
	BF_PIDS+=("$PROXY_PID")
	local i
	for i in $(seq 1 100); do
		grep -q listening "$T/proxy.log" 2>/dev/null && return 0
		sleep 0.05
	done
	bf_fail "the TCP proxy did not start"
}
start_proxy
PROXY_URL=$(echo "$DATABASE_URL" | sed "s/:$BF_PGPORT\//:$PROXY\//")
[ "$PROXY_URL" != "$DATABASE_URL" ] || bf_fail "cannot point $DATABASE_URL at the proxy"

# req PORT METHOD PATH [BODY] [--token T]: sets $status and $body
req() {
	local out
	out=$($H req "$@" 2>"$T/req.err") || { cat "$T/req.err"; bf_fail "request $* failed"; }
	status=${out%%$'\n'*}
	body=${out#*$'\n'}
	[ "$out" != "$status" ] || body=
}
# expect STATUS PORT METHOD PATH [BODY] [--token T]
expect() {
	local want=$1; shift
	req "$@"
	[ "$status" = "$want" ] || bf_fail "$* -> $status, expected $want: $body"
}
js() { $H json "$1" <<<"$body"; }
# metric PORT SERIES: the sample's value, or "absent"
metric() { $H metrics "$1" 2>/dev/null | awk -v s="$2" 'index($0, s " ") == 1 { print $NF; f = 1 } END { if (!f) print "absent" }'; }
# wait_metric PORT SERIES VALUE [SECONDS]
wait_metric() {
	local end=$(( $(date +%s) + ${4:-15} )) got
	while :; do
		got=$(metric "$1" "$2")
		[ "$got" = "$3" ] && return 0
		[ "$(date +%s)" -le "$end" ] || bf_fail "waited for $2 = $3 on :$1, last got $got"
		sleep 0.2
	done
}
alive() { kill -0 "$(bf_pid "$1")" 2>/dev/null || bf_fail "daemon $1 died"; }

cat >"$T/a.ini" <<EOF
[daemon]
poll_interval_ms = 50
dlq_processor_interval = 1
stale_lock_cleanup_interval = 1
stale_queue_lock_timeout = 120
stale_job_lock_timeout = 900
[admin]
listen = 127.0.0.1:$PA
token = $TOKEN
[queue.fast]
concurrency = 4
[queue.bulk]
concurrency = 2
[testtasks]
record_file = $REC
EOF
bf_start a -c "$T/a.ini" --database-url "$PROXY_URL" # the flag beats lib.sh's DATABASE_URL
grep -q "admin: metrics, health and admin API on http://127.0.0.1:$PA/; changing endpoints need the bearer token" \
	"$T/daemon-a.log" || bf_fail "no admin start line"
grep -q "$TOKEN" "$T/daemon-a.log" && bf_fail "the token appears in the log"

bf_log "/health, /status and /metrics of a fresh daemon"
expect 200 "$PA" GET /health
bf_eq "$(js "j['status'], j['database'], j['version']")" "('ok', 'ok', '0.1.0')" "/health"
expect 200 "$PA" GET /status
bf_eq "$(js "j['version'], j['plugin_abi'], j['schema'], j['plugins'], j['tasks']")" \
	"('0.1.0', '1.0', '$S', ['testtasks'], ['test.record', 'test.record2'])" "/status basics"
bf_eq "$(js "j['worker_id'] is not None and len(j['worker_id']) > 0, j['uptime_seconds'] >= 0, j['pid'] == $(bf_pid a)")" \
	"(True, True, True)" "/status worker_id, uptime, pid"
bf_eq "$(js "j['dlq'] == {'processor_enabled': True, 'processor_interval_s': 1, 'jobs': 0}")" True "/status dlq"
bf_eq "$(js "j['database'] == {'up': True, 'error': None}")" True "/status database"
bf_eq "$(js "j['admin'] == {'listen': '127.0.0.1:$PA', 'changing_endpoints': 'token'}")" True "/status admin"
bf_eq "$(js "[q['queue'] for q in j['queues']]")" "['fast', 'bulk']" "/status queues are the configured ones"
$H metrics "$PA" >"$T/metrics.0" 2>"$T/metrics.err" || { cat "$T/metrics.err"; bf_fail "/metrics is not valid"; }
bf_log "$(cat "$T/metrics.err")"
bf_eq "$(metric "$PA" 'backfill_build_info{version="0.1.0",abi="1.0"}')" 1 "build info"
bf_eq "$(metric "$PA" backfill_up)" 1 "backfill_up"
bf_eq "$(metric "$PA" 'backfill_queue_jobs{queue="fast",state="ready"}')" 0 "no jobs yet"
bf_eq "$(metric "$PA" backfill_dlq_jobs)" 0 "empty DLQ"
expect 200 "$PA" GET /status
bf_eq "$(js "[(p['queue'], p['concurrency']) for p in j['pools']]")" "[('fast', 4), ('bulk', 2)]" "/status pools"
bf_eq "$(metric "$PA" 'backfill_pool_size{queue="fast"}')" 4 "pool size"
bf_eq "$(metric "$PA" 'backfill_pool_busy{queue="bulk"}')" 0 "pool busy"

bf_log "jobs run: 5 succeed (fast), 2 succeed on their 2nd attempt, 3 fail for good (bulk)"
bf_sql "INSERT INTO $S.jobs (task, queue, payload)
        SELECT 'test.record', 'fast', '{}' FROM generate_series(1, 5);
        INSERT INTO $S.jobs (task, queue, payload)
        SELECT 'test.record', 'bulk', '{\"fail_until_attempt\": 2, \"retry_delay_ms\": 10}' FROM generate_series(1, 2);
        INSERT INTO $S.jobs (task, queue, payload, job_key)
        SELECT 'test.record', 'bulk', '{\"result\": \"fail\", \"error\": \"broken\"}', 'dead-' || i FROM generate_series(1, 3) i"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 20
bf_wait_sql "SELECT count(*) FROM $S.dlq" 3
wait_metric "$PA" 'backfill_jobs_completed_total{queue="fast",task="test.record"}' 5
wait_metric "$PA" 'backfill_jobs_completed_total{queue="bulk",task="test.record"}' 2
bf_eq "$(metric "$PA" 'backfill_jobs_claimed_total{queue="fast",task="test.record"}')" 5 "claimed fast"
bf_eq "$(metric "$PA" 'backfill_jobs_claimed_total{queue="bulk",task="test.record"}')" 7 "claimed bulk (retries claim again)"
bf_eq "$(metric "$PA" 'backfill_jobs_retried_total{queue="bulk",task="test.record"}')" 2 "retried"
bf_eq "$(metric "$PA" 'backfill_jobs_dead_total{queue="bulk",task="test.record"}')" 3 "dead"
bf_eq "$(metric "$PA" 'backfill_job_duration_seconds_count{queue="fast"}')" 5 "duration count fast"
bf_eq "$(metric "$PA" 'backfill_job_duration_seconds_bucket{queue="bulk",le="+Inf"}')" 7 "duration +Inf bulk"
bf_eq "$(metric "$PA" 'backfill_jobs_claimed_total{queue="bulk",task="test.record2"}')" absent "no series for what never ran"
wait_metric "$PA" backfill_dlq_jobs 3

bf_log "the janitor's counters: an exhausted job swept, locks of an unknown worker released"
bf_sql "INSERT INTO $S.jobs (task, queue, attempts, max_attempts) VALUES ('nobody.handles', 'bulk', 3, 3)"
bf_sql "INSERT INTO $S.jobs (task, queue, attempts, locked_at, locked_by)
        VALUES ('nobody.handles', 'fast', 1, now() - interval '1 hour', 'ghost:1:0000');
        INSERT INTO $S.serial_locks (serial_key, job_id, locked_by, locked_at)
        VALUES ('ghost-key', -1, 'ghost:1:0000', now() - interval '1 hour')"
wait_metric "$PA" backfill_dlq_swept_total 1
wait_metric "$PA" backfill_cleanup_job_locks_released_total 1
wait_metric "$PA" backfill_cleanup_serial_locks_released_total 1
bf_eq "$(metric "$PA" backfill_dead_worker_jobs_recovered_total)" 0 "no dead daemon yet"

bf_log "queue depth: ready (the released job nobody handles), scheduled (two priorities), running"
bf_sql "INSERT INTO $S.jobs (task, queue, run_at, priority) SELECT 'test.record', 'fast', now() + interval '1 hour', 10 * i - 15 FROM generate_series(1, 2) i;
        INSERT INTO $S.jobs (task, queue, payload, serial_key) VALUES ('test.record', 'bulk', '{\"sleep_ms\": 10000}', 'report-1')"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE locked_at IS NOT NULL" 1
wait_metric "$PA" 'backfill_queue_jobs{queue="fast",state="ready"}' 1
wait_metric "$PA" 'backfill_queue_jobs{queue="fast",state="scheduled"}' 2
wait_metric "$PA" 'backfill_queue_jobs{queue="bulk",state="running"}' 1
wait_metric "$PA" backfill_dlq_jobs 4
bf_eq "$(metric "$PA" 'backfill_pool_busy{queue="bulk"}')" 1 "pool busy while the long job runs"

bf_log "/locks/status uses the configured timeouts"
expect 200 "$PA" GET /locks/status
bf_eq "$(js "j['thresholds'] == {'stale_job_lock_timeout_seconds': 900, 'stale_queue_lock_timeout_seconds': 120}")" True "thresholds"
bf_eq "$(js "j['job_locks_total'], j['serial_locks_total'], j['stale_job_locks'], j['stale_serial_locks'], j['status']")" \
	"(1, 1, 0, 0, 'healthy')" "lock counts"
bf_eq "$(js "[l['serial_key'] for l in j['serial_locks']], [l['owner_registered'] for l in j['job_locks']]")" \
	"(['report-1'], [True])" "the running job's locks"
bf_eq "$(js "[w['id'] for w in j['workers']] == [l['locked_by'] for l in j['job_locks']]")" True "worker list"

bf_log "DLQ: list, filters, show"
expect 200 "$PA" GET "/dlq"
bf_eq "$(js "j['total'], len(j['jobs']), j['limit'], j['offset'], j['has_more']")" "(4, 4, 50, 0, False)" "list"
expect 200 "$PA" GET "/dlq?task=test.record&limit=2"
bf_eq "$(js "j['total'], len(j['jobs']), j['has_more'], len({x['job_key'] for x in j['jobs']} & {'dead-1', 'dead-2', 'dead-3'})")" \
	"(3, 2, True, 2)" "filtered list"
bf_eq "$(js "[x['failed_at'] for x in j['jobs']] == sorted([x['failed_at'] for x in j['jobs']], reverse=True)")" True "newest first"
expect 200 "$PA" GET "/dlq?queue=fast"
bf_eq "$(js "j['total']")" 0 "queue filter"
id=$(bf_sql "SELECT id FROM $S.dlq WHERE job_key = 'dead-1'")
expect 200 "$PA" GET "/dlq/$id"
bf_eq "$(js "j['id'], j['task'], j['payload'] == {'error': 'broken', 'result': 'fail'}, j['last_error'], j['failure_count']")" \
	"($id, 'test.record', True, 'broken', 1)" "show"
expect 404 "$PA" GET /dlq/999999
expect 200 "$PA" GET /dlq/stats
bf_eq "$(js "j['total'], sorted(j['by_task'].items())")" "(4, [('nobody.handles', 1), ('test.record', 3)])" "stats"

bf_log "changing endpoints need the bearer token"
expect 401 "$PA" POST "/dlq/$id/requeue"
grep -q 'WWW-Authenticate: Bearer' "$T/req.err" || bf_fail "401 without WWW-Authenticate"
bf_eq "$(js "j['code']")" UNAUTHORIZED "401 body"
expect 401 "$PA" POST "/dlq/$id/requeue" '{}' --token wrong-token
expect 401 "$PA" POST "/dlq/$id/requeue" '{}' --header "Authorization: Basic $TOKEN"
expect 401 "$PA" DELETE "/dlq/$id"
expect 401 "$PA" POST /dlq/purge '{"older_than_days": 0, "dry_run": true}'
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 4 "nothing changed without the token"
grep -q "admin: POST /dlq/$id/requeue from 127.0.0.1:[0-9]* refused: no bearer token" "$T/daemon-a.log" ||
	bf_fail "no log line for the refused request"

bf_log "requeue (the job dies again: same row, failure_count 2), delete, purge"
expect 200 "$PA" POST "/dlq/$id/requeue" '{"notes": "fixed the mailer"}' --token "$TOKEN"
bf_eq "$(js "j['status'], j['dlq_id'], j['job']['job_key'], j['job']['attempts']")" "('requeued', $id, 'dead-1', 0)" "requeue reply"
job=$(js "j['job_id']")
bf_wait_sql "SELECT failure_count, requeued_count, notes FROM $S.dlq WHERE id = $id" "2|1|fixed the mailer"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id = $job")" 0 "the requeued job ran"
grep -q "admin: dlq row $id requeued as job $job (request from 127.0.0.1:" "$T/daemon-a.log" || bf_fail "no requeue log line"
expect 404 "$PA" POST /dlq/999999/requeue '' --token "$TOKEN"
bf_eq "$(js "j['code']")" NOT_FOUND "requeue of a missing row"
# a key that is queued again cannot be requeued (409)
id2=$(bf_sql "SELECT id FROM $S.dlq WHERE job_key = 'dead-2'")
bf_sql "INSERT INTO $S.jobs (task, queue, job_key, run_at) VALUES ('test.record', 'bulk', 'dead-2', now() + interval '1 hour')"
expect 409 "$PA" POST "/dlq/$id2/requeue" --token "$TOKEN"
bf_eq "$(js "j['code']")" CONFLICT "requeue of a taken key"
bf_sql "DELETE FROM $S.jobs WHERE job_key = 'dead-2'" >/dev/null
expect 200 "$PA" DELETE "/dlq/$id2" '' --token "$TOKEN"
bf_eq "$(js "j")" "{'deleted': True, 'id': $id2}" "delete reply"
expect 404 "$PA" DELETE "/dlq/$id2" '' --token "$TOKEN"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 3 "one row deleted"
expect 200 "$PA" POST /dlq/purge '{"older_than_seconds": 0, "task": "test.record", "dry_run": true}' --token "$TOKEN"
bf_eq "$(js "j['dry_run'], j['deleted_count'], j['affected'] == [{'task': 'test.record', 'queue': 'bulk', 'count': 2}]")" \
	"(True, 2, True)" "purge dry run"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 3 "a dry run deletes nothing"
expect 200 "$PA" POST /dlq/purge '{"older_than_days": 1}' --token "$TOKEN"
bf_eq "$(js "j['dry_run'], j['deleted_count']")" "(False, 0)" "nothing older than a day"
expect 200 "$PA" POST /dlq/purge '{"older_than_seconds": 0}' --token "$TOKEN"
bf_eq "$(js "j['dry_run'], j['deleted_count'], len(j['affected'])")" "(False, 3, 2)" "purge"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "purged"
wait_metric "$PA" backfill_dlq_jobs 0

bf_log "malformed, oversized and unknown requests: a 4xx, JSON where we answer, the daemon lives"
expect 400 "$PA" POST "/dlq/1/requeue" '{"notes": ' --token "$TOKEN"
bf_eq "$(js "j['code']")" BAD_JSON "bad JSON"
expect 400 "$PA" POST "/dlq/1/requeue" '[1, 2]' --token "$TOKEN"
expect 400 "$PA" POST "/dlq/1/requeue" '{"notes": 5}' --token "$TOKEN"
expect 400 "$PA" POST "/dlq/1/requeue" '{"note": "typo"}' --token "$TOKEN"
expect 400 "$PA" POST "/dlq/1/requeue" '{"notes": "a", "notes": "b"}' --token "$TOKEN"
expect 400 "$PA" POST /dlq/purge '{"older_than_days": -1}' --token "$TOKEN"
expect 400 "$PA" POST /dlq/purge '{"older_than_days": 1, "older_than_seconds": 1}' --token "$TOKEN"
expect 400 "$PA" POST /dlq/purge '{"dry_run": "yes"}' --token "$TOKEN"
expect 404 "$PA" GET /nope
bf_eq "$(js "j['code']")" NOT_FOUND "unknown path"
expect 404 "$PA" GET /dlq/1/requeue/again
expect 404 "$PA" GET /metrics/
expect 405 "$PA" PUT /metrics
grep -q 'Allow: GET, HEAD' "$T/req.err" || bf_fail "405 without Allow"
bf_eq "$(js "j['code']")" METHOD_NOT_ALLOWED "wrong method"
expect 405 "$PA" GET /dlq/purge
expect 405 "$PA" POST /health
expect 405 "$PA" PATCH /dlq/1 '{}' --token "$TOKEN"
expect 413 "$PA" POST /dlq/purge @size:100000 --token "$TOKEN"
bf_eq "$(js "j['code']")" BODY_TOO_LARGE "oversized body"
expect 413 "$PA" POST /dlq/purge @size:3000000 --token "$TOKEN" # refused by libevent itself
expect 400 "$PA" GET /dlq/abc
bf_eq "$(js "j['code']")" BAD_ID "bad id"
expect 400 "$PA" GET /dlq/0
expect 400 "$PA" DELETE /dlq/-5 '' --token "$TOKEN"
expect 400 "$PA" GET /dlq/99999999999999999999999
expect 400 "$PA" GET "/dlq?limit=0"
expect 400 "$PA" GET "/dlq?limit=abc"
expect 400 "$PA" GET "/dlq?limit=1&limit=2"
expect 400 "$PA" GET "/dlq?bogus=1"
expect 400 "$PA" GET "/dlq?failed_after=not-a-time"
expect 200 "$PA" GET "/dlq?task=%00%ff%22"
expect 400 "$PA" GET "/dlq?task=%ff%fe"
# raw requests, as a client could send them: RAW (a Python bytes literal)
# and the status line expected ("closed": the server just hangs up).
# libevent answers some itself (plain text, not JSON): request lines it
# cannot parse, headers over 16 KiB, unknown methods (501).
while IFS='|' read -r raw want; do
	got=$($H raw "$PA" "$raw") || bf_fail "raw request $raw: client error"
	case $got in
	$want) ;;
	*) bf_fail "raw request $raw -> [$got], expected [$want]" ;;
	esac
	alive a
done <<'RAW'
b'GARBAGE\r\n\r\n'|HTTP/1.1 400 *
b'GET /metrics HTTP/9.9\r\n\r\n'|HTTP/1.1 400 *
b'\x00\xff\x80 / HTTP/1.1\r\n\r\n'|HTTP/1.1 400 *
b'FOO /health HTTP/1.1\r\n\r\n'|HTTP/1.1 501 *
b'GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 40000 + b'\r\n\r\n'|HTTP/1.1 400 *
b'GET /dlq?%zz HTTP/1.1\r\n\r\n'|HTTP/1.1 400 *
b'GET /\xc3\x28 HTTP/1.1\r\n\r\n'|HTTP/1.1 404 *
b'TRACE /health HTTP/1.1\r\n\r\n'|HTTP/1.1 405 *
b'POST /dlq/purge HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n'|closed
b'POST /dlq/purge HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc'|closed
b'GET /health HTTP/1.1\r\n'|closed
b'GET http://elsewhere/health HTTP/1.1\r\n\r\n'|HTTP/1.1 200 *
RAW
alive a
expect 200 "$PA" GET /health
$H metrics "$PA" >/dev/null 2>&1 || bf_fail "/metrics not valid after the bad requests"

bf_log "the database becomes unreachable (proxy killed): /health 503, backfill_up 0; then back: 200"
errors_before=$(metric "$PA" 'backfill_db_errors_total{connection="admin"}')
kill -KILL "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null || true
end=$(( $(date +%s) + 15 ))
while :; do
	req "$PA" GET /health
	[ "$status" = 503 ] && break
	[ "$(date +%s)" -le "$end" ] || bf_fail "/health still $status 15 s after the database went away"
	sleep 0.2
done
bf_eq "$(js "j['status']")" unavailable "/health body while down"
expect 503 "$PA" GET /dlq
bf_eq "$(js "j['code']")" DATABASE_UNAVAILABLE "/dlq while down"
$H metrics "$PA" >"$T/metrics.down" 2>"$T/metrics.err" || { cat "$T/metrics.err"; bf_fail "/metrics invalid while down"; }
bf_eq "$(awk '$1 == "backfill_up" { print $2 }' "$T/metrics.down")" 0 "backfill_up while down"
grep -q '^backfill_dlq_jobs ' "$T/metrics.down" && bf_fail "a stale DLQ gauge while the database is down"
errors_after=$(awk '$1 == "backfill_db_errors_total{connection=\"admin\"}" { print $2 }' "$T/metrics.down")
[ "$errors_after" -gt "$errors_before" ] || bf_fail "admin db errors did not grow ($errors_before -> $errors_after)"
expect 200 "$PA" GET /status
bf_eq "$(js "j['database']['up'], j['queues']")" "(False, None)" "/status while down"
alive a
start_proxy
end=$(( $(date +%s) + 20 ))
while :; do
	req "$PA" GET /health
	[ "$status" = 200 ] && break
	[ "$(date +%s)" -le "$end" ] || bf_fail "/health still $status 20 s after the database came back"
	sleep 0.3
done
wait_metric "$PA" backfill_up 1
[ "$(metric "$PA" 'backfill_db_reconnects_total{connection="admin"}')" -ge 1 ] || bf_fail "no admin reconnect counted"
wait_metric "$PA" 'backfill_db_reconnects_total{connection="jobs"}' 1 20
[ "$(metric "$PA" 'backfill_db_errors_total{connection="jobs"}')" -ge 1 ] || bf_fail "no jobs db error counted"
bf_sql "INSERT INTO $S.jobs (task, queue) VALUES ('test.record', 'fast')"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE task = 'test.record' AND run_at <= now()" 0 20

bf_log "a non-loopback listener without a token: changing endpoints are off (403), reads work"
cat >"$T/b.ini" <<EOF
[admin]
listen = 0.0.0.0:$PB
[queue.fast]
concurrency = 0
[queue.bulk]
concurrency = 0
[queue.other]
concurrency = 1
[testtasks]
record_file = $REC
EOF
bf_start b -c "$T/b.ini"
grep -q "admin: 0.0.0.0:$PB is not a loopback address" "$T/daemon-b.log" || bf_fail "no warning about 0.0.0.0"
expect 200 "$PB" GET /dlq
expect 403 "$PB" POST /dlq/1/requeue
bf_eq "$(js "j['code']")" FORBIDDEN "403 body"
expect 403 "$PB" DELETE /dlq/1
expect 403 "$PB" POST /dlq/purge '{"dry_run": true}'
expect 403 "$PB" POST /dlq/purge '{"dry_run": true}' --token "$TOKEN"
expect 200 "$PB" GET /status
bf_eq "$(js "j['admin']['changing_endpoints']")" off "/status says off"

bf_log "a loopback listener without a token: changing endpoints are open"
cat >"$T/c.ini" <<EOF
[admin]
listen = localhost:$PC
[queue.fast]
concurrency = 0
[queue.bulk]
concurrency = 0
[queue.other]
concurrency = 1
[testtasks]
record_file = $REC
EOF
bf_start c -c "$T/c.ini"
expect 404 "$PC" DELETE /dlq/999999
expect 200 "$PC" POST /dlq/purge '{"dry_run": true}'
expect 200 "$PC" GET /status
bf_eq "$(js "j['admin']['changing_endpoints']")" loopback "/status says loopback"

bf_log "SIGHUP: a new queue shows in the gauges; [admin] listen needs a restart"
sed -i "s/^listen = localhost:$PC\$/listen = localhost:$PB/" "$T/c.ini"
printf '[queue.extra]\nconcurrency = 1\n' >>"$T/c.ini"
kill -HUP "$(bf_pid c)"
end=$(( $(date +%s) + 10 ))
until grep -q "reload: configuration reloaded" "$T/daemon-c.log"; do
	[ "$(date +%s)" -le "$end" ] || bf_fail "no reload line"
	sleep 0.1
done
grep -q "reload: \[admin\] listen changed (.*) but takes effect only after a restart" "$T/daemon-c.log" ||
	bf_fail "no restart-only warning for [admin] listen"
expect 200 "$PC" GET /status
bf_eq "$(js "[q['queue'] for q in j['queues']], j['admin']['listen']")" "(['fast', 'bulk', 'other', 'extra'], 'localhost:$PC')" \
	"/status after the reload"
wait_metric "$PC" 'backfill_queue_jobs{queue="extra",state="ready"}' 0
sed -i "s/^listen = localhost:$PB\$/listen = localhost:$PC/" "$T/c.ini"

bf_log "a busy port stops the start (exit 1); an empty listen runs without the endpoint"
rc=0
"$BIN" --plugin-dir "$PLUGINS" -c "$T/c.ini" >"$T/daemon-busy.log" 2>&1 || rc=$?
bf_eq "$rc" 1 "exit code with the port taken"
grep -q "admin: cannot listen on localhost:$PC: " "$T/daemon-busy.log" || bf_fail "no clear line for the busy port"
bf_start d -c "$T/c.ini" --admin-listen ""
grep -q "admin: HTTP endpoint disabled" "$T/daemon-d.log" || bf_fail "no 'disabled' line"

bf_log "--check-config masks the token"
out=$(BACKFILL_ADMIN_TOKEN=$TOKEN "$BIN" --plugin-dir "$PLUGINS" -c "$T/c.ini" --check-config 2>&1)
echo "$out" | grep -q '^token = \*\*\*    ; environment BACKFILL_ADMIN_TOKEN$' || bf_fail "token not shown masked: $out"
echo "$out" | grep -q "$TOKEN" && bf_fail "--check-config printed the token"
out=$("$BIN" --plugin-dir "$PLUGINS" -c "$T/c.ini" --admin-listen 127.0.0.1:70000 --check-config 2>&1) &&
	bf_fail "a bad listen address was accepted"
echo "$out" | grep -q 'listen = "127.0.0.1:70000" must be HOST:PORT' || bf_fail "bad listen message: $out"

for n in a b c d; do
	bf_stop "$n" >"$T/rc"
	bf_eq "$(cat "$T/rc")" 0 "daemon $n stops with 0"
done
grep -E "admin: " "$T/daemon-a.log" | sed 's/^/#   /' | head -20
echo "admin HTTP endpoint ok"
