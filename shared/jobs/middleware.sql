-- store_result --
-- The JSON value a task returned, while the job is still this run's: a worker cut off from the
-- database while its job was recovered and run elsewhere may come back and finish its own copy,
-- and must not replace the other run's outcome (tests/deploy/test_hosts.py).
UPDATE background_jobs SET result = %(result)s
WHERE procrastinate_job_id = %(job_id)s
  AND EXISTS (SELECT 1 FROM procrastinate_jobs
              WHERE id = %(job_id)s AND status = 'doing'
                AND worker_id IS NOT DISTINCT FROM %(worker_id)s)

-- store_error --
-- The exception a job ended with: its type and (shortened) message; this run's only, as above.
UPDATE background_jobs SET error_type = %(error_type)s, error_message = %(error_message)s
WHERE procrastinate_job_id = %(job_id)s
  AND EXISTS (SELECT 1 FROM procrastinate_jobs
              WHERE id = %(job_id)s AND status = 'doing'
                AND worker_id IS NOT DISTINCT FROM %(worker_id)s)

-- traceparent --
-- The trace the job was enqueued in (shared/tracing.py), to continue it.
SELECT traceparent FROM background_jobs WHERE procrastinate_job_id = %(job_id)s
