-- queues --
-- Per queue: jobs waiting (due now) and how long the oldest has waited, jobs running, those
-- stuck (running on a worker without a fresh heartbeat, or for longer than the timeout), and
-- the jobs that succeeded or failed in the last hour.
WITH live AS (
    SELECT j.queue_name AS queue,
           count(*) FILTER (WHERE j.status = 'todo') AS waiting,
           extract(epoch FROM now() - min(coalesce(j.scheduled_at, e.at))
                   FILTER (WHERE j.status = 'todo')) AS oldest_waiting_seconds,
           count(*) FILTER (WHERE j.status = 'doing') AS running,
           count(*) FILTER (
               WHERE j.status = 'doing'
                 AND (w.id IS NULL
                      OR w.last_heartbeat < now() - make_interval(secs => %(fresh_seconds)s)
                      OR s.at < now() - make_interval(secs => %(timeout_seconds)s))
           ) AS stuck
    FROM procrastinate_jobs j
    LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
    LEFT JOIN LATERAL (
        SELECT max(at) AS at FROM procrastinate_events
        WHERE job_id = j.id AND type = 'started'
    ) s ON true
    LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
    WHERE j.status = 'doing'
       OR (j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now()))
    GROUP BY j.queue_name
), finished AS (
    SELECT j.queue_name AS queue,
           count(*) FILTER (WHERE b.status = 'succeeded') AS succeeded_last_hour,
           count(*) FILTER (WHERE b.status = 'failed') AS failed_last_hour
    FROM background_jobs b
    JOIN procrastinate_jobs j ON j.id = b.procrastinate_job_id
    WHERE b.finished_at >= now() - interval '1 hour'
    GROUP BY j.queue_name
)
SELECT queue,
       coalesce(waiting, 0) AS waiting,
       coalesce(oldest_waiting_seconds, 0)::float AS oldest_waiting_seconds,
       coalesce(running, 0) AS running,
       coalesce(stuck, 0) AS stuck,
       coalesce(succeeded_last_hour, 0) AS succeeded_last_hour,
       coalesce(failed_last_hour, 0) AS failed_last_hour
FROM live FULL JOIN finished USING (queue)
ORDER BY queue

-- throughput --
-- Jobs finished in the last hour per queue and 5-minute bucket (0: the newest five minutes).
SELECT j.queue_name AS queue,
       least(floor(extract(epoch FROM now() - b.finished_at) / 300), 11)::int AS bucket,
       count(*) AS finished
FROM background_jobs b
JOIN procrastinate_jobs j ON j.id = b.procrastinate_job_id
WHERE b.finished_at >= now() - interval '1 hour'
GROUP BY 1, 2

-- workers --
-- Registered workers, the age of each one's heartbeat and how many jobs each is running.
SELECT w.id, w.last_heartbeat,
       extract(epoch FROM now() - w.last_heartbeat)::float AS heartbeat_age_seconds,
       count(j.id) AS running
FROM procrastinate_workers w
LEFT JOIN procrastinate_jobs j ON j.worker_id = w.id AND j.status = 'doing'
GROUP BY w.id
ORDER BY w.id

-- stuck_jobs --
-- Running jobs whose worker has no fresh heartbeat (or is gone), or that have run longer than
-- the timeout; oldest first.
SELECT b.id
FROM background_jobs b
JOIN procrastinate_jobs j ON j.id = b.procrastinate_job_id
LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
WHERE b.status IN ('running', 'cancelling') AND j.status = 'doing'
  AND (w.id IS NULL
       OR w.last_heartbeat < now() - make_interval(secs => %(fresh_seconds)s)
       OR b.started_at < now() - make_interval(secs => %(timeout_seconds)s))
ORDER BY b.started_at
LIMIT 100
