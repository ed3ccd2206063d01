# Logs: one event per line; BACKFILL_LOG_FORMAT=json gives one JSON object
# per line; when stderr is the journal (JOURNAL_STREAM names it) each line
# starts with its syslog priority; no line ever shows the password.
. "$(dirname "$0")/lib.sh"

bf_plugins log noop
bf_migrate >/dev/null 2>&1

bf_log "json lines"
BACKFILL_LOG_FORMAT=json bf_start j --log-level debug
bf_sql "INSERT INTO backfill.jobs (task, payload) VALUES ('log', '{\"quote\": \"a \\\"b\\\" c\"}')" >/dev/null
bf_wait_sql "SELECT count(*) FROM backfill.jobs" 0 10
bf_stop j >"$T/rc"
python3 - "$T/daemon-j.log" <<'PY' || bf_fail "json log lines do not parse"
import json, sys
n = 0
levels = set()
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert set(o) == {"time", "level", "message"}, o
    assert o["time"].endswith("Z") and "T" in o["time"], o
    levels.add(o["level"])
    n += 1
assert n > 5, n
assert {"info", "debug"} <= levels, levels
found = [m for m in (json.loads(l)["message"] for l in open(sys.argv[1])) if 'payload {"quote"' in m]
assert found and 'payload {"quote": "a \\"b\\" c"}' in found[0], found
print("json lines:", n)
PY

bf_log "journal priorities"
log=$T/journal.log
: >"$log"
stream=$(stat -c '%d:%i' "$log")
JOURNAL_STREAM=$stream "$BIN" --plugin-dir "$PLUGINS" --once --database-url "${DATABASE_URL/postgres@/postgres:secret@}" 2>"$log" ||
	true
head -n 3 "$log"
grep -q '^<6>' "$log" || bf_fail "no <6> (info) priority prefix under the journal"
! grep -v '^<[0-7]>' "$log" | grep -q . || bf_fail "a journal line without a priority prefix"
! grep -q secret "$log" || bf_fail "the password appears in the log"
echo "ok"
