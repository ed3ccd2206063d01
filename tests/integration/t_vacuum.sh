#!/usr/bin/env bash
# t_vacuum -- [daemon] vacuum_every: after that many results the daemon
# runs VACUUM on the jobs table (its log says so, PostgreSQL counts it);
# with 0 it never does; a role that does not own the table says once that
# it cannot, and drains its jobs all the same.
. "$(dirname "$0")/lib.sh"

S=$BACKFILL_SCHEMA
N=6000
vacuums() { bf_sql "SELECT vacuum_count FROM pg_stat_user_tables WHERE schemaname = '$S' AND relname = 'jobs'"; }
enqueue() { bf_sql "INSERT INTO $S.jobs (task, queue, payload) SELECT 'noop', 'fast', '{}' FROM generate_series(1, $N)"; }
lines() { grep -c "info vacuum: $S.jobs vacuumed in " "$T/daemon-$1.log" || true; }

bf_plugins noop
bf_migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; bf_fail "migrate failed"; }
before=$(vacuums)

bf_log "vacuum_every = 1000: VACUUMs while $N jobs drain"
printf '[daemon]\nvacuum_every = 1000\n' >"$T/on.ini"
enqueue
bf_start on -c "$T/on.ini"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 60
bf_stop on >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status (on)"
n=$(lines on)
bf_log "$n VACUUM(s) logged"
[ "$n" -ge 1 ] || bf_fail "no VACUUM logged with vacuum_every = 1000"
[ "$n" -le $((N / 1000)) ] || bf_fail "$n VACUUMs for $N results with vacuum_every = 1000"
counted() { [ "$(vacuums)" -ge $((before + n)) ]; }
bf_wait_for 10 "PostgreSQL to count $n VACUUM(s) of jobs" counted

bf_log "vacuum_every = 0 (environment): never"
before=$(vacuums)
enqueue
BACKFILL_VACUUM_EVERY=0 bf_start off -c "$T/on.ini"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 60
bf_stop off >"$T/rc"
bf_eq "$(lines off)" 0 "VACUUMs logged with vacuum_every = 0"
sleep 1
bf_eq "$(vacuums)" "$before" "VACUUMs counted with vacuum_every = 0"

bf_log "a role that does not own the table: says so once, drains all the same"
role=bf_vacuum_worker
bf_sql "DROP ROLE IF EXISTS $role" 2>/dev/null || true
bf_sql "CREATE ROLE $role LOGIN;
        GRANT USAGE ON SCHEMA $S TO $role;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA $S TO $role;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA $S TO $role" >/dev/null
before=$(vacuums)
enqueue
url=${DATABASE_URL/postgres@/$role@}
[ "$url" != "$DATABASE_URL" ] || bf_fail "cannot make a URL for role $role from $DATABASE_URL"
bf_start notowner -c "$T/on.ini" --database-url "$url"
bf_wait_sql "SELECT count(*) FROM $S.jobs" 0 60
bf_stop notowner >"$T/rc"
bf_eq "$(cat "$T/rc")" 0 "exit status (not the owner)"
bf_eq "$(grep -c "info vacuum: role $role does not own $S.jobs, so it cannot VACUUM it" "$T/daemon-notowner.log")" 1 \
	"'does not own' lines"
bf_eq "$(lines notowner)" 0 "VACUUMs logged by a role that does not own jobs"
bf_sql "DROP OWNED BY $role; DROP ROLE $role" >/dev/null
echo "ok"
