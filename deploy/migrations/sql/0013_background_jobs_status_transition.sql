-- A job's status moves only along the lifecycle of shared/jobs/lifecycle.py, whoever writes it:
-- Procrastinate's events through their mirror, a retry, an operator at a psql prompt.
CREATE FUNCTION background_jobs_status_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status, NEW.status) NOT IN (
        ('queued', 'running'), ('queued', 'cancelled'),
        ('running', 'succeeded'), ('running', 'failed'), ('running', 'queued'),
        ('running', 'cancelling'),
        ('cancelling', 'cancelled'), ('cancelling', 'succeeded'),
        ('failed', 'queued'), ('cancelled', 'queued')
    ) THEN
        RAISE EXCEPTION 'illegal job status transition: % -> %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER background_jobs_status_transition
    BEFORE UPDATE OF status ON background_jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION background_jobs_status_transition();
