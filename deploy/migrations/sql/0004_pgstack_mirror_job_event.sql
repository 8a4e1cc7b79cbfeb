-- Procrastinate's queue events, mirrored onto the job's row. Each transition is conditional
-- (`WHERE status IN (<allowed>)`), so a late or repeated event never moves a job backwards.
-- Jobs without a row (periodic tasks) match nothing.
CREATE FUNCTION pgstack_mirror_job_event() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    CASE NEW.type
    WHEN 'started' THEN
        UPDATE background_jobs
        SET status = 'running', attempts = attempts + 1, started_at = NEW.at,
            finished_at = NULL, progress_percent = 0, progress_message = NULL
        WHERE procrastinate_job_id = NEW.job_id AND status = 'queued';
    WHEN 'deferred_for_retry', 'retried' THEN
        UPDATE background_jobs SET status = 'queued'
        WHERE procrastinate_job_id = NEW.job_id AND status IN ('running', 'failed');
    WHEN 'succeeded' THEN
        UPDATE background_jobs
        SET status = 'succeeded', progress_percent = 100, finished_at = NEW.at,
            error_type = NULL, error_message = NULL
        WHERE procrastinate_job_id = NEW.job_id AND status IN ('running', 'cancelling');
    WHEN 'failed', 'aborted' THEN
        -- A job the user asked to cancel ends cancelled, whatever interrupted it; an abort
        -- nobody asked for (a worker shut down past its grace period) is a failure.
        UPDATE background_jobs
        SET status = CASE status WHEN 'cancelling' THEN 'cancelled' ELSE 'failed' END,
            finished_at = NEW.at
        WHERE procrastinate_job_id = NEW.job_id AND status IN ('running', 'cancelling');
    WHEN 'cancelled' THEN
        UPDATE background_jobs SET status = 'cancelled', finished_at = NEW.at
        WHERE procrastinate_job_id = NEW.job_id AND status = 'queued';
    WHEN 'abort_requested' THEN
        UPDATE background_jobs SET status = 'cancelling'
        WHERE procrastinate_job_id = NEW.job_id AND status = 'running';
    ELSE
        NULL;  -- an event type added by a later Procrastinate: nothing to mirror yet
    END CASE;
    RETURN NULL;
END;
$$;

CREATE TRIGGER pgstack_mirror_job_event
    AFTER INSERT ON procrastinate_events
    FOR EACH ROW
    WHEN (NEW.type NOT IN ('deferred', 'scheduled'))
    EXECUTE FUNCTION pgstack_mirror_job_event();
