# lib.sh -- helpers for integration tests (sourced).  Each test gets a fresh
# database on the run's private PostgreSQL, a work directory $T, and runs the
# real build/backfilld with real plugins.
set -euo pipefail

BF_TEST=$(basename "$0" .sh)
T=$BF_TMP/$BF_TEST
rm -rf "$T"; mkdir -p "$T"; chmod 777 "$T"
BIN=$BF_BUILD/backfilld
PLUGINS=$T/plugins
BF_PIDS=()

bf_log() { echo "# $*"; }
bf_fail() { echo "FAIL: $*"; bf_dump_logs; exit 1; }
bf_dump_logs() {
	for f in "$T"/daemon*.log; do
		[ -f "$f" ] || continue
		echo "---- $f (last 40 lines)"; tail -n 40 "$f"
	done
}

# A fresh database named after the test; DATABASE_URL points at it.
db=bf_${BF_TEST//[^a-z0-9_]/_}
psql -q "$BF_ADMIN_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL=${BF_ADMIN_URL%/*}/$db
export BACKFILL_SCHEMA=${BACKFILL_SCHEMA:-backfill}
unset FAST_QUEUE_CONCURRENCY BULK_QUEUE_CONCURRENCY POLL_INTERVAL_MS BACKFILL_LOG_LEVEL BACKFILL_PLUGIN_DIR
unset BACKFILL_CRON_FILE
unset BACKFILL_ADMIN_TOKEN
# No admin HTTP endpoint unless a test asks for one (with --admin-listen, or
# by unsetting this): daemons of one test, or of runs that overlap, would
# all want 127.0.0.1:9187.
export BACKFILL_ADMIN_LISTEN=

# A plugin directory holding the given plugins (names without .so), taken
# from the build (plugins/) or the test plugins (tests/plugins/).
bf_plugins() {
	rm -rf "$PLUGINS"; mkdir -p "$PLUGINS"; chmod 755 "$PLUGINS"
	local p
	for p in "$@"; do
		if [ -f "$BF_BUILD/plugins/$p.so" ]; then cp "$BF_BUILD/plugins/$p.so" "$PLUGINS/"
		elif [ -f "$BF_BUILD/tests/plugins/$p.so" ]; then cp "$BF_BUILD/tests/plugins/$p.so" "$PLUGINS/"
		else bf_fail "no plugin $p built"; fi
		chmod 644 "$PLUGINS/$p.so"
	done
}

# psql against the test database: bf_sql "SQL" -> unaligned, tuples only.
bf_sql() { psql -X -q -v ON_ERROR_STOP=1 -tA "$DATABASE_URL" -c "$1"; }

# Apply the schema without starting a daemon.
bf_migrate() { "$BIN" --migrate --plugin-dir "$PLUGINS" "$@"; }

# Start a daemon in the background: bf_start NAME [args...]; waits for its
# "ready" line.  Its log is $T/daemon-NAME.log, its pid in BF_PID_NAME.
bf_start() {
	local name=$1; shift
	local log=$T/daemon-$name.log
	"$BIN" --plugin-dir "$PLUGINS" "$@" >"$log" 2>&1 &
	local pid=$!
	eval "BF_PID_$name=$pid"
	BF_PIDS+=("$pid")
	local i
	for i in $(seq 1 200); do
		grep -q "ready" "$log" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$log"; bf_fail "daemon $name exited during start"; }
		sleep 0.05
	done
	bf_fail "daemon $name not ready after 10 s"
}

bf_pid() { eval "echo \$BF_PID_$1"; }

# Stop a daemon with SIGTERM and wait; prints its exit status.  Call it
# directly (bf_stop a >"$T/rc"), not in $(...): wait needs this shell.
bf_stop() {
	local pid; pid=$(bf_pid "$1")
	kill -TERM "$pid" 2>/dev/null || true
	local rc=0
	wait "$pid" || rc=$?
	echo "$rc"
}

# Wait until a query returns the expected text: bf_wait_sql SQL EXPECTED [SECONDS]
bf_wait_sql() {
	local q=$1 want=$2 secs=${3:-20} got=
	local end=$(( $(date +%s) + secs ))
	while [ "$(date +%s)" -le "$end" ]; do
		got=$(bf_sql "$q" 2>/dev/null || true)
		[ "$got" = "$want" ] && return 0
		sleep 0.05
	done
	bf_fail "waited ${secs}s for [$q] = [$want], last got [$got]"
}

# Wait until a command succeeds: bf_wait_for SECONDS DESCRIPTION COMMAND...
bf_wait_for() {
	local secs=$1 what=$2; shift 2
	local end=$(( $(date +%s) + secs ))
	until "$@"; do
		[ "$(date +%s)" -le "$end" ] || bf_fail "waited ${secs}s for $what"
		sleep 0.05
	done
}

# A psql session of its own that keeps a transaction open: bf_hold NAME SQL
# runs BEGIN; SQL there, bf_release NAME COMMIT|ROLLBACK ends it.  Its
# output goes to $T/NAME.out.
bf_hold() {
	mkfifo "$T/$1.fifo"
	psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <"$T/$1.fifo" >"$T/$1.out" 2>&1 &
	eval "exec {fd_$1}>\"\$T/\$1.fifo\""
	eval "echo \"BEGIN; \$2\" >&\$fd_$1"
}
bf_release() { eval "echo \"\$2;\" >&\$fd_$1; exec {fd_$1}>&-"; }

# Assert equality: bf_eq ACTUAL EXPECTED MESSAGE
bf_eq() { [ "$1" = "$2" ] || bf_fail "$3: expected [$2], got [$1]"; }

bf_cleanup() {
	local p
	for p in "${BF_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap bf_cleanup EXIT

# Apply sql/[0-9]*.sql in order to $BACKFILL_SCHEMA with psql, without the
# daemon (one transaction; stops at the first error).
bf_apply_sql_by_hand() {
	local f
	{
		echo 'BEGIN;'
		echo 'CREATE SCHEMA IF NOT EXISTS :"schema";'
		echo 'SET LOCAL search_path TO :"schema";'
		for f in "$BF_ROOT"/sql/[0-9]*.sql; do
			echo "\\i '$f'"
		done
		echo 'COMMIT;'
	} | psql -X -q -v ON_ERROR_STOP=1 -v schema="$BACKFILL_SCHEMA" "$DATABASE_URL" -f - >/dev/null
}

# psql with verbose errors; prints stdout and stderr together.
psqlv() { psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -tA "$DATABASE_URL" "$@" 2>&1; }

# bf_err SQL SQLSTATE TEXT...: SQL must fail with that SQLSTATE, and the error
# output (message, detail, hint) must contain every TEXT.
bf_err() {
	local sql=$1 code=$2 out t; shift 2
	if out=$(psqlv -c "$sql"); then
		bf_fail "expected error $code from [$sql], it succeeded: [$out]"
	fi
	case $out in *"ERROR:  $code: "*) ;; *) bf_fail "[$sql]: expected SQLSTATE $code in [$out]" ;; esac
	for t in "$@"; do
		case $out in *"$t"*) ;; *) bf_fail "[$sql]: expected [$t] in [$out]" ;; esac
	done
}

# `make install` of this tree into the staging directory DEST (DESTDIR, the
# default PREFIX); the log goes to $T/install.log.  bf_installed_pkg_config
# DEST then makes pkg-config (and Makefiles that call it) find the .pc files
# and headers installed there.
bf_make_install() {
	make -s -C "$BF_ROOT" BUILD="$BF_BUILD" DESTDIR="$1" install >"$T/install.log" 2>&1 ||
		{ cat "$T/install.log"; bf_fail "make install failed"; }
}
bf_installed_pkg_config() {
	export PKG_CONFIG_PATH=$1/usr/local/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$1
}
