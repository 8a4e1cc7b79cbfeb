-- by_status --
-- Jobs by kind and status.
SELECT kind, status, count(*) FROM background_jobs GROUP BY kind, status

-- queues --
-- Waiting jobs (due now) per queue, and how long the oldest has waited.
SELECT j.queue_name, count(*),
       coalesce(extract(epoch FROM now() - min(coalesce(j.scheduled_at, e.at))), 0)
FROM procrastinate_jobs j
LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
GROUP BY j.queue_name

-- durations --
-- Run time of the jobs finished in the last 15 minutes, by kind.
SELECT kind, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY d),
       max(d)
FROM (SELECT kind, extract(epoch FROM finished_at - started_at) AS d
      FROM background_jobs
      WHERE finished_at > now() - interval '15 minutes' AND started_at IS NOT NULL) f
GROUP BY kind

-- worker_heartbeat --
-- How many workers are registered, and the age of the freshest heartbeat.
SELECT count(*) AS workers, extract(epoch FROM now() - max(last_heartbeat)) AS age
FROM procrastinate_workers
