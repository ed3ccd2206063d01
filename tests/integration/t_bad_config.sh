#!/usr/bin/env bash
# t_bad_config -- configuration errors (PRODUCT.md 3.5): each bad key, from
# the ini file, the environment or a flag, stops the daemon with exit 78 and
# one error line naming the key and where it came from, before anything is
# claimed; precedence defaults < file < environment < flags as shown by
# --check-config, which also masks passwords; unknown flags exit 64.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record

# run NAME [VAR=VALUE...] -- ARGS...: runs backfilld (plugins of $PLUGINS);
# its output goes to $T/NAME.out, its exit status to RC.
run() {
	local name=$1; shift
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	RC=0
	timeout 20 env "${envs[@]}" "$BIN" --plugin-dir "$PLUGINS" "$@" >"$T/$name.out" 2>&1 || RC=$?
}

# matches GOT WANT...: GOT equals one of the WANTs (a trailing * in a WANT
# matches any rest).
matches() {
	local got=$1 w; shift
	for w in "$@"; do
		case $w in
		*'*') [[ $got == "${w%'*'}"* ]] && return 0 ;;
		*) [[ $got == "$w" ]] && return 0 ;;
		esac
	done
	return 1
}

# expect_error NAME LINE [ALTERNATIVE...]: exit 78 and the output is exactly
# one line, which after its timestamp reads LINE (or an alternative).
expect_error() {
	local name=$1 out got; shift
	out=$(cat "$T/$name.out")
	bf_eq "$RC" 78 "$name: exit status (output: [$out])"
	bf_eq "$(wc -l <"$T/$name.out")" 1 "$name: number of output lines (output: [$out])"
	got=${out#* }
	matches "$got" "$@" || bf_fail "$name: expected the line [$1], got [$got]"
}

bf_plugins testtasks
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
# a due job that any daemon with a usable config would claim at once
job=$(bf_sql "INSERT INTO $S.jobs (task, payload) VALUES ('test.record', '{}') RETURNING id")

bf_log "unknown key in [daemon]"
f=$T/typo.ini
printf '[daemon]\nlog_level = info\npoll_intervall_ms = 300\n[testtasks]\nrecord_file = %s\n' "$REC" >"$f"
run typo -- -c "$f"
expect_error typo "error config: $f:3: unknown key \"poll_intervall_ms\" in [daemon] (did you mean \"poll_interval_ms\"?)"
run typo-check -- -c "$f" --check-config
expect_error typo-check "error config: $f:3: unknown key \"poll_intervall_ms\" in [daemon] (did you mean \"poll_interval_ms\"?)"

bf_log "unknown key in [queue.bulk]"
f=$T/qtypo.ini
printf '[queue.bulk]\nconcurency = 3\n' >"$f"
run qtypo -- -c "$f"
expect_error qtypo "error config: $f:2: unknown key \"concurency\" in [queue.bulk] (did you mean \"concurrency\"?); a queue section has only \"concurrency\""

bf_log "bad value in the ini file: path and line number"
f=$T/abc.ini
printf '# comment\n\n[daemon]\npoll_interval_ms = abc\n' >"$f"
run abc -- -c "$f"
expect_error abc "error config: $f:4: [daemon] poll_interval_ms = \"abc\" must be an integer from 10 to 3600000"

bf_log "bad value in the environment"
f=$T/good.ini
printf '[testtasks]\nrecord_file = %s\n' "$REC" >"$f"
run envq FAST_QUEUE_CONCURRENCY=-1 -- -c "$f"
expect_error envq "error config: environment FAST_QUEUE_CONCURRENCY: [queue.fast] concurrency = \"-1\" must be an integer from 0 to 1024 (0: this daemon does not serve the queue)"

bf_log "bad value as a flag"
run flag -- -c "$f" --poll-interval-ms 0
expect_error flag "error config: flag --poll-interval-ms: [daemon] poll_interval_ms = \"0\" must be an integer from 10 to 3600000"

bf_log "bad schema name (environment, ini file, flag)"
run schema-env BACKFILL_SCHEMA=Bad-Schema -- -c "$f"
expect_error schema-env "error config: environment BACKFILL_SCHEMA: [database] schema = \"Bad-Schema\" is not a valid schema name (*"
fs=$T/schema.ini
printf '[database]\nschema = x; DROP TABLE jobs\n' >"$fs"
run schema-ini -- -c "$fs"
expect_error schema-ini "error config: $fs:2: [database] schema = \"x; DROP TABLE jobs\" is not a valid schema name (*"
run schema-flag -- -c "$f" --schema '1abc'
expect_error schema-flag "error config: flag --schema: [database] schema = \"1abc\" is not a valid schema name (*"

bf_log "heartbeat_timeout below twice heartbeat_interval names both sources"
fh=$T/hb.ini
printf '[daemon]\nheartbeat_interval = 5\n' >"$fh"
run hb BACKFILL_HEARTBEAT_TIMEOUT=6 -- -c "$fh"
# (a key from the file is attributed to the file, or to its line in it)
expect_error hb \
	"error config: [daemon] heartbeat_timeout = 6 (environment BACKFILL_HEARTBEAT_TIMEOUT) must be at least twice heartbeat_interval = 5 ($fh:2), or live daemons would be declared dead" \
	"error config: [daemon] heartbeat_timeout = 6 (environment BACKFILL_HEARTBEAT_TIMEOUT) must be at least twice heartbeat_interval = 5 ($fh), or live daemons would be declared dead"

bf_log "missing -c file"
run missing -- -c "$T/nope.ini"
expect_error missing "error config: cannot read config file $T/nope.ini: No such file or directory"

bf_log "a section for a plugin that is not loaded"
fe=$T/exec.ini
printf '[testtasks]\nrecord_file = %s\n\n[exec]\nallow = /bin/true\n' "$REC" >"$fe"
run exec -- -c "$fe"
bf_eq "$RC" 78 "exec section: exit status"
bf_eq "$(grep -c ' error ' "$T/exec.out")" 1 "exec section: one error line"
line=$(grep ' error ' "$T/exec.out" | cut -d' ' -f2-)
# (the section's source: the file, its [exec] line 4 or its first key's line 5)
matches "$line" \
	"error config: $fe:4: section [exec] is neither a backfilld section nor a loaded plugin's (plugins in $PLUGINS: 1); check its spelling or install the plugin" \
	"error config: $fe:5: section [exec] is neither a backfilld section nor a loaded plugin's (plugins in $PLUGINS: 1); check its spelling or install the plugin" \
	"error config: $fe: section [exec] is neither a backfilld section nor a loaded plugin's (plugins in $PLUGINS: 1); check its spelling or install the plugin" ||
	bf_fail "exec section: unexpected error line [$line]"
run exec-check -- -c "$fe" --check-config
bf_eq "$RC" 78 "exec section with --check-config: exit status"

bf_log "nothing was claimed by any of the bad configs"
bf_eq "$(bf_sql "SELECT count(*), sum(attempts), count(locked_by), count(last_error) FROM $S.jobs WHERE id = $job")" \
	"1|0|0|0" "the job is untouched"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "no daemon registered"
bf_eq "$(grep -c . "$REC" 2>/dev/null || true)" 0 "no job ran"

bf_log "precedence: defaults < file < environment < flags"
fp=$T/prec.ini
printf '[daemon]\npoll_interval_ms = 300\n[queue.fast]\nconcurrency = 5\n[testtasks]\nrecord_file = %s\n' "$REC" >"$fp"
# check NAME LINE [ALTERNATIVE...]: --check-config output of run NAME holds
# LINE (or an alternative) exactly
check() {
	local name=$1 l; shift
	bf_eq "$RC" 0 "$name: --check-config exit status ($(head -n 3 "$T/$name.out"))"
	for l in "$@"; do grep -qFx -- "$l" "$T/$name.out" && return 0; done
	bf_fail "$name: no line [$1] in: $(grep -F "${1%% *}" "$T/$name.out")"
}
run p-flag POLL_INTERVAL_MS=400 FAST_QUEUE_CONCURRENCY=6 -- -c "$fp" --check-config --poll-interval-ms 500 --queue fast=7
check p-flag "poll_interval_ms = 500    ; flag --poll-interval-ms"
check p-flag "concurrency = 7    ; flag --queue"
run p-env POLL_INTERVAL_MS=400 FAST_QUEUE_CONCURRENCY=6 -- -c "$fp" --check-config
check p-env "poll_interval_ms = 400    ; environment POLL_INTERVAL_MS"
check p-env "concurrency = 6    ; environment FAST_QUEUE_CONCURRENCY"
run p-file -- -c "$fp" --check-config
check p-file "poll_interval_ms = 300    ; $fp:2" "poll_interval_ms = 300    ; $fp"
check p-file "concurrency = 5    ; $fp:4" "concurrency = 5    ; $fp"
run p-default -- -c "$f" --check-config
check p-default "poll_interval_ms = 200    ; default"
check p-default "concurrency = 10    ; default"
check p-default "# effective configuration (config file: $f)"
grep -qF "# plugin testtasks test ($PLUGINS/testtasks.so): test.record, test.record2" "$T/p-default.out" ||
	bf_fail "--check-config does not list the plugin and its tasks: $(cat "$T/p-default.out")"

bf_log "--check-config masks passwords"
run mask-env DATABASE_URL=postgresql://u:secret@127.0.0.1:1/x -- -c "$f" --check-config
check mask-env "url = postgresql://u:***@127.0.0.1:1/x    ; environment DATABASE_URL"
run mask-kv -- -c "$f" --check-config --database-url "host=127.0.0.1 port=1 password=secret dbname=x"
check mask-kv "url = host=127.0.0.1 port=1 password=*** dbname=x    ; flag --database-url"
run mask-query -- -c "$f" --check-config --database-url "postgresql://u@127.0.0.1:1/x?password=secret&sslmode=disable"
check mask-query "url = postgresql://u@127.0.0.1:1/x?password=***&sslmode=disable    ; flag --database-url"
for n in mask-env mask-kv mask-query; do
	if grep -q secret "$T/$n.out"; then bf_fail "$n: the password is printed: $(grep secret "$T/$n.out")"; fi
done

bf_log "command-line errors exit 64"
run unknown-flag -- -c "$f" --no-such-flag
bf_eq "$RC" 64 "unknown flag: exit status"
grep -q "unrecognized option.*--no-such-flag" "$T/unknown-flag.out" || bf_fail "unknown flag not named: $(cat "$T/unknown-flag.out")"
grep -q "try \`backfilld --help\`" "$T/unknown-flag.out" || bf_fail "no hint to --help: $(cat "$T/unknown-flag.out")"
run no-value -- -c "$f" --poll-interval-ms
bf_eq "$RC" 64 "flag without its value: exit status"
run positional -- -c "$f" extra
bf_eq "$RC" 64 "unexpected argument: exit status"
grep -qF 'unexpected argument "extra"' "$T/positional.out" || bf_fail "argument not named: $(cat "$T/positional.out")"

bf_log "the job was claimable all along: a good config runs it"
run good -- -c "$f" --once
bf_eq "$RC" 0 "--once with a good config: exit status ($(cat "$T/good.out"))"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 0 "the job ran"
bf_eq "$(awk '$1 == "end" { print $2 ":" $4 }' "$REC")" "$job:1" "the job ran once, as attempt 1"

# libpq accepts blanks around "=" in key=value connection strings: the
# password must be masked there too, in --check-config and in log lines.
bf_log "--check-config and the connect error mask \"password = ...\" (blanks around =)"
run mask-blanks -- -c "$f" --check-config --database-url "host=127.0.0.1 port=1 password = secret dbname=x"
bf_eq "$RC" 0 "--check-config with a blank-separated password: exit status"
if grep -q secret "$T/mask-blanks.out"; then
	bf_fail "--check-config prints the password of \"password = secret\": $(grep secret "$T/mask-blanks.out")"
fi
run mask-blanks-once -- -c "$f" --once --database-url "host=127.0.0.1 port=1 password = secret dbname=x"
bf_eq "$RC" 69 "--once, unreachable database, blank-separated password: exit status"
if grep -q secret "$T/mask-blanks-once.out"; then
	bf_fail "the connect error prints the password of \"password = secret\": $(grep secret "$T/mask-blanks-once.out")"
fi

echo "ok"
