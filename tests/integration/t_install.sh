# `make install` into a DESTDIR: the daemon, plugins, header, pkg-config
# file, SQL, unit and sample config land where documented; README's plugin
# example builds out of tree with `pkg-config --cflags backfill-plugin`
# against the installed header, and the installed daemon runs it.
. "$(dirname "$0")/lib.sh"

dest=$T/dest
make -s -C "$BF_ROOT" BUILD="$BF_BUILD" DESTDIR="$dest" install >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; bf_fail "make install failed"; }
for f in usr/local/sbin/backfilld usr/lib/backfill/noop.so usr/lib/backfill/log.so \
	usr/lib/backfill/exec.so usr/local/include/backfill/plugin.h \
	usr/local/share/pkgconfig/backfill-plugin.pc usr/local/share/backfill/sql/001_schema.sql \
	usr/local/lib/systemd/system/backfilld.service etc/backfill/backfilld.ini; do
	[ -f "$dest/$f" ] || bf_fail "make install did not install $f"
done

# an existing configuration is never overwritten
echo "; mine" >>"$dest/etc/backfill/backfilld.ini"
make -s -C "$BF_ROOT" BUILD="$BF_BUILD" DESTDIR="$dest" install >/dev/null 2>&1
grep -q '^; mine$' "$dest/etc/backfill/backfilld.ini" || bf_fail "make install overwrote backfilld.ini"

# README's example plugin, built against the installed header only
awk '/^```c$/ { f = 1; next } /^```$/ { f = 0 } f' "$BF_ROOT/README.md" >"$T/hello.c"
cflags=$(PKG_CONFIG_PATH=$dest/usr/local/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest \
	pkg-config --cflags backfill-plugin)
bf_eq "$(echo $cflags)" "-I$dest/usr/local/include" "pkg-config --cflags backfill-plugin"
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden $cflags -Wl,-z,defs \
	-o "$T/hello.so" "$T/hello.c" || bf_fail "README's example plugin does not build"

rm -rf "$PLUGINS"; mkdir -p "$PLUGINS"; chmod 755 "$PLUGINS"
cp "$dest"/usr/lib/backfill/*.so "$T/hello.so" "$PLUGINS/"
chmod 644 "$PLUGINS"/*.so
BIN=$dest/usr/local/sbin/backfilld
bf_start a -c "$dest/etc/backfill/backfilld.ini"
grep -q "plugin hello 1.0 loaded" "$T/daemon-a.log" || bf_fail "hello plugin not loaded"
bf_sql "INSERT INTO backfill.jobs (task, payload) VALUES ('hello', '{\"from\": \"an installed daemon\"}')" >/dev/null
bf_wait_sql "SELECT count(*) FROM backfill.jobs" 0 10
grep -q 'hello, queue bulk, attempt 1/8): {"from": "an installed daemon"}' "$T/daemon-a.log" ||
	bf_fail "the hello job was not logged"
bf_stop a >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status"

make -s -C "$BF_ROOT" BUILD="$BF_BUILD" DESTDIR="$dest" uninstall >/dev/null 2>&1
[ ! -e "$dest/usr/local/sbin/backfilld" ] || bf_fail "make uninstall left the daemon"
[ -e "$dest/etc/backfill/backfilld.ini" ] || bf_fail "make uninstall removed the configuration"
# a private prefix after a plain build (a build directory of this test's
# own, so the suite's build keeps its defaults): the daemon is rebuilt with
# the new defaults, and the sample configuration names the new paths
p=$T/prefix
make -s -C "$BF_ROOT" BUILD="$T/build" all >"$T/build.log" 2>&1 || { cat "$T/build.log"; bf_fail "make failed"; }
make -s -C "$BF_ROOT" BUILD="$T/build" PREFIX="$p" PLUGINDIR="$p/lib/backfill" SYSCONFDIR="$p/etc" \
	install >"$T/install2.log" 2>&1 || { cat "$T/install2.log"; bf_fail "make install PREFIX=... failed"; }
"$p/sbin/backfilld" --help >"$T/help2.out" 2>&1
grep -q "default $p/lib/backfill" "$T/help2.out" ||
	bf_fail "the installed daemon's plugin_dir default is not $p/lib/backfill: $(grep -i plugin "$T/help2.out")"
grep -q "$p/etc/backfill/backfilld.ini" "$T/help2.out" ||
	bf_fail "the installed daemon's config path is not under $p/etc: $(grep -i 'config' "$T/help2.out" | head -n 3)"
grep -q "^plugin_dir = $p/lib/backfill\$" "$p/etc/backfill/backfilld.ini" || bf_fail "the sample ini's plugin_dir"
grep -q "^cron_file = $p/etc/backfill/crontab\$" "$p/etc/backfill/backfilld.ini" || bf_fail "the sample ini's cron_file"
rc=0; "$p/sbin/backfilld" --check-config >"$T/check2.out" 2>&1 || rc=$?
bf_eq "$rc" 0 "--check-config with the installed sample configuration ($(tail -n 2 "$T/check2.out"))"
grep -q "plugin noop" "$T/check2.out" || bf_fail "--check-config did not load the installed plugins: $(cat "$T/check2.out")"
echo "install, out-of-tree plugin and uninstall ok"
