-- get_status --
-- The few columns a poller needs, by the primary key (another user's job: no row).
SELECT id, status, progress_percent AS progress, progress_message AS message, version
FROM background_jobs
WHERE id = %(id)s AND user_id = %(user_id)s

-- job_events_after --
-- A page of a job's logged changes after an offset, in order (`at` in epoch ms: the resume
-- cursor).
SELECT job_id, job_offset, kind, payload, round(extract(epoch FROM at) * 1000, 3) AS at
FROM job_events
WHERE job_id = %(job_id)s AND job_offset > %(after)s
ORDER BY job_offset
LIMIT %(limit)s

-- user_events_since --
-- A page of a user's logged changes since a time (epoch ms), in the order they were written,
-- after the row `after_id` (the previous page's last).
SELECT id, job_id, job_offset, kind, payload, round(extract(epoch FROM at) * 1000, 3) AS at
FROM job_events
WHERE user_id = %(user_id)s AND at >= to_timestamp(%(since)s / 1000.0) AND id > %(after_id)s
ORDER BY id
LIMIT %(limit)s

-- now --
-- The database's time (epoch ms): a read that follows sees every change committed before it.
SELECT round(extract(epoch FROM statement_timestamp()) * 1000, 3) AS now
