-- A demo or connection whose job ends failed or cancelled, however it ended (a timeout, a
-- worker lost too often, a user's cancellation), ends failed (a platform: `error`, whether it
-- was connecting or, from 0008, disconnecting), and is announced on `job_events` as
-- demo_service announces its own moves.
CREATE FUNCTION demo_job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    reason text := CASE NEW.status
        WHEN 'cancelled' THEN 'The job was cancelled.'
        ELSE COALESCE(NEW.error_message, 'The job failed.') END;
    moved record;
BEGIN
    FOR moved IN
        UPDATE users SET demo_mode_status = 'failed', demo_error = reason,
                         updated_at = now()
        WHERE demo_job_id = NEW.id AND demo_mode_status IN ('enabling', 'disabling')
        RETURNING id
    LOOP
        PERFORM pg_notify('job_events', json_build_object(
            'type', 'demo', 'user_id', moved.id, 'status', 'failed',
            'error', reason, 'job_id', NEW.id)::text);
    END LOOP;
    FOR moved IN
        UPDATE platforms SET connection_status = 'error', connection_error = reason,
                             updated_at = now()
        WHERE connection_job_id = NEW.id
          AND connection_status IN ('connecting', 'disconnecting')
        RETURNING id, user_id
    LOOP
        PERFORM pg_notify('job_events', json_build_object(
            'type', 'platform', 'user_id', moved.user_id, 'platform_id', moved.id,
            'status', 'error', 'error', reason, 'job_id', NEW.id)::text);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER demo_job_ended AFTER UPDATE OF status ON background_jobs
    FOR EACH ROW
    WHEN (NEW.status IN ('failed', 'cancelled') AND NEW.kind LIKE 'demo:%'
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION demo_job_ended();
