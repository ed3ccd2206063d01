#!/usr/bin/env bash
# run.sh -- the two exec handlers of this folder under a real backfilld:
# starts a daemon with the exec plugin and the tasks example.email
# (send_email.py) and example.archive (archive.sh), enqueues six jobs that
# succeed, retry and fail for good, waits until none is left, shows what
# happened (outbox, archive, dead-letter queue, the daemon's log lines) and
# stops the daemon.
#
#   DATABASE_URL=postgresql://postgres@127.0.0.1:55433/backfill \
#       examples/05-exec-handlers/run.sh [WORKDIR]
#
# WORKDIR (new or empty; default: a fresh directory under /tmp) receives
# the daemon's config and log, the plugin directory, inbox, archive and
# outbox.  BACKFILLD and EXEC_PLUGIN name the binary and the plugin
# (default: this checkout's build/backfilld and build/plugins/exec.so; run
# `make` first).  The daemon handles only these two tasks, so it runs beside
# `make demo`'s daemon without taking its jobs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
die() { echo "run.sh: $*" >&2; exit 1; }

[ $# -le 1 ] || die "usage: run.sh [WORKDIR]"
[ -n "${DATABASE_URL:-}" ] ||
	die "set DATABASE_URL, for instance postgresql://postgres@127.0.0.1:55433/backfill (make demo's database)"
backfilld=${BACKFILLD:-$root/build/backfilld}
plugin=${EXEC_PLUGIN:-$root/build/plugins/exec.so}
[ -x "$backfilld" ] || die "no backfilld at $backfilld: run make first, or set BACKFILLD"
[ -f "$plugin" ] || die "no exec plugin at $plugin: run make first, or set EXEC_PLUGIN"
command -v psql >/dev/null || die "psql not found (Debian: apt-get install postgresql-client)"
if [ $# -eq 1 ]; then
	work=$1
	mkdir -p "$work"
	[ -z "$(ls -A "$work")" ] || die "WORKDIR $work is not empty"
	work=$(cd "$work" && pwd)
else
	work=$(mktemp -d /tmp/backfill-exec-example.XXXXXX)
fi
echo "work directory: $work"
mkdir -p "$work/plugins" "$work/inbox" "$work/archive" "$work/outbox"
# backfilld loads plugins only from a directory no one else may write to
chmod 755 "$work/plugins"
cp "$plugin" "$work/plugins/exec.so"
chmod 644 "$work/plugins/exec.so"

# No shell runs the command lines: absolute program paths, then arguments.
cat >"$work/backfilld.ini" <<INI
[exec]
task.example.email = "$here/send_email.py" "$work/outbox"
task.example.archive = "$here/archive.sh" "$work/inbox" "$work/archive"
timeout = 30
INI
echo
echo "== backfilld.ini"
cat "$work/backfilld.ini"

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -tA "$DATABASE_URL" "$@"; }

# --migrate first: the enqueue below needs the schema, and the daemon would
# only create it once started
out=$("$backfilld" -c "$work/backfilld.ini" --plugin-dir "$work/plugins" --migrate 2>&1) ||
	{ echo "$out" >&2; die "backfilld --migrate failed"; }
# no admin endpoint and no crontab: this daemon only runs the two tasks
"$backfilld" -c "$work/backfilld.ini" --plugin-dir "$work/plugins" \
	--admin-listen '' --cron-file '' >"$work/backfilld.log" 2>&1 &
pid=$!
stop() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || true
	pid=
}
trap stop EXIT
for _ in $(seq 1 200); do
	grep -q "ready" "$work/backfilld.log" && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/backfilld.log"; die "backfilld exited during start"; }
	sleep 0.05
done
grep -q "ready" "$work/backfilld.log" || die "backfilld not ready after 10 s; see $work/backfilld.log"

echo "report" >"$work/inbox/report.csv"

echo
echo "== enqueueing"
ids=()
enqueue() { # DESCRIPTION ADD_JOB-ARGUMENTS
	local id
	id=$(psql_q -c "SELECT id FROM backfill.add_job($2)")
	ids+=("$id")
	printf 'job %s: %s\n' "$id" "$1"
}
enqueue "example.email, sent at once" \
	"'example.email', '{\"to\": \"ada@example.com\", \"subject\": \"Welcome\", \"body\": \"Hello Ada\"}'"
enqueue "example.email, mail server down on attempt 1 (exit 75), sent on attempt 2" \
	"'example.email', '{\"to\": \"grace@example.com\", \"subject\": \"Welcome\", \"simulate_outage_attempts\": 1}'"
enqueue "example.email, not an address (exit 65): dead letter after 1 attempt" \
	"'example.email', '{\"to\": \"nobody\"}'"
enqueue "example.archive, report.csv is in the inbox: archived" \
	"'example.archive', '{\"file\": \"report.csv\"}'"
enqueue "example.archive, a file that never comes (exit 75 twice): dead letter after max_attempts 2" \
	"'example.archive', '{\"file\": \"never-uploaded.csv\"}', max_attempts => 2"
enqueue "example.archive, a path instead of a name (exit 65): dead letter after 1 attempt" \
	"'example.archive', '{\"file\": \"../../etc/passwd\"}'"
list=$(IFS=,; echo "${ids[*]}")

echo
echo "== waiting for the jobs (a retry waits for the backoff: e^1 = 2.7 s)"
left=
for _ in $(seq 1 600); do
	left=$(psql_q -c "SELECT count(*) FROM backfill.jobs WHERE id IN ($list)")
	[ "$left" = 0 ] && break
	sleep 0.1
done
[ "$left" = 0 ] || die "$left job(s) still waiting after 60 s; see $work/backfilld.log"
echo "all done"

echo
echo "== the dead-letter queue (backfill.dlq)"
psql -X -q -v ON_ERROR_STOP=1 -P footer=off "$DATABASE_URL" -c \
	"SELECT original_job_id AS job, task, attempts, failure_reason, last_error
	 FROM backfill.dlq WHERE original_job_id IN ($list) ORDER BY original_job_id"
echo "== outbox"
for f in "$work"/outbox/*.eml; do
	[ -f "$f" ] || continue
	echo "--- ${f##*/}"
	cat "$f"
done
echo "== archive"
ls "$work/archive"
echo
echo "== the daemon's log lines of these jobs"
grep -E "\((example\.email|example\.archive), " "$work/backfilld.log" || true
stop
echo
echo "backfilld stopped; its whole log: $work/backfilld.log"
