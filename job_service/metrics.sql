-- by_status --
-- Jobs by kind and status.
SELECT kind, status, count(*) AS jobs FROM background_jobs GROUP BY kind, status

-- queues --
-- Waiting jobs (due now) per queue, how long the oldest has waited, and the workers sharing
-- them (registered: a worker silent past WORKER_STALLED_AFTER is pruned).
SELECT j.queue_name AS queue, count(*) AS waiting,
       coalesce(extract(epoch FROM now() - min(coalesce(j.scheduled_at, e.at))), 0) AS oldest,
       (SELECT count(*) FROM procrastinate_workers) AS workers
FROM procrastinate_jobs j
LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
GROUP BY j.queue_name

-- finished_since --
-- Jobs that ran and finished after `since` (the newest of the previous reading), oldest
-- first, with how long each waited for a worker and ran.
SELECT kind, status, finished_at,
       extract(epoch FROM started_at - created_at) AS waited,
       extract(epoch FROM finished_at - started_at) AS ran
FROM background_jobs
WHERE finished_at > %(since)s AND started_at IS NOT NULL
ORDER BY finished_at
LIMIT 10000

-- now --
-- The database's clock: where the first reading of finished jobs starts.
SELECT now() AS now

-- worker_heartbeat --
-- How many workers are registered, and the age of the freshest heartbeat.
SELECT count(*) AS workers, extract(epoch FROM now() - max(last_heartbeat)) AS age
FROM procrastinate_workers
