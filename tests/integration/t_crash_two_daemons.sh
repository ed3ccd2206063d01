#!/usr/bin/env bash
# t_crash_two_daemons -- two daemons share 300 jobs; one of them is killed
# with SIGKILL while both run jobs.  The survivor releases the dead daemon's
# jobs (heartbeat_interval 1 s, heartbeat_timeout 3 s) within
# heartbeat_timeout + heartbeat_interval + 1 s of the kill (measured from the
# record files: the kill to the first restart of an interrupted job); every
# job completes; the interrupted ones ran twice at most, their second run
# being attempt 1 again (attempt refunded); nothing is dead-lettered; the dead
# daemon's workers row is gone.  Part 2: a job running longer than
# heartbeat_timeout on a live daemon, while another daemon runs, is never
# released: it runs exactly once and finishes.  Part 3: the same for a
# --once run next to them (it heartbeats too).
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
HB_INTERVAL=1
HB_TIMEOUT=3
now_us() { date +%s%6N; }

# cfg NAME: ini of daemon NAME, with its own record file $T/rec-NAME.
cfg() {
	cat >"$T/$1.ini" <<-EOF
		[daemon]
		heartbeat_interval = $HB_INTERVAL
		heartbeat_timeout = $HB_TIMEOUT
		poll_interval_ms = 50
		[queue.bulk]
		concurrency = 5
		[queue.fast]
		concurrency = 0
		[testtasks]
		record_file = $T/rec-$1
	EOF
	: >"$T/rec-$1"
}
nends() { grep -c '^end ' "$1" || true; }
# runs FILE ID: "start:ATTEMPT,end:ATTEMPT,..." of that job in FILE
runs() { awk -v id="$2" '$2 == id { print $1 ":" $4 }' "$1" | paste -sd, -; }
csv() { sort -n | paste -sd, -; }

bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }

# ---------------------------------------------------------------------------
bf_log "part 1: 300 jobs of 200 ms on A and B (bulk 5 each); kill -9 A"
cfg A; cfg B
bf_sql "INSERT INTO $S.jobs (task, payload)
        SELECT 'test.record', '{\"sleep_ms\": 200}' FROM generate_series(1, 300)"
all_ids=$(bf_sql "SELECT id FROM $S.jobs ORDER BY id" | csv)
bf_start A -c "$T/A.ini"
bf_start B -c "$T/B.ini" --queue long=1
worker_a=$(bf_sql "SELECT id FROM $S.workers WHERE pid = $(bf_pid A)")
worker_b=$(bf_sql "SELECT id FROM $S.workers WHERE pid = $(bf_pid B)")
[ -n "$worker_a" ] && [ -n "$worker_b" ] || bf_fail "workers rows of A and B: [$worker_a] [$worker_b]"

# both must be running jobs when A dies
end=$(( $(date +%s) + 20 ))
while [ "$(nends "$T/rec-A")" -lt 10 ] || [ "$(nends "$T/rec-B")" -lt 10 ]; do
	[ "$(date +%s)" -le "$end" ] || bf_fail "A and B did not both finish 10 jobs in 20 s ($(nends "$T/rec-A"), $(nends "$T/rec-B"))"
	sleep 0.02
done
# kill A in the middle of its jobs: right after a start line (the job then
# sleeps 200 ms, locked by A)
end=$(( $(date +%s) + 10 ))
until [ "$(tail -n 1 "$T/rec-A" | cut -d' ' -f1)" = start ]; do
	[ "$(date +%s)" -le "$end" ] || bf_fail "A started no job in 10 s"
	sleep 0.005
done
pid_a=$(bf_pid A)
# A statement A sent just before dying (a finish) still commits: count A's
# jobs only once its database session is gone.
backends() { bf_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'backfilld'"; }
sessions=$(backends)
t_kill=$(now_us)
kill -KILL "$pid_a"
rc=0; wait "$pid_a" || rc=$?
bf_eq "$rc" 137 "A died of SIGKILL"
for _ in $(seq 1 100); do [ "$(backends)" -lt "$sessions" ] && break; sleep 0.02; done
[ "$(backends)" -lt "$sessions" ] || bf_fail "A's database session is still open 2 s after kill -9"
cp "$T/rec-A" "$T/rec-A.at-kill"
locked=$(bf_sql "SELECT id FROM $S.jobs WHERE locked_by = '$worker_a' ORDER BY id" | csv)
nlocked=$(bf_sql "SELECT count(*) FROM $S.jobs WHERE locked_by = '$worker_a'")
bf_log "A ($worker_a) killed after $(nends "$T/rec-A") end lines; it held $nlocked job(s): [$locked]"
[ "$nlocked" -ge 1 ] && [ "$nlocked" -le 5 ] || bf_fail "A held $nlocked jobs at the kill, want 1..5 (bulk = 5)"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE locked_by = '$worker_a' AND attempts <> 1")" 0 \
	"A's jobs were at attempt 1"
# B was running jobs too when A died: some job of B spans the kill
spans=$(awk -v k="$t_kill" '$1 == "start" && $5 <= k { s[$2] = 1 } $1 == "end" && $5 < k { delete s[$2] }
                            END { n = 0; for (i in s) n++; print n }' "$T/rec-B")
[ "$spans" -ge 1 ] || bf_fail "no job of B was running at the kill"
# started under A and never ended there: must be among the jobs A held
unfinished=$(comm -23 <(awk '$1 == "start" { print $2 }' "$T/rec-A" | sort -u) \
                      <(awk '$1 == "end" { print $2 }' "$T/rec-A" | sort -u) | csv)
for i in ${unfinished//,/ }; do
	case ",$locked," in *",$i,"*) ;; *) bf_fail "job $i started under A and never ended, yet A did not hold it" ;; esac
done

# recovery: kill -> first start, under B, of a job A held
limit_us=$(( (HB_TIMEOUT + HB_INTERVAL + 1) * 1000000 ))
first=
end=$(( $(date +%s) + (HB_TIMEOUT + HB_INTERVAL + 1) + 5 ))
while [ -z "$first" ] && [ "$(date +%s)" -le "$end" ]; do
	first=$(awk -v ids=",$locked," '$1 == "start" && index(ids, "," $2 ",") { print $5 }' "$T/rec-B" | sort -n | head -n 1)
	[ -n "$first" ] || sleep 0.02
done
[ -n "$first" ] || bf_fail "no job A held restarted under B within $(( limit_us / 1000000 + 5 )) s of the kill"
rec_us=$(( first - t_kill ))
printf 'recovery after kill -9: %d.%02d s (limit heartbeat_timeout %d + heartbeat_interval %d + 1 = %d s)\n' \
	$(( rec_us / 1000000 )) $(( rec_us % 1000000 / 10000 )) "$HB_TIMEOUT" "$HB_INTERVAL" $(( limit_us / 1000000 ))
[ "$rec_us" -le "$limit_us" ] || bf_fail "recovery took $rec_us us, more than $limit_us us"
# heartbeat_at of A is at most 1 s old at the kill; it is dead 3 s later:
# a restart well before that means B released a live-looking worker
[ "$rec_us" -ge $(( (HB_TIMEOUT - HB_INTERVAL) * 1000000 - 500000 )) ] ||
	bf_fail "recovery took only $rec_us us: A's jobs were released before its heartbeat could have timed out"

bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 40
grep -q "released $nlocked job(s) of dead worker(s); they will run again" "$T/daemon-B.log" ||
	bf_fail "B's log lacks 'released $nlocked job(s) of dead worker(s)': $(grep 'dead worker' "$T/daemon-B.log")"
bf_eq "$(grep -c 'job(s) of dead worker(s)' "$T/daemon-B.log")" 1 "B released dead workers' jobs once"
bf_eq "$(bf_sql "SELECT string_agg(id, ',' ORDER BY id COLLATE \"C\") FROM $S.workers")" "$worker_b" "A's workers row is gone, B's stays"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing in the dlq"
bf_eq "$(cmp -s "$T/rec-A" "$T/rec-A.at-kill" && echo same)" same "A's record file did not change after the kill"

bf_log "every job completed; only the jobs A held ran twice, the second time as attempt 1"
bf_eq "$(cat "$T/rec-A" "$T/rec-B" | awk '$1 == "end" { print $2 }' | sort -u | csv)" "$all_ids" "every job has an end line"
bad=$(python3 - "$T/rec-A" "$T/rec-B" "$all_ids" "$locked" <<'PY'
import sys, collections
rec_a, rec_b, all_ids, locked = sys.argv[1], sys.argv[2], sys.argv[3].split(","), set(sys.argv[4].split(","))
runs = {"A": collections.defaultdict(list), "B": collections.defaultdict(list)}
for name, path in (("A", rec_a), ("B", rec_b)):
    for line in open(path):
        what, i, q, att, t = line.split()
        runs[name][i].append("%s:%s" % (what, att))
err = []
for i in all_ids:
    a, b = ",".join(runs["A"][i]), ",".join(runs["B"][i])
    if i in locked:
        if b != "start:1,end:1":
            err.append("job %s (held by A): runs under B [%s], want start:1,end:1" % (i, b))
        if a not in ("", "start:1", "start:1,end:1"):
            err.append("job %s (held by A): runs under A [%s]" % (i, a))
    elif ",".join(x for x in (a, b) if x) != "start:1,end:1":
        err.append("job %s: runs A [%s] B [%s], want exactly one start:1,end:1" % (i, a, b))
twice = sum(1 for i in locked if runs["A"][i] and runs["B"][i])
print("\n".join(err[:20]) if err else "ok %d" % twice)
PY
)
case "$bad" in ok*) bf_log "jobs A held that had started under A and ran again under B: ${bad#ok }" ;;
               *) bf_fail "record files: $bad" ;; esac

# ---------------------------------------------------------------------------
bf_log "part 2: a 6 s job on B (heartbeat_timeout $HB_TIMEOUT s) while C runs is never released"
cfg C
bf_start C -c "$T/C.ini"
worker_c=$(bf_sql "SELECT id FROM $S.workers WHERE pid = $(bf_pid C)")
long=$(bf_sql "INSERT INTO $S.jobs (task, queue, payload) VALUES ('test.record', 'long', '{\"sleep_ms\": 6000}') RETURNING id")
bf_wait_sql "SELECT locked_by FROM $S.jobs WHERE id = $long" "$worker_b" 5
# watch the row until it is gone: always B's, always attempt 1
samples=0
end=$(( $(date +%s) + 15 ))
while :; do
	st=$(bf_sql "SELECT coalesce(locked_by, '-') || '|' || attempts FROM $S.jobs WHERE id = $long")
	[ -z "$st" ] && break
	bf_eq "$st" "$worker_b|1" "long job $long during its run (sample $samples)"
	samples=$((samples + 1))
	[ "$(date +%s)" -le "$end" ] || bf_fail "long job $long not done 15 s after it started"
	sleep 0.1
done
bf_log "long job watched $samples times while it ran"
[ "$samples" -ge 30 ] || bf_fail "only $samples samples of a 6 s job (want >= 30)"
bf_eq "$(runs "$T/rec-B" "$long")" "start:1,end:1" "long job ran exactly once, on B, as attempt 1"
bf_eq "$(runs "$T/rec-C" "$long")" "" "long job never ran on C"
dur=$(awk -v id="$long" '$2 == id && $1 == "start" { s = $5 } $2 == id && $1 == "end" { e = $5 } END { print e - s }' "$T/rec-B")
[ "$dur" -ge 6000000 ] || bf_fail "long job ran $dur us, want >= 6 s (cut short?)"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "nothing in the dlq"
bf_eq "$(grep -c 'of dead worker(s)' "$T/daemon-C.log")" 0 "C released nothing"
bf_eq "$(grep -c 'of dead worker(s)' "$T/daemon-B.log")" 1 "B released nothing but A's jobs"
bf_eq "$(cat "$T"/daemon-*.log | grep -c 'was declared dead')" 0 "no live daemon was declared dead"
bf_eq "$(bf_sql "SELECT string_agg(id, ',' ORDER BY id COLLATE \"C\") FROM $S.workers")" \
	"$(printf '%s\n' "$worker_b" "$worker_c" | LC_ALL=C sort | paste -sd, -)" "B and C registered"

# ---------------------------------------------------------------------------
bf_log "part 3: a --once run with a 5 s job next to B and C heartbeats and is never released"
cfg O
once=$(bf_sql "INSERT INTO $S.jobs (task, queue, payload) VALUES ('test.record', 'oneshot', '{\"sleep_ms\": 5000}') RETURNING id")
"$BIN" -c "$T/O.ini" --plugin-dir "$PLUGINS" --queue bulk=0 --queue oneshot=1 --once >"$T/daemon-O.log" 2>&1 || bf_fail "--once run failed: $(tail -n 5 "$T/daemon-O.log")"
bf_eq "$(runs "$T/rec-O" "$once")" "start:1,end:1" "the --once job ran exactly once, as attempt 1"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id = $once")" 0 "the --once job is recorded as done"
bf_eq "$(cat "$T"/daemon-*.log | grep -c 'of dead worker(s)')" 1 "only A's jobs were ever released"
bf_eq "$(grep -c 'no longer ours' "$T/daemon-O.log")" 0 "the --once run's result was kept"

bf_stop B >"$T/rc.B"; bf_stop C >"$T/rc.C"
bf_eq "$(cat "$T/rc.B") $(cat "$T/rc.C")" "0 0" "exit status of B and C after SIGTERM"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "B and C unregistered"
echo "ok"
