-- mark_worker_lost --
-- The error of a job given up on because its worker stopped.
UPDATE background_jobs SET error_type = 'WorkerLost', error_message = %(message)s
WHERE procrastinate_job_id = %(job_id)s

-- prune_jobs --
-- Forget the finished jobs older than a number of days.
DELETE FROM background_jobs
WHERE status IN ('succeeded', 'failed', 'cancelled')
  AND finished_at < now() - make_interval(days => %(days)s)
