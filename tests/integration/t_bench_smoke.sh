# The benchmarks run and report every figure (small sizes; speeds are
# printed, never asserted: performance is measured by `make bench` and
# `make bench-scale`).
. "$(dirname "$0")/lib.sh"

out=$T/bench.out
BUILD=$BF_BUILD "$BF_ROOT/bench/backfilld-bench" 2000 --url "$DATABASE_URL" --rounds 1 \
	--idle-seconds 1 --smoke >"$out" 2>&1 || { cat "$out"; bf_fail "the benchmark failed"; }
for figure in env enqueue drain latency idle; do
	grep -q "^backfilld $figure: " "$out" || { cat "$out"; bf_fail "no '$figure' line"; }
done
grep '^backfilld ' "$out"

# The scale benchmark at a tiny size: every line printed, noise rows left alone.
scale=$T/scale.out
BUILD=$BF_BUILD "$BF_ROOT/bench/backfilld-scale" --small 2000 --large 6000 --noise 1000 \
	--url "$DATABASE_URL" --smoke >"$scale" 2>&1 || { cat "$scale"; bf_fail "the scale benchmark failed"; }
for figure in scale_backlog scale_noise scale_two_daemons; do
	grep -q "^backfilld $figure: " "$scale" || { cat "$scale"; bf_fail "no '$figure' line"; }
done
grep -q '^backfilld scale_noise: .* noise_left=2000 noise_touched=0 ' "$scale" ||
	{ cat "$scale"; bf_fail "the scale drain touched rows it must leave"; }
grep '^backfilld scale_' "$scale"
