-- A user-visible change (status, progress, a step's start or end) bumps the version and is
-- announced, once, when the transaction commits. Writes of the result or the error alone do not: the status change
-- that follows them in the same job's life carries them.
CREATE FUNCTION pgstack_background_job_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
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
    PERFORM pg_notify('job_events', json_build_object(
        'type', 'job',
        'id', NEW.id,
        'user_id', NEW.user_id,
        'kind', NEW.kind,
        'status', NEW.status,
        'progress', NEW.progress_percent,
        'message', left(NEW.progress_message, 200),
        'version', NEW.version,
        -- epoch milliseconds, to the microsecond: clients measure delivery with it
        'updated_at', round(extract(epoch FROM NEW.updated_at) * 1000, 3)
    )::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER pgstack_background_job_changed
    BEFORE INSERT OR UPDATE ON background_jobs
    FOR EACH ROW EXECUTE FUNCTION pgstack_background_job_changed();
