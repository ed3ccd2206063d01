# README's first quick-start command, `make demo`, for real: a private
# PostgreSQL, backfilld with the sample config and example plugins, jobs
# enqueued with psql and processed, a clean stop.
. "$(dirname "$0")/lib.sh"

port=$((BF_PGPORT + 1))
out=$T/demo.out
DEMO_SECONDS=7 DEMO_DIR=$T/demo DEMO_PORT=$port BUILD=$BF_BUILD "$BF_ROOT/scripts/demo" >"$out" 2>&1 ||
	{ cat "$out"; bf_fail "scripts/demo failed"; }
cat "$out"
grep -q 'payload {"hello": "from a plain INSERT"}' "$out" || bf_fail "the plain INSERT job was not logged"
grep -q 'payload {"greeting": "from add_job"}' "$out" || bf_fail "the add_job job was not logged"
grep -q 'payload {"later": "runs 5 seconds after the others"}' "$out" || bf_fail "the delayed job did not run"
grep -q 'demo.shell ran job' "$out" || bf_fail "the exec (shell) job did not run"
grep -q '^jobs left: 0$' "$out" || bf_fail "jobs were left over"
grep -q 'backfilld exited with status 0' "$out" || bf_fail "backfilld did not stop cleanly"
