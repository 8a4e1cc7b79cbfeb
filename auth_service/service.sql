-- auth_service's queries: accounts, sessions and roles (auth_service/service.py runs them).

-- get_login_user --
-- The account a login names: read before the password is checked, on no request transaction.
SELECT id, email, full_name, hashed_password, is_active
FROM users WHERE email = %(email)s

-- get_user_id --
-- An account by its canonical email, for the operators' commands.
SELECT id FROM users WHERE email = %(email)s

-- create_user --
-- A new account; a taken email (either unique index) is no row, not an error.
INSERT INTO users (email, hashed_password, full_name)
VALUES (%(email)s, %(hashed_password)s, %(full_name)s)
ON CONFLICT DO NOTHING
RETURNING id

-- get_account --
-- The user a session belongs to, with the password hash (for a password change).
SELECT id, email, full_name, hashed_password FROM users WHERE id = %(user_id)s

-- set_password --
-- Replace a password hash (a change, or a legacy hash upgraded at login).
UPDATE users SET hashed_password = %(hashed_password)s, updated_at = %(now)s
WHERE id = %(user_id)s

-- set_active --
-- Disable or enable an account; returns its id (no row: no such account).
UPDATE users SET is_active = %(active)s, updated_at = %(now)s
WHERE email = %(email)s
RETURNING id

-- insert_session --
-- A new session: only the SHA-256 of its secret is stored.
INSERT INTO user_sessions (id, user_id, secret_hash, auth_method, transport, created_at,
                           last_seen_at, absolute_expires_at, user_agent, ip)
VALUES (%(id)s, %(user_id)s, %(secret_hash)s, %(auth_method)s, %(transport)s, %(now)s,
        %(now)s, %(absolute_expires_at)s, %(user_agent)s, %(ip)s)

-- get_session --
-- The hot path: one primary-key read joined to the (active) user and its roles.
SELECT s.secret_hash, s.user_id, s.auth_method, s.transport, s.created_at,
       s.last_seen_at, s.absolute_expires_at, u.email, u.full_name,
       ARRAY(SELECT r.role FROM user_roles r WHERE r.user_id = u.id ORDER BY r.role) AS roles
FROM user_sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = %(id)s AND s.revoked_at IS NULL AND u.is_active

-- touch_session --
-- Conditional, so 20 parallel requests at the renewal boundary write once: the others wait
-- for the first one's row lock, re-check the condition on the new row and match nothing.
UPDATE user_sessions SET last_seen_at = %(now)s
WHERE id = %(id)s AND last_seen_at < %(stale)s

-- get_secret_hash --
-- The stored hash of a session's secret, to check a token before logging it out.
SELECT secret_hash FROM user_sessions WHERE id = %(id)s

-- list_sessions --
-- The user's live sessions, most recently used first.
SELECT id, user_agent, host(ip) AS ip, auth_method, created_at, last_seen_at
FROM user_sessions
WHERE user_id = %(user_id)s AND revoked_at IS NULL
  AND absolute_expires_at > %(now)s AND last_seen_at > %(idle_since)s
ORDER BY last_seen_at DESC, created_at DESC

-- revoke_session --
-- Revoke one session, and notify every service of it when this commits.
WITH revoked AS (
    UPDATE user_sessions SET revoked_at = %(now)s
    WHERE revoked_at IS NULL AND id = %(id)s
    RETURNING id
)
SELECT id, pg_notify(%(channel)s, id::text) FROM revoked

-- revoke_users_session --
-- Revoke one session if it is this user's (a device signed out from the list).
WITH revoked AS (
    UPDATE user_sessions SET revoked_at = %(now)s
    WHERE revoked_at IS NULL AND id = %(id)s AND user_id = %(user_id)s
    RETURNING id
)
SELECT id, pg_notify(%(channel)s, id::text) FROM revoked

-- revoke_other_sessions --
-- Revoke every session of the user but one (log out everywhere else).
WITH revoked AS (
    UPDATE user_sessions SET revoked_at = %(now)s
    WHERE revoked_at IS NULL AND user_id = %(user_id)s AND id <> %(id)s
    RETURNING id
)
SELECT id, pg_notify(%(channel)s, id::text) FROM revoked

-- revoke_all_sessions --
-- Revoke every session of the user (disabled, or a role taken away).
WITH revoked AS (
    UPDATE user_sessions SET revoked_at = %(now)s
    WHERE revoked_at IS NULL AND user_id = %(user_id)s
    RETURNING id
)
SELECT id, pg_notify(%(channel)s, id::text) FROM revoked

-- revoke_oldest_sessions --
-- Past the cap on live sessions, the oldest are revoked: the new one and the newest others stay.
WITH surplus AS (
    SELECT id FROM user_sessions
    WHERE user_id = %(user_id)s AND revoked_at IS NULL AND id <> %(id)s
      AND absolute_expires_at > %(now)s AND last_seen_at > %(idle_since)s
    ORDER BY created_at DESC, id
    OFFSET %(others)s
), revoked AS (
    UPDATE user_sessions SET revoked_at = %(now)s
    WHERE revoked_at IS NULL AND id IN (SELECT id FROM surplus)
    RETURNING id
)
SELECT id, pg_notify(%(channel)s, id::text) FROM revoked

-- get_roles --
-- The roles a new session's passports carry.
SELECT ARRAY(SELECT role FROM user_roles WHERE user_id = %(user_id)s ORDER BY role) AS roles

-- grant_role --
-- Give a user a role (granting it twice is one grant).
INSERT INTO user_roles (user_id, role) VALUES (%(user_id)s, %(role)s)
ON CONFLICT DO NOTHING

-- revoke_role --
-- Take a role away; returns whether the user had it.
DELETE FROM user_roles WHERE user_id = %(user_id)s AND role = %(role)s
RETURNING user_id
