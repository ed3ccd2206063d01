#!/usr/bin/env bash
# t_kill9_restart -- at-least-once across kill -9 (PRODUCT.md 3.3): the jobs a
# killed daemon was running come back (released by a live daemon once the dead
# one's heartbeat times out) with their attempt refunded and last_error naming
# the dead worker, and run again; every other job runs exactly once.  Then two
# daemons at once: kill -9 one, the other releases its jobs within
# heartbeat_timeout + heartbeat_interval + 1 s (the measured time is printed).
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
HB_INTERVAL=1
HB_TIMEOUT=3
now_ms() { date +%s%3N; }

# cfg FILE RECORD_FILE: pool of 5 on queue bulk, fast heartbeats.
cfg() {
	cat >"$1" <<-EOF
		[daemon]
		heartbeat_interval = $HB_INTERVAL
		heartbeat_timeout = $HB_TIMEOUT
		[queue.bulk]
		concurrency = 5
		[queue.fast]
		concurrency = 0
		[testtasks]
		record_file = $2
	EOF
}

# ids FILE WORD: unique ids of the record lines of WORD, one a line, sorted
# as text (for comm); csv: numerically sorted, comma-separated.
ids() { awk -v w="$2" '$1 == w { print $2 }' "$1" | sort -u; }
csv() { sort -n | paste -sd, -; }

# wait_ends FILE N: until FILE has N end lines (20 s at most).
wait_ends() {
	local end=$(( $(date +%s) + 20 )) n=0
	while [ "$(date +%s)" -le "$end" ]; do
		n=$(grep -c '^end ' "$1" 2>/dev/null || true)
		[ "$n" -ge "$2" ] && return 0
		sleep 0.02
	done
	bf_fail "waited for $2 end lines in $1, got $n"
}

# kill9 NAME: kill -9 the daemon and reap it, then wait until its database
# session is gone: a statement it sent just before dying (a finish) still
# commits, and only then is the database in its final "crashed" state.
backends() { bf_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'backfilld'"; }
kill9() {
	local pid rc=0 before i; pid=$(bf_pid "$1")
	before=$(backends)
	kill -KILL "$pid"
	wait "$pid" || rc=$?
	bf_eq "$rc" 137 "daemon $1 died of SIGKILL"
	for i in $(seq 1 100); do
		[ "$(backends)" -lt "$before" ] && return 0
		sleep 0.02
	done
	bf_fail "the session of daemon $1 is still open 2 s after kill -9"
}

bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }

# Every change of last_error, as it happened (a release by recover_dead_workers
# sets it; nothing else does here: no job fails).
bf_sql "CREATE TABLE public.audit (id bigint, attempts int, locked_by text, last_error text,
                                   at timestamptz DEFAULT clock_timestamp());
        CREATE FUNCTION public.audit_f() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN
            INSERT INTO public.audit (id, attempts, locked_by, last_error)
            VALUES (NEW.id, NEW.attempts, NEW.locked_by, NEW.last_error);
            RETURN NEW;
        END \$\$;
        CREATE TRIGGER audit AFTER UPDATE ON $S.jobs FOR EACH ROW
            WHEN (OLD.last_error IS DISTINCT FROM NEW.last_error)
            EXECUTE FUNCTION public.audit_f()"

# ---------------------------------------------------------------------------
bf_log "kill -9 a daemon running jobs, then start a new one"
REC=$T/record1
cfg "$T/d.ini" "$REC"
bf_sql "INSERT INTO $S.jobs (task, payload)
        SELECT 'test.record', '{\"sleep_ms\": 100}' FROM generate_series(1, 200)"
all_ids=$(bf_sql "SELECT id FROM $S.jobs ORDER BY id" | csv)
bf_start A -c "$T/d.ini"
wait_ends "$REC" 40
worker_a=$(bf_sql "SELECT id FROM $S.workers")
kill9 A
lines_a=$(wc -l <"$REC")
head -n "$lines_a" "$REC" >"$T/record1.A"
locked=$(bf_sql "SELECT id FROM $S.jobs WHERE locked_by IS NOT NULL ORDER BY id" | csv)
nlocked=$(bf_sql "SELECT count(*) FROM $S.jobs WHERE locked_by IS NOT NULL")
bf_log "A ($worker_a) killed after $(grep -c '^end ' "$T/record1.A") end lines; jobs locked by it: [$locked]"
[ "$nlocked" -ge 1 ] && [ "$nlocked" -le 5 ] || bf_fail "expected 1..5 jobs locked by A at the kill, got $nlocked"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE locked_by IS NOT NULL AND (locked_by <> '$worker_a' OR attempts <> 1)")" 0 \
	"the locked jobs are A's, at attempt 1"
# started under A and never ended: must be among the locked ones
unfinished=$(comm -23 <(ids "$T/record1.A" start) <(ids "$T/record1.A" end) | csv)
for i in ${unfinished//,/ }; do
	case ",$locked," in *",$i,"*) ;; *) bf_fail "job $i started under A, never ended, but is not locked (lost?)" ;; esac
done
bf_log "started under A and never ended: [$unfinished]"

t_b=$(now_ms)
bf_start B -c "$T/d.ini"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 30
bf_log "B finished the remaining jobs $(( $(now_ms) - t_b )) ms after its start"
tail -n +"$((lines_a + 1))" "$REC" >"$T/record1.B"
bf_stop B >"$T/rc.B"
bf_eq "$(cat "$T/rc.B")" 0 "exit status of B"

grep -q "released $nlocked job(s) of dead worker(s); they will run again" "$T/daemon-B.log" ||
	bf_fail "B did not log 'released $nlocked job(s) of dead worker(s)'"
bf_eq "$(grep -c 'job(s) of dead worker(s)' "$T/daemon-B.log")" 1 "B released A's jobs in one go"
# the audit shows each recovered row as it was when released, before it re-ran
bf_eq "$(bf_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM public.audit")" "$locked" \
	"exactly the jobs A held were released (last_error changed once each)"
bf_eq "$(bf_sql "SELECT count(*) FROM public.audit
                 WHERE attempts = 0 AND locked_by IS NULL
                   AND last_error LIKE 'worker $worker_a (host %, pid $(bf_pid A)) died while running this job%attempt refunded'")" \
	"$nlocked" "released rows: attempts refunded to 0, unlocked, last_error names the dead worker"
bf_eq "$(ids "$REC" end | csv)" "$all_ids" "every job has an end line"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "no job reached the dead-letter queue"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "A's row was removed, B unregistered"
# the jobs A held ran again under B, as attempt 1 (the killed attempt did not count)
for i in ${locked//,/ }; do
	bf_eq "$(awk -v id="$i" '$2 == id { print $1 ":" $4 }' "$T/record1.B" | paste -sd, -)" "start:1,end:1" \
		"job $i (held by A) ran again under B as attempt 1"
done
# and nothing else ran twice
twice=$(comm -12 <(ids "$T/record1.A" start) <(ids "$T/record1.B" start) | csv)
bf_eq "$twice" "$(comm -12 <(ids "$T/record1.A" start) <(tr , '\n' <<<"$locked" | sort) | csv)" \
	"only jobs A held when it died ran twice"

# ---------------------------------------------------------------------------
bf_log "two daemons at once: kill -9 one, the other releases its jobs"
bf_sql "TRUNCATE public.audit"
REC=$T/record2
cfg "$T/d2.ini" "$REC"
bf_start A2 -c "$T/d2.ini"
bf_start B2 -c "$T/d2.ini"
bf_sql "INSERT INTO $S.jobs (task, payload)
        SELECT 'test.record', '{\"sleep_ms\": 100}' FROM generate_series(1, 400)"
all_ids=$(bf_sql "SELECT id FROM $S.jobs ORDER BY id" | csv)
bf_wait_sql "SELECT count(DISTINCT locked_by) FROM $S.jobs WHERE locked_by IS NOT NULL" 2 10
wait_ends "$REC" 20
worker_a2=$(bf_sql "SELECT id FROM $S.workers WHERE pid = $(bf_pid A2)")
[ -n "$worker_a2" ] || bf_fail "no workers row for A2"
kill9 A2
t0=$(now_ms)
nlocked=$(bf_sql "SELECT count(*) FROM $S.jobs WHERE locked_by = '$worker_a2'")
[ "$nlocked" -ge 1 ] || bf_fail "A2 held no job when killed"
limit_ms=$(( (HB_TIMEOUT + HB_INTERVAL + 1) * 1000 ))
recovered=
while [ $(( $(now_ms) - t0 )) -le $(( limit_ms + 2000 )) ]; do
	if [ "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE locked_by = '$worker_a2'")" = 0 ]; then
		recovered=$(( $(now_ms) - t0 )); break
	fi
	sleep 0.05
done
[ -n "$recovered" ] || bf_fail "A2's $nlocked job(s) still locked $(( $(now_ms) - t0 )) ms after the kill"
echo "# recovery time: A2's $nlocked job(s) released by B2 ${recovered} ms after kill -9" \
     "(heartbeat_interval $HB_INTERVAL s, heartbeat_timeout $HB_TIMEOUT s, limit ${limit_ms} ms)"
[ "$recovered" -le "$limit_ms" ] ||
	bf_fail "recovery took ${recovered} ms, more than heartbeat_timeout + heartbeat_interval + 1 s = ${limit_ms} ms"
grep -q "released $nlocked job(s) of dead worker(s)" "$T/daemon-B2.log" ||
	bf_fail "B2 did not log 'released $nlocked job(s) of dead worker(s)'"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 30
bf_stop B2 >"$T/rc.B2"
bf_eq "$(cat "$T/rc.B2")" 0 "exit status of B2"
bf_eq "$(bf_sql "SELECT count(*) FROM public.audit
                 WHERE attempts = 0 AND locked_by IS NULL AND last_error LIKE 'worker $worker_a2 %died while running%'")" \
	"$nlocked" "A2's jobs were released with attempts refunded and last_error naming A2"
bf_eq "$(ids "$REC" end | csv)" "$all_ids" "every job has an end line"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq")" 0 "no job reached the dead-letter queue"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "no worker row left"

# ---------------------------------------------------------------------------
bf_log "a daemon started after the dead one's heartbeat timed out releases its jobs before its first claim"
bf_sql "TRUNCATE public.audit"
REC=$T/record3
cfg "$T/d3.ini" "$REC"
bf_sql "INSERT INTO $S.jobs (task, payload)
        SELECT 'test.record', '{\"sleep_ms\": 3000}' FROM generate_series(1, 5)"
bf_start A3 -c "$T/d3.ini"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE locked_by IS NOT NULL" 5 10
kill9 A3
sleep $((HB_TIMEOUT + 1))
bf_start B3 -c "$T/d3.ini"
released_line=$(grep -n "released 5 job(s) of dead worker(s)" "$T/daemon-B3.log" | cut -d: -f1)
ready_line=$(grep -n "ready: " "$T/daemon-B3.log" | cut -d: -f1)
[ -n "$released_line" ] && [ "$released_line" -lt "$ready_line" ] ||
	bf_fail "B3 did not release A3's 5 jobs at startup, before 'ready'"

bf_log "two live daemons: a job longer than heartbeat_timeout is never stolen"
bf_start C3 -c "$T/d3.ini"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 20
: >"$REC"  # truncate: the daemons keep the file open
long=$(bf_sql "INSERT INTO $S.jobs (task, payload) VALUES ('test.record', '{\"sleep_ms\": $(( (HB_TIMEOUT + 2) * 1000 ))}') RETURNING id")
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 20
bf_eq "$(awk '{ print $1 ":" $2 ":" $4 }' "$REC" | paste -sd, -)" "start:$long:1,end:$long:1" \
	"the long job ran once, as attempt 1"
bf_eq "$(bf_sql "SELECT count(*) FROM public.audit WHERE id = $long")" 0 "the long job was never released"
bf_eq "$(cat "$T/daemon-B3.log" "$T/daemon-C3.log" | grep -c "of dead worker(s)")" 1 \
	"no release but A3's (B3 and C3 never declared each other dead)"
bf_eq "$(cat "$T/daemon-B3.log" "$T/daemon-C3.log" | grep -c "was declared dead")" 0 "no live daemon was declared dead"
bf_stop B3 >"$T/rc.B3"; bf_stop C3 >"$T/rc.C3"
bf_eq "$(cat "$T/rc.B3") $(cat "$T/rc.C3")" "0 0" "exit status of B3 and C3"

echo "ok"
