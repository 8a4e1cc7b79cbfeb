-- The demo account's queries (auth_service/demo_user.py runs them).

-- get_demo_hash --
-- The demo account's password hash, if the account exists.
SELECT hashed_password FROM users WHERE email = %(email)s

-- activate_demo --
-- The demo account exists with the known password: make sure it can log in.
UPDATE users SET is_active = true WHERE email = %(email)s

-- upsert_demo --
-- Create the demo account, or reset it to the known password.
INSERT INTO users (email, hashed_password, full_name) VALUES (%(email)s, %(hashed)s, 'Demo User')
ON CONFLICT (email) DO UPDATE
    SET hashed_password = EXCLUDED.hashed_password, is_active = true, updated_at = now()
