#!/usr/bin/env bash
# t_once_migrate -- the one-shot modes and the schema version checks:
# auto_migrate = false on a fresh database (exit 65), five concurrent
# --migrate runs (one set of migrations, advisory lock), --once (due jobs run,
# a future job stays), a schema newer than the build (exit 65), a schema at
# the current version changed by hand (exit 65 naming the migration), and an
# unreachable database (exit 69, password not printed).
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
REC=$T/record
latest=$("$BIN" --version | sed -n 's/.*schema version \([0-9]*\).*/\1/p')
[ -n "$latest" ] || bf_fail "cannot read the schema version from --version"
# "1:001_schema,2:002_functions,..." from the sql/ files of the build
want_migrations=$(for f in "$BF_ROOT"/sql/[0-9]*.sql; do
	b=$(basename "$f" .sql); echo "$((10#${b%%_*})):$b"; done | paste -sd, -)
bf_eq "${want_migrations##*,}" "$latest:$(basename "$(ls "$BF_ROOT"/sql/[0-9]*.sql | tail -n 1)" .sql)" \
	"--version's schema version matches the last sql/ file"

printf '[testtasks]\nrecord_file = %s\n' "$REC" >"$T/d.ini"
printf '[database]\nauto_migrate = false\n[testtasks]\nrecord_file = %s\n' "$REC" >"$T/noauto.ini"
bf_plugins testtasks

# run NAME ARGS...: backfilld in the foreground; output in $T/NAME.out,
# exit status in RC, run time in ms in MS.
run() {
	local name=$1 t0; shift
	t0=$(date +%s%3N)
	RC=0
	timeout 30 "$BIN" --plugin-dir "$PLUGINS" "$@" >"$T/$name.out" 2>&1 || RC=$?
	MS=$(( $(date +%s%3N) - t0 ))
}
out() { cat "$T/$1.out"; }
schema_exists() { bf_sql "SELECT to_regnamespace('$S') IS NOT NULL"; }

bf_log "auto_migrate = false on a fresh database: exit 65, says to run --migrate"
for mode in run once; do
	if [ "$mode" = once ]; then run noauto-$mode -c "$T/noauto.ini" --once
	else run noauto-$mode -c "$T/noauto.ini"; fi
	bf_eq "$RC" 65 "auto_migrate = false ($mode): exit status ($(out noauto-$mode))"
	bf_eq "$(grep ' error ' "$T/noauto-$mode.out" | cut -d' ' -f2-)" \
		"error migrate: schema $S is at version 0 but this backfilld needs $latest and auto_migrate is off: run \`backfilld --migrate\`, or apply sql/001_*.sql and later files with psql" \
		"auto_migrate = false ($mode): the error line"
done
bf_eq "$(schema_exists)" f "nothing was created"

bf_log "5 concurrent --migrate on a fresh database"
pids=()
for i in 1 2 3 4 5; do
	"$BIN" --plugin-dir "$PLUGINS" -c "$T/d.ini" --migrate >"$T/migrate-$i.out" 2>&1 &
	pids+=($!)
done
for i in 1 2 3 4 5; do
	rc=0; wait "${pids[$((i - 1))]}" || rc=$?
	bf_eq "$rc" 0 "--migrate #$i exit status ($(out migrate-$i))"
done
bf_eq "$(bf_sql "SELECT string_agg(version || ':' || name, ',' ORDER BY version) FROM $S.migrations")" \
	"$want_migrations" "one set of migration rows"
bf_eq "$(cat "$T"/migrate-*.out | grep -c "migrate: applied ")" "$latest" "each migration applied once in all"
bf_eq "$(cat "$T"/migrate-*.out | grep -c "migrate: schema $S is up to date (version $latest)")" 4 \
	"the 4 others found the schema up to date"
bf_eq "$(cat "$T"/migrate-*.out | grep -c ' error ')" 0 "no error line"
run migrate-again -c "$T/d.ini" --migrate
bf_eq "$RC" 0 "--migrate on an up-to-date schema: exit status"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.migrations")" "$latest" "still one set of migration rows"

bf_log "--once runs every due job, leaves a future one, exits 0"
bf_sql "INSERT INTO $S.jobs (task, payload, queue)
        SELECT 'test.record', jsonb_build_object('sleep_ms', 20), q
        FROM generate_series(1, 20) i, LATERAL (SELECT CASE WHEN i <= 5 THEN 'fast' ELSE 'bulk' END) x(q)"
due=$(bf_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM $S.jobs")
future=$(bf_sql "INSERT INTO $S.jobs (task, run_at) VALUES ('test.record', now() + interval '1 hour') RETURNING id")
run once -c "$T/d.ini" --once
bf_log "--once took $MS ms"
bf_eq "$RC" 0 "--once exit status ($(out once))"
grep -q -- "--once: nothing more is due; exiting" "$T/once.out" || bf_fail "no '--once: nothing more is due' line: $(out once)"
bf_eq "$(awk '$1 == "end" { print $2 }' "$REC" | sort -n | paste -sd, -)" "$due" "every due job ran once"
bf_eq "$(bf_sql "SELECT string_agg(concat_ws(':', id, attempts, locked_by IS NULL, last_error IS NULL), ',') FROM $S.jobs")" \
	"$future:0:t:t" "only the future job is left, untouched"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "--once unregistered"
[ "$MS" -le 10000 ] || bf_fail "--once took $MS ms for 20 jobs of 20 ms"
run once-empty -c "$T/d.ini" --once
bf_eq "$RC" 0 "--once with nothing due: exit status"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id = $future AND attempts = 0")" 1 "the future job is still untouched"

bf_log "a schema newer than the build: exit 65 naming both versions"
bf_sql "INSERT INTO $S.migrations (version, name) VALUES (999, '999_future')"
for mode in run once migrate; do
	case $mode in
	run) run newer-$mode -c "$T/d.ini" ;;
	*) run newer-$mode -c "$T/d.ini" --$mode ;;
	esac
	bf_eq "$RC" 65 "newer schema ($mode): exit status ($(out newer-$mode))"
	line=$(grep ' error ' "$T/newer-$mode.out" | cut -d' ' -f2-)
	[[ $line == "error migrate: schema $S is at version 999, newer than this backfilld ("*") knows ($latest): upgrade backfilld, or point it at another schema" ]] ||
		bf_fail "newer schema ($mode): unexpected error line [$line]"
done
bf_eq "$(bf_sql "SELECT count(*) FROM $S.migrations")" "$((latest + 1))" "nothing was migrated"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "no daemon registered"
bf_sql "DELETE FROM $S.migrations WHERE version = 999"

bf_log "a schema at the current version but changed by hand: exit 65 naming the migration"
bf_sql "ALTER FUNCTION $S.claim_jobs(text, text, text[], integer) RENAME TO claim_jobs_renamed"
for mode in run once; do
	case $mode in
	run) run handmade-$mode -c "$T/d.ini" ;;
	*) run handmade-$mode -c "$T/d.ini" --$mode ;;
	esac
	bf_eq "$RC" 65 "schema changed by hand ($mode): exit status ($(out handmade-$mode))"
	grep -q "error database: bf_claim failed: ERROR:  function $S.claim_jobs(.*) does not exist" "$T/handmade-$mode.out" ||
		bf_fail "schema changed by hand ($mode): no error naming the missing function: $(out handmade-$mode)"
	grep -q "error schema $S does not match this backfilld (.*) although its version is current: .* comes from migration 007_task_claim: recreate it from .*/007_task_claim.sql, or restore the schema" "$T/handmade-$mode.out" ||
		bf_fail "schema changed by hand ($mode): no line naming migration 007_task_claim: $(out handmade-$mode)"
	grep -q "ready:" "$T/handmade-$mode.out" && bf_fail "schema changed by hand ($mode): the daemon reported ready"
done
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "no daemon registered"
bf_sql "ALTER FUNCTION $S.claim_jobs_renamed(text, text, text[], integer) RENAME TO claim_jobs"

bf_log "database unreachable: exit 69, password not printed"
bad_url=postgresql://u:secret@127.0.0.1:1/x
for mode in once migrate; do
	run unreachable-$mode -c "$T/d.ini" --$mode --database-url "$bad_url"
	bf_eq "$RC" 69 "unreachable database (--$mode): exit status ($(out unreachable-$mode))"
	grep -qF "error database: cannot connect to postgresql://u:***@127.0.0.1:1/x: " "$T/unreachable-$mode.out" ||
		bf_fail "unreachable database (--$mode): no masked 'cannot connect' line: $(out unreachable-$mode)"
	if grep -q secret "$T/unreachable-$mode.out"; then
		bf_fail "unreachable database (--$mode): the password is printed: $(grep secret "$T/unreachable-$mode.out")"
	fi
	[ "$MS" -le 15000 ] || bf_fail "unreachable database (--$mode): took $MS ms to give up"
done
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs WHERE id = $future AND attempts = 0")" 1 "the future job is still untouched"

# Jobs that are due when --once starts but can only be claimed once another
# finished: a chain of jobs of one serial_key (one runs at a time), and a job
# whose handler asks for a retry with a delay of 0 (due again at once).
bf_log "--once also runs due jobs that become claimable during the run"
rm -f "$REC"
serial=$(bf_sql "INSERT INTO $S.jobs (task, payload, serial_key)
                 SELECT 'test.record', '{\"sleep_ms\": 10}', 'acct:1' FROM generate_series(1, 3)
                 RETURNING id" | paste -sd, -)
retry=$(bf_sql "INSERT INTO $S.jobs (task, payload)
                VALUES ('test.record', '{\"fail_until_attempt\": 2, \"retry_delay_ms\": 0}') RETURNING id")
run once-chain -c "$T/d.ini" --once
bf_eq "$RC" 0 "--once (serial chain, immediate retry): exit status ($(out once-chain))"
bf_eq "$(bf_sql "SELECT coalesce(string_agg(concat_ws(':', id, attempts, serial_key, last_error), ',' ORDER BY id), '')
                 FROM $S.jobs WHERE id <> $future")" "" \
	"due jobs left behind by --once (expected none; serial jobs $serial, retried job $retry)"
bf_eq "$(awk '$1 == "end" { print $2 ":" $4 }' "$REC" | sort -n | paste -sd, -)" \
	"$(for i in ${serial//,/ }; do printf '%s:1,' "$i"; done)$retry:1,$retry:2" \
	"each serial job ran once, the retried job ran twice"

echo "ok"
