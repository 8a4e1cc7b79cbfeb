-- mark_worker_lost --
-- The error of a job given up on because its worker stopped.
UPDATE background_jobs SET error_type = 'WorkerLost', error_message = %(message)s
WHERE procrastinate_job_id = %(job_id)s

-- prune_jobs --
-- Forget the finished jobs older than a number of days.
DELETE FROM background_jobs
WHERE status IN ('succeeded', 'failed', 'cancelled')
  AND finished_at < now() - make_interval(days => %(days)s)

-- prune_events --
-- Forget the job event log's rows older than a number of hours. By the primary key, from the
-- oldest: the ids follow the rows' times, and the scan stops at the first row to keep.
DELETE FROM job_events
WHERE id < coalesce(
    (SELECT id FROM job_events WHERE at >= now() - make_interval(secs => %(hours)s * 3600)
     ORDER BY id LIMIT 1),
    (SELECT max(id) + 1 FROM job_events)
)
