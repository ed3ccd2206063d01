#!/usr/bin/env bash
# t_retry_dlq -- retries, backoff and the dead-letter queue, with the real
# daemon: a job retried until its attempts run out lands in the dlq; the
# default backoff is exp(attempts) seconds; a permanent failure, and an
# unknown status code, dead-letter at once; a retry without a message still
# records one; a job that succeeds on a later attempt leaves no trace; a keyed
# job that dies twice is one dlq row with failure_count 2.  A job is never in
# both tables.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record.log
bf_plugins testtasks
cat >"$T/backfilld.ini" <<EOF
[daemon]
poll_interval_ms = 50

[testtasks]
record_file = $REC
EOF
: >"$REC"

# starts ID: "attempt attempt ..." of the job's start lines, in order
starts() { awk -v id="$1" '$1 == "start" && $2 == id { printf "%s%s", sep, $4; sep = " " }' "$REC"; }
ends() { awk -v id="$1" '$1 == "end" && $2 == id { printf "%s%s", sep, $4; sep = " " }' "$REC"; }
# rec_time WHAT ID ATTEMPT: timestamp (us) of that record line
rec_time() { awk -v w="$1" -v id="$2" -v a="$3" '$1 == w && $2 == id && $4 == a { print $5 }' "$REC"; }
add() { bf_sql "SELECT id FROM $S.add_job($1)"; }

bf_start a -c "$T/backfilld.ini"

bf_log "enqueue every case at once"
# retried until exhausted, with the handler's own 100 ms delay
retry=$(add "'test.record', '{\"result\":\"retry\",\"error\":\"boom\",\"retry_delay_ms\":100}', max_attempts => 3")
# default backoff: exp(1) s after the first failure
backoff=$(add "'test.record', '{\"result\":\"retry\",\"error\":\"first try failed\"}', max_attempts => 2")
fail=$(add "'test.record', '{\"result\":\"fail\",\"error\":\"nope\"}'")
bad=$(add "'test.record', '{\"result\":\"bad\"}'")
# retry without an error message (1 s delay so the row can be seen in between)
nomsg=$(add "'test.record2', '{\"result\":\"retry\",\"retry_delay_ms\":1000}', queue => 'fast', max_attempts => 2")
later=$(add "'test.record', '{\"fail_until_attempt\":3,\"retry_delay_ms\":50}'")
key1=$(add "'test.record', '{\"result\":\"fail\",\"error\":\"first death\"}', job_key => 'k1'")

bf_log "the default backoff after a first failure"
bf_wait_sql "SELECT attempts, locked_at IS NULL, last_error FROM $S.jobs WHERE id = $backoff" \
	"1|t|first try failed" 10
got=$(bf_sql "SELECT (extract(epoch FROM run_at - updated_at) * 1000)::int8,
                     (extract(epoch FROM run_at) * 1000000)::int8,
                     locked_by IS NULL
              FROM $S.jobs WHERE id = $backoff")
IFS='|' read -r gap_ms backoff_run_at_us unlocked <<<"$got"
bf_log "run_at - updated_at = $gap_ms ms (want e^1 s = 2718 ms)"
[ "$gap_ms" -ge 2218 ] && [ "$gap_ms" -le 3218 ] ||
	bf_fail "default backoff after attempt 1: run_at - updated_at = $gap_ms ms, want 2718 +- 500"
bf_eq "$unlocked" t "retried job is unlocked"
# and measured against the handler's own clock: the end of attempt 1
end1=$(rec_time end "$backoff" 1)
d=$(( (backoff_run_at_us - end1) / 1000 ))
[ "$d" -ge 2218 ] && [ "$d" -le 3218 ] ||
	bf_fail "default backoff: run_at is $d ms after attempt 1 ended, want 2718 +- 500"

bf_log "a retry without an error message"
# attempts 1, unlocked, waiting for its retry: last_error must not be empty
bf_wait_sql "SELECT attempts, locked_at IS NULL, coalesce(last_error, '') <> '' FROM $S.jobs WHERE id = $nomsg" "1|t|t" 10

bf_log "waiting for every job to finish"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 20
bf_wait_sql "SELECT count(*) FROM $S.dlq" 6 5

bf_log "retried until exhausted"
bf_eq "$(starts "$retry")" "1 2 3" "retry job: attempts 1, 2, 3"
bf_eq "$(ends "$retry")" "1 2 3" "retry job: three ends"
for a in 1 2; do
	gap=$(( $(rec_time start "$retry" $((a + 1))) - $(rec_time end "$retry" "$a") ))
	[ "$gap" -ge 100000 ] && [ "$gap" -lt 1500000 ] ||
		bf_fail "retry job: attempt $((a + 1)) started $gap us after attempt $a ended; want the handler's 100 ms delay"
done
bf_eq "$(bf_sql "SELECT task, queue, attempts, max_attempts, failure_count, last_error, failure_reason,
                        payload->>'error', requeued_count
                 FROM $S.dlq WHERE original_job_id = $retry")" \
	"test.record|bulk|3|3|1|boom|exceeded maximum attempts (3/3)|boom|0" "retry job's dlq row"

bf_log "default backoff job"
bf_eq "$(starts "$backoff")" "1 2" "backoff job: attempts 1 and 2"
s2=$(rec_time start "$backoff" 2)
[ "$s2" -ge "$backoff_run_at_us" ] || bf_fail "backoff job: attempt 2 started $(( backoff_run_at_us - s2 )) us before its run_at"
[ "$s2" -le $(( backoff_run_at_us + 1000000 )) ] || bf_fail "backoff job: attempt 2 started $(( s2 - backoff_run_at_us )) us after its run_at"
bf_eq "$(bf_sql "SELECT attempts, failure_count, last_error, failure_reason FROM $S.dlq WHERE original_job_id = $backoff")" \
	"2|1|first try failed|exceeded maximum attempts (2/2)" "backoff job's dlq row"

bf_log "permanent failure"
bf_eq "$(starts "$fail")" "1" "fail job ran once"
bf_eq "$(bf_sql "SELECT attempts, max_attempts, failure_count, last_error, failure_reason FROM $S.dlq WHERE original_job_id = $fail")" \
	"1|8|1|nope|permanent failure reported by the handler" "fail job's dlq row"

bf_log "unknown status code"
bf_eq "$(starts "$bad")" "1" "bad-status job ran once"
bf_eq "$(bf_sql "SELECT attempts, failure_count, failure_reason FROM $S.dlq WHERE original_job_id = $bad")" \
	"1|1|permanent failure reported by the handler" "bad-status job's dlq row"
bf_eq "$(bf_sql "SELECT last_error LIKE '%unknown status 77%' FROM $S.dlq WHERE original_job_id = $bad")" t \
	"bad-status last_error mentions the unknown status 77: [$(bf_sql "SELECT last_error FROM $S.dlq WHERE original_job_id = $bad")]"

bf_log "retry without an error message, exhausted"
bf_eq "$(starts "$nomsg")" "1 2" "no-message job: attempts 1 and 2"
bf_eq "$(bf_sql "SELECT queue, attempts, failure_reason, coalesce(last_error, '') <> '' FROM $S.dlq WHERE original_job_id = $nomsg")" \
	"fast|2|exceeded maximum attempts (2/2)|t" "no-message job's dlq row has a non-empty last_error"

bf_log "success on attempt 3"
bf_eq "$(starts "$later")" "1 2 3" "fail_until_attempt 3: attempts 1, 2, 3"
bf_eq "$(ends "$later")" "1 2 3" "fail_until_attempt 3: three ends"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.dlq WHERE original_job_id = $later")" 0 "succeeded job is not in the dlq"

bf_log "a keyed job that dies twice"
bf_eq "$(starts "$key1")" "1" "first keyed job ran once"
bf_eq "$(bf_sql "SELECT original_job_id, failure_count, last_error FROM $S.dlq WHERE job_key = 'k1'")" \
	"$key1|1|first death" "first death of k1"
key2=$(add "'test.record', '{\"result\":\"fail\",\"error\":\"second death\"}', job_key => 'k1'")
[ "$key2" != "$key1" ] || bf_fail "second k1 job reused id $key1"
bf_wait_sql "SELECT count(*) FROM $S.jobs WHERE id = $key2" 0 10
bf_wait_sql "SELECT failure_count FROM $S.dlq WHERE job_key = 'k1'" 2 5
bf_eq "$(starts "$key2")" "1" "second keyed job ran once"
bf_eq "$(bf_sql "SELECT count(*), min(original_job_id), min(failure_count), min(last_error), min(payload->>'error'),
                        min(failure_reason)
                 FROM $S.dlq WHERE job_key = 'k1'")" \
	"1|$key2|2|second death|second death|permanent failure reported by the handler" "k1: one dlq row, failure_count 2"

bf_log "never in both tables, nothing left"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 0 "jobs is empty"
bf_eq "$(bf_sql "SELECT string_agg(original_job_id::text, ',' ORDER BY original_job_id) FROM $S.dlq")" \
	"$(printf '%s\n' "$retry" "$backoff" "$fail" "$bad" "$nomsg" "$key2" | sort -n | paste -sd,)" "dlq holds exactly the dead jobs"
bf_eq "$(wc -l <"$REC")" 28 "28 record lines (14 runs)"

bf_stop a >"$T/stop-a.rc"
bf_eq "$(cat "$T/stop-a.rc")" 0 "daemon a exit status after SIGTERM"
echo "ok"
