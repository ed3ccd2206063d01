#!/usr/bin/env bash
# t_docs_complete -- the reference documentation covers the code, and the
# code has everything the documentation names:
#  * every configuration key of the key table (daemon/config.c, as --help
#    prints it) has its row in docs/OPERATIONS.md with its environment
#    variable, flag, default and whether a reload applies it (the table's
#    reloadable field); every row there is a real key;
#  * every environment variable the code reads (the key table's, the
#    NAME_QUEUE_CONCURRENCY pattern, every getenv("...") in daemon/, cli/
#    and plugins/) has a row in docs/OPERATIONS.md, and every row there is
#    read by the code; so does every flag of backfilld --help;
#  * every SQL function and table of the schema, read from a database the
#    migrations were applied to, has its heading in docs/SQL.md with its
#    exact parameter names -- "### add_job(task, payload, ...)",
#    "### jobs (table)" -- and every such heading is a real function or
#    table;
#  * every metric family of a live daemon's /metrics (after it ran a job, so
#    that every family has series) has its row in docs/OPERATIONS.md with its
#    type and each of its labels, every metric name in daemon/metrics.c too,
#    and every row there is a live family;
#  * every admin HTTP route (daemon/admin.c) has a row in docs/OPERATIONS.md;
#  * every test docs/GUARANTEES.md cites exists, and README.md links the
#    three documents.
. "$(dirname "$0")/lib.sh"
S=$BACKFILL_SCHEMA
OPS=$BF_ROOT/docs/OPERATIONS.md
SQLDOC=$BF_ROOT/docs/SQL.md
GUAR=$BF_ROOT/docs/GUARANTEES.md
for f in "$OPS" "$SQLDOC" "$GUAR"; do [ -f "$f" ] || bf_fail "$f is missing"; done
errors=0
miss() { echo "MISMATCH: $*"; errors=$((errors + 1)); }

# Table rows of a markdown file whose first cell is `X`: prints X.
first_cells() { sed -n 's/^| `\([^`]*\)` |.*/\1/p' "$1"; }
# The row of OPERATIONS.md whose first cell is exactly `X`.
row_of() { awk -v k="| \`$1\` |" 'index($0, k) == 1 { print; exit }' "$OPS"; }

# ---- configuration keys -------------------------------------------------
bf_log "configuration keys: docs/OPERATIONS.md against the key table"
help=$("$BIN" --help)
# lines like: --poll-interval-ms VALUE   [daemon] poll_interval_ms, env POLL_INTERVAL_MS: ... (default 200)
keys=$(echo "$help" | sed -n 's/^ *--\([a-z-]*\) VALUE *\[\([a-z_.]*\)\] \([a-z_]*\), env \([A-Z_]*\):.*(default \(.*\))$/\2|\3|\4|\1|\5/p')
nkeys=$(echo "$keys" | grep -c .)
[ "$nkeys" -ge 9 ] || bf_fail "could not read the key table from --help: $keys"
# whether each key is reloadable: the key table's field after the flag
reload=$(python3 - "$BF_ROOT/daemon/config.c" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
table = src[src.index("config_keys[] = {"):]
table = table[:table.index("};")]
for m in re.finditer(r'\{"(\w+)",\s*"(\w+)",\s*CONFIG_TYPE_\w+,.*?"([A-Z_]+)",\s*"([a-z-]+)",\s*(true|false),',
                     table, re.S):
    print("%s|%s|%s" % (m.group(1), m.group(2), "live" if m.group(5) == "true" else "restart"))
EOF
)
[ "$(echo "$reload" | grep -c .)" = "$nkeys" ] ||
	bf_fail "read $(echo "$reload" | grep -c .) reloadable fields from daemon/config.c but --help shows $nkeys keys"
trim() { echo "$1" | sed 's/^ *//; s/ *$//'; }
while IFS='|' read -r section name env flag def; do
	row=$(row_of "[$section] $name")
	if [ -z "$row" ]; then miss "key [$section] $name has no row in docs/OPERATIONS.md"; continue; fi
	[ -z "$def" ] && def=empty
	when=$(echo "$reload" | awk -F'|' -v s="$section" -v n="$name" '$1 == s && $2 == n { print $3 }')
	# | `[s] n` | `ENV` | `--flag` | `default` | live |
	IFS='|' read -r _ _ c_env c_flag c_def c_when _ <<< "$row"
	[ "$(trim "$c_env")" = "\`$env\`" ] || miss "[$section] $name: environment column is [$(trim "$c_env")], the code says \`$env\`"
	[ "$(trim "$c_flag")" = "\`--$flag\`" ] || miss "[$section] $name: flag column is [$(trim "$c_flag")], the code says \`--$flag\`"
	case $def in empty) want_def=empty ;; *) want_def="\`$def\`" ;; esac
	[ "$(trim "$c_def")" = "$want_def" ] || miss "[$section] $name: default column is [$(trim "$c_def")], the code says $want_def"
	[ "$(trim "$c_when")" = "$when" ] || miss "[$section] $name: reload column is [$(trim "$c_when")], the key table says $when"
done <<< "$keys"
first_cells "$OPS" | grep '^\[[a-z]*\] ' | while read -r section name; do
	s=${section#[}; s=${s%]}
	echo "$keys" | grep -q "^$s|$name|" || echo "MISMATCH: docs/OPERATIONS.md documents [$s] $name, which the code does not know"
done | tee "$T/reverse-keys"
[ -s "$T/reverse-keys" ] && errors=$((errors + 1))
# queue sections: their row is written with the NAME placeholder
row_of "[queue.NAME] concurrency" | grep -q '`NAME_QUEUE_CONCURRENCY`' ||
	miss "no row \`[queue.NAME] concurrency\` with \`NAME_QUEUE_CONCURRENCY\` in docs/OPERATIONS.md"

# ---- flags --------------------------------------------------------------
bf_log "flags of backfilld --help"
for flag in $(echo "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -qF -- "\`$flag" "$OPS" || miss "flag $flag (backfilld --help) is not in docs/OPERATIONS.md"
done

# ---- environment variables ----------------------------------------------
bf_log "environment variables: code against docs/OPERATIONS.md"
{
	echo "$keys" | cut -d'|' -f3
	grep -q '#define QUEUE_ENV_SUFFIX "_QUEUE_CONCURRENCY"' "$BF_ROOT/daemon/config.c" && echo NAME_QUEUE_CONCURRENCY
	grep -rhoE 'getenv\("[A-Za-z0-9_]+"\)' "$BF_ROOT/daemon" "$BF_ROOT/cli" "$BF_ROOT/plugins" |
		sed 's/getenv("\(.*\)")/\1/'
} | sort -u > "$T/env-code"
[ "$(wc -l < "$T/env-code")" -ge 20 ] || bf_fail "found only $(wc -l < "$T/env-code") environment variables in the code"
first_cells "$OPS" | grep -E '^[A-Z][A-Z0-9_]*$' | sort -u > "$T/env-doc"
comm -23 "$T/env-code" "$T/env-doc" | sed 's/^/MISMATCH: environment variable /; s/$/ is read by the code but has no row in docs\/OPERATIONS.md/' > "$T/env-undoc"
comm -13 "$T/env-code" "$T/env-doc" | sed 's/^/MISMATCH: docs\/OPERATIONS.md has a row for environment variable /; s/$/, which the code never reads/' > "$T/env-unknown"
for f in "$T/env-undoc" "$T/env-unknown"; do
	[ -s "$f" ] && { cat "$f"; errors=$((errors + $(wc -l < "$f"))); }
done

# ---- SQL functions and tables -------------------------------------------
bf_log "SQL functions and tables: a migrated schema against docs/SQL.md"
bf_plugins noop
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
bf_sql "SELECT p.proname || '(' || coalesce((SELECT string_agg(split_part(a, ' ', 1), ', ' ORDER BY n)
                                           FROM unnest(string_to_array(pg_get_function_identity_arguments(p.oid), ', '))
                                                WITH ORDINALITY AS x(a, n) WHERE a <> ''), '') || ')'
        FROM pg_proc p JOIN pg_namespace ns ON ns.oid = p.pronamespace
        WHERE ns.nspname = '$S' ORDER BY 1" > "$T/fn-db"
bf_sql "SELECT c.relname || ' (table)' FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE ns.nspname = '$S' AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1" > "$T/tab-db"
[ "$(wc -l < "$T/fn-db")" -ge 20 ] || bf_fail "only $(wc -l < "$T/fn-db") functions in schema $S"
# the same functions the SQL files create (nothing created another way)
grep -hoiE '^CREATE (OR REPLACE )?FUNCTION [a-z_]+' "$BF_ROOT"/sql/*.sql | awk '{ print $NF }' | sort -u > "$T/fn-files"
bf_eq "$(sed 's/(.*//' "$T/fn-db" | sort -u | paste -sd' ')" "$(paste -sd' ' "$T/fn-files")" \
	"functions in the database vs CREATE FUNCTION in sql/*.sql"
sed -n 's/^### \([a-z_]*([a-z_, ]*)\) *$/\1/p' "$SQLDOC" | sort -u > "$T/fn-doc"
sed -n 's/^### \([a-z_]* (table)\) *$/\1/p' "$SQLDOC" | sort -u > "$T/tab-doc"
for kind in fn tab; do
	comm -23 <(sort -u "$T/$kind-db") "$T/$kind-doc" | sed 's/^/MISMATCH: no heading "### /; s/$/" in docs\/SQL.md/' > "$T/$kind-undoc"
	comm -13 <(sort -u "$T/$kind-db") "$T/$kind-doc" | sed 's/^/MISMATCH: docs\/SQL.md documents /; s/$/, which the schema does not have (with these parameters)/' > "$T/$kind-unknown"
	for f in "$T/$kind-undoc" "$T/$kind-unknown"; do
		[ -s "$f" ] && { cat "$f"; errors=$((errors + $(wc -l < "$f"))); }
	done
done

# ---- metrics --------------------------------------------------------------
bf_log "metrics: a live /metrics and daemon/metrics.c against docs/OPERATIONS.md"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bf_start d --admin-listen "127.0.0.1:$PORT" --queue fast=1 --queue bulk=1
bf_sql "INSERT INTO $S.jobs (task) VALUES ('noop')" >/dev/null
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 20
# the job's counters appear once its result is recorded: wait for them
for _ in $(seq 1 100); do
	python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
		"http://127.0.0.1:$PORT/metrics" > "$T/metrics" 2>/dev/null || true
	grep -q '^backfill_jobs_completed_total{' "$T/metrics" && grep -q '^backfill_queue_jobs{' "$T/metrics" && break
	sleep 0.1
done
grep -q '^backfill_jobs_completed_total{' "$T/metrics" || bf_fail "no job counter series in /metrics after a job ran"
sed -n 's/^# TYPE \([a-z_:]*\) \([a-z]*\)$/\1 \2/p' "$T/metrics" | sort -u > "$T/families"
[ "$(wc -l < "$T/families")" -ge 10 ] || bf_fail "only $(wc -l < "$T/families") metric families in /metrics"
# names metrics.c writes (a family the live daemon left out would show here)
grep -oE '"backfill_[a-z_]+' "$BF_ROOT/daemon/metrics.c" | tr -d '"' |
	sed -E 's/_(bucket|sum|count)$//' | sort -u > "$T/metric-src"
comm -23 "$T/metric-src" <(cut -d' ' -f1 "$T/families") | sed 's/^/# not in the live \/metrics: /'
while read -r name type; do
	row=$(row_of "$name")
	if [ -z "$row" ]; then miss "metric $name ($type) has no row in docs/OPERATIONS.md"; continue; fi
	IFS='|' read -r _ _ c_type c_labels _ <<< "$row"
	[ "$(echo "$c_type" | tr -d ' ')" = "$type" ] || miss "metric $name: type column is [$c_type], /metrics says $type"
	# its labels, from the series (le belongs to the histogram format)
	for label in $(grep -E "^${name}(_bucket|_sum|_count)?\{" "$T/metrics" | grep -oE '[{,][a-z_]+=' | tr -d '{,=' | sort -u); do
		[ "$label" = le ] && continue
		case $c_labels in *"\`$label\`"*) ;; *) miss "metric $name: label $label is not in its row's labels column [$c_labels]" ;; esac
	done
done < "$T/families"
for name in $(cat "$T/metric-src"); do
	[ -n "$(row_of "$name")" ] || miss "metric $name (daemon/metrics.c) has no row in docs/OPERATIONS.md"
done
for name in $(first_cells "$OPS" | grep '^backfill_'); do
	grep -q "^$name " "$T/families" || miss "docs/OPERATIONS.md documents metric $name, which /metrics does not have"
done

# ---- admin HTTP routes ----------------------------------------------------
bf_log "admin HTTP routes of daemon/admin.c"
# the route enum names each route's methods and path: /* GET, DELETE /dlq/{id} */
sed -n 's|^[[:space:]]*ROUTE_[A-Z_]*, *\/\* \([A-Z, ]*\) \(/[^ ]*\) \*/.*|\1\|\2|p' "$BF_ROOT/daemon/admin.c" > "$T/routes"
[ "$(wc -l < "$T/routes")" -ge 8 ] || bf_fail "read only $(wc -l < "$T/routes") routes from daemon/admin.c"
# ... and the static paths of the routes table are among them
for p in $(grep -oE '\[ROUTE_[A-Z_]+\] = \{"/[^"]*"' "$BF_ROOT/daemon/admin.c" | sed 's/.*{"//; s/"$//'); do
	cut -d'|' -f2 "$T/routes" | grep -qxF "$p" || bf_fail "route $p of the routes table is not in the route enum's comments"
done
while IFS='|' read -r methods path; do
	for m in ${methods//,/ }; do
		grep -qE "^\| \`$m ${path//\{/\\\{}[?\`]" "$OPS" || miss "endpoint $m $path has no row in docs/OPERATIONS.md"
	done
done < "$T/routes"

# ---- GUARANTEES.md cites real tests; README links the documents ------------
bf_log "tests cited by docs/GUARANTEES.md exist; README links the documents"
cited=$(grep -oE 't_[a-z0-9_]+\.sh' "$GUAR" | sort -u)
[ "$(echo "$cited" | grep -c .)" -ge 10 ] || miss "docs/GUARANTEES.md cites only $(echo "$cited" | grep -c .) tests"
for t in $cited; do
	[ -f "$BF_ROOT/tests/integration/$t" ] || miss "docs/GUARANTEES.md cites $t, which does not exist"
done
for d in docs/OPERATIONS.md docs/GUARANTEES.md docs/SQL.md; do
	grep -qF "]($d)" "$BF_ROOT/README.md" || miss "README.md does not link $d"
done

bf_stop d >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status of the daemon"
[ "$errors" -eq 0 ] || bf_fail "$errors mismatch(es) between the code and the documentation (above)"
echo "docs cover every key, environment variable, flag, SQL function and table, metric and endpoint"
