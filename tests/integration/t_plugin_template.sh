# examples/06-plugin-template, as a plugin author uses it: `make install`
# into a staging prefix, copy the template out of the tree, build it and run
# its stub-based unit test against the installed pkg-config files only, then
# run it under the installed backfilld with jobs enqueued by SQL: a success,
# a retry that succeeds once its directory exists (attempt 2 or later), a
# permanent failure and a job that exhausts its attempts, both in the DLQ.
. "$(dirname "$0")/lib.sh"

dest=$T/dest
bf_make_install "$dest"
for f in usr/local/lib/libbackfill-plugin-stub.a usr/local/include/backfill/plugin_stub.h \
	usr/local/share/pkgconfig/backfill-plugin-stub.pc; do
	[ -f "$dest/$f" ] || bf_fail "make install did not install $f"
done
bf_installed_pkg_config "$dest"
bf_eq "$(echo $(pkg-config --libs backfill-plugin-stub))" \
	"-L$dest/usr/local/lib -lbackfill-plugin-stub -ldl -lpthread" "pkg-config --libs backfill-plugin-stub"

# out of tree: a copy, built and unit-tested with pkg-config alone
cp -r "$BF_ROOT/examples/06-plugin-template" "$T/mytasks"
make -C "$T/mytasks" clean >/dev/null
make -C "$T/mytasks" CFLAGS="-O2 -g -Werror" test >"$T/make-test.log" 2>&1 ||
	{ cat "$T/make-test.log"; bf_fail "the template's make test failed"; }
grep -Eq '^test_append: [0-9]+ checks, 0 failed$' "$T/make-test.log" ||
	{ cat "$T/make-test.log"; bf_fail "test_append did not report its checks"; }
bf_log "$(grep '^test_append:' "$T/make-test.log")"
make -C "$T/mytasks" PLUGINDIR="$PLUGINS" install >/dev/null || bf_fail "make install of the template failed"
[ -f "$PLUGINS/append.so" ] || bf_fail "the template's make install did not install append.so"
chmod 755 "$PLUGINS"

# under the installed daemon
out=$T/out
mkdir -p "$out"
cat >"$T/backfilld.ini" <<INI
[append]
dir = $out
retry_delay_ms = 200
INI
BIN=$dest/usr/local/sbin/backfilld
bf_start a -c "$T/backfilld.ini"
grep -q "plugin append 1.0.0 loaded from $PLUGINS/append.so (ABI 1.0): 1 task(s)" "$T/daemon-a.log" ||
	bf_fail "append plugin not loaded"

enqueue() { bf_sql "INSERT INTO backfill.jobs (task, payload, max_attempts) VALUES ('append.line', '$1', ${2:-8}) RETURNING id"; }
ok=$(enqueue '{"file": "ok.txt", "text": "from backfilld"}')
retry=$(enqueue '{"file": "inbox/later.txt", "text": "after a retry"}')
fail=$(enqueue '{"file": "../outside.txt", "text": "never"}')
exhaust=$(enqueue '{"file": "never/made.txt", "text": "never"}' 2)

# success: written, row gone, no DLQ row
bf_wait_sql "SELECT count(*) FROM backfill.jobs WHERE id = $ok" 0 10
bf_eq "$(cat "$out/ok.txt")" "from backfilld" "ok.txt"

# retry: inbox/ is missing, so attempts go up with the handler's error ...
bf_wait_sql "SELECT attempts >= 2 AND last_error = 'cannot open inbox/later.txt: No such file or directory'
	FROM backfill.jobs WHERE id = $retry" t 10
# ... until it exists: then it succeeds, on attempt 2 or later
mkdir "$out/inbox"
bf_wait_sql "SELECT count(*) FROM backfill.jobs WHERE id = $retry" 0 10
bf_eq "$(cat "$out/inbox/later.txt")" "after a retry" "inbox/later.txt"

# permanent failure: one attempt, into the DLQ with the handler's error
bf_wait_sql "SELECT count(*) FROM backfill.dlq WHERE original_job_id = $fail" 1 10
bf_eq "$(bf_sql "SELECT attempts, failure_reason, last_error FROM backfill.dlq WHERE original_job_id = $fail")" \
	"1|permanent failure reported by the handler|\"file\" must be a relative path of [A-Za-z0-9_.-] parts, none starting with '.', at most 255 bytes" \
	"DLQ row of the permanent failure"
[ ! -e "$T/outside.txt" ] || bf_fail "the handler wrote outside its directory"

# a retry on the last attempt: into the DLQ as exhausted
bf_wait_sql "SELECT count(*) FROM backfill.dlq WHERE original_job_id = $exhaust" 1 10
bf_eq "$(bf_sql "SELECT attempts, failure_reason, last_error FROM backfill.dlq WHERE original_job_id = $exhaust")" \
	"2|exceeded maximum attempts (2/2)|cannot open never/made.txt: No such file or directory" \
	"DLQ row of the exhausted job"

bf_eq "$(bf_sql "SELECT count(*) FROM backfill.jobs")" 0 "jobs left"
bf_eq "$(bf_sql "SELECT count(*) FROM backfill.dlq")" 2 "DLQ rows"
bf_stop a >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status"

make -s -C "$BF_ROOT" BUILD="$BF_BUILD" DESTDIR="$dest" uninstall >/dev/null 2>&1
for f in usr/local/lib/libbackfill-plugin-stub.a usr/local/include/backfill/plugin_stub.h \
	usr/local/share/pkgconfig/backfill-plugin-stub.pc; do
	[ ! -e "$dest/$f" ] || bf_fail "make uninstall left $f"
done
echo "plugin template: built out of tree, unit-tested with the stub, ran under backfilld ok"
