-- The login and registration throttles' queries (auth_service/throttle.py runs them).

-- count_failures --
-- Recent failed logins of the account (attempts in flight included: one person does not log
-- in ten times at once) and of the address (failures only, and a pending attempt older than
-- any hash takes, whose process died), when each failed last, and the address's attempts in
-- flight.
SELECT count(*) FILTER (WHERE email = %(email)s) AS account_failures,
       max(failed_at) FILTER (WHERE email = %(email)s) AS account_last,
       count(*) FILTER (WHERE ip = %(ip)s::inet AND NOT in_flight) AS ip_failures,
       max(failed_at) FILTER (WHERE ip = %(ip)s::inet AND NOT in_flight) AS ip_last,
       count(*) FILTER (WHERE ip = %(ip)s::inet AND in_flight) AS ip_in_flight
FROM (
    SELECT email, ip, failed_at, pending AND failed_at > %(pending_since)s AS in_flight
    FROM login_failures
    WHERE (email = %(email)s OR ip = %(ip)s::inet) AND failed_at > %(since)s
) AS recent

-- record_attempt --
-- A login attempt, in flight until its password is checked: settled as a failure if wrong,
-- deleted if right.
INSERT INTO login_failures (email, ip, failed_at, pending)
VALUES (%(email)s, %(ip)s::inet, %(now)s, true)
RETURNING id

-- settle_failure --
-- The attempt's password was wrong: a failure from now on.
UPDATE login_failures SET pending = false WHERE id = %(id)s

-- forget_account --
-- A successful login clears the account's failures.
DELETE FROM login_failures WHERE email = %(email)s

-- count_registrations --
-- Registrations within the window from the address and from everyone, and the oldest of each.
SELECT count(*) FILTER (WHERE ip = %(ip)s::inet) AS ip_count,
       min(attempted_at) FILTER (WHERE ip = %(ip)s::inet) AS ip_oldest,
       count(*) AS total_count,
       min(attempted_at) AS total_oldest
FROM registration_attempts
WHERE attempted_at > %(since)s

-- record_registration --
-- A registration request let through the throttle.
INSERT INTO registration_attempts (ip, attempted_at) VALUES (%(ip)s::inet, %(now)s)
