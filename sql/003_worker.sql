-- 003_worker.sql -- what a running daemon does to jobs: register itself,
-- heartbeat, claim, finish (complete, retry, dead-letter) and return jobs,
-- and recover the jobs of daemons that died.  Every statement is guarded by
-- the expected owner (locked_by), so a late or duplicate call changes nothing
-- that another daemon now owns.

-- Live daemons.  A row whose heartbeat_at is older than its
-- heartbeat_timeout belongs to a dead daemon: any live one releases its jobs.
CREATE TABLE workers (
    id                 text        PRIMARY KEY,
    host               text        NOT NULL,
    pid                integer     NOT NULL,
    version            text        NOT NULL,
    queues             text[]      NOT NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    heartbeat_at       timestamptz NOT NULL DEFAULT now(),
    heartbeat_timeout  interval    NOT NULL DEFAULT interval '30 seconds'
);

CREATE FUNCTION worker_register(p_worker text, p_host text, p_pid integer,
                                p_version text, p_queues text[],
                                p_timeout interval)
RETURNS void LANGUAGE sql SET search_path FROM CURRENT AS $$
    INSERT INTO workers (id, host, pid, version, queues, heartbeat_timeout)
    VALUES (p_worker, p_host, p_pid, p_version, p_queues, p_timeout)
    ON CONFLICT (id) DO UPDATE
        SET heartbeat_at = now(), queues = EXCLUDED.queues,
            heartbeat_timeout = EXCLUDED.heartbeat_timeout;
$$;

-- Returns false when the row is gone (another daemon declared this one
-- dead): the caller must re-register and treat its running jobs as lost.
CREATE FUNCTION worker_heartbeat(p_worker text)
RETURNS boolean LANGUAGE sql SET search_path FROM CURRENT AS $$
    WITH hb AS (UPDATE workers SET heartbeat_at = now() WHERE id = p_worker
                RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM hb);
$$;

-- Claim up to p_limit due jobs of one queue for the given tasks, in order
-- priority, run_at, id.  A job with a serial_key is claimed only if no job of
-- that key runs anywhere (serial_locks), and only one per key per call.
CREATE FUNCTION claim_jobs(p_worker text, p_queue text, p_tasks text[],
                           p_limit integer)
RETURNS SETOF jobs LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    -- Only a registered worker claims, and its row stays put until the
    -- claim commits: recover_dead_workers (which takes the row FOR UPDATE)
    -- then sees these jobs.  A worker declared dead claims nothing until it
    -- registers again.
    PERFORM 1 FROM workers WHERE id = p_worker FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH candidates AS MATERIALIZED (
        SELECT j.id, j.serial_key, j.priority, j.run_at
        FROM jobs j
        WHERE j.queue = p_queue
          AND j.task = ANY (p_tasks)
          AND j.locked_at IS NULL
          AND j.attempts < j.max_attempts
          AND j.run_at <= now()
          AND (j.serial_key IS NULL OR NOT EXISTS (
                   SELECT 1 FROM serial_locks s WHERE s.serial_key = j.serial_key))
        ORDER BY j.priority, j.run_at, j.id
        LIMIT p_limit
        FOR UPDATE OF j SKIP LOCKED
    ),
    serial_won AS (
        INSERT INTO serial_locks (serial_key, job_id, locked_by)
        SELECT DISTINCT ON (c.serial_key) c.serial_key, c.id, p_worker
        FROM candidates c
        WHERE c.serial_key IS NOT NULL
        ORDER BY c.serial_key, c.priority, c.run_at, c.id
        ON CONFLICT DO NOTHING
        RETURNING job_id
    )
    UPDATE jobs j
    SET attempts = j.attempts + 1, locked_at = now(), locked_by = p_worker
    FROM candidates c
    WHERE j.id = c.id
      AND (c.serial_key IS NULL OR c.id IN (SELECT job_id FROM serial_won))
    RETURNING j.*;
END
$$;

-- Finish a batch of jobs this worker ran.  Outcome per job: 0 done (deleted),
-- 1 retry (last_error kept, run_at = now() + delay seconds), anything else
-- permanent failure.  A retry of a job with no attempts left, and every
-- permanent failure, moves to the dlq in this same transaction.  Jobs not
-- locked by p_worker (released after it was declared dead) are left alone.
CREATE FUNCTION finish_jobs(p_worker text, p_ids bigint[],
                            p_outcomes smallint[], p_errors text[],
                            p_delays double precision[])
RETURNS TABLE (completed integer, retried integer, dead integer)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    n_ok integer;
    n_retry integer := 0;
    n_dead integer := 0;
BEGIN
    -- a job requeued from the dlq that now succeeds clears its dlq row
    WITH done AS (
        DELETE FROM jobs j
        USING unnest(p_ids, p_outcomes) AS r(id, outcome)
        WHERE j.id = r.id AND r.outcome = 0 AND j.locked_by = p_worker
        RETURNING j.id, j.dlq_id),
    cleared AS (
        DELETE FROM dlq d USING done
        WHERE done.dlq_id IS NOT NULL AND d.id = done.dlq_id)
    SELECT count(*) INTO n_ok FROM done;

    IF EXISTS (SELECT 1 FROM unnest(p_outcomes) o WHERE o <> 0) THEN
        UPDATE jobs j
        SET last_error = r.err,
            run_at = now() + make_interval(secs => r.delay),
            locked_at = NULL, locked_by = NULL, updated_at = now()
        FROM unnest(p_ids, p_outcomes, p_errors, p_delays)
             AS r(id, outcome, err, delay)
        WHERE j.id = r.id AND r.outcome = 1 AND j.locked_by = p_worker
          AND j.attempts < j.max_attempts;
        GET DIAGNOSTICS n_retry = ROW_COUNT;

        WITH moved AS (
            DELETE FROM jobs j
            USING unnest(p_ids, p_outcomes, p_errors) AS r(id, outcome, err)
            WHERE j.id = r.id AND j.locked_by = p_worker
              AND (r.outcome NOT IN (0, 1) OR j.attempts >= j.max_attempts)
            RETURNING j AS job, r.outcome, r.err)
        SELECT coalesce(dlq_put(
                   array_agg(m.job),
                   array_agg(CASE WHEN m.outcome = 1
                       THEN format('exceeded maximum attempts (%s/%s)',
                                   (m.job).attempts, (m.job).max_attempts)
                       ELSE 'permanent failure reported by the handler' END),
                   array_agg(m.err)), 0)
        INTO n_dead
        FROM moved m;
    END IF;

    -- a freed serial key may let another daemon's waiting job run
    DELETE FROM serial_locks
    WHERE job_id = ANY (p_ids) AND locked_by = p_worker;
    IF FOUND THEN
        PERFORM pg_notify(current_schema() || '.jobs', '');
    END IF;

    RETURN QUERY SELECT n_ok, n_retry, n_dead;
END
$$;

-- Give back jobs this worker claimed but will not finish (shutdown): the
-- attempt is refunded and the job is due again at once.
CREATE FUNCTION return_jobs(p_worker text, p_ids bigint[])
RETURNS integer LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    n integer;
BEGIN
    UPDATE jobs
    SET attempts = greatest(attempts - 1, 0), locked_at = NULL,
        locked_by = NULL, updated_at = now()
    WHERE id = ANY (p_ids) AND locked_by = p_worker;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM serial_locks
    WHERE job_id = ANY (p_ids) AND locked_by = p_worker;
    IF n > 0 THEN
        PERFORM pg_notify(current_schema() || '.jobs', '');
    END IF;
    RETURN n;
END
$$;

-- After a lost connection: give back every job this worker holds in the
-- database but is not running (a claim whose reply was lost), attempt
-- refunded.  p_keep lists the jobs it does run.
CREATE FUNCTION return_jobs_except(p_worker text, p_keep bigint[])
RETURNS integer LANGUAGE sql SET search_path FROM CURRENT AS $$
    SELECT return_jobs(p_worker, coalesce(array_agg(id), '{}'))
    FROM jobs
    WHERE locked_by = p_worker AND NOT (id = ANY (p_keep));
$$;

-- Release what dead daemons held: workers whose heartbeat is older than
-- their timeout.  Their running jobs get the interrupted attempt refunded and
-- last_error saying so; their serial locks go; their rows go.  Returns the
-- number of jobs released.  The dead rows are locked first (waiting for any
-- claim in flight, which holds them FOR KEY SHARE), and the jobs are read
-- after that, so a claim that committed meanwhile is released too.
CREATE FUNCTION recover_dead_workers(p_worker text)
RETURNS integer LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    dead_ids text[];
    n integer;
BEGIN
    SELECT array_agg(w.id) INTO dead_ids
    FROM (SELECT id FROM workers
          WHERE id <> p_worker AND heartbeat_at < now() - heartbeat_timeout
          FOR UPDATE) w;
    IF dead_ids IS NULL THEN
        RETURN 0;
    END IF;
    UPDATE jobs j
    SET attempts = greatest(j.attempts - 1, 0), locked_at = NULL,
        locked_by = NULL, updated_at = now(),
        last_error = format('worker %s (host %s, pid %s) died while running '
                            'this job (last heartbeat %s); attempt refunded',
                            w.id, w.host, w.pid, w.heartbeat_at)
    FROM workers w
    WHERE w.id = ANY (dead_ids) AND j.locked_by = w.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM serial_locks WHERE locked_by = ANY (dead_ids);
    DELETE FROM workers WHERE id = ANY (dead_ids);
    IF n > 0 THEN
        PERFORM pg_notify(current_schema() || '.jobs', '');
    END IF;
    RETURN n;
END
$$;

-- Unregister on a clean exit.
CREATE FUNCTION worker_unregister(p_worker text)
RETURNS void LANGUAGE sql SET search_path FROM CURRENT AS $$
    DELETE FROM workers WHERE id = p_worker;
$$;

INSERT INTO migrations (version, name) VALUES (3, '003_worker');
