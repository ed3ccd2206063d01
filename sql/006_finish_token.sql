-- 006_finish_token.sql -- a result is recorded only for the run that
-- produced it; returns that stay fast with thousands of jobs held.  Each job's locked_at, as its claim set it, travels with the
-- result (a fencing token): a late or repeated result of an earlier run of
-- the same job (its reply lost, its daemon declared dead while the job was
-- claimed again under the same or a new worker id) no longer matches, and
-- changes nothing, not even the serial key of the run now holding it.

DROP FUNCTION finish_jobs(text, bigint[], smallint[], text[], double precision[]);

-- Finish a batch of jobs this worker ran.  p_claimed_us: each job's
-- locked_at as claimed, in microseconds since the Unix epoch.  Outcome per
-- job: 0 done (deleted), 1 retry (last_error kept, run_at = now() + delay
-- seconds), anything else permanent failure.  A retry of a job with no
-- attempts left, and every permanent failure, moves to the dlq in this same
-- transaction.  p_errors and p_delays are read only for outcomes other than
-- 0 (a batch of successes may pass them empty).  Jobs not locked by p_worker
-- under that same claim are left alone.  (The owner and claim tests are
-- written IS NOT DISTINCT FROM, which neither jobs_locked nor its predicate
-- can serve, so the plan always probes jobs by primary key from the batch:
-- with jobs_locked, whose statistics may say a worker holds next to
-- nothing, the planner chose to scan all the worker's jobs once per id.)
CREATE FUNCTION finish_jobs(p_worker text, p_ids bigint[], p_claimed_us bigint[],
                            p_outcomes smallint[], p_errors text[],
                            p_delays double precision[])
RETURNS TABLE (completed integer, retried integer, dead integer)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    n_ok integer;
    n_retry integer := 0;
    n_dead integer := 0;
    v_finished bigint[];
BEGIN
    -- a job requeued from the dlq that now succeeds clears its dlq row
    WITH done AS (
        DELETE FROM jobs j
        USING unnest(p_ids, p_claimed_us, p_outcomes) AS r(id, claimed_us, outcome)
        WHERE j.id = r.id AND r.outcome = 0 AND j.locked_by IS NOT DISTINCT FROM p_worker
          AND j.locked_at IS NOT DISTINCT FROM timestamptz 'epoch' + r.claimed_us * interval '1 microsecond'
        RETURNING j.id, j.dlq_id),
    cleared AS (
        DELETE FROM dlq d USING done
        WHERE done.dlq_id IS NOT NULL AND d.id = done.dlq_id)
    SELECT count(*), coalesce(array_agg(done.id), '{}') INTO n_ok, v_finished FROM done;

    IF EXISTS (SELECT 1 FROM unnest(p_outcomes) o WHERE o <> 0) THEN
        WITH again AS (
            UPDATE jobs j
            SET last_error = r.err,
                run_at = now() + make_interval(secs => r.delay),
                locked_at = NULL, locked_by = NULL, updated_at = now()
            FROM unnest(p_ids, p_claimed_us, p_outcomes, p_errors, p_delays)
                 AS r(id, claimed_us, outcome, err, delay)
            WHERE j.id = r.id AND r.outcome = 1 AND j.locked_by IS NOT DISTINCT FROM p_worker
              AND j.locked_at IS NOT DISTINCT FROM timestamptz 'epoch' + r.claimed_us * interval '1 microsecond'
              AND j.attempts < j.max_attempts
            RETURNING j.id)
        SELECT count(*), v_finished || coalesce(array_agg(again.id), '{}')
        INTO n_retry, v_finished FROM again;

        WITH moved AS (
            DELETE FROM jobs j
            USING unnest(p_ids, p_claimed_us, p_outcomes, p_errors)
                  AS r(id, claimed_us, outcome, err)
            WHERE j.id = r.id AND j.locked_by IS NOT DISTINCT FROM p_worker
              AND j.locked_at IS NOT DISTINCT FROM timestamptz 'epoch' + r.claimed_us * interval '1 microsecond'
              AND (r.outcome NOT IN (0, 1) OR j.attempts >= j.max_attempts)
            RETURNING j AS job, r.outcome, r.err)
        SELECT coalesce(dlq_put(
                   array_agg(m.job),
                   array_agg(CASE WHEN m.outcome = 1
                       THEN format('exceeded maximum attempts (%s/%s)',
                                   (m.job).attempts, (m.job).max_attempts)
                       ELSE 'permanent failure reported by the handler' END),
                   array_agg(m.err)), 0),
               v_finished || coalesce(array_agg((m.job).id), '{}')
        INTO n_dead, v_finished
        FROM moved m;
    END IF;

    -- a freed serial key may let another daemon's waiting job run
    DELETE FROM serial_locks
    WHERE job_id = ANY (v_finished) AND locked_by = p_worker;
    IF FOUND THEN
        PERFORM pg_notify(current_schema() || '.jobs', '');
    END IF;

    RETURN QUERY SELECT n_ok, n_retry, n_dead;
END
$$;

-- Give back jobs this worker claimed but will not finish: the same as
-- before, with the owner test that no index serves (the plan probes the
-- given ids by primary key, whatever the statistics of jobs_locked say).
CREATE OR REPLACE FUNCTION return_jobs(p_worker text, p_ids bigint[])
RETURNS integer LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    n integer;
BEGIN
    UPDATE jobs
    SET attempts = greatest(attempts - 1, 0), locked_at = NULL,
        locked_by = NULL, updated_at = now()
    WHERE id = ANY (p_ids) AND locked_by IS NOT DISTINCT FROM p_worker;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM serial_locks
    WHERE job_id = ANY (p_ids) AND locked_by = p_worker;
    IF n > 0 THEN
        PERFORM pg_notify(current_schema() || '.jobs', '');
    END IF;
    RETURN n;
END
$$;

-- Every job this worker holds except those listed goes back: a hashed
-- EXCEPT (the daemon runs this at every heartbeat with a list of thousands).
CREATE OR REPLACE FUNCTION return_jobs_except(p_worker text, p_keep bigint[])
RETURNS integer LANGUAGE sql SET search_path FROM CURRENT AS $$
    SELECT return_jobs(p_worker, coalesce(array_agg(s.id), '{}'))
    FROM (SELECT id FROM jobs WHERE locked_by = p_worker
          EXCEPT SELECT unnest(p_keep)) s;
$$;

INSERT INTO migrations (version, name) VALUES (6, '006_finish_token');
