#!/usr/bin/env bash
# t_examples -- the enqueue examples of examples/ run as a reader would run
# them, against a real backfilld with the log plugin: 01-psql (psql -f),
# 02-python (psycopg2), 03-node (pg, installed with `npm ci` from the
# committed lockfile) and 04-c-libpq (built with its own Makefile, with the
# project's warnings as errors).  Every job an example says it enqueued must
# show up in the daemon's log exactly once, with its queue, attempts and
# payload, and be gone from backfill.jobs; jobs of rolled-back transactions
# must never exist.  A missing psycopg2, node or npm fails the test.
. "$(dirname "$0")/lib.sh"

# the examples name the default schema, backfill
export BACKFILL_SCHEMA=backfill
EX=$BF_ROOT/examples
bf_plugins log
cat >"$T/backfilld.ini" <<EOF
[daemon]
poll_interval_ms = 100
cron_file =
EOF
bf_start a -c "$T/backfilld.ini"

# ran EXAMPLE: the jobs of task log whose payload has that "example", from the
# daemon's log, one line each: ID|QUEUE|ATTEMPT/MAX|PAYLOAD (keys sorted)
ran() {
	python3 - "$T/daemon-a.log" "$1" <<'PY'
import json, re, sys
log, example = sys.argv[1], sys.argv[2]
line_re = re.compile(r'job (\d+) \(log, queue (\S+), attempt (\d+)/(\d+)\): payload (.*)$')
rows = []
for line in open(log, encoding='utf-8', errors='replace'):
    m = line_re.search(line.rstrip('\n'))
    if not m:
        continue
    payload = json.loads(m.group(5))
    if isinstance(payload, dict) and payload.get('example') == example:
        rows.append((int(m.group(1)), '%s|%s|%s/%s|%s' % (
            m.group(1), m.group(2), m.group(3), m.group(4),
            json.dumps(payload, sort_keys=True, ensure_ascii=False))))
print('\n'.join(r for _, r in sorted(rows)))
PY
}
# wait_example EXAMPLE: until no job of that example is left in backfill.jobs
wait_example() {
	bf_wait_sql "SELECT count(*) FROM backfill.jobs WHERE payload @> '{\"example\": \"$1\"}'" 0 30
}
# field OUTPUT REGEX: the first capture group of the line matching REGEX
field() { sed -n -E "s/$2/\\1/p" <<<"$1" | head -n 1; }
# no_job ID: the job never existed or ran (rolled back)
no_job() {
	bf_eq "$(bf_sql "SELECT count(*) FROM backfill.jobs WHERE id = $1")" 0 "rolled-back job $1 in backfill.jobs"
	! grep -q "job $1 (" "$T/daemon-a.log" || bf_fail "rolled-back job $1 ran"
}

bf_log "01-psql"
out=$(psql -X "$DATABASE_URL" -f "$EX/01-psql/enqueue.sql" 2>&1) || { echo "$out"; bf_fail "01-psql/enqueue.sql failed"; }
echo "$out"
wait_example 01-psql
got=$(ran 01-psql | cut -d'|' -f2- | LC_ALL=C sort)
want=$(LC_ALL=C sort <<'EOF'
bulk|1/8|{"example": "01-psql", "step": "plain insert"}
fast|1/3|{"example": "01-psql", "step": "add_job"}
bulk|1/8|{"example": "01-psql", "step": "replace", "version": 2}
bulk|1/8|{"example": "01-psql", "step": "preserve_run_at", "version": 2}
bulk|1/8|{"example": "01-psql", "step": "unsafe_dedupe", "version": 1}
fast|1/8|{"example": "01-psql", "step": "enqueue_emergency"}
fast|1/12|{"example": "01-psql", "step": "enqueue_critical"}
fast|1/3|{"example": "01-psql", "step": "enqueue_fast_with_retries"}
fast|1/8|{"example": "01-psql", "step": "enqueue_fast"}
bulk|1/8|{"example": "01-psql", "step": "enqueue_bulk"}
bulk|1/5|{"example": "01-psql", "step": "enqueue_bulk_with_retries"}
bulk|1/8|{"example": "01-psql", "step": "enqueue_serial"}
EOF
)
bf_eq "$got" "$want" "01-psql: the jobs that ran (each once; replace and preserve_run_at ran the second payload, unsafe_dedupe the first)"
# the script shows the rollback: no order, no job
grep -Eq '^ +0 \| +0$' <<<"$out" || bf_fail "01-psql: no 'orders | jobs' row of 0 | 0 after the rollback"
for n in 1 2 3 4 5 6 7; do grep -q "^== $n\. " <<<"$out" || bf_fail "01-psql: step $n not printed"; done

bf_log "02-python"
py=
for c in python3 /usr/bin/python3; do
	if command -v "$c" >/dev/null && "$c" -c 'import psycopg2' 2>/dev/null; then py=$c; break; fi
done
[ -n "$py" ] || bf_fail "02-python needs psycopg2: apt-get install python3-psycopg2 (scripts/install-deps does)"
out=$("$py" "$EX/02-python/enqueue.py" grace@example.com 2>&1) || { echo "$out"; bf_fail "02-python/enqueue.py failed"; }
echo "$out"
user=$(field "$out" '^committed: user ([0-9]+) .*')
welcome=$(field "$out" '^committed: .*, welcome job ([0-9]+) .*')
audit=$(field "$out" '^committed: .*, audit job ([0-9]+)$')
lost=$(field "$out" '^inside the second transaction: job ([0-9]+) exists$')
[ -n "$user" ] && [ -n "$welcome" ] && [ -n "$audit" ] && [ -n "$lost" ] || bf_fail "02-python: unexpected output"
grep -q '^rolled back: duplicate key value violates unique constraint' <<<"$out" || bf_fail "02-python: no rollback shown"
grep -q "^job $lost after the rollback: gone, never ran$" <<<"$out" || bf_fail "02-python: rolled-back job not shown gone"
grep -q '^users: 1$' <<<"$out" || bf_fail "02-python: the failed sign-up left a user"
wait_example 02-python
bf_eq "$(ran 02-python)" \
	"$welcome|fast|1/8|{\"email\": \"grace@example.com\", \"example\": \"02-python\", \"step\": \"welcome\", \"user_id\": $user}
$audit|bulk|1/8|{\"example\": \"02-python\", \"step\": \"audit\", \"user_id\": $user}" "02-python: the jobs that ran"
no_job "$lost"
bf_log "02-python refuses bad input"
if out=$("$py" "$EX/02-python/enqueue.py" not-an-address 2>&1); then bf_fail "02-python accepted a bad address: $out"; fi
grep -q "is not an e-mail address" <<<"$out" || bf_fail "02-python: unclear error for a bad address: $out"
if out=$(DATABASE_URL= "$py" "$EX/02-python/enqueue.py" 2>&1); then bf_fail "02-python ran without DATABASE_URL"; fi
grep -q "set DATABASE_URL" <<<"$out" || bf_fail "02-python: unclear error without DATABASE_URL: $out"

bf_log "03-node"
command -v node >/dev/null || bf_fail "03-node needs node: apt-get install nodejs npm (scripts/install-deps does)"
command -v npm >/dev/null || bf_fail "03-node needs npm: apt-get install npm (scripts/install-deps does)"
# a copy, so that node_modules stays out of the checkout
mkdir -p "$T/node"
cp "$EX/03-node/package.json" "$EX/03-node/package-lock.json" "$EX/03-node/enqueue.js" "$T/node/"
(cd "$T/node" && npm ci --no-audit --no-fund) >"$T/npm.log" 2>&1 || { cat "$T/npm.log"; bf_fail "03-node: npm ci failed"; }
out=$(cd "$T/node" && node enqueue.js "a lamp" 2>&1) || { echo "$out"; bf_fail "03-node/enqueue.js failed"; }
echo "$out"
order=$(field "$out" '^committed: order ([0-9]+) .*')
job=$(field "$out" '^committed: .*, job ([0-9]+) \(task log, queue fast\)$')
lost=$(field "$out" '^inside the second transaction: job ([0-9]+) exists$')
[ -n "$order" ] && [ -n "$job" ] && [ -n "$lost" ] || bf_fail "03-node: unexpected output"
grep -q '^rolled back: new row for relation "orders" violates check constraint' <<<"$out" || bf_fail "03-node: no rollback shown"
grep -q "^job $lost after the rollback: gone, never ran$" <<<"$out" || bf_fail "03-node: rolled-back job not shown gone"
grep -q '^orders: 1$' <<<"$out" || bf_fail "03-node: the failed order left a row"
wait_example 03-node
bf_eq "$(ran 03-node)" \
	"$job|fast|1/8|{\"example\": \"03-node\", \"item\": \"a lamp\", \"order_id\": $order, \"step\": \"confirm order\"}" \
	"03-node: the job that ran"
no_job "$lost"
if out=$(cd "$T/node" && node enqueue.js "" 2>&1); then bf_fail "03-node accepted an empty item"; fi
grep -q "ITEM must not be empty" <<<"$out" || bf_fail "03-node: unclear error for an empty item: $out"

bf_log "04-c-libpq"
mkdir -p "$T/c"
cp "$EX/04-c-libpq/enqueue.c" "$EX/04-c-libpq/Makefile" "$T/c/"
make -C "$T/c" CFLAGS="-std=c11 -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wcast-qual -Wundef -Wvla -Werror" ||
	bf_fail "04-c-libpq does not build"
msg="quotes \" ' and \\ backslash; ünïcødé; DROP TABLE backfill.jobs; --"
out=$("$T/c/enqueue" "$msg" 2>&1) || { echo "$out"; bf_fail "04-c-libpq/enqueue failed"; }
echo "$out"
plain=$(field "$out" '^plain INSERT: job ([0-9]+)$')
added=$(field "$out" '^add_job: job ([0-9]+)$')
[ -n "$plain" ] && [ -n "$added" ] || bf_fail "04-c-libpq: unexpected output"
grep -q '^refused, as it should be: SQLSTATE 22023: add_job: payload must be a JSON object or array' <<<"$out" ||
	bf_fail "04-c-libpq: the refused enqueue is not shown"
wait_example 04-c-libpq
json_msg=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1], ensure_ascii=False))' "$msg")
bf_eq "$(ran 04-c-libpq)" \
	"$plain|bulk|1/8|{\"example\": \"04-c-libpq\", \"message\": $json_msg, \"step\": \"plain insert\"}
$added|fast|1/8|{\"example\": \"04-c-libpq\", \"step\": \"add_job\", \"tags\": [\"c\", \"libpq\"]}" \
	"04-c-libpq: the jobs that ran (the message intact)"
if out=$(DATABASE_URL= "$T/c/enqueue" 2>&1); then bf_fail "04-c-libpq ran without DATABASE_URL"; fi
grep -q "set DATABASE_URL" <<<"$out" || bf_fail "04-c-libpq: unclear error without DATABASE_URL: $out"

bf_log "nothing failed, nothing left"
bf_eq "$(bf_sql "SELECT count(*) FROM backfill.dlq")" 0 "dead-lettered jobs"
bf_eq "$(bf_sql "SELECT count(*) FROM backfill.jobs")" 0 "jobs left"
bf_stop a >"$T/stop-a.rc"
bf_eq "$(cat "$T/stop-a.rc")" 0 "daemon exit status after SIGTERM"
echo "ok"
