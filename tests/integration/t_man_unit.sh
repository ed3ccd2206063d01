# The man pages render without warnings (groff, when installed) and stay in
# step with the code: every key of `backfilld --help` has an entry in
# backfilld.ini.5 with its default, environment variable and flag (and every
# entry there is a real key), every flag, environment variable and exit code
# of backfilld is in backfilld.8, every command, option and exit code of
# backfillctl in backfillctl.1.  `make install` installs backfillctl, the man
# pages (naming the installed paths) and the sysusers.d file, which
# systemd-sysusers accepts; the installed unit has what the operations issue
# asks for and passes `systemd-analyze verify` (when systemd is installed);
# `make uninstall` removes them again.
. "$(dirname "$0")/lib.sh"

CTL=$BF_BUILD/backfillctl
M=$BF_ROOT/man
pages="$M/backfilld.8 $M/backfilld.ini.5 $M/backfillctl.1"

# The text of a man page without roff: font escapes and macro names gone,
# \- as -, one line per source line.
deroff() {
	sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\(aq/'"'"'/g' -e 's/\\&//g' -e 's/\\c$//' \
		-e 's/^\.\(B\|I\|BR\|RB\|BI\|IB\|IR\|RI\) //' -e 's/"//g' "$1"
}

bf_log "the pages render without warnings"
if command -v groff >/dev/null; then
	for p in $pages; do
		out=$(groff -man -Tutf8 -ww -z "$p" 2>&1) || bf_fail "groff failed on $p: $out"
		[ -z "$out" ] || bf_fail "groff warns about $p: $out"
	done
else
	bf_log "SKIP: groff is not installed (Debian package groff-base); rendering not checked"
fi
version=$("$BIN" --version | awk '{ print $2 }')
for p in $pages; do
	grep -q "^\.TH [A-Z.]* [158] [0-9-]* \"backfilld $version\"" "$p" || bf_fail "$p: .TH does not name backfilld $version"
done

bf_log "backfilld.ini.5 has every key of the key table, with its default, variable and flag"
help=$("$BIN" --help)
# lines like: --poll-interval-ms VALUE   [daemon] poll_interval_ms, env POLL_INTERVAL_MS: ... (default 200)
keys=$(echo "$help" | sed -n 's/^ *\(--[a-z-]*\) VALUE *\[\([a-z_.]*\)\] \([a-z_]*\), env \([A-Z_]*\): .* (default \(.*\))$/\2 \3 \4 \1 \5/p')
[ "$(echo "$keys" | wc -l)" -ge 13 ] || bf_fail "could not read the key table from --help: $keys"
ini5=$T/ini5.txt
deroff "$M/backfilld.ini.5" >"$ini5"
while read -r section name env flag def; do
	# the entry: from its tag ".BI "name = " ..." under .SS [section] to the next .TP/.SS/.SH
	entry=$(awk -v s="[$section]" -v k="$name" '
		/^\.(SH|SS|TP)/ { if (inside) exit }
		/^\.SS / { sec = substr($0, 5) }
		inside { print }
		sec == s && index($0, ".BI \"" k " = \"") == 1 { inside = 1 }' "$M/backfilld.ini.5")
	[ -n "$entry" ] || bf_fail "backfilld.ini.5 has no entry for [$section] $name"
	text=$(printf '%s\n' "$entry" >"$T/entry"; deroff "$T/entry" | tr '\n' ' ' | tr -s ' ')
	case "$text" in *"Environment: $env "*) ;; *) bf_fail "backfilld.ini.5 [$section] $name: no 'Environment: $env': $text" ;; esac
	case "$text" in *"Flag: $flag "*) ;; *) bf_fail "backfilld.ini.5 [$section] $name: no 'Flag: $flag': $text" ;; esac
	if [ -z "$def" ]; then
		case "$text" in *"Default: empty"*) ;; *) bf_fail "backfilld.ini.5 [$section] $name: no 'Default: empty': $text" ;; esac
	else
		case "$text" in *"Default: $def "*) ;; *) bf_fail "backfilld.ini.5 [$section] $name: no 'Default: $def': $text" ;; esac
	fi
done <<<"$keys"
# and the other way round: every entry of a built-in section is a key
awk '/^\.SS / { sec = substr($0, 5) } /^\.BI "[a-z_]+ = "/ && sec ~ /^\[[a-z]+\]$/ {
	split($0, w, "\""); sub(/ = $/, "", w[2]); print substr(sec, 2, length(sec) - 2), w[2] }' "$M/backfilld.ini.5" |
	while read -r section name; do
		grep -q "^$section $name " <<<"$keys" || bf_fail "backfilld.ini.5 documents [$section] $name, which backfilld does not know"
	done

bf_log "backfilld.8 has every flag, environment variable and exit code of backfilld --help"
page8=$T/page8.txt
deroff "$M/backfilld.8" >"$page8"
for flag in $(echo "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -qE -- "(^|[^a-z-])$flag([^a-z-]|$)" "$page8" || bf_fail "backfilld.8 lacks $flag"
done
for env in $(echo "$keys" | awk '{ print $3 }'); do
	grep -qx -- "$env" "$page8" || bf_fail "backfilld.8 has no ENVIRONMENT entry for $env"
done
codes=$(echo "$help" | sed -n '/^Exit codes:/,$p' | grep -o '\b[0-9][0-9]*\b' | sort -u)
[ -n "$codes" ] || bf_fail "no exit codes in backfilld --help"
status8=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$M/backfilld.8")
for c in $codes; do
	grep -qx "\.B $c" <<<"$status8" || bf_fail "backfilld.8 EXIT STATUS lacks $c"
done

bf_log "backfillctl.1 has every command, option and exit code of backfillctl --help, README too"
chelp=$("$CTL" --help)
page1=$T/page1.txt
deroff "$M/backfillctl.1" >"$page1"
# the .TP tags of COMMANDS
tags=$(sed -n '/^\.SH COMMANDS/,/^\.SH /p' "$M/backfillctl.1" | awk 'prev ~ /^\.TP/ { print } { prev = $0 }' >"$T/tags"; deroff "$T/tags")
cmds=$(echo "$chelp" | sed -n '/^Commands:/,/^$/p' | grep '^  [a-z]' | awk '{ print ($1 == "dlq" ? $1 " " $2 : $1) }')
[ "$(echo "$cmds" | wc -l)" -ge 10 ] || bf_fail "could not read the commands from backfillctl --help: $cmds"
while read -r cmd; do
	grep -q "^$cmd\b" <<<"$tags" || bf_fail "backfillctl.1 COMMANDS lacks $cmd"
	grep -q "^| \`$cmd\b" "$BF_ROOT/README.md" || bf_fail "README's backfillctl table lacks $cmd"
done <<<"$cmds"
for opt in $(echo "$chelp" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -qE -- "(^|[^a-z-])$opt([^a-z-]|$)" "$page1" || bf_fail "backfillctl.1 lacks $opt"
done
ccodes=$(echo "$chelp" | sed -n '/^Exit codes:/,$p' | grep -o '\b[0-9][0-9]*\b' | sort -u)
[ "$(echo "$ccodes" | wc -l)" = 4 ] || bf_fail "backfillctl --help names exit codes [$ccodes]"
status1=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$M/backfillctl.1")
readme_codes=$(sed -n '/^#### backfillctl exit codes/,/^#/p' "$BF_ROOT/README.md")
for c in $ccodes; do
	grep -qx "\.B $c" <<<"$status1" || bf_fail "backfillctl.1 EXIT STATUS lacks $c"
	grep -q "^| $c |" <<<"$readme_codes" || bf_fail "README lacks backfillctl exit code $c"
done

bf_log "the unit file has what the operations issue asks for"
unit=$BF_ROOT/systemd/backfilld.service
for line in 'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' 'User=backfill' \
	'EnvironmentFile=-/etc/default/backfilld' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' \
	'PrivateTmp=yes' 'Documentation=man:backfilld(8) man:backfilld.ini(5) man:backfillctl(1)'; do
	grep -qxF "$line" "$unit" || bf_fail "backfilld.service lacks $line"
done
grep -q '^ReadOnlyPaths=.*/usr/lib/backfill\b' "$unit" || bf_fail "backfilld.service: the plugin directory is not read-only"
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
drain=$(echo "$keys" | awk '$2 == "shutdown_timeout" { print $5 }')
[ -n "$stop" ] && [ -n "$drain" ] && [ "$stop" -gt "$drain" ] ||
	bf_fail "TimeoutStopSec=$stop must exceed the default shutdown_timeout ($drain)"
# WatchdogSec= only once the daemon sends WATCHDOG=1 (it would kill it otherwise)
if grep -q 'WATCHDOG=1' "$BF_ROOT"/daemon/*.c; then
	grep -q '^WatchdogSec=' "$unit" || bf_fail "the daemon pings the watchdog: add WatchdogSec= to the unit"
else
	! grep -q '^WatchdogSec=' "$unit" || bf_fail "WatchdogSec= is set but the daemon never sends WATCHDOG=1"
fi

bf_log "make install: backfillctl, man pages and sysusers file where README says"
dest=$T/dest
make -s -C "$BF_ROOT" BUILD="$BF_BUILD" DESTDIR="$dest" install >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; bf_fail "make install failed"; }
for f in usr/local/bin/backfillctl usr/local/share/man/man1/backfillctl.1 usr/local/share/man/man5/backfilld.ini.5 \
	usr/local/share/man/man8/backfilld.8 usr/local/lib/sysusers.d/backfill.conf; do
	[ -f "$dest/$f" ] || bf_fail "make install did not install $f"
done
"$dest/usr/local/bin/backfillctl" --version >/dev/null || bf_fail "the installed backfillctl does not run"
if command -v systemd-sysusers >/dev/null; then
	conf=$(systemd-sysusers --root="$dest" --cat-config 2>&1) || bf_fail "systemd-sysusers --cat-config: $conf"
	grep -qxF "# $dest/usr/local/lib/sysusers.d/backfill.conf" <<<"$conf" ||
		bf_fail "systemd-sysusers does not find the installed backfill.conf: $conf"
	if [ "$(id -u)" = 0 ]; then
		# creates etc/passwd and etc/group under the DESTDIR, not the system's
		out=$(systemd-sysusers --root="$dest" 2>&1) || bf_fail "systemd-sysusers refused backfill.conf: $out"
		grep -q '^backfill:x:[0-9]*:[0-9]*:backfilld background job daemon:/:/usr/sbin/nologin$' "$dest/etc/passwd" ||
			bf_fail "systemd-sysusers did not create the user backfill: $(cat "$dest/etc/passwd")"
		grep -q '^backfill:x:[0-9]*:$' "$dest/etc/group" || bf_fail "systemd-sysusers did not create the group backfill"
	else
		out=$(systemd-sysusers --root="$dest" --dry-run 2>&1) || bf_fail "systemd-sysusers refused backfill.conf: $out"
		grep -q "Creating user 'backfill'" <<<"$out" || bf_fail "systemd-sysusers would not create backfill: $out"
	fi
else
	bf_log "SKIP: systemd-sysusers is not installed; backfill.conf not checked"
fi
make -s -C "$BF_ROOT" BUILD="$BF_BUILD" DESTDIR="$dest" uninstall >/dev/null 2>&1
for f in usr/local/bin/backfillctl usr/local/share/man/man1/backfillctl.1 usr/local/share/man/man5/backfilld.ini.5 \
	usr/local/share/man/man8/backfilld.8 usr/local/lib/sysusers.d/backfill.conf; do
	[ ! -e "$dest/$f" ] || bf_fail "make uninstall left $f"
done

bf_log "an install under a real prefix: pages and unit name its paths; systemd-analyze verify"
# No DESTDIR, so the unit's ExecStart= names a binary that exists.  A build
# directory of its own: the daemon compiles the install paths in, and the
# suite's build must keep its defaults (and its coverage counts).
prefix=$T/prefix
make -s -C "$BF_ROOT" BUILD="$T/build" PREFIX="$prefix" SYSCONFDIR="$prefix/etc" PLUGINDIR="$prefix/lib/backfill" \
	install >"$T/install2.log" 2>&1 || { cat "$T/install2.log"; bf_fail "make install PREFIX=$prefix failed"; }
grep -qx "\.I $prefix/sbin/backfilld" "$prefix/share/man/man8/backfilld.8" || bf_fail "installed backfilld.8 does not name $prefix/sbin/backfilld"
grep -qx "\.I $prefix/etc/backfill/backfilld.ini" "$prefix/share/man/man5/backfilld.ini.5" ||
	bf_fail "installed backfilld.ini.5 does not name $prefix/etc/backfill/backfilld.ini"
grep -qx "ExecStart=$prefix/sbin/backfilld -c $prefix/etc/backfill/backfilld.ini" "$prefix/lib/systemd/system/backfilld.service" ||
	bf_fail "installed unit: $(grep ExecStart "$prefix/lib/systemd/system/backfilld.service")"
grep -q "^ReadOnlyPaths=$prefix/lib/backfill $prefix/etc/backfill$" "$prefix/lib/systemd/system/backfilld.service" ||
	bf_fail "installed unit: $(grep ReadOnlyPaths "$prefix/lib/systemd/system/backfilld.service")"
if command -v systemd-analyze >/dev/null; then
	# verify parses the unit as systemd would (unknown keys and sections,
	# bad values), checks that ExecStart= and ExecReload= are executable and
	# that the units it names load; with man installed, that each
	# Documentation= page is found (through MANPATH, in the install).  It
	# does not look up User=, nor start anything.  Any output is a finding.
	man_check=--man=no
	command -v man >/dev/null && man_check=--man=yes
	out=$(MANPATH=$prefix/share/man systemd-analyze verify "$man_check" \
		"$prefix/lib/systemd/system/backfilld.service" 2>&1) || bf_fail "systemd-analyze verify failed: $out"
	[ -z "$out" ] || bf_fail "systemd-analyze verify warns: $out"
	[ "$man_check" = --man=yes ] || bf_log "SKIP part: man is not installed; Documentation= pages not checked"
else
	bf_log "SKIP: systemd-analyze is not installed (package systemd); the unit is not verified"
fi
echo "man pages, unit and install ok"
