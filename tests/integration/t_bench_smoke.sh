# The benchmark runs and reports every figure (a small N; speeds are
# printed, never asserted: performance is measured by `make bench`).
. "$(dirname "$0")/lib.sh"

out=$T/bench.out
BUILD=$BF_BUILD "$BF_ROOT/bench/backfilld-bench" 2000 --url "$DATABASE_URL" --rounds 1 \
	--idle-seconds 1 --smoke >"$out" 2>&1 || { cat "$out"; bf_fail "the benchmark failed"; }
for figure in env enqueue drain latency idle; do
	grep -q "^backfilld $figure: " "$out" || { cat "$out"; bf_fail "no '$figure' line"; }
done
grep '^backfilld ' "$out"
