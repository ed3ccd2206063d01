-- 01-psql/enqueue.sql -- every way to enqueue a job with nothing but SQL.
--
--   psql "$DATABASE_URL" -f examples/01-psql/enqueue.sql
--
-- Every job here is for the task "log" (the log plugin writes the job to the
-- daemon's log), so `make demo`'s daemon runs them all.  Each payload names
-- the example and the step, so you can find the job in the log.

\set ON_ERROR_STOP on
\set QUIET on
\pset footer off
-- a job's place in line: in how many seconds it becomes due
\set due 'round(extract(epoch FROM run_at - now()))::int AS due_in_s'

\echo
\echo '== 1. A plain INSERT: task and payload are all a job needs'
INSERT INTO backfill.jobs (task, payload)
VALUES ('log', '{"example": "01-psql", "step": "plain insert"}')
RETURNING id, task, queue, priority, max_attempts;

\echo
\echo '== 2. add_job: any column by name'
SELECT id, task, queue, priority, max_attempts, :due
FROM backfill.add_job('log', '{"example": "01-psql", "step": "add_job"}',
                      queue => 'fast', priority => backfill.priority('FAST_HIGH'),
                      max_attempts => 3);

\echo
\echo '== 3. job_key mode replace (the default): debounce'
\echo 'The second call finds the waiting job with the key and updates it in place:'
\echo 'same id, the new payload, and the new run_at (it moves).'
SELECT id, payload, :due
FROM backfill.add_job('log', '{"example": "01-psql", "step": "replace", "version": 1}',
                      job_key => 'example:replace', run_at => now() + interval '5 seconds');
SELECT id, payload, :due
FROM backfill.add_job('log', '{"example": "01-psql", "step": "replace", "version": 2}',
                      job_key => 'example:replace', run_at => now() + interval '6 seconds');

\echo
\echo '== 4. job_key mode preserve_run_at: throttle'
\echo 'The payload is updated, but a job that never ran keeps its run_at.'
SELECT id, payload, :due
FROM backfill.add_job('log', '{"example": "01-psql", "step": "preserve_run_at", "version": 1}',
                      job_key => 'example:preserve_run_at',
                      run_at => now() + interval '5 seconds');
SELECT id, payload, :due
FROM backfill.add_job('log', '{"example": "01-psql", "step": "preserve_run_at", "version": 2}',
                      job_key => 'example:preserve_run_at',
                      run_at => now() + interval '1 hour',
                      job_key_mode => 'preserve_run_at');

\echo
\echo '== 5. job_key mode unsafe_dedupe: the existing job comes back unchanged'
SELECT id, payload, :due
FROM backfill.add_job('log', '{"example": "01-psql", "step": "unsafe_dedupe", "version": 1}',
                      job_key => 'example:unsafe_dedupe',
                      run_at => now() + interval '5 seconds');
SELECT id, payload, :due
FROM backfill.add_job('log', '{"example": "01-psql", "step": "unsafe_dedupe", "version": 2}',
                      job_key => 'example:unsafe_dedupe',
                      job_key_mode => 'unsafe_dedupe');

\echo
\echo '== 6. The enqueue_* helpers: queue, priority and attempts chosen for you'
SELECT 'enqueue_emergency' AS helper, id, queue, priority, max_attempts
FROM backfill.enqueue_emergency('log', '{"example": "01-psql", "step": "enqueue_emergency"}')
UNION ALL
SELECT 'enqueue_critical', id, queue, priority, max_attempts
FROM backfill.enqueue_critical('log', '{"example": "01-psql", "step": "enqueue_critical"}')
UNION ALL
SELECT 'enqueue_fast_with_retries', id, queue, priority, max_attempts
FROM backfill.enqueue_fast_with_retries('log', '{"example": "01-psql", "step": "enqueue_fast_with_retries"}')
UNION ALL
SELECT 'enqueue_fast', id, queue, priority, max_attempts
FROM backfill.enqueue_fast('log', '{"example": "01-psql", "step": "enqueue_fast"}')
UNION ALL
SELECT 'enqueue_bulk', id, queue, priority, max_attempts
FROM backfill.enqueue_bulk('log', '{"example": "01-psql", "step": "enqueue_bulk"}')
UNION ALL
SELECT 'enqueue_bulk_with_retries', id, queue, priority, max_attempts
FROM backfill.enqueue_bulk_with_retries('log', '{"example": "01-psql", "step": "enqueue_bulk_with_retries"}')
UNION ALL
SELECT 'enqueue_serial', id, queue, priority, max_attempts
FROM backfill.enqueue_serial('log', 'account:42', '{"example": "01-psql", "step": "enqueue_serial"}');

\echo
\echo '== 7. In your own transaction: no commit, no job'
-- a stand-in for one of your application's tables
CREATE TEMP TABLE orders (id serial PRIMARY KEY, item text NOT NULL);
\echo BEGIN
BEGIN;
INSERT INTO orders (item) VALUES ('a book') RETURNING id AS order_id;
SELECT id AS job_id_inside_the_transaction
FROM backfill.add_job('log', '{"example": "01-psql", "step": "rolled back"}');
\echo 'The order and its job are visible only to this transaction; now:'
\echo ROLLBACK
ROLLBACK;
SELECT (SELECT count(*) FROM orders) AS orders,
       (SELECT count(*) FROM backfill.jobs
        WHERE payload @> '{"example": "01-psql", "step": "rolled back"}') AS jobs;

\echo
\echo '== Waiting jobs of this example now (the daemon may already have run some)'
SELECT id, task, queue, priority, payload->>'step' AS step, :due
FROM backfill.jobs
WHERE payload @> '{"example": "01-psql"}'
ORDER BY priority, run_at, id;
