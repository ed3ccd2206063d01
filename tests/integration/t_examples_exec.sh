#!/usr/bin/env bash
# t_examples_exec -- examples/05-exec-handlers: run.sh starts a real backfilld
# with the exec plugin and the Python and shell handlers, enqueues its six
# jobs and waits for them.  Then, from the database and the files: the jobs
# that should succeed did (one after a retry, on attempt 2), the permanent
# failures (exit 65) are in backfill.dlq after one attempt, the job that kept
# asking for a retry (exit 75) after its max_attempts of 2, nothing is left
# in backfill.jobs.  The handlers' exit codes are also checked directly.
. "$(dirname "$0")/lib.sh"

# the examples name the default schema, backfill
export BACKFILL_SCHEMA=backfill
EX=$BF_ROOT/examples/05-exec-handlers
W=$T/run

bf_log "run.sh refuses to run without what it needs"
if out=$(DATABASE_URL= "$EX/run.sh" 2>&1); then bf_fail "run.sh ran without DATABASE_URL"; fi
grep -q "set DATABASE_URL" <<<"$out" || bf_fail "run.sh: unclear error without DATABASE_URL: $out"
if out=$(BACKFILLD=$T/nothing "$EX/run.sh" 2>&1); then bf_fail "run.sh ran without a backfilld"; fi
grep -q "no backfilld at $T/nothing" <<<"$out" || bf_fail "run.sh: unclear error without backfilld: $out"

bf_log "run.sh"
BACKFILLD=$BIN EXEC_PLUGIN=$BF_BUILD/plugins/exec.so "$EX/run.sh" "$W" >"$T/run.out" 2>&1 ||
	{ cat "$T/run.out"; tail -n 40 "$W/backfilld.log"; bf_fail "run.sh failed"; }
cat "$T/run.out"
# id DESCRIPTION-START: the job run.sh enqueued with that description
id() { sed -n -E "s/^job ([0-9]+): $1.*/\\1/p" "$T/run.out"; }
ok_mail=$(id "example.email, sent at once")
flaky_mail=$(id "example.email, mail server down")
bad_mail=$(id "example.email, not an address")
ok_file=$(id "example.archive, report.csv is in the inbox")
never_file=$(id "example.archive, a file that never comes")
bad_file=$(id "example.archive, a path instead")
for v in "$ok_mail" "$flaky_mail" "$bad_mail" "$ok_file" "$never_file" "$bad_file"; do
	[[ $v =~ ^[0-9]+$ ]] || bf_fail "run.sh did not print the six job ids"
done
all="$ok_mail,$flaky_mail,$bad_mail,$ok_file,$never_file,$bad_file"

bf_log "nothing left in backfill.jobs; the daemon stopped"
bf_eq "$(bf_sql "SELECT count(*) FROM backfill.jobs WHERE id IN ($all)")" 0 "jobs left"
bf_eq "$(bf_sql "SELECT count(*) FROM backfill.workers")" 0 "registered daemons after run.sh"

bf_log "the dead-letter queue"
bf_eq "$(bf_sql "SELECT original_job_id, task, attempts, max_attempts, failure_reason, last_error
                 FROM backfill.dlq ORDER BY original_job_id")" \
	"$bad_mail|example.email|1|8|permanent failure reported by the handler|payload field \"to\" must be an e-mail address, got \"nobody\"
$never_file|example.archive|2|2|exceeded maximum attempts (2/2)|never-uploaded.csv is not in the inbox yet (attempt 2 of 2)
$bad_file|example.archive|1|8|permanent failure reported by the handler|refusing file name \"../../etc/passwd\": a plain name inside the inbox is expected" \
	"dlq rows"

bf_log "the outbox and the archive"
bf_eq "$(cd "$W/outbox" && ls)" "$(printf 'job-%s.eml\n' "$ok_mail" "$flaky_mail" | LC_ALL=C sort)" "outbox files"
bf_eq "$(cat "$W/outbox/job-$ok_mail.eml")" "To: ada@example.com
Subject: Welcome
X-Backfill-Job: $ok_mail
X-Backfill-Attempt: 1

Hello Ada" "the first e-mail"
grep -qx "X-Backfill-Attempt: 2" "$W/outbox/job-$flaky_mail.eml" ||
	bf_fail "the e-mail after an outage was not sent on attempt 2: $(cat "$W/outbox/job-$flaky_mail.eml")"
bf_eq "$(ls "$W/archive")" "report.csv" "archive"
bf_eq "$(ls "$W/inbox")" "" "inbox"
grep -q "job $flaky_mail (example.email, queue bulk, attempt 1/8): failed, will retry" "$W/backfilld.log" ||
	bf_fail "no retry of job $flaky_mail in the daemon's log"
grep -q "job $flaky_mail (example.email, queue bulk, attempt 2/8): sent to grace@example.com on attempt 2" "$W/backfilld.log" ||
	bf_fail "job $flaky_mail not sent on attempt 2 in the daemon's log"
grep -q "job $never_file (example.archive, queue bulk, attempt 1/2): failed, will retry" "$W/backfilld.log" ||
	bf_fail "no retry of job $never_file in the daemon's log"
grep -q "^== the dead-letter queue" "$T/run.out" || bf_fail "run.sh did not show the dead-letter queue"

bf_log "the handlers' exit codes, run directly"
# handler NAME PAYLOAD WANT-STATUS WANT-STDERR ARGS...: run a handler the way
# the exec plugin does (payload on stdin, BACKFILL_* in the environment)
handler() {
	local name=$1 payload=$2 want=$3 want_err=$4 rc=0; shift 4
	printf '%s' "$payload" | BACKFILL_JOB_ID=7 BACKFILL_ATTEMPT=1 BACKFILL_MAX_ATTEMPTS=3 \
		"$EX/$name" "$@" >"$T/h.out" 2>"$T/h.err" || rc=$?
	bf_eq "$rc" "$want" "$name $payload: exit status"
	[ -z "$want_err" ] || grep -qF -- "$want_err" "$T/h.err" || bf_fail "$name $payload: stderr [$(cat "$T/h.err")] lacks [$want_err]"
}
mkdir -p "$T/h/in" "$T/h/out" "$T/h/mail"
handler send_email.py '{"to": "x@example.com"}' 75 "usage: send_email.py OUTBOX"
handler send_email.py '{"to": "x@example.com"}' 75 "usage: send_email.py OUTBOX" "$T/h/missing"
handler send_email.py 'not json' 65 "payload is not JSON" "$T/h/mail"
handler send_email.py '[1, 2]' 65 'payload field "to" must be an e-mail address, got null' "$T/h/mail"
handler send_email.py '{"to": "x@example.com", "simulate_outage_attempts": 1}' 75 "mail server unavailable (simulated), attempt 1 of 3" "$T/h/mail"
handler send_email.py '{"to": "x@example.com"}' 0 "" "$T/h/mail"
bf_eq "$(cd "$T/h/mail" && ls)" "job-7.eml" "send_email.py wrote its message (and no temporary file)"
handler archive.sh '{"file": "a.csv"}' 75 "usage: archive.sh INBOX ARCHIVE" "$T/h/in"
handler archive.sh '{"name": "a.csv"}' 65 'payload has no plain "file" string' "$T/h/in" "$T/h/out"
handler archive.sh '{"file": ".hidden"}' 65 'refusing file name ".hidden"' "$T/h/in" "$T/h/out"
handler archive.sh '{"file": "a.csv"}' 75 "a.csv is not in the inbox yet (attempt 1 of 3)" "$T/h/in" "$T/h/out"
echo data >"$T/h/in/a.csv"
handler archive.sh '{"file": "a.csv"}' 0 "" "$T/h/in" "$T/h/out"
bf_eq "$(cat "$T/h/out/a.csv")" data "archive.sh moved the file"
echo "ok"
