-- auth_service's background tasks' queries (auth_service/tasks.py runs them).

-- purge --
-- Sessions past their expiry (each condition has an index), revoked ones after a day (a
-- restarting service reads recent revocations from them), and day-old throttle rows.
WITH sessions AS (
    DELETE FROM user_sessions
    WHERE absolute_expires_at < now()
       OR last_seen_at < now() - make_interval(secs => %(idle)s)
       OR revoked_at < now() - interval '1 day'
    RETURNING 1
), failures AS (
    DELETE FROM login_failures WHERE failed_at < now() - interval '1 day' RETURNING 1
), registrations AS (
    DELETE FROM registration_attempts WHERE attempted_at < now() - interval '1 day' RETURNING 1
)
SELECT (SELECT count(*) FROM sessions) AS sessions, (SELECT count(*) FROM failures) AS failures,
       (SELECT count(*) FROM registrations) AS registrations
