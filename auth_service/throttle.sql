-- The login and registration throttles' queries (auth_service/throttle.py runs them).

-- count_failures --
-- Recent failed logins of the account and of the address, and when each failed last.
SELECT count(*) FILTER (WHERE email = %(email)s) AS account_failures,
       max(failed_at) FILTER (WHERE email = %(email)s) AS account_last,
       count(*) FILTER (WHERE ip = %(ip)s::inet) AS ip_failures,
       max(failed_at) FILTER (WHERE ip = %(ip)s::inet) AS ip_last
FROM login_failures
WHERE (email = %(email)s OR ip = %(ip)s::inet) AND failed_at > %(since)s

-- record_failure --
-- A login attempt, counted as failed until its password is proven right.
INSERT INTO login_failures (email, ip, failed_at) VALUES (%(email)s, %(ip)s::inet, %(now)s)

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
