-- get_status --
-- The few columns a poller needs, by the primary key (another user's job: no row).
SELECT id, status, progress_percent AS progress, progress_message AS message, version
FROM background_jobs
WHERE id = %(id)s AND user_id = %(user_id)s

-- job_events_after --
-- A job's logged changes after an offset, in order (`at` in epoch ms: the resume cursor).
SELECT job_id, job_offset, kind, payload, round(extract(epoch FROM at) * 1000, 3) AS at
FROM job_events
WHERE job_id = %(job_id)s AND job_offset > %(after)s
ORDER BY job_offset

-- user_events_since --
-- A user's logged changes since a time (epoch ms), in the order they were written.
SELECT job_id, job_offset, kind, payload, round(extract(epoch FROM at) * 1000, 3) AS at
FROM job_events
WHERE user_id = %(user_id)s AND at >= to_timestamp(%(since)s / 1000.0)
ORDER BY id

-- now --
-- The database's time (epoch ms): a read that follows sees every change committed before it.
SELECT round(extract(epoch FROM statement_timestamp()) * 1000, 3) AS now
