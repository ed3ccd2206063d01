-- 005_cron.sql -- recurring jobs: the schedules daemons know and when each
-- last ran, and the once-only enqueue of one occurrence.
--
-- Objects are created unqualified in the schema the applier put first in
-- search_path; every function pins it (SET search_path FROM CURRENT), as in
-- 001-004.
--
-- Any number of daemons may share one crontab: for each occurrence (a
-- schedule id and a whole UTC minute) each of them calls cron_fire, and only
-- the call that moves the schedule's last_execution forward enqueues the
-- job, in the same transaction.  last_execution never moves back, so each
-- occurrence is enqueued at most once, and daemons catch up in time order
-- (oldest occurrence first).  Renaming a schedule's id makes it a new
-- schedule.

-- One row per schedule id any daemon has seen.  known_since: when it was
-- first seen (runs missed before that are never backfilled);
-- last_execution: the latest occurrence enqueued (NULL: none yet).
CREATE TABLE known_crontabs (
    id              text        PRIMARY KEY,
    known_since     timestamptz NOT NULL DEFAULT now(),
    last_execution  timestamptz,
    CONSTRAINT known_crontabs_id_must_be_1_to_128_chars
        CHECK (length(id) BETWEEN 1 AND 128)
);

-- ---------------------------------------------------------------------------
-- cron_register: a daemon's schedule ids at start and at reload.  Ids not
-- seen before are recorded with known_since = now() (so nothing before now
-- is backfilled for them); returns every given id's row.
CREATE FUNCTION cron_register(p_ids text[])
RETURNS TABLE (id text, known_since timestamptz, last_execution timestamptz)
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
    INSERT INTO known_crontabs (id)
    SELECT DISTINCT i FROM unnest(p_ids) AS i WHERE i IS NOT NULL
    ON CONFLICT DO NOTHING;

    SELECT k.id, k.known_since, k.last_execution
    FROM known_crontabs k
    WHERE k.id = ANY (p_ids)
    ORDER BY k.id;
$$;

-- ---------------------------------------------------------------------------
-- cron_fire: enqueue the occurrence p_ts of schedule p_id, exactly once
-- across every daemon.  The upsert claims it only while last_execution is
-- NULL or older than p_ts (a concurrent call for the same occurrence waits
-- for the row lock, then finds it taken); only the winner adds the job,
-- with run_at = p_ts and the payload merged with
--   {"_cron": {"ts": "2026-11-29T03:00:00Z", "backfilled": false}}
-- ("backfilled": true when the occurrence was missed and is enqueued late).
-- The other arguments are add_job's (NULL: its default).  Returns the new
-- (or, with a job_key, updated) job's id, or NULL when the occurrence was
-- already enqueued.
CREATE FUNCTION cron_fire(
    p_id            text,
    p_ts            timestamptz,
    p_backfilled    boolean,
    p_task          text,
    p_payload       jsonb   DEFAULT '{}',
    p_queue         text    DEFAULT NULL,
    p_priority      integer DEFAULT NULL,
    p_max_attempts  integer DEFAULT NULL,
    p_job_key       text    DEFAULT NULL,
    p_job_key_mode  text    DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
    v_won  boolean;
    v_job  jobs;
BEGIN
    IF p_id IS NULL OR p_ts IS NULL OR p_task IS NULL THEN
        RAISE EXCEPTION 'cron_fire: p_id, p_ts and p_task must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_payload IS NOT NULL AND jsonb_typeof(p_payload) <> 'object' THEN
        RAISE EXCEPTION 'cron_fire: the payload must be a JSON object, got %',
                        jsonb_typeof(p_payload)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO known_crontabs AS k (id, last_execution)
    VALUES (p_id, p_ts)
    ON CONFLICT (id) DO UPDATE
        SET last_execution = EXCLUDED.last_execution
        WHERE k.last_execution IS NULL OR k.last_execution < EXCLUDED.last_execution
    RETURNING true INTO v_won;
    IF v_won IS NULL THEN
        RETURN NULL;
    END IF;

    v_job := add_job(
        p_task,
        coalesce(p_payload, '{}') || jsonb_build_object('_cron', jsonb_build_object(
            'ts', to_char(p_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            'backfilled', coalesce(p_backfilled, false))),
        queue        => p_queue,
        run_at       => p_ts,
        max_attempts => p_max_attempts,
        job_key      => p_job_key,
        priority     => p_priority,
        job_key_mode => p_job_key_mode);
    RETURN v_job.id;
END
$$;

INSERT INTO migrations (version, name) VALUES (5, '005_cron');
