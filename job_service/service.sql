-- get_status --
-- The few columns a poller needs, by the primary key (another user's job: no row).
SELECT id, status, progress_percent AS progress, progress_message AS message, version
FROM background_jobs
WHERE id = %(id)s AND user_id = %(user_id)s
