# SIGHUP reloads: pool sizes change live (a shrunk pool lets running jobs
# finish), a new queue's pool starts, restart-only keys are named and kept, a
# bad file keeps the running configuration.  systemd notifications arrive on
# $NOTIFY_SOCKET at the right moments: READY=1 after start, RELOADING=1 with
# MONOTONIC_USEC then READY=1 around a reload, STOPPING=1 on SIGTERM, and
# WATCHDOG=1 at half the interval of $WATCHDOG_USEC.
. "$(dirname "$0")/lib.sh"

REC=$T/record.log
bf_plugins testtasks
write_ini() { # FAST REPORTS [extra lines]
	cat >"$T/backfilld.ini" <<EOT
[daemon]
poll_interval_ms = 50
log_level = debug
${3:-}
[queue.fast]
concurrency = $1
[queue.bulk]
concurrency = 1
[queue.reports]
concurrency = $2
[testtasks]
record_file = $REC
EOT
}
# max overlap of jobs of a queue among ids > MIN in the record file
overlap() { # QUEUE MIN_ID
	awk -v q="$1" -v min="$2" '$3 == q && $2 > min { print $5, ($1 == "start" ? 1 : -1) }' "$REC" |
		sort -n -k1,1 -k2,2 | awk '{ n += $2; if (n > m) m = n } END { print m + 0 }'
}

# a datagram socket that records what the daemon tells systemd
sock=$T/notify.sock
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", " ") + "\n")
' "$sock" "$T/notify.log" &
listener=$!
BF_PIDS+=("$listener")
for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.05; done

write_ini 2 0
NOTIFY_SOCKET=$sock WATCHDOG_USEC=400000 bf_start a -c "$T/backfilld.ini"
bf_wait_sql "SELECT count(*) FROM backfill.workers" 1 5
grep -q '^READY=1' "$T/notify.log" || bf_fail "no READY=1 after start: $(cat "$T/notify.log")"
pid=$(bf_pid a)

bf_log "fast = 2: 8 jobs of 300 ms"
bf_sql "INSERT INTO backfill.jobs (task, queue, payload) SELECT 'test.record', 'fast', '{\"sleep_ms\": 300}' FROM generate_series(1, 8)" >/dev/null
bf_wait_sql "SELECT count(*) FROM backfill.jobs" 0 10
bf_eq "$(overlap fast 0)" 2 "fast overlap before the reload"
last=$(awk '{ if ($2 > m) m = $2 } END { print m + 0 }' "$REC")

bf_log "reload: fast = 4, a reports pool of 2, a restart-only change"
write_ini 4 2 "heartbeat_interval = 7"
kill -HUP "$pid"
for _ in $(seq 1 100); do grep -q "reload: configuration reloaded" "$T/daemon-a.log" && break; sleep 0.05; done
grep -q "reload: configuration reloaded" "$T/daemon-a.log" || bf_fail "no reload log line"
grep -q 'reload: \[daemon\] heartbeat_interval changed .* takes effect only after a restart' "$T/daemon-a.log" ||
	bf_fail "the restart-only key was not named"
grep -q 'RELOADING=1 MONOTONIC_USEC=[0-9]' "$T/notify.log" || bf_fail "no RELOADING=1 with MONOTONIC_USEC"
[ "$(grep -c '^READY=1' "$T/notify.log")" -ge 2 ] || bf_fail "no READY=1 after the reload"
bf_sql "INSERT INTO backfill.jobs (task, queue, payload) SELECT 'test.record', q, '{\"sleep_ms\": 300}' FROM generate_series(1, 8), unnest(ARRAY['fast', 'reports']) q" >/dev/null
bf_wait_sql "SELECT count(*) FROM backfill.jobs" 0 10
bf_eq "$(overlap fast "$last")" 4 "fast overlap after growing to 4"
bf_eq "$(overlap reports "$last")" 2 "reports overlap in the new pool"
last=$(awk '{ if ($2 > m) m = $2 } END { print m + 0 }' "$REC")

bf_log "shrink fast to 1 while 4 jobs run: they finish, then one at a time"
bf_sql "INSERT INTO backfill.jobs (task, queue, payload) SELECT 'test.record', 'fast', '{\"sleep_ms\": 600}' FROM generate_series(1, 4)" >/dev/null
bf_wait_sql "SELECT count(*) FROM backfill.jobs WHERE locked_at IS NOT NULL" 4 5
write_ini 1 2
kill -HUP "$pid"
bf_sql "INSERT INTO backfill.jobs (task, queue, payload) SELECT 'test.record', 'fast', '{\"sleep_ms\": 200}' FROM generate_series(1, 4)" >/dev/null
bf_wait_sql "SELECT count(*) FROM backfill.jobs" 0 15
n_end=$(awk -v min="$last" '$1 == "end" && $2 > min' "$REC" | wc -l)
bf_eq "$n_end" 8 "every job of the shrink phase finished"
# the 200 ms jobs started after the reload ran one at a time
small=$(awk -v min="$last" '$1 == "start" && $2 > min { print $2 }' "$REC" | sort -n | tail -n 4 | head -n 1)
bf_eq "$(overlap fast $((small - 1)))" 1 "fast overlap after shrinking to 1"
big_end=$(awk -v min="$last" -v s="$small" '$1 == "end" && $2 > min && $2 < s { if ($5 > m) m = $5 } END { print m }' "$REC")
small_start=$(awk -v s="$small" '$1 == "start" && $2 == s { print $5 }' "$REC")
[ "$small_start" -ge "$big_end" ] || bf_fail "a job started at $small_start while the shrunk pool still ran jobs until $big_end"

bf_log "a bad file keeps the running configuration"
printf '[daemon]\npoll_interval_ms = abc\n' >"$T/backfilld.ini"
kill -HUP "$pid"
for _ in $(seq 1 100); do grep -q "reload: keeping the running configuration" "$T/daemon-a.log" && break; sleep 0.05; done
grep -q 'reload: keeping the running configuration: .*backfilld.ini:2: \[daemon\] poll_interval_ms = "abc"' "$T/daemon-a.log" ||
	bf_fail "a bad reload was not refused clearly"
kill -0 "$pid" || bf_fail "the daemon died on a bad reload"
bf_sql "INSERT INTO backfill.jobs (task, queue) VALUES ('test.record', 'reports')" >/dev/null
bf_wait_sql "SELECT count(*) FROM backfill.jobs" 0 5

bf_stop a >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status"
grep -q '^STOPPING=1' "$T/notify.log" || bf_fail "no STOPPING=1: $(cat "$T/notify.log")"
# WATCHDOG_USEC=400000: a ping every 200 ms from the loop while it ran
pings=$(grep -c '^WATCHDOG=1' "$T/notify.log")
[ "$pings" -ge 10 ] || bf_fail "only $pings WATCHDOG=1 pings"
# and none when the watchdog is meant for another process
write_ini 1 0
NOTIFY_SOCKET=$sock WATCHDOG_USEC=400000 WATCHDOG_PID=1 bf_start b -c "$T/backfilld.ini" --queue reports=0
before=$(grep -c '^WATCHDOG=1' "$T/notify.log")
sleep 1
bf_stop b >"$T/rc-b"
bf_eq "$(grep -c '^WATCHDOG=1' "$T/notify.log")" "$before" "pings for WATCHDOG_PID of another process"
cat "$T/notify.log"
