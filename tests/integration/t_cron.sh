#!/usr/bin/env bash
# t_cron -- recurring jobs (README "Recurring jobs"):
#  1. cron_fire in SQL: an occurrence is enqueued once (a repeat, an older
#     one: nothing), with run_at = the occurrence, the payload merged with
#     _cron {ts, backfilled} and the options; a second session racing on one
#     occurrence waits for the first and gets nothing if it commits, the job
#     if it rolls back; 8 sessions firing the same 30 occurrences (each in
#     its own transaction, oldest first) enqueue each exactly once.
#  2. a bad crontab line is a config error naming the file and line (exit
#     78); --check-config lists the schedules with their next three runs.
#  3. two daemons started together with the same crontab (ini [cron] and a
#     crontab file), after 5 minutes without any: the schedule with fill=3m
#     gets exactly its 3 missed occurrences, backfilled, once; the others
#     (no fill, or new) get none.  A reload with a bad crontab keeps the old
#     one; a good one adds a schedule.  At the next minute boundary every
#     schedule is enqueued exactly once though both daemons fire it, and
#     test.record's job runs.
# Takes one real minute boundary (up to about 90 s).
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record.log
: >"$REC"
bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }

# ---------------------------------------------------------------------------
bf_log "1. cron_fire: once per occurrence, payload, options"
fire() { # ID TS [extra args]
	bf_sql "SELECT coalesce($S.cron_fire('$1', '$2', false, 'cron.probe'${3:+, $3})::text, 'none')"
}
bf_eq "$(bf_sql "SELECT string_agg(id || ':' || (known_since > now() - interval '1 minute') || ':' ||
                                   coalesce(last_execution::text, 'null'), ',')
                 FROM $S.cron_register(ARRAY['s.a', 's.b', 's.a'])")" "s.a:true:null,s.b:true:null" "cron_register of new ids"
j1=$(fire s.a '2026-01-01 10:00Z' "'{\"k\": 1}'")
[ "$j1" != none ] || bf_fail "the first cron_fire enqueued nothing"
bf_eq "$(fire s.a '2026-01-01 10:00Z')" none "the same occurrence again"
bf_eq "$(fire s.a '2026-01-01 09:59Z')" none "an older occurrence"
j2=$(bf_sql "SELECT $S.cron_fire('s.a', '2026-01-01 10:01Z', true, 'cron.probe', NULL, 'fast', -5, 3, 'key1', 'preserve_run_at')")
bf_eq "$(bf_sql "SELECT task, queue, priority, max_attempts, coalesce(job_key, '-'), run_at, payload::text
                 FROM $S.jobs WHERE id IN ($j1, $j2) ORDER BY id")" \
	"cron.probe|bulk|0|8|-|2026-01-01 10:00:00+00|{\"k\": 1, \"_cron\": {\"ts\": \"2026-01-01T10:00:00Z\", \"backfilled\": false}}
cron.probe|fast|-5|3|key1|2026-01-01 10:01:00+00|{\"_cron\": {\"ts\": \"2026-01-01T10:01:00Z\", \"backfilled\": true}}" \
	"the two jobs"
bf_eq "$(bf_sql "SELECT last_execution FROM $S.known_crontabs WHERE id = 's.a'")" "2026-01-01 10:01:00+00" "last_execution"
bf_eq "$(bf_sql "SELECT known_since = (SELECT known_since FROM $S.cron_register(ARRAY['s.a']))
                 FROM $S.known_crontabs WHERE id = 's.a'")" t "cron_register keeps known_since"
bf_sql "SELECT $S.cron_fire('s.x', now(), false, 'cron.probe', '[1]')" >/dev/null 2>"$T/err" &&
	bf_fail "cron_fire accepted an array payload"
grep -q "the payload must be a JSON object" "$T/err" || bf_fail "array payload: $(cat "$T/err")"

bf_log "1b. a second session racing on one occurrence waits for the first"
race() { # ID END: session 1 holds its claim 1.5 s, then END (COMMIT or ROLLBACK)
	psql -X -q -v ON_ERROR_STOP=1 -tA "$DATABASE_URL" >"$T/s1.out" 2>&1 <<EOF &
BEGIN;
SELECT coalesce($S.cron_fire('$1', '2026-02-01 00:00Z', false, 'cron.probe')::text, 'none');
SELECT pg_sleep(1.5);
$2;
EOF
	local s1=$!
	bf_wait_sql "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1.5)%' AND pid <> pg_backend_pid()" 1 5
	local t0; t0=$(date +%s%3N)
	S2=$(fire "$1" '2026-02-01 00:00Z')
	WAITED=$(( $(date +%s%3N) - t0 ))
	wait "$s1" || bf_fail "session 1 failed: $(cat "$T/s1.out")"
	S1=$(grep -v '^$' "$T/s1.out" | head -n 1)
}
race r.commit COMMIT
[ "$S1" != none ] || bf_fail "session 1 did not enqueue"
bf_eq "$S2" none "session 2 after session 1 committed"
[ "$WAITED" -ge 700 ] || bf_fail "session 2 did not wait for session 1 (${WAITED} ms)"
race r.rollback ROLLBACK
[ "$S2" != none ] || bf_fail "session 2 got nothing although session 1 rolled back"
[ "$WAITED" -ge 700 ] || bf_fail "session 2 did not wait for session 1 (${WAITED} ms)"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id = $S2")" 1 "session 2's job exists"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE payload->'_cron'->>'ts' = '2026-02-01T00:00:00Z'")" 2 \
	"one job per racing id: session 1's committed one, session 2's"

bf_log "1c. 8 sessions fire the same 30 occurrences"
for s in $(seq 1 8); do
	for m in $(seq 1 30); do
		echo "SELECT coalesce($S.cron_fire('race', '2026-03-01 00:00Z'::timestamptz + interval '$m minutes', false, 'cron.probe')::text, 'none');"
	done >"$T/race-$s.sql"
done
pids=()
for s in $(seq 1 8); do
	psql -X -q -v ON_ERROR_STOP=1 -tA "$DATABASE_URL" -f "$T/race-$s.sql" >"$T/race-$s.out" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || bf_fail "a racing session failed: $(cat "$T"/race-*.out | grep -v '^[0-9n]' | head -n 3)"; done
won=$(cat "$T"/race-*.out | grep -c '^[0-9]')
bf_eq "$won" 30 "calls that enqueued, over all sessions"
bf_eq "$(bf_sql "SELECT count(*), count(DISTINCT payload->'_cron'->>'ts'), min(run_at), max(run_at)
                 FROM $S.jobs WHERE payload->'_cron'->>'ts' LIKE '2026-03-01T%'")" \
	"30|30|2026-03-01 00:01:00+00|2026-03-01 00:30:00+00" "one job per occurrence"

# ---------------------------------------------------------------------------
bf_log "2. a bad crontab line stops the daemon (exit 78); --check-config lists the schedules"
TAB=$T/crontab
cat >"$TAB" <<'EOF'
# shared by both daemons
* * * * * cron.probe ?id=every {"from": "file"}
* * * * * test.record ?id=runs
EOF
cat >"$T/bad.tab" <<'EOF'
* * * * * cron.probe

0 0 31 2 * cron.probe ?id=never
EOF
rc=0
"$BIN" --plugin-dir "$PLUGINS" --cron-file "$T/bad.tab" >"$T/bad.out" 2>&1 || rc=$?
bf_eq "$rc" 78 "exit status with a bad crontab ($(cat "$T/bad.out"))"
bf_eq "$(wc -l <"$T/bad.out")" 1 "one line"
got=$(cut -d' ' -f2- "$T/bad.out")
bf_eq "$got" "error config: $T/bad.tab:3: day-of-month field \"31\" never occurs in month field \"2\", so the schedule never runs (April, June, September and November have 30 days, February 29)" "the error line"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "no daemon registered"

cat >"$T/d.ini" <<EOF
[daemon]
poll_interval_ms = 200
log_level = debug
cron_file = $TAB
[testtasks]
record_file = $REC
[cron]
fillme = * * * * * cron.probe ?fill=3m {"from": "ini"}
nofill = * * * * * cron.probe
newfill = * * * * * cron.probe ?fill=1h
leap = 0 0 29 2 * cron.probe
EOF
"$BIN" --plugin-dir "$PLUGINS" -c "$T/d.ini" --check-config >"$T/check.out" 2>"$T/check.err" ||
	bf_fail "--check-config failed: $(cat "$T/check.err")"
grep -qxF "[cron]    ; 6 schedule(s); times in UTC" "$T/check.out" || bf_fail "no [cron] header: $(cat "$T/check.out")"
grep -qxF "fillme = * * * * * cron.probe ?fill=3m {\"from\": \"ini\"}    ; $T/d.ini:8" "$T/check.out" ||
	bf_fail "fillme not listed: $(grep -A1 fillme "$T/check.out")"
grep -A1 '^leap = ' "$T/check.out" | grep -qxF ";   next: 2028-02-29T00:00:00Z, 2032-02-29T00:00:00Z, 2036-02-29T00:00:00Z" ||
	bf_fail "leap's next runs: $(grep -A1 '^leap = ' "$T/check.out")"
grep -qxF "every = * * * * * cron.probe ?id=every {\"from\": \"file\"}    ; $TAB:2" "$T/check.out" ||
	bf_fail "every not listed: $(grep -A1 every "$T/check.out")"
grep -q "warn cron: schedule every ($TAB:2): no loaded plugin handles task cron.probe" "$T/check.err" ||
	bf_fail "no warning about cron.probe: $(cat "$T/check.err")"

# ---------------------------------------------------------------------------
bf_log "3. two daemons start together after 5 minutes without any"
# keep clear of a minute boundary while starting (the backfill window is
# "the last 3 minutes")
sec=$(date +%-S)
if [ "$sec" -gt 40 ] || [ "$sec" -lt 3 ]; then
	bf_log "waiting $(( (63 - sec) % 60 )) s for the start of a minute"
	sleep $(( (63 - sec) % 60 ))
fi
M0=$(bf_sql "SELECT date_trunc('minute', now())")
bf_sql "INSERT INTO $S.known_crontabs (id, known_since, last_execution) VALUES
          ('fillme', now() - interval '1 hour', '$M0'::timestamptz - interval '5 minutes'),
          ('nofill', now() - interval '1 hour', '$M0'::timestamptz - interval '5 minutes')"
bf_sql "DELETE FROM $S.jobs" >/dev/null
start_both() {
	local n
	for n in A B; do
		"$BIN" --plugin-dir "$PLUGINS" -c "$T/d.ini" >"$T/daemon-$n.log" 2>&1 &
		eval "BF_PID_$n=$!"
		BF_PIDS+=("$!")
	done
	for n in A B; do
		for _ in $(seq 1 200); do grep -q " ready" "$T/daemon-$n.log" && break; sleep 0.05; done
		grep -q " ready" "$T/daemon-$n.log" || bf_fail "daemon $n not ready"
	done
}
start_both
started_min=$(bf_sql "SELECT date_trunc('minute', now())")
[ "$started_min" = "$M0" ] || bf_fail "the start crossed a minute boundary ($M0 -> $started_min)"
# cron.probe has no handler: its jobs stay for us to look at
probes() { # FROM -> "ts:backfilled,..." of the jobs whose payload has that "from", in time order
	bf_sql "SELECT coalesce(string_agg((payload->'_cron'->>'ts') || ':' || (payload->'_cron'->>'backfilled'), ','
	                                   ORDER BY run_at), '')
	        FROM $S.jobs WHERE task = 'cron.probe' AND payload->>'from' = '$1'"
}
iso() { bf_sql "SELECT to_char(('$M0'::timestamptz + interval '$1 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"; }
want="$(iso -2):true,$(iso -1):true,$(iso 0):true"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE payload->>'from' = 'ini'" 3 5
bf_eq "$(probes ini)" "$want" "fillme: its 3 missed occurrences within fill=3m, backfilled"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 3 "nothing else was enqueued (no fill, new ids)"
bf_eq "$(bf_sql "SELECT last_execution = '$M0' FROM $S.known_crontabs WHERE id = 'fillme'")" t "fillme's last_execution"
bf_eq "$(bf_sql "SELECT string_agg(id, ',' ORDER BY id) FROM $S.known_crontabs
                 WHERE id IN ('every', 'runs', 'fillme', 'nofill', 'newfill', 'leap')
                   AND known_since > now() - interval '1 minute' AND last_execution IS NULL")" \
	"every,leap,newfill,runs" "new schedules are known since the start, never run"
n_a=$(grep -c "for the missed occurrence" "$T/daemon-A.log" || true)
n_b=$(grep -c "for the missed occurrence" "$T/daemon-B.log" || true)
bf_eq "$((n_a + n_b))" 3 "backfill enqueues logged by A ($n_a) and B ($n_b)"

bf_log "3b. reloads: a bad crontab keeps the running one; a good one adds a schedule (A only)"
cp "$TAB" "$T/crontab.good"
echo '*/5 * * * * cron.probe ?id=bad&fill=1y' >>"$TAB"
kill -HUP "$BF_PID_A"
for _ in $(seq 1 100); do grep -q "reload: keeping the running configuration" "$T/daemon-A.log" && break; sleep 0.05; done
grep -qF "error reload: keeping the running configuration: $TAB:4: option fill=\"1y\" is not a duration" "$T/daemon-A.log" ||
	bf_fail "A did not refuse the bad crontab: $(grep reload "$T/daemon-A.log")"
{ cat "$T/crontab.good"; echo '* * * * * cron.probe ?id=added {"from": "added"}'; } >"$TAB"
kill -HUP "$BF_PID_A"
for _ in $(seq 1 100); do grep -q "cron: now following 7 schedule(s), 2 with fill" "$T/daemon-A.log" && break; sleep 0.05; done
grep -q "cron: now following 7 schedule(s), 2 with fill" "$T/daemon-A.log" || bf_fail "A did not reload the crontab: $(grep -E 'reload|cron:' "$T/daemon-A.log")"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.known_crontabs WHERE id = 'added' AND last_execution IS NULL")" 1 "the added schedule is known"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 3 "a reload enqueues nothing"

bf_log "3c. the next minute boundary: every schedule exactly once, although both daemons fire it"
M1=$(iso 1)
now_s=$(date +%s)
wait_s=$(( $(bf_sql "SELECT extract(epoch FROM '$M0'::timestamptz + interval '1 minute')::bigint") - now_s ))
bf_log "waiting ${wait_s} s for $M1"
sleep "$(( wait_s > 0 ? wait_s : 0 ))"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE payload->'_cron'->>'ts' = '$M1'" 5 10
sleep 1 # late duplicates would show now
bf_eq "$(bf_sql "SELECT string_agg(coalesce(payload->>'from', '-') || ':' || (payload->'_cron'->>'backfilled'), ',' ORDER BY payload->>'from')
                 FROM $S.jobs WHERE payload->'_cron'->>'ts' = '$M1'")" \
	"added:false,file:false,ini:false,-:false,-:false" "cron.probe jobs for $M1 (added, every, fillme, newfill, nofill)"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE run_at = '$M1'::timestamptz")" 5 "their run_at"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 8 "3 backfilled + 5 on time, nothing else"
bf_wait_sql "SELECT last_execution = '$M1' FROM $S.known_crontabs WHERE id = 'runs'" t 5
for _ in $(seq 1 100); do [ "$(grep -c '^end ' "$REC")" -ge 1 ] && break; sleep 0.05; done
bf_eq "$(grep -c '^start ' "$REC")" 1 "test.record ran once for $M1"
# each daemon fired each of its schedules for M1: enqueued it, or found it done
for id in every runs fillme nofill newfill; do
	a=$(grep -cE "cron: $id: (enqueued job [0-9]+ \(task [a-z.]+\) for $M1|$M1 was already enqueued)" "$T/daemon-A.log" || true)
	b=$(grep -cE "cron: $id: (enqueued job [0-9]+ \(task [a-z.]+\) for $M1|$M1 was already enqueued)" "$T/daemon-B.log" || true)
	won=$(cat "$T/daemon-A.log" "$T/daemon-B.log" | grep -cE "cron: $id: enqueued job [0-9]+ \(task [a-z.]+\) for $M1" || true)
	bf_eq "$a:$b:$won" "1:1:1" "$id at $M1: fired by A, fired by B, enqueued"
done
bf_eq "$(grep -cE "cron: added: (enqueued job|$M1 was already)" "$T/daemon-B.log" || true)" 0 "B does not know 'added'"

for n in A B; do
	bf_stop "$n" >"$T/rc.$n"
	bf_eq "$(cat "$T/rc.$n")" 0 "exit status of $n"
done
echo "ok"
