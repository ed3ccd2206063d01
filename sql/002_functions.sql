-- 002_functions.sql -- enqueue (add_job and the backfill-style helpers),
-- named priorities, the dead-letter upsert and the admin functions.
--
-- Objects are created unqualified in the schema the applier put first in
-- search_path; every function pins that search_path (SET search_path FROM
-- CURRENT), so it works whatever the schema is called.  Inside a function,
-- current_schema() is therefore the install schema; the wake-up channel is
-- "<schema>.jobs", as in notify_jobs_inserted (001).
--
-- "Unlocked" means locked_at IS NULL: no function here ever changes a job a
-- daemon is running, except for clearing its job_key.

-- ---------------------------------------------------------------------------
-- dlq_put: dead-letter rows that the caller has just deleted from jobs in the
-- same transaction.  p_reasons[i] and p_errors[i] belong to p_jobs[i] (all
-- 1-based); a NULL reason becomes 'failed permanently', a NULL error keeps the
-- job's own last_error.  NULL elements are skipped.  Returns the number of
-- jobs put.  Each job lands in exactly one dlq row:
--   1. a job requeued from the dlq (jobs.dlq_id) whose dlq row still exists
--      updates THAT row, keyed or not, so a requeued key-less job that dies
--      again does not add a duplicate;
--   2. otherwise a job_key already in the dlq updates that row;
--   3. otherwise a new row is added.
-- An update sets failure_count + 1, failed_at = now(), original_job_id = the
-- job's id and overwrites the job fields, failure_reason and last_error.  In
-- case 1 the row keeps its own job_key: it is the row's identity (the unique
-- dlq_job_key, never made to collide here), and short of a hand-edited
-- job_key the job differs from it only by having lost the key to a newer job
-- (remove_job, add_job while it ran), whose own death then joins this row
-- through case 2.  Several jobs of
-- one call bound for the same row collapse into it: failure_count grows by
-- their number and the last one's fields win (case-1 rows are written before
-- case-2 rows).
CREATE FUNCTION dlq_put(p_jobs jobs[], p_reasons text[], p_errors text[])
RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
    v_from_dlq bigint[];   -- dlq rows updated through jobs.dlq_id
    v_n        integer;
BEGIN
    v_n := (SELECT count(*) FROM unnest(p_jobs) j WHERE j.task IS NOT NULL);
    IF v_n = 0 THEN
        RETURN 0;
    END IF;

    -- 1. Rows the jobs were requeued from.  Locked in id order first, so two
    -- transactions putting jobs of the same rows cannot deadlock; a row
    -- deleted meanwhile (its requeued twin succeeded, an operator deleted it)
    -- is simply not found, and its jobs go on to 2 and 3.
    PERFORM 1 FROM dlq d
    WHERE d.id IN (SELECT j.dlq_id FROM unnest(p_jobs) j
                   WHERE j.task IS NOT NULL AND j.dlq_id IS NOT NULL)
    ORDER BY d.id
    FOR UPDATE;

    WITH src AS (
        SELECT j.id, j.task, j.payload, j.queue, j.priority, j.serial_key,
               j.max_attempts, j.attempts, j.created_at, j.run_at, j.dlq_id,
               coalesce(p_reasons[j.ordinality], 'failed permanently') AS reason,
               coalesce(p_errors[j.ordinality], j.last_error) AS err,
               j.ordinality AS n
        FROM unnest(p_jobs) WITH ORDINALITY AS j
        WHERE j.task IS NOT NULL AND j.dlq_id IS NOT NULL
    ),
    ranked AS (
        SELECT s.*,
               count(*) OVER w AS same_row,
               row_number() OVER (w ORDER BY s.n DESC) AS newest_first
        FROM src s
        WINDOW w AS (PARTITION BY s.dlq_id)
    ),
    upd AS (
        UPDATE dlq d
        SET failure_count       = d.failure_count + r.same_row,
            failed_at           = now(),
            original_job_id     = r.id,
            task                = r.task,
            payload             = r.payload,
            queue               = r.queue,
            priority            = r.priority,
            serial_key          = r.serial_key,
            max_attempts        = r.max_attempts,
            attempts            = r.attempts,
            failure_reason      = r.reason,
            last_error          = r.err,
            original_created_at = r.created_at,
            original_run_at     = r.run_at
        FROM ranked r
        WHERE r.newest_first = 1 AND d.id = r.dlq_id
        RETURNING d.id)
    SELECT coalesce(array_agg(upd.id), '{}') INTO v_from_dlq FROM upd;

    -- 2 and 3: the job_key upsert, for the jobs not placed by 1.  Keyless
    -- rows each form their own partition.
    WITH src AS (
        SELECT j.id, j.task, j.payload, j.queue, j.priority, j.job_key,
               j.serial_key, j.max_attempts, j.attempts, j.created_at,
               j.run_at,
               coalesce(p_reasons[j.ordinality], 'failed permanently') AS reason,
               coalesce(p_errors[j.ordinality], j.last_error) AS err,
               j.ordinality AS n
        FROM unnest(p_jobs) WITH ORDINALITY AS j
        WHERE j.task IS NOT NULL
          AND (j.dlq_id IS NULL OR NOT (j.dlq_id = ANY (v_from_dlq)))
    ),
    ranked AS (
        SELECT s.*,
               count(*) OVER k AS same_key,
               row_number() OVER (k ORDER BY s.n DESC) AS newest_first
        FROM src s
        WINDOW k AS (PARTITION BY s.job_key,
                                  CASE WHEN s.job_key IS NULL THEN s.n END)
    )
    INSERT INTO dlq AS d (original_job_id, task, payload, queue, priority,
                          job_key, serial_key, max_attempts, attempts,
                          failure_reason, failure_count, last_error,
                          original_created_at, original_run_at)
    SELECT r.id, r.task, r.payload, r.queue, r.priority,
           r.job_key, r.serial_key, r.max_attempts, r.attempts,
           r.reason, r.same_key, r.err,
           r.created_at, r.run_at
    FROM ranked r
    WHERE r.newest_first = 1
    ORDER BY r.n
    ON CONFLICT (job_key) WHERE job_key IS NOT NULL DO UPDATE
    SET failure_count       = d.failure_count + EXCLUDED.failure_count,
        failed_at           = now(),
        original_job_id     = EXCLUDED.original_job_id,
        task                = EXCLUDED.task,
        payload             = EXCLUDED.payload,
        queue               = EXCLUDED.queue,
        priority            = EXCLUDED.priority,
        serial_key          = EXCLUDED.serial_key,
        max_attempts        = EXCLUDED.max_attempts,
        attempts            = EXCLUDED.attempts,
        failure_reason      = EXCLUDED.failure_reason,
        last_error          = EXCLUDED.last_error,
        original_created_at = EXCLUDED.original_created_at,
        original_run_at     = EXCLUDED.original_run_at;

    RETURN v_n;
END
$$;

-- ---------------------------------------------------------------------------
-- priority(name): the named priority levels (lower runs first).
CREATE FUNCTION priority(name text)
RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path FROM CURRENT AS $$
BEGIN
    CASE upper(btrim(priority.name))
        WHEN 'EMERGENCY'    THEN RETURN -20;
        WHEN 'FAST_HIGH'    THEN RETURN -10;
        WHEN 'FAST_DEFAULT' THEN RETURN -5;
        WHEN 'BULK_DEFAULT' THEN RETURN 0;
        WHEN 'BULK_LOW'     THEN RETURN 5;
        WHEN 'BULK_LOWEST'  THEN RETURN 10;
        ELSE
            RAISE EXCEPTION 'priority: unknown priority name %; valid names: '
                            'EMERGENCY (-20), FAST_HIGH (-10), FAST_DEFAULT (-5), '
                            'BULK_DEFAULT (0), BULK_LOW (5), BULK_LOWEST (10)',
                            coalesce(quote_literal(priority.name), 'NULL')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Names are case-insensitive; any smallint is also '
                             'a valid priority, lower runs first.';
    END CASE;
END
$$;

-- ---------------------------------------------------------------------------
-- add_job: enqueue one job; every argument may be passed by name, and NULL
-- means the default.  With a job_key (Graphile Worker's semantics):
--   replace          an unlocked, not exhausted row with the key is updated
--                    in place (debounce: the new run_at wins; two array
--                    payloads are concatenated, otherwise the new one wins;
--                    attempts and last_error reset);
--   preserve_run_at  the same, but the old run_at stays while the old row has
--                    never been attempted (throttle);
--   unsafe_dedupe    the existing row is returned unchanged, even if running.
-- In replace and preserve_run_at, a keyed row that is running or exhausted
-- keeps running under its own retry rules but loses its key, and a new row
-- is inserted.  Concurrent calls with one key are serialised by an advisory
-- lock on schema + key: the function always returns a row or raises.
CREATE FUNCTION add_job(
    task          text,
    payload       jsonb       DEFAULT '{}',
    queue         text        DEFAULT 'bulk',
    run_at        timestamptz DEFAULT NULL,
    max_attempts  integer     DEFAULT 8,
    job_key       text        DEFAULT NULL,
    priority      integer     DEFAULT 0,
    serial_key    text        DEFAULT NULL,
    job_key_mode  text        DEFAULT 'replace')
RETURNS jobs
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    v_task    text        := add_job.task;
    v_payload jsonb       := coalesce(add_job.payload, '{}');
    v_queue   text        := coalesce(add_job.queue, 'bulk');
    v_run_at  timestamptz := coalesce(add_job.run_at, now());
    v_max     integer     := coalesce(add_job.max_attempts, 8);
    v_key     text        := add_job.job_key;
    v_prio    integer     := coalesce(add_job.priority, 0);
    v_serial  text        := add_job.serial_key;
    v_mode    text        := coalesce(add_job.job_key_mode, 'replace');
    v_old     jobs;
    v_new     jobs;
BEGIN
    IF v_task IS NULL OR v_task = '' THEN
        RAISE EXCEPTION 'add_job: task must be a non-empty string, got %',
                        CASE WHEN v_task IS NULL THEN 'NULL' ELSE 'an empty string' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'task names the handler, e.g. ''email.send''; 1 to 128 characters.';
    END IF;
    IF length(v_task) > 128 THEN
        RAISE EXCEPTION 'add_job: task is % characters long; at most 128 are allowed',
                        length(v_task)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_queue = '' OR length(v_queue) > 128 THEN
        RAISE EXCEPTION 'add_job: queue must be 1 to 128 characters, got %',
                        CASE WHEN v_queue = '' THEN 'an empty string'
                             ELSE length(v_queue) || ' characters' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL (or omit it) for the default queue ''bulk'', '
                         'or name a queue such as ''fast''.';
    END IF;
    IF v_max < 1 OR v_max > 32767 THEN
        RAISE EXCEPTION 'add_job: max_attempts must be between 1 and 32767, got %', v_max
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'max_attempts counts runs, including the first; the default is 8.';
    END IF;
    IF v_prio < -32768 OR v_prio > 32767 THEN
        RAISE EXCEPTION 'add_job: priority must be between -32768 and 32767, got %', v_prio
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Lower runs first; see priority(''FAST_HIGH'') and the other named levels.';
    END IF;
    IF v_key = '' OR length(v_key) > 512 THEN
        RAISE EXCEPTION 'add_job: job_key must be 1 to 512 characters, got %',
                        CASE WHEN v_key = '' THEN 'an empty string'
                             ELSE length(v_key) || ' characters' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL (or omit it) for a job without a key.';
    END IF;
    IF v_serial = '' OR length(v_serial) > 512 THEN
        RAISE EXCEPTION 'add_job: serial_key must be 1 to 512 characters, got %',
                        CASE WHEN v_serial = '' THEN 'an empty string'
                             ELSE length(v_serial) || ' characters' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL (or omit it) for a job that may run in parallel.';
    END IF;
    IF v_mode NOT IN ('replace', 'preserve_run_at', 'unsafe_dedupe') THEN
        RAISE EXCEPTION 'add_job: unknown job_key_mode %; allowed: replace, '
                        'preserve_run_at, unsafe_dedupe', quote_literal(v_mode)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'replace (the default) debounces, preserve_run_at throttles, '
                         'unsafe_dedupe returns the existing job unchanged.';
    END IF;
    IF jsonb_typeof(v_payload) NOT IN ('object', 'array') THEN
        RAISE EXCEPTION 'add_job: payload must be a JSON object or array, got a JSON %',
                        jsonb_typeof(v_payload)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Wrap a scalar in an object, e.g. {"value": 42}.';
    END IF;

    IF v_key IS NULL THEN
        INSERT INTO jobs (task, payload, queue, priority, run_at, max_attempts,
                          serial_key)
        VALUES (v_task, v_payload, v_queue, v_prio, v_run_at, v_max, v_serial)
        RETURNING * INTO v_new;
        RETURN v_new;
    END IF;

    -- Every add_job with this key in this schema waits here until we commit.
    PERFORM pg_advisory_xact_lock(
        hashtextextended(current_schema() || '.jobs.job_key:' || v_key, 0));

    -- Writers that bypass add_job (a plain INSERT, remove_job, a daemon) can
    -- still change the key under us; then look again.
    FOR attempt IN 1 .. 10 LOOP
        SELECT * INTO v_old FROM jobs WHERE job_key = v_key FOR UPDATE;

        IF FOUND AND v_mode = 'unsafe_dedupe' THEN
            RETURN v_old;
        END IF;

        IF FOUND AND v_old.locked_at IS NULL
                 AND v_old.attempts < v_old.max_attempts THEN
            UPDATE jobs
            SET task         = v_task,
                queue        = v_queue,
                max_attempts = v_max,
                priority     = v_prio,
                serial_key   = v_serial,
                payload      = CASE WHEN jsonb_typeof(payload) = 'array'
                                     AND jsonb_typeof(v_payload) = 'array'
                                    THEN payload || v_payload
                                    ELSE v_payload END,
                run_at       = CASE WHEN v_mode = 'preserve_run_at'
                                     AND attempts = 0
                                    THEN run_at ELSE v_run_at END,
                attempts     = 0,
                last_error   = NULL,
                updated_at   = now()
            WHERE id = v_old.id
            RETURNING * INTO v_new;
            PERFORM pg_notify(current_schema() || '.jobs', '');
            RETURN v_new;
        END IF;

        IF FOUND THEN
            -- Running or exhausted: it finishes (or dead-letters) on its own,
            -- without the key; the new request becomes a new row.
            UPDATE jobs SET job_key = NULL, updated_at = now()
            WHERE id = v_old.id;
        END IF;

        INSERT INTO jobs (task, payload, queue, priority, run_at, max_attempts,
                          job_key, serial_key)
        VALUES (v_task, v_payload, v_queue, v_prio, v_run_at, v_max, v_key,
                v_serial)
        ON CONFLICT (job_key) WHERE job_key IS NOT NULL DO NOTHING
        RETURNING * INTO v_new;
        IF FOUND THEN
            RETURN v_new;
        END IF;
    END LOOP;

    RAISE EXCEPTION 'add_job: could not add job with job_key %: the key kept '
                    'changing under concurrent writers', quote_literal(v_key)
        USING ERRCODE = 'serialization_failure',
              HINT = 'Retry the transaction.';
END
$$;

-- ---------------------------------------------------------------------------
-- Helpers with backfill's names and numbers (mode replace when keyed).
CREATE FUNCTION enqueue_emergency(task text, payload jsonb DEFAULT '{}',
                                  job_key text DEFAULT NULL)
RETURNS jobs LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
    SELECT * FROM add_job(enqueue_emergency.task, enqueue_emergency.payload,
                          queue => 'fast', priority => -20, max_attempts => 8,
                          job_key => enqueue_emergency.job_key);
$$;

CREATE FUNCTION enqueue_critical(task text, payload jsonb DEFAULT '{}',
                                 job_key text DEFAULT NULL)
RETURNS jobs LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
    SELECT * FROM add_job(enqueue_critical.task, enqueue_critical.payload,
                          queue => 'fast', priority => -10, max_attempts => 12,
                          job_key => enqueue_critical.job_key);
$$;

CREATE FUNCTION enqueue_fast_with_retries(task text, payload jsonb DEFAULT '{}',
                                          job_key text DEFAULT NULL)
RETURNS jobs LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
    SELECT * FROM add_job(enqueue_fast_with_retries.task,
                          enqueue_fast_with_retries.payload,
                          queue => 'fast', priority => -10, max_attempts => 3,
                          job_key => enqueue_fast_with_retries.job_key);
$$;

CREATE FUNCTION enqueue_fast(task text, payload jsonb DEFAULT '{}',
                             job_key text DEFAULT NULL)
RETURNS jobs LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
    SELECT * FROM add_job(enqueue_fast.task, enqueue_fast.payload,
                          queue => 'fast', priority => -5, max_attempts => 8,
                          job_key => enqueue_fast.job_key);
$$;

CREATE FUNCTION enqueue_bulk(task text, payload jsonb DEFAULT '{}',
                             job_key text DEFAULT NULL)
RETURNS jobs LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
    SELECT * FROM add_job(enqueue_bulk.task, enqueue_bulk.payload,
                          queue => 'bulk', priority => 0, max_attempts => 8,
                          job_key => enqueue_bulk.job_key);
$$;

CREATE FUNCTION enqueue_bulk_with_retries(task text, payload jsonb DEFAULT '{}',
                                          job_key text DEFAULT NULL)
RETURNS jobs LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
    SELECT * FROM add_job(enqueue_bulk_with_retries.task,
                          enqueue_bulk_with_retries.payload,
                          queue => 'bulk', priority => 0, max_attempts => 5,
                          job_key => enqueue_bulk_with_retries.job_key);
$$;

-- enqueue_serial: at most one job per serial_key runs at a time.
CREATE FUNCTION enqueue_serial(task text, serial_key text,
                               payload jsonb DEFAULT '{}',
                               priority integer DEFAULT 0,
                               queue text DEFAULT 'bulk',
                               job_key text DEFAULT NULL)
RETURNS jobs LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
BEGIN
    IF enqueue_serial.serial_key IS NULL THEN
        RAISE EXCEPTION 'enqueue_serial: serial_key is required, got NULL'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Jobs sharing a serial_key run one at a time, e.g. '
                         '''account:42''; use enqueue_bulk for parallel jobs.';
    END IF;
    RETURN add_job(enqueue_serial.task, enqueue_serial.payload,
                   queue => enqueue_serial.queue,
                   priority => enqueue_serial.priority, max_attempts => 8,
                   job_key => enqueue_serial.job_key,
                   serial_key => enqueue_serial.serial_key);
END
$$;

-- ---------------------------------------------------------------------------
-- Admin functions.  Each acts only on unlocked jobs.

-- remove_job: delete the unlocked job with this key and return it.  If that
-- job is running, it only loses its key (it finishes normally) and NULL is
-- returned; NULL too when no job has the key.
CREATE FUNCTION remove_job(job_key text)
RETURNS jobs
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    v_job jobs;
BEGIN
    IF remove_job.job_key IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(
        hashtextextended(current_schema() || '.jobs.job_key:' || remove_job.job_key, 0));

    DELETE FROM jobs
    WHERE job_key = remove_job.job_key AND locked_at IS NULL
    RETURNING * INTO v_job;
    IF FOUND THEN
        RETURN v_job;
    END IF;

    UPDATE jobs SET job_key = NULL, updated_at = now()
    WHERE job_key = remove_job.job_key AND locked_at IS NOT NULL;
    RETURN NULL;
END
$$;

-- reschedule_jobs: overwrite the non-NULL arguments on the unlocked jobs
-- among ids (lowering attempts revives an exhausted job); returns them.
CREATE FUNCTION reschedule_jobs(ids bigint[],
                                run_at timestamptz DEFAULT NULL,
                                priority integer DEFAULT NULL,
                                attempts integer DEFAULT NULL,
                                max_attempts integer DEFAULT NULL)
RETURNS SETOF jobs
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    IF reschedule_jobs.priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION 'reschedule_jobs: priority must be between -32768 and 32767, got %',
                        reschedule_jobs.priority
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Lower runs first; pass NULL to keep each job''s priority.';
    END IF;
    IF reschedule_jobs.attempts NOT BETWEEN 0 AND 32767 THEN
        RAISE EXCEPTION 'reschedule_jobs: attempts must be between 0 and 32767, got %',
                        reschedule_jobs.attempts
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL to keep each job''s attempts.';
    END IF;
    IF reschedule_jobs.max_attempts NOT BETWEEN 1 AND 32767 THEN
        RAISE EXCEPTION 'reschedule_jobs: max_attempts must be between 1 and 32767, got %',
                        reschedule_jobs.max_attempts
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL to keep each job''s max_attempts.';
    END IF;

    RETURN QUERY
    WITH changed AS (
        UPDATE jobs
        SET run_at       = coalesce(reschedule_jobs.run_at, run_at),
            priority     = coalesce(reschedule_jobs.priority, priority),
            attempts     = coalesce(reschedule_jobs.attempts, attempts),
            max_attempts = coalesce(reschedule_jobs.max_attempts, max_attempts),
            updated_at   = now()
        WHERE id = ANY (reschedule_jobs.ids) AND locked_at IS NULL
        RETURNING *)
    SELECT * FROM changed;
    IF FOUND THEN
        PERFORM pg_notify(current_schema() || '.jobs', '');
    END IF;
END
$$;

-- complete_jobs: delete the unlocked jobs among ids; returns them.
CREATE FUNCTION complete_jobs(ids bigint[])
RETURNS SETOF jobs
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
    DELETE FROM jobs j
    WHERE j.id = ANY (complete_jobs.ids) AND j.locked_at IS NULL
    RETURNING j.*;
$$;

-- fail_jobs: move the unlocked jobs among ids to the dlq (deleted from jobs
-- and dead-lettered in this one transaction) with failure_reason and
-- last_error = reason; returns the moved job rows.
CREATE FUNCTION fail_jobs(ids bigint[],
                          reason text DEFAULT 'Manually marked as failed')
RETURNS SETOF jobs
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
    v_reason text := coalesce(fail_jobs.reason, 'Manually marked as failed');
    v_jobs   jobs[];
    v_n      integer;
BEGIN
    WITH gone AS (
        DELETE FROM jobs j
        WHERE j.id = ANY (fail_jobs.ids) AND j.locked_at IS NULL
        RETURNING j AS job)
    SELECT array_agg(g.job ORDER BY (g.job).id) INTO v_jobs FROM gone g;

    v_n := coalesce(cardinality(v_jobs), 0);
    IF v_n = 0 THEN
        RETURN;
    END IF;
    PERFORM dlq_put(v_jobs, array_fill(v_reason, ARRAY[v_n]),
                    array_fill(v_reason, ARRAY[v_n]));
    RETURN QUERY SELECT * FROM unnest(v_jobs);
END
$$;

INSERT INTO migrations (version, name) VALUES (2, '002_functions');
