-- store_result --
-- The JSON value a task returned.
UPDATE background_jobs SET result = %(result)s WHERE procrastinate_job_id = %(job_id)s

-- store_error --
-- The exception a job ended with: its type and (shortened) message.
UPDATE background_jobs SET error_type = %(error_type)s, error_message = %(error_message)s
WHERE procrastinate_job_id = %(job_id)s

-- traceparent --
-- The trace the job was enqueued in (shared/tracing.py), to continue it.
SELECT traceparent FROM background_jobs WHERE procrastinate_job_id = %(job_id)s
