-- 007_task_claim.sql -- jobs of tasks a daemon does not handle no longer
-- slow its claims.  The claim's index was (queue, priority, run_at, id):
-- every claim read past all the unhandled jobs queued ahead of the handled
-- ones (100 000 of them made each claim ~4x slower).  The index now has the
-- task after the queue, and a claim reads each of its tasks' jobs in order,
-- merging them.  (Rebuilding the index holds up enqueues while it runs:
-- 2.7 s with 1 000 000 waiting jobs on 2 cores.)

DROP INDEX jobs_claimable;
CREATE INDEX jobs_claimable ON jobs (queue, task, priority, run_at, id)
    WHERE locked_at IS NULL AND attempts < max_attempts;

-- Claim up to p_limit due jobs of one queue for the given tasks, in order
-- priority, run_at, id.  A job with a serial_key is claimed only if no job of
-- that key runs anywhere (serial_locks), and only one per key per call.
-- With several tasks, a first read without locks (index columns only, so
-- often from the index alone) finds how many of the first p_limit due jobs
-- each task has; then each task's share is locked in that task's own index
-- order (SKIP LOCKED going further down it when another daemon holds some).
-- When rows held by other transactions, or serial keys in use, leave the
-- shares short, the rest is taken from all the tasks, in order.
CREATE OR REPLACE FUNCTION claim_jobs(p_worker text, p_queue text, p_tasks text[],
                                      p_limit integer)
RETURNS SETOF jobs LANGUAGE plpgsql SET search_path FROM CURRENT SET jit = off
-- one plan for every call: a plan made for each call's values (PostgreSQL's
-- choice, the generic plan's estimates being high) cost 0.15 ms a claim
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_all text[];
    v_tasks text[];
    v_counts integer[];
    v_want bigint;  -- with several tasks: jobs the shares should bring
    v_got bigint;
    v_room integer;
BEGIN
    -- Only a registered worker claims, and its row stays put until the
    -- claim commits: recover_dead_workers (which takes the row FOR UPDATE)
    -- then sees these jobs.  A worker declared dead claims nothing until it
    -- registers again.
    PERFORM 1 FROM workers WHERE id = p_worker FOR KEY SHARE;
    IF NOT FOUND OR p_limit IS NULL OR p_limit < 1 THEN
        RETURN;
    END IF;
    v_all := ARRAY(SELECT DISTINCT t FROM unnest(p_tasks) t WHERE t IS NOT NULL);
    IF cardinality(v_all) = 0 THEN
        RETURN;
    ELSIF cardinality(v_all) = 1 THEN
        v_tasks := v_all;
        v_counts := ARRAY[p_limit];
    ELSE
        SELECT array_agg(s.task), array_agg(s.n), sum(s.n) INTO v_tasks, v_counts, v_want
        FROM (SELECT h.task, count(*)::integer AS n
              FROM (SELECT c.task
                    FROM unnest(v_all) AS t(task)
                    CROSS JOIN LATERAL (
                        SELECT j.task, j.priority, j.run_at, j.id
                        FROM jobs j
                        WHERE j.queue = p_queue
                          AND j.task = t.task
                          AND j.locked_at IS NULL
                          AND j.attempts < j.max_attempts
                          AND j.run_at <= now()
                        ORDER BY j.priority, j.run_at, j.id
                        LIMIT p_limit) c
                    ORDER BY c.priority, c.run_at, c.id
                    LIMIT p_limit) h
              GROUP BY h.task) s;
        IF v_tasks IS NULL THEN
            RETURN;
        END IF;
    END IF;

    RETURN QUERY
    WITH candidates AS MATERIALIZED (
        SELECT c.id, c.serial_key, c.priority, c.run_at
        FROM unnest(v_tasks, v_counts) AS t(task, n)
        CROSS JOIN LATERAL (
            SELECT j.id, j.serial_key, j.priority, j.run_at
            FROM jobs j
            WHERE j.queue = p_queue
              AND j.task = t.task
              AND j.locked_at IS NULL
              AND j.attempts < j.max_attempts
              AND j.run_at <= now()
              AND (j.serial_key IS NULL OR NOT EXISTS (
                       SELECT 1 FROM serial_locks s WHERE s.serial_key = j.serial_key))
            ORDER BY j.priority, j.run_at, j.id
            LIMIT t.n
            FOR UPDATE OF j SKIP LOCKED) c
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
    -- by primary key probes: a join let the planner merge with a scan of
    -- the whole primary key, walking every finished job's entry not yet
    -- vacuumed (claims slowed down as a big backlog drained)
    UPDATE jobs j
    SET attempts = j.attempts + 1, locked_at = now(), locked_by = p_worker
    WHERE j.id = ANY (ARRAY(
        SELECT c.id FROM candidates c
        WHERE c.serial_key IS NULL OR c.id IN (SELECT job_id FROM serial_won)))
    RETURNING j.*;
    GET DIAGNOSTICS v_got = ROW_COUNT;
    IF cardinality(v_all) = 1 OR v_got >= v_want THEN
        RETURN;
    END IF;

    -- Rows held by other transactions, or serial keys in use, left the
    -- shares short: the rest from every task, in order (the jobs claimed
    -- above are locked now and drop out; rows locked here beyond the
    -- first v_room stay unclaimed)
    v_room := p_limit - v_got;
    RETURN QUERY
    WITH candidates AS MATERIALIZED (
        SELECT m.id, m.serial_key, m.priority, m.run_at
        FROM (SELECT c.*
              FROM unnest(v_all) AS t(task)
              CROSS JOIN LATERAL (
                  SELECT j.id, j.serial_key, j.priority, j.run_at
                  FROM jobs j
                  WHERE j.queue = p_queue
                    AND j.task = t.task
                    AND j.locked_at IS NULL
                    AND j.attempts < j.max_attempts
                    AND j.run_at <= now()
                    AND (j.serial_key IS NULL OR NOT EXISTS (
                             SELECT 1 FROM serial_locks s WHERE s.serial_key = j.serial_key))
                  ORDER BY j.priority, j.run_at, j.id
                  LIMIT v_room
                  FOR UPDATE OF j SKIP LOCKED) c
              ORDER BY c.priority, c.run_at, c.id
              LIMIT v_room) m
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
    WHERE j.id = ANY (ARRAY(
        SELECT c.id FROM candidates c
        WHERE c.serial_key IS NULL OR c.id IN (SELECT job_id FROM serial_won)))
    RETURNING j.*;
END
$$;

-- The hot path's statements are short: JIT compilation (PostgreSQL's
-- default above a plan cost of 100 000, which a claim's generic plan
-- reaches on a big table) took 20-40 ms per claim against ~1 ms of work.
ALTER FUNCTION finish_jobs(text, bigint[], bigint[], smallint[], text[], double precision[]) SET jit = off;
ALTER FUNCTION return_jobs(text, bigint[]) SET jit = off;
ALTER FUNCTION return_jobs_except(text, bigint[]) SET jit = off;

INSERT INTO migrations (version, name) VALUES (7, '007_task_claim');
