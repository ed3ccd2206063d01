# The libFuzzer harnesses of fuzz/ (`make fuzz`), briefly: each is built
# with clang, AddressSanitizer and UndefinedBehaviorSanitizer and runs every
# input of its seed corpus fuzz/corpus/NAME/ plus 2000 mutations (fixed
# seed, so a run is repeatable).  Nothing is skipped: without clang or its
# libFuzzer runtime the test fails and says which package is missing.
. "$(dirname "$0")/lib.sh"

command -v clang >/dev/null ||
	bf_fail "clang is not installed (Debian: apt-get install clang libclang-rt-dev; scripts/install-deps does it)"
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$T/probe.c"
clang -fsanitize=fuzzer,address,undefined -o "$T/probe" "$T/probe.c" >"$T/probe.log" 2>&1 ||
	{ cat "$T/probe.log"; bf_fail "clang cannot link libFuzzer (Debian: apt-get install libclang-rt-dev)"; }

targets="config crontab exec_args job_payload"
bf_log "build the harnesses"
make -s -C "$BF_ROOT" FUZZ_BUILD="$T/build" FUZZ_TARGETS="$targets" fuzz-bins >"$T/build.log" 2>&1 ||
	{ cat "$T/build.log"; bf_fail "make fuzz-bins failed"; }

for t in $targets; do
	seeds=$BF_ROOT/fuzz/corpus/$t
	n=$(find "$seeds" -type f | wc -l)
	[ "$n" -gt 0 ] || bf_fail "fuzz/corpus/$t has no seed inputs"
	bf_log "fuzz_$t: $n seeds, 2000 runs"
	# new inputs go to a scratch directory, never into the committed seeds
	mkdir -p "$T/corpus-$t"
	dict=; [ -f "$BF_ROOT/fuzz/$t.dict" ] && dict=-dict=$BF_ROOT/fuzz/$t.dict
	out=$T/fuzz_$t.log
	if ! "$T/build/fuzz_$t" -runs=2000 -seed=1 $dict -artifact_prefix="$T/crash-$t-" \
		"$T/corpus-$t" "$seeds" >"$out" 2>&1; then
		tail -n 40 "$out"
		bf_fail "fuzz_$t failed (input saved as $(ls "$T"/crash-"$t"-* 2>/dev/null | head -n 1))"
	fi
	grep -q "INFO: seed corpus: files: $n " "$out" || { cat "$out"; bf_fail "fuzz_$t did not read its $n seeds"; }
	grep -q '^Done 2000 runs' "$out" || { tail -n 20 "$out"; bf_fail "fuzz_$t did not finish its runs"; }
done
bf_log "all harnesses ran clean"
