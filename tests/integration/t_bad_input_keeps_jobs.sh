#!/usr/bin/env bash
# t_bad_input_keeps_jobs -- bad input never costs a job.  An exec task
# (task.picky, a shell script) rejects every payload without "good" with exit
# 65 and a message on stderr: the job lands in the dlq, not retried (attempts
# 1), with the script's stderr as last_error -- also when that stderr holds
# invalid UTF-8 (each bad byte becomes '?'), valid non-ASCII text (kept as
# is) or more than max_error_bytes (the tail is kept, after "...").  A
# "flaky" payload exits 75 on attempt 1 and succeeds on attempt 2, after the
# default backoff (e^1 s); a "good" one succeeds.  testtasks handlers that
# fail without an error message or return an unknown status dead-letter with
# a non-empty last_error.  At the end nothing is left in jobs, and every job
# enqueued is either in the dlq or recorded as succeeded, never both.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record.log
EXREC=$T/exec-record.log
: >"$REC"; : >"$EXREC"
bf_plugins testtasks exec

cat >"$T/picky.sh" <<'EOF'
#!/bin/sh
# picky: payload on stdin; "good" succeeds, "flaky" retries on attempt 1,
# anything else is rejected (exit 65).  Appends "<id> <attempt> <exit>" to
# exec-record.log next to this script.
rec=$(dirname "$0")/exec-record.log
payload=$(cat)
out() { echo "$BACKFILL_JOB_ID $BACKFILL_ATTEMPT $1" >>"$rec"; exit "$1"; }
case $payload in
*flaky*)
	if [ "$BACKFILL_ATTEMPT" = 1 ]; then
		echo "picky: flaky, try again later" >&2
		out 75
	fi ;;
esac
case $payload in
*good*) out 0 ;;
*garbled*) printf 'picky: bad bytes \377\376 here\n' >&2; out 65 ;;
*unicode*) printf 'picky: rejected caf\303\251 \346\227\245\346\234\254\n' >&2; out 65 ;;
*noisy*) head -c 10000 /dev/zero | tr '\0' x >&2; echo ' END' >&2; out 65 ;;
esac
echo "some progress on stdout"
echo "picky: payload rejected: no \"good\" in it" >&2
out 65
EOF
chmod 755 "$T/picky.sh"

cat >"$T/d.ini" <<EOF
[daemon]
poll_interval_ms = 50
[exec]
task.picky = $T/picky.sh
[testtasks]
record_file = $REC
EOF
bf_start A -c "$T/d.ini"

add() { bf_sql "SELECT id FROM $S.add_job($1)"; }
rejected=$(add "'picky', '{\"mode\": \"bad input\"}'")
garbled=$(add "'picky', '{\"mode\": \"garbled\"}'")
unicode=$(add "'picky', '{\"mode\": \"unicode\"}'")
noisy=$(add "'picky', '[\"noisy\"]'")
flaky=$(add "'picky', '{\"mode\": \"flaky\", \"then\": \"good\"}'")
good=$(add "'picky', '{\"mode\": \"good\"}'")
tfail=$(add "'test.record', '{\"result\": \"fail\"}'")
tbad=$(add "'test.record', '{\"result\": \"bad\"}'")
tok1=$(add "'test.record', '{}'")
tok2=$(add "'test.record', '{\"result\": \"ok\"}', queue => 'fast'")
all="$rejected $garbled $unicode $noisy $flaky $good $tfail $tbad $tok1 $tok2"
bf_log "enqueued: $all"

bf_log "the flaky job retries after the default backoff"
bf_wait_sql "SELECT attempts || '|' || (locked_at IS NULL) || '|' || last_error FROM $S.jobs WHERE id = $flaky" \
	"1|true|picky: flaky, try again later" 10
gap=$(bf_sql "SELECT (extract(epoch FROM run_at - updated_at) * 1000)::int FROM $S.jobs WHERE id = $flaky")
[ "$gap" -ge 2218 ] && [ "$gap" -le 3218 ] || bf_fail "flaky job: backoff $gap ms, want e^1 s = 2718 +- 500"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 15

# dlq: original_job_id -> attempts|failure_count|failure_reason|last_error
dl() { bf_sql "SELECT attempts || '|' || failure_count || '|' || failure_reason || '|' || coalesce(last_error, '<null>')
               FROM $S.dlq WHERE original_job_id = $1"; }
PF='permanent failure reported by the handler'
bf_log "rejected payloads: in the dlq with the script's stderr, run once"
bf_eq "$(dl "$rejected")" "1|1|$PF|picky: payload rejected: no \"good\" in it" "rejected job's dlq row"
bf_eq "$(dl "$garbled")" "1|1|$PF|picky: bad bytes ?? here" "invalid UTF-8 in stderr: dlq row with each bad byte as '?'"
bf_eq "$(dl "$unicode")" "1|1|$PF|picky: rejected café 日本" "valid non-ASCII stderr kept as is"
got=$(bf_sql "SELECT attempts, failure_reason, left(last_error, 4), right(last_error, 5), octet_length(last_error) <= 4000,
                     last_error ~ '^\.\.\.x+ END$'
              FROM $S.dlq WHERE original_job_id = $noisy")
bf_eq "$got" "1|$PF|...x|x END|t|t" "noisy stderr: the last max_error_bytes kept, after '...'"
bf_eq "$(bf_sql "SELECT payload::text FROM $S.dlq WHERE original_job_id = $rejected")" '{"mode": "bad input"}' \
	"the rejected payload is kept in the dlq"
for j in $rejected $garbled $unicode $noisy; do
	bf_eq "$(awk -v id="$j" '$1 == id { print $2 ":" $3 }' "$EXREC" | paste -sd, -)" "1:65" "job $j ran once (exit 65)"
done

bf_log "flaky and good succeeded"
bf_eq "$(awk -v id="$flaky" '$1 == id { print $2 ":" $3 }' "$EXREC" | paste -sd, -)" "1:75,2:0" "flaky job: attempt 1 exit 75, attempt 2 exit 0"
bf_eq "$(awk -v id="$good" '$1 == id { print $2 ":" $3 }' "$EXREC" | paste -sd, -)" "1:0" "good job: one run, exit 0"

bf_log "handlers without an error message, or with an unknown status"
bf_eq "$(dl "$tfail")" "1|1|$PF|handler reported a permanent failure without an error message" "fail without a message"
bf_eq "$(dl "$tbad")" "1|1|$PF|handler of plugin testtasks returned unknown status 77 (treated as permanent failure)" \
	"unknown status 77"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq WHERE coalesce(last_error, '') = ''")" 0 "no dlq row without last_error"

bf_log "accounting: nothing lost, nothing twice"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 0 "jobs is empty"
dead=$(bf_sql "SELECT original_job_id FROM $S.dlq" | sort -n | paste -sd' ' -)
okx=$(awk '$3 == 0 { print $1 }' "$EXREC")
okt=$(awk '$1 == "end" { print $2 }' "$REC" | grep -vxF -e "$tfail" -e "$tbad" || true)
succeeded=$(printf '%s\n' $okx $okt | sort -n | paste -sd' ' -)
bf_eq "$dead" "$(printf '%s\n' $rejected $garbled $unicode $noisy $tfail $tbad | sort -n | paste -sd' ' -)" "dlq holds exactly the rejected jobs"
bf_eq "$succeeded" "$(printf '%s\n' $flaky $good $tok1 $tok2 | sort -n | paste -sd' ' -)" "succeeded jobs"
n_enq=$(wc -w <<<"$all"); n_dead=$(wc -w <<<"$dead"); n_ok=$(wc -w <<<"$succeeded")
bf_eq "$(( n_dead + n_ok ))" "$n_enq" "dlq rows ($n_dead) + succeeded ($n_ok) = enqueued"
bf_eq "$(printf '%s\n' $dead $succeeded | sort -n | paste -sd' ' -)" "$(printf '%s\n' $all | sort -n | paste -sd' ' -)" \
	"every enqueued job is in exactly one of the two"
bf_eq "$(awk '$1 == "start" { print $2 ":" $4 }' "$REC" | sort | uniq -d)" "" "no testtasks job ran twice"

bf_stop A >"$T/rc.A"
bf_eq "$(cat "$T/rc.A")" 0 "exit status after SIGTERM"
echo "ok"
