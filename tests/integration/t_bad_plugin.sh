#!/usr/bin/env bash
# t_bad_plugin -- the plugin loader refuses bad plugins (PRODUCT.md 3.4):
# wrong magic, another ABI major, a truncated descriptor, no entry symbol, a
# failing init, two plugins claiming one task, world-writable files or
# directories, an empty plugin directory.  Each time: exit 78, one clear error
# line, and nothing claimed.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
host_abi=$("$BIN" --version | sed -n 's/.*plugin ABI \([0-9]*\.[0-9]*\).*/\1/p')
[ -n "$host_abi" ] || bf_fail "cannot read the host ABI from --version"
printf '[queue.bulk]\nconcurrency = 2\n' >"$T/d.ini"

bf_plugins noop
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
# a due noop job: a daemon that got past plugin loading would claim it
job=$(bf_sql "INSERT INTO $S.jobs (task) VALUES ('noop') RETURNING id")

# refused NAME PATTERN...: backfilld (plugins of $PLUGINS) exits 78 and its
# output has exactly one error line, which matches every grep -E PATTERN.
refused() {
	local name=$1 rc=0 line p; shift
	timeout 20 "$BIN" --plugin-dir "$PLUGINS" -c "$T/d.ini" >"$T/$name.out" 2>&1 || rc=$?
	bf_eq "$rc" 78 "$name: exit status (output: $(cat "$T/$name.out"))"
	bf_eq "$(grep -c ' error ' "$T/$name.out")" 1 "$name: number of error lines (output: $(cat "$T/$name.out"))"
	line=$(grep ' error ' "$T/$name.out")
	for p in "$@"; do
		grep -qE -- "$p" <<<"$line" || bf_fail "$name: [$p] not in the error line [$line]"
	done
	bf_log "$name: ${line#* }"
}

bf_log "bad descriptors"
bf_plugins bad_magic
refused bad_magic "plugin loader: $PLUGINS/bad_magic.so: bad magic 0x504c4642 \(expected 0x42464c50\)"
bf_plugins bad_major
refused bad_major "$PLUGINS/bad_major.so" "plugin ABI 2\.0 is incompatible" "backfilld's ABI ${host_abi//./\\.}"
bf_plugins short_struct
refused short_struct "$PLUGINS/short_struct.so" "struct bf_plugin is 8 bytes, smaller than ABI 1\.0's [0-9]+"
bf_plugins no_entry
refused no_entry "$PLUGINS/no_entry.so is not a backfilld plugin: it exports no backfill_plugin_entry\(\) function"
for n in bad_magic bad_major; do
	if grep -q "init called although" "$T/$n.out"; then bf_fail "$n: init was called: $(cat "$T/$n.out")"; fi
done

bf_log "init fails: the plugin's own message, then the host's"
bf_plugins init_fails
rc=0; timeout 20 "$BIN" --plugin-dir "$PLUGINS" -c "$T/d.ini" >"$T/init_fails.out" 2>&1 || rc=$?
bf_eq "$rc" 78 "init_fails: exit status"
bf_eq "$(grep ' error ' "$T/init_fails.out" | cut -d' ' -f2-)" \
	"error plugin init_fails: init_fails: refusing to start for the test
error plugin loader: $PLUGINS/init_fails.so: plugin init_fails test: init failed (-1); not starting" \
	"init_fails: the plugin's line and the host's line"

bf_log "two plugins registering one task"
bf_plugins dup_task noop
rc=0; timeout 20 "$BIN" --plugin-dir "$PLUGINS" -c "$T/d.ini" >"$T/dup_task.out" 2>&1 || rc=$?
bf_eq "$rc" 78 "dup_task + noop: exit status"
line=$(grep 'already registered' "$T/dup_task.out" | head -n 1)
bf_eq "${line#* }" \
	"error plugin noop ($PLUGINS/noop.so): task \"noop\" is already registered by plugin dup_task ($PLUGINS/dup_task.so); two plugins cannot handle one task: remove one of them" \
	"dup_task + noop: the host's line names both plugins"
grep -q "plugin loader: $PLUGINS/noop.so: plugin noop .*init failed" "$T/dup_task.out" ||
	bf_fail "dup_task + noop: no 'init failed' line for noop: $(cat "$T/dup_task.out")"
# the other load order (plugins load in file name order): noop first
mv "$PLUGINS/dup_task.so" "$PLUGINS/zz_dup_task.so"
rc=0; timeout 20 "$BIN" --plugin-dir "$PLUGINS" -c "$T/d.ini" >"$T/dup_task2.out" 2>&1 || rc=$?
bf_eq "$rc" 78 "noop + dup_task (noop loaded first): exit status"
line=$(grep 'already registered' "$T/dup_task2.out" | head -n 1)
bf_eq "${line#* }" \
	"error plugin dup_task ($PLUGINS/zz_dup_task.so): task \"noop\" is already registered by plugin noop ($PLUGINS/noop.so); two plugins cannot handle one task: remove one of them" \
	"noop + dup_task: the host's line names both plugins"
grep -q "plugin loader: $PLUGINS/zz_dup_task.so: plugin dup_task .*init failed" "$T/dup_task2.out" ||
	bf_fail "noop + dup_task: no 'init failed' line for dup_task: $(cat "$T/dup_task2.out")"

bf_log "world-writable plugin file and directory"
bf_plugins noop
chmod 666 "$PLUGINS/noop.so"
refused ww_file "plugin loader: refusing plugin $PLUGINS/noop.so: it is world-writable \(mode 0666\)"
bf_plugins noop
chmod 777 "$PLUGINS"
refused ww_dir "plugin loader: refusing plugin directory $PLUGINS: it is world-writable \(mode 0777\)"
if grep -q "loaded from" "$T/ww_dir.out"; then bf_fail "a plugin was loaded from a world-writable directory"; fi

bf_log "empty and missing plugin directories"
bf_plugins
refused empty "plugin loader: no task handlers in $PLUGINS"
rm -rf "$PLUGINS"
refused missing "plugin loader: cannot stat plugin directory $PLUGINS: No such file or directory"

bf_log "nothing was claimed"
bf_eq "$(bf_sql "SELECT count(*), sum(attempts), count(locked_by) FROM $S.jobs WHERE id = $job")" "1|0|0" "the job is untouched"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.workers")" 0 "no daemon registered"
bf_plugins noop
rc=0; timeout 20 "$BIN" --plugin-dir "$PLUGINS" -c "$T/d.ini" --once >"$T/good.out" 2>&1 || rc=$?
bf_eq "$rc" 0 "a good plugin dir: --once exit status ($(cat "$T/good.out"))"
bf_eq "$(bf_sql "SELECT count(*) FROM $S.jobs")" 0 "with the good plugin the job ran"

echo "ok"
