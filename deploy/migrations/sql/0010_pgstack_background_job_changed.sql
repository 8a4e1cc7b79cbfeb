-- A user-visible change of a job (its status, its progress, one of its steps) bumps the
-- version, is written to the event log `job_events` at that version (the job's offset), and is
-- announced, once, when the transaction commits. Writes of the result or the error alone do
-- not: the status change that follows them in the same job's life carries them (a terminal
-- status's event holds the result and the error).
CREATE FUNCTION pgstack_background_job_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    event_kind text := 'progress';
    event jsonb;
    changed_steps jsonb;
    logged_at timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.status, NEW.progress_percent, NEW.progress_message, NEW.steps)
                IS NOT DISTINCT FROM (OLD.status, OLD.progress_percent, OLD.progress_message, OLD.steps)
                THEN
            RETURN NEW;
        END IF;
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    event := jsonb_build_object(
        'id', NEW.id,
        'kind', NEW.kind,
        'status', NEW.status,
        'progress', NEW.progress_percent,
        'message', left(NEW.progress_message, 200),
        'version', NEW.version,
        -- epoch milliseconds, to the microsecond: clients measure delivery with it
        'updated_at', round(extract(epoch FROM NEW.updated_at) * 1000, 3)
    );
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        event_kind := 'status';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.steps IS DISTINCT FROM OLD.steps THEN
        -- The steps that started or ended, as JobRead shows them (their results stay private).
        SELECT coalesce(jsonb_agg(step - 'result' ORDER BY position), '[]') INTO changed_steps
        FROM jsonb_array_elements(NEW.steps) WITH ORDINALITY AS s(step, position)
        WHERE step IS DISTINCT FROM OLD.steps -> (position::integer - 1);
        event := event || jsonb_build_object('steps', changed_steps);
        IF event_kind <> 'status' THEN
            event_kind := 'step';
        END IF;
    END IF;
    -- clock_timestamp(), not the transaction's start: /v1/events' resume slack then needs to
    -- cover only the time from this insert to the commit (job_service/streams.py).
    INSERT INTO job_events (job_id, job_offset, user_id, kind, payload)
    VALUES (
        NEW.id, NEW.version, NEW.user_id, event_kind,
        CASE WHEN NEW.status IN ('succeeded', 'failed', 'cancelled') THEN
            event || jsonb_build_object(
                'result', NEW.result,
                'error', CASE WHEN NEW.error_type IS NOT NULL THEN jsonb_build_object(
                    'type', NEW.error_type, 'message', NEW.error_message) END)
        ELSE event END
    )
    RETURNING at INTO logged_at;
    -- Only a change someone watches is announced (see job_event_watchers). Registering a
    -- watcher takes this lock exclusively: a change either commits before the new watcher's
    -- first read, or sees the watcher and is announced.
    PERFORM pg_advisory_xact_lock_shared(7001, hashint8(coalesce(NEW.user_id, 0)));
    IF NOT EXISTS (
        SELECT 1 FROM job_event_watchers
        WHERE user_id IN (NEW.user_id, 0) AND expires_at > now()
    ) THEN
        RETURN NEW;
    END IF;
    -- The event without the result and error (a terminal one is read from the log), so the
    -- payload stays far below NOTIFY's 8000 bytes.
    PERFORM pg_notify('job_events', (event || jsonb_build_object(
        'type', 'job',
        'user_id', NEW.user_id,
        'event', event_kind,
        -- the resume cursor of /v1/events (epoch milliseconds, to the microsecond)
        'at', round(extract(epoch FROM logged_at) * 1000, 3)
    ))::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER pgstack_background_job_changed
    BEFORE UPDATE ON background_jobs
    FOR EACH ROW EXECUTE FUNCTION pgstack_background_job_changed();

-- A new job is logged AFTER its insert: an INSERT ... ON CONFLICT DO NOTHING that inserts
-- nothing (a repeated idempotency key) still runs BEFORE triggers, and would log a job that
-- does not exist.
CREATE TRIGGER pgstack_background_job_inserted
    AFTER INSERT ON background_jobs
    FOR EACH ROW EXECUTE FUNCTION pgstack_background_job_changed();
