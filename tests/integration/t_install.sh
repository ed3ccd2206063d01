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
echo "install, out-of-tree plugin and uninstall ok"
