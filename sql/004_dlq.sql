-- 004_dlq.sql -- managing the dead-letter queue (requeue, delete, purge,
-- stats), the DLQ processor's sweep of exhausted jobs, and the release of
-- locks held by workers nobody knows.
--
-- Objects are created unqualified in the schema the applier put first in
-- search_path; every function pins it (SET search_path FROM CURRENT), and
-- the wake-up channel is "<schema>.jobs" (current_schema() inside a
-- function), as in 001-003.
--
-- A dlq row stays until an operator deletes or purges it, or until a job
-- requeued from it succeeds (finish_jobs in 003 deletes it through
-- jobs.dlq_id).  A requeued job that dies again updates its dlq row
-- (dlq_put in 002) instead of adding one.
--
-- Errors: bad arguments raise 22023 (invalid_parameter_value), a dlq row
-- that does not exist P0002 (no_data_found), a requeue whose job_key is
-- taken in jobs 23505 (unique_violation, what the INSERT itself would raise).

-- The indexes of 001 serve these functions: dlq_pkey (requeue, delete, the
-- finish_jobs clean-up), dlq_job_key (delete by key), dlq_failed_at (purge,
-- oldest/newest), dlq_task and dlq_queue (purge filters), jobs_exhausted
-- (the sweep), jobs_locked (stale locks), the unique jobs.job_key (the
-- requeue's key check).  Nothing more is needed.

-- ---------------------------------------------------------------------------
-- dlq_requeue: run a dead job again.  Inserts a new job with the dlq row's
-- task, payload, queue, priority, max_attempts, job_key and serial_key, due
-- now, attempts 0, dlq_id = the row's id; then the row's requeued_count + 1,
-- last_requeued_at = now() and notes = notes (the old notes stay when NULL
-- is passed).  The dlq row is kept: the job's success deletes it, the job's
-- death updates it.  Returns the new job.  Refused when the row does not
-- exist (P0002) or when its job_key is held by a job in jobs, waiting or
-- running (23505).
CREATE FUNCTION dlq_requeue(dlq_id bigint, notes text DEFAULT NULL)
RETURNS jobs
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    v_dead dlq;
    v_old  jobs;
    v_new  jobs;
BEGIN
    IF dlq_requeue.dlq_id IS NULL THEN
        RAISE EXCEPTION 'dlq_requeue: dlq_id must not be NULL'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the id of a row of the dlq table.';
    END IF;

    -- Serialises with a concurrent requeue or delete of the same row.
    SELECT * INTO v_dead FROM dlq d WHERE d.id = dlq_requeue.dlq_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dlq_requeue: dlq row % does not exist', dlq_requeue.dlq_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'It may have been deleted, purged, or cleared by the '
                         'success of a job requeued from it.';
    END IF;

    IF v_dead.job_key IS NOT NULL THEN
        -- The lock add_job and remove_job take for this key.
        PERFORM pg_advisory_xact_lock(
            hashtextextended(current_schema() || '.jobs.job_key:' || v_dead.job_key, 0));
        SELECT * INTO v_old FROM jobs j WHERE j.job_key = v_dead.job_key;
        IF FOUND AND v_old.locked_at IS NULL THEN
            RAISE EXCEPTION 'dlq_requeue: dlq row %: job_key % is already queued (job id %)',
                            v_dead.id, quote_literal(v_dead.job_key), v_old.id
                USING ERRCODE = 'unique_violation',
                      DETAIL = format('Job %s (task %s) has attempts %s/%s and is due at %s.',
                                      v_old.id, v_old.task, v_old.attempts,
                                      v_old.max_attempts, v_old.run_at),
                      HINT = 'Wait for that job to finish, or remove it with '
                             'remove_job(job_key), then requeue.';
        ELSIF FOUND THEN
            RAISE EXCEPTION 'dlq_requeue: dlq row %: job_key % is running (job id %, '
                            'locked by % since %)',
                            v_dead.id, quote_literal(v_dead.job_key), v_old.id,
                            v_old.locked_by, v_old.locked_at
                USING ERRCODE = 'unique_violation',
                      HINT = 'Wait for that job to finish, then requeue if it is '
                             'still needed.';
        END IF;
    END IF;

    INSERT INTO jobs (task, payload, queue, priority, max_attempts, job_key,
                      serial_key, run_at, attempts, dlq_id)
    VALUES (v_dead.task, v_dead.payload, v_dead.queue, v_dead.priority,
            v_dead.max_attempts, v_dead.job_key, v_dead.serial_key, now(), 0,
            v_dead.id)
    RETURNING * INTO v_new;

    UPDATE dlq d
    SET requeued_count   = d.requeued_count + 1,
        last_requeued_at = now(),
        notes            = coalesce(dlq_requeue.notes, d.notes)
    WHERE d.id = v_dead.id;

    RETURN v_new;
END
$$;

-- dlq_requeue_many: dlq_requeue for each id (duplicates count once), in the
-- order given; all or nothing: the first id that cannot be requeued raises
-- (naming it) and nothing is requeued.  Returns the new jobs.
CREATE FUNCTION dlq_requeue_many(ids bigint[], notes text DEFAULT NULL)
RETURNS SETOF jobs
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    v_id bigint;
BEGIN
    IF dlq_requeue_many.ids IS NULL THEN
        RAISE EXCEPTION 'dlq_requeue_many: ids must not be NULL'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass an array of dlq row ids, e.g. ARRAY[1, 2].';
    END IF;
    IF array_position(dlq_requeue_many.ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'dlq_requeue_many: ids[%] is NULL',
                        array_position(dlq_requeue_many.ids, NULL)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Lock every row in id order (no deadlock between two batches), then
    -- name the first id, in the caller's order, that does not exist.
    PERFORM 1 FROM dlq d WHERE d.id = ANY (dlq_requeue_many.ids)
    ORDER BY d.id FOR UPDATE;
    SELECT i.id INTO v_id
    FROM unnest(dlq_requeue_many.ids) WITH ORDINALITY AS i(id, n)
    WHERE NOT EXISTS (SELECT 1 FROM dlq d WHERE d.id = i.id)
    ORDER BY i.n LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'dlq_requeue_many: dlq row % does not exist; nothing was requeued',
                        v_id
            USING ERRCODE = 'no_data_found';
    END IF;

    -- A key conflict raises from dlq_requeue, naming the dlq row; the whole
    -- call is rolled back with it.
    FOR v_id IN
        SELECT i.id
        FROM unnest(dlq_requeue_many.ids) WITH ORDINALITY AS i(id, n)
        GROUP BY i.id ORDER BY min(i.n)
    LOOP
        RETURN NEXT dlq_requeue(v_id, dlq_requeue_many.notes);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- dlq_delete: delete one dlq row; true if it existed.  A job already requeued
-- from it still runs; should it die, it gets a new dlq row.
CREATE FUNCTION dlq_delete(dlq_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
BEGIN
    IF dlq_delete.dlq_id IS NULL THEN
        RAISE EXCEPTION 'dlq_delete: dlq_id must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM dlq d WHERE d.id = dlq_delete.dlq_id;
    RETURN FOUND;
END
$$;

-- dlq_delete_by_job_key: delete the dlq rows with this job_key (at most one:
-- the key is unique in the dlq); returns how many.
CREATE FUNCTION dlq_delete_by_job_key(job_key text)
RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    n integer;
BEGIN
    IF dlq_delete_by_job_key.job_key IS NULL OR dlq_delete_by_job_key.job_key = '' THEN
        RAISE EXCEPTION 'dlq_delete_by_job_key: job_key must be a non-empty string, got %',
                        CASE WHEN dlq_delete_by_job_key.job_key IS NULL THEN 'NULL'
                             ELSE 'an empty string' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Key-less rows are deleted by id with dlq_delete(dlq_id).';
    END IF;
    DELETE FROM dlq d WHERE d.job_key = dlq_delete_by_job_key.job_key;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- ---------------------------------------------------------------------------
-- dlq_purge: delete the dlq rows that failed more than older_than ago
-- (failed_at < now() - older_than), only those of task and of queue when
-- given (exact match).  Returns one row (deleted, task, queue) per task and
-- queue with the number deleted, none when nothing matched.  With dry_run
-- nothing is deleted and the numbers are what would be.  (The result is a
-- named type because RETURNS TABLE could not name its columns task and queue
-- next to the parameters of the same names.)
CREATE TYPE dlq_purge_result AS (deleted bigint, task text, queue text);

CREATE FUNCTION dlq_purge(older_than interval,
                          task text DEFAULT NULL,
                          queue text DEFAULT NULL,
                          dry_run boolean DEFAULT false)
RETURNS SETOF dlq_purge_result
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    v_before timestamptz;
BEGIN
    IF dlq_purge.older_than IS NULL OR dlq_purge.older_than < interval '0' THEN
        RAISE EXCEPTION 'dlq_purge: older_than must be a non-negative interval, got %',
                        coalesce(dlq_purge.older_than::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'e.g. interval ''30 days'' deletes rows that failed more '
                         'than 30 days ago; interval ''0'' deletes every row.';
    END IF;
    IF dlq_purge.dry_run IS NULL THEN
        RAISE EXCEPTION 'dlq_purge: dry_run must be true or false, got NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_before := now() - dlq_purge.older_than;

    IF dlq_purge.dry_run THEN
        RETURN QUERY
        SELECT count(*), d.task, d.queue
        FROM dlq d
        WHERE d.failed_at < v_before
          AND (dlq_purge.task IS NULL OR d.task = dlq_purge.task)
          AND (dlq_purge.queue IS NULL OR d.queue = dlq_purge.queue)
        GROUP BY d.task, d.queue
        ORDER BY d.task, d.queue;
    ELSE
        RETURN QUERY
        WITH gone AS (
            DELETE FROM dlq d
            WHERE d.failed_at < v_before
              AND (dlq_purge.task IS NULL OR d.task = dlq_purge.task)
              AND (dlq_purge.queue IS NULL OR d.queue = dlq_purge.queue)
            RETURNING d.task, d.queue)
        SELECT count(*), g.task, g.queue
        FROM gone g
        GROUP BY g.task, g.queue
        ORDER BY g.task, g.queue;
    END IF;
END
$$;

-- dlq_stats: {"total", "by_task": {task: n}, "by_queue": {queue: n},
-- "oldest_failed_at", "newest_failed_at" (null when empty), "requeued"
-- (sum of requeued_count), "failure_count" (sum of failure_count)}.
CREATE FUNCTION dlq_stats()
RETURNS jsonb
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT jsonb_build_object(
        'total',            count(*),
        'by_task',          coalesce((SELECT jsonb_object_agg(t.task, t.n)
                                      FROM (SELECT d.task, count(*) AS n
                                            FROM dlq d GROUP BY d.task) t), '{}'),
        'by_queue',         coalesce((SELECT jsonb_object_agg(q.queue, q.n)
                                      FROM (SELECT d.queue, count(*) AS n
                                            FROM dlq d GROUP BY d.queue) q), '{}'),
        'oldest_failed_at', min(a.failed_at),
        'newest_failed_at', max(a.failed_at),
        'requeued',         coalesce(sum(a.requeued_count), 0),
        'failure_count',    coalesce(sum(a.failure_count), 0))
    FROM dlq a;
$$;

-- ---------------------------------------------------------------------------
-- dlq_sweep: the DLQ processor's scan.  Moves up to max_jobs jobs that are
-- exhausted (attempts >= max_attempts) and not running, oldest updated_at
-- first, to the dlq: deleted from jobs and dead-lettered (dlq_put) in one
-- statement, so a job is never in both tables nor in neither.  Rows locked by
-- another transaction are skipped (next sweep).  Returns how many moved.
CREATE FUNCTION dlq_sweep(max_jobs integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
    n integer;
BEGIN
    IF dlq_sweep.max_jobs IS NULL OR dlq_sweep.max_jobs < 1 THEN
        RAISE EXCEPTION 'dlq_sweep: max_jobs must be at least 1, got %',
                        coalesce(dlq_sweep.max_jobs::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    WITH picked AS MATERIALIZED (
        SELECT j.id
        FROM jobs j
        WHERE j.attempts >= j.max_attempts AND j.locked_at IS NULL
        ORDER BY j.updated_at
        LIMIT dlq_sweep.max_jobs
        FOR UPDATE SKIP LOCKED),
    moved AS (
        DELETE FROM jobs j
        USING picked p
        WHERE j.id = p.id
        RETURNING j AS job)
    SELECT coalesce(dlq_put(
               array_agg(m.job ORDER BY (m.job).updated_at, (m.job).id),
               array_agg(format('exceeded maximum attempts (%s/%s); found by the '
                                'DLQ processor', (m.job).attempts, (m.job).max_attempts)
                         ORDER BY (m.job).updated_at, (m.job).id),
               NULL), 0)
    INTO n
    FROM moved m;
    RETURN n;
END
$$;

-- ---------------------------------------------------------------------------
-- release_stale_locks: the safety net for locks whose owner is unknown, i.e.
-- whose locked_by has no row in workers (a registered daemon's locks are
-- never touched, however old: recover_dead_workers in 003 handles those).
--   * jobs locked longer than job_lock_timeout are unlocked, the attempt
--     refunded (attempts - 1, at least 0), last_error saying so;
--   * serial_locks older than queue_lock_timeout are deleted, unless the job
--     they hold is still locked by that owner (and not released just now):
--     a serial lock lasts as long as its job runs, however long (backfill
--     timed them out under running jobs; we do not).
-- Each change is guarded by the state read (locked_by, locked_at), so a
-- completion or a new claim that raced the clean-up is never overwritten.
-- NOTIFYs "<schema>.jobs" when anything was released.  Returns the counts.
CREATE FUNCTION release_stale_locks(queue_lock_timeout interval,
                                    job_lock_timeout interval)
RETURNS TABLE (serial_locks_released integer, jobs_released integer)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
    n_serial integer;
    n_jobs   integer;
BEGIN
    IF queue_lock_timeout IS NULL OR queue_lock_timeout < interval '0' THEN
        RAISE EXCEPTION 'release_stale_locks: queue_lock_timeout must be a non-negative '
                        'interval, got %', coalesce(queue_lock_timeout::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The default of stale_queue_lock_timeout is 300 seconds.';
    END IF;
    IF job_lock_timeout IS NULL OR job_lock_timeout < interval '0' THEN
        RAISE EXCEPTION 'release_stale_locks: job_lock_timeout must be a non-negative '
                        'interval, got %', coalesce(job_lock_timeout::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The default of stale_job_lock_timeout is 1800 seconds.';
    END IF;

    WITH stale AS MATERIALIZED (
        SELECT j.id, j.locked_by, j.locked_at
        FROM jobs j
        WHERE j.locked_at IS NOT NULL
          AND j.locked_at < now() - job_lock_timeout
          AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = j.locked_by)),
    released AS (
        UPDATE jobs j
        SET attempts   = greatest(j.attempts - 1, 0),
            locked_at  = NULL,
            locked_by  = NULL,
            updated_at = now(),
            last_error = format('lock held by unknown worker %s since %s released after %s',
                                s.locked_by, s.locked_at, job_lock_timeout)
        FROM stale s
        WHERE j.id = s.id
          AND j.locked_by IS NOT DISTINCT FROM s.locked_by
          AND j.locked_at = s.locked_at
        RETURNING j.id)
    SELECT count(*) INTO n_jobs FROM released;

    -- A later statement: jobs released above no longer hold their serial
    -- locks.
    WITH stale AS MATERIALIZED (
        SELECT s.serial_key, s.job_id, s.locked_by, s.locked_at
        FROM serial_locks s
        WHERE s.locked_at < now() - queue_lock_timeout
          AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = s.locked_by)
          AND NOT EXISTS (SELECT 1 FROM jobs j
                          WHERE j.id = s.job_id
                            AND j.locked_by = s.locked_by
                            AND j.locked_at IS NOT NULL)),
    deleted AS (
        DELETE FROM serial_locks s
        USING stale x
        WHERE s.serial_key = x.serial_key
          AND s.job_id = x.job_id
          AND s.locked_by = x.locked_by
          AND s.locked_at = x.locked_at
        RETURNING 1)
    SELECT count(*) INTO n_serial FROM deleted;

    IF n_jobs > 0 OR n_serial > 0 THEN
        PERFORM pg_notify(current_schema() || '.jobs', '');
    END IF;
    RETURN QUERY SELECT n_serial, n_jobs;
END
$$;

INSERT INTO migrations (version, name) VALUES (4, '004_dlq');
