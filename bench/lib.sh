# lib.sh -- shell code shared by bench/backfilld-bench and
# bench/backfilld-scale (sourced, never run): the daemon's clean environment,
# the work directory, the cluster, psql and timing helpers, plugin
# directories and ini files, the pools, the --smoke check.
#
# The sourcing script sets ROOT, BUILD_DIR, BIN, BENCHCTL, SHARED, SCHEMA,
# PRIVATE, KEEP and URL (empty: a cluster is started), and BENCH_PROG (its
# name, for messages).  Progress goes to stderr ("#" lines), result lines to
# stdout and $WORK/results.txt.

say() { echo "# $*" >&2; }
# a result line: to stdout, and kept for the --smoke check
result() { echo "$*"; echo "$*" >>"$WORK/results.txt"; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }

# The daemon's settings come from the scripts' ini files only.
bench_clean_env() {
	local v
	for v in $(compgen -e); do
		case $v in
		DATABASE_URL | BACKFILL_* | POLL_INTERVAL_MS | *_QUEUE_CONCURRENCY) unset "$v" ;;
		esac
	done
}

# bench_workdir BINARY...: WORK = a fresh directory under WORKROOT with
# private copies of the binaries in $WORK/bin (a rebuild of $BUILD during the
# run changes nothing there)
bench_workdir() {
	WORKROOT=${BENCH_WORKDIR:-$ROOT/.run/bench}
	mkdir -p "$WORKROOT"
	WORK=$(mktemp -d "$WORKROOT/run-XXXXXX")
	chmod 755 "$WORK"
	mkdir -p "$WORK/bin"
	cp "$@" "$WORK/bin/"
}

# ---- the cluster -----------------------------------------------------------
# At exit: stop the daemon in DAEMON_PID and those listed in $WORK/drain.pid,
# stop a cluster this run started, remove WORK unless something failed.
STOP_CLUSTER=
DAEMON_PID=
bench_cleanup() {
	local rc=$? p
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	if [ -f "$WORK/drain.pid" ]; then
		for p in $(cat "$WORK/drain.pid"); do
			kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null || true
		done
	fi
	[ -n "$STOP_CLUSTER" ] && eval "$STOP_CLUSTER" >&2 || true
	if [ $rc -eq 0 ]; then rm -rf "$WORK"; else say "logs kept in $WORK"; fi
	exit $rc
}

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=55$((RANDOM % 400 + 100))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
	done
	return 1
}

# Sets URL (unless --url gave it) and STOP_CLUSTER.
bench_cluster() {
	local out port pgdir
	if [ -n "$URL" ]; then
		say "using --url (schema $SCHEMA will be dropped and recreated)"
	elif [ "$PRIVATE" -eq 1 ]; then
		port=$(free_port) || { echo "$BENCH_PROG: no free port" >&2; exit 1; }
		pgdir=$WORKROOT/pg-$port
		if [ -x "$SHARED/pg-up" ]; then
			out=$(BENCH_PGDATA=$pgdir BENCH_PGPORT=$port "$SHARED/pg-up") || { echo "$out" >&2; exit 1; }
			STOP_CLUSTER="BENCH_PGDATA='$pgdir' '$SHARED/pg-down' --wipe >/dev/null"
		else # no peer harness here: the project's own private cluster
			out=$(scripts/pgcluster start "$pgdir" "$port") || exit 1
			STOP_CLUSTER="scripts/pgcluster stop '$pgdir' immediate; rm -rf '$pgdir'"
		fi
		URL=$(tail -n 1 <<<"$out")
		say "private cluster on port $port"
	else
		[ -x "$SHARED/pg-up" ] || { echo "$BENCH_PROG: $SHARED/pg-up not found: give --url or set BENCH_SHARED" >&2; exit 1; }
		out=$("$SHARED/pg-up") || { echo "$out" >&2; exit 1; }
		URL=$(tail -n 1 <<<"$out")
		if ! grep -q "already running" <<<"$out" && [ "$KEEP" -eq 0 ]; then
			STOP_CLUSTER="'$SHARED/pg-down' >/dev/null"
		fi
	fi
}

q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -tA "$URL" "$@"; }
timed() { "$BENCHCTL" exec "$URL" "$1" | sed -n 's/^seconds=//p'; }

# PGVER FSYNC SYNC SHBUF VERSION SETTINGS: the server's and the daemon's
bench_settings() {
	IFS='|' read -r PGVER FSYNC SYNC SHBUF < <(q -c "SELECT split_part(current_setting('server_version'), ' ', 1), \
		current_setting('fsync'), current_setting('synchronous_commit'), current_setting('shared_buffers')")
	VERSION=$("$BIN" --version | awk '{print $2}')
	SETTINGS="fsync=$FSYNC synchronous_commit=$SYNC"
}

# ---- plugin directories and configurations ---------------------------------
mkplugins() { # DIR SO...
	local dir=$1 so; shift
	mkdir -p "$dir"; chmod 755 "$dir"
	for so in "$@"; do cp "$so" "$dir/"; chmod 644 "$dir/$(basename "$so")"; done
}
ini() { # FILE PLUGIN_DIR [extra lines]
	local f=$1 dir=$2 l; shift 2
	{
		echo "[database]"; echo "url = $URL"; echo "schema = $SCHEMA"
		echo "[daemon]"; echo "plugin_dir = $dir"; echo "log_level = warn"
		for l in "$@"; do echo "$l"; done
		# the admin endpoint (default 127.0.0.1:9187) is not part of what
		# is measured
		echo "[admin]"; echo "listen ="
	} >"$f"
}

# bench_pools INI: POOLS (fast:10,bulk:5), C (their sum), POLL_MS, HB_S as
# the daemon will really run them (its --check-config)
bench_pools() {
	local cfg
	cfg=$("$BIN" -c "$1" --check-config 2>/dev/null) || true
	POOLS=$(awk '
		/^\[queue\./ { q = substr($1, 8, length($1) - 8) }
		q != "" && $1 == "concurrency" { printf "%s%s:%s", sep, q, $3; sep = ","; q = "" }' <<<"$cfg")
	C=$(tr ',' '\n' <<<"$POOLS" | awk -F: '{ s += $2 } END { print s }')
	POLL_MS=$(awk '$1 == "poll_interval_ms" { print $3 }' <<<"$cfg")
	HB_S=$(awk '$1 == "heartbeat_interval" { print $3 }' <<<"$cfg")
	[ -n "$POOLS" ] && [ -n "$C" ] || { echo "$BENCH_PROG: cannot read the pools from --check-config" >&2; exit 1; }
}

# ---- --smoke ---------------------------------------------------------------
# smoke_check NAME PREFIX KEY...: the first "backfilld PREFIX:" line of
# $WORK/results.txt has every KEY, a number except for the settings that are
# words; complaints start with "NAME:", a failure sets SMOKE_BAD=1
SMOKE_BAD=0
smoke_check() {
	local name=$1 prefix=$2 line k v; shift 2
	line=$(grep -m1 "^backfilld $prefix: " "$WORK/results.txt" || true)
	[ -n "$line" ] || { echo "$name: no \"backfilld $prefix:\" line" >&2; SMOKE_BAD=1; return; }
	for k in "$@"; do
		v=$(tr ' ' '\n' <<<"$line" | sed -n "s/^$k=//p" | head -n 1)
		if [[ $k =~ ^(backfilld|postgres|fsync|synchronous_commit|pools)$ ]]; then
			[ -n "$v" ] && continue
		else
			[[ $v =~ ^-?[0-9]+(\.[0-9]+)?$ ]] && continue
		fi
		echo "$name: \"backfilld $prefix:\" has no valid $k (got \"$v\")" >&2
		SMOKE_BAD=1
	done
}
