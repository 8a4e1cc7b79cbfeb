-- lock_watched_user --
-- Wait for the user's job changes in flight (each holds this lock shared until it commits).
SELECT pg_advisory_xact_lock(%(lock)s::integer, hashint8(%(user_id)s::bigint))

-- watch --
-- Register (or renew) a process as a watcher of these users' job changes for ttl seconds.
INSERT INTO job_event_watchers (user_id, watcher, expires_at)
SELECT unnest(%(user_ids)s::bigint[]), %(watcher)s, now() + make_interval(secs => %(ttl)s)
ON CONFLICT (user_id, watcher) DO UPDATE SET expires_at = EXCLUDED.expires_at

-- renew --
-- Renew a process's registrations; the users whose registration was still there.
UPDATE job_event_watchers
SET expires_at = now() + make_interval(secs => %(ttl)s)
WHERE watcher = %(watcher)s AND user_id = ANY(%(user_ids)s::bigint[])
RETURNING user_id

-- forget_expired --
-- Forget registrations lapsed for longer than a ttl (their process is gone).
DELETE FROM job_event_watchers WHERE expires_at < now() - make_interval(secs => %(ttl)s)
