-- store_result --
-- The JSON value a task returned.
UPDATE background_jobs SET result = %(result)s WHERE procrastinate_job_id = %(job_id)s

-- store_error --
-- The exception a job ended with: its type and (shortened) message.
UPDATE background_jobs SET error_type = %(error_type)s, error_message = %(error_message)s
WHERE procrastinate_job_id = %(job_id)s
