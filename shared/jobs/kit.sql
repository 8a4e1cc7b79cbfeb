-- report_progress --
-- A running job's progress; a job no longer running keeps the progress it ended with.
UPDATE background_jobs SET progress_percent = %(percent)s, progress_message = %(message)s
WHERE procrastinate_job_id = %(job_id)s AND status IN ('running', 'cancelling')
