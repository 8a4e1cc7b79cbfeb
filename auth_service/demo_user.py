"""The demo account `pgstack dev` prints, so a fresh checkout can log in at once."""

import psycopg

from auth_service import passwords, service

DEMO_EMAIL = "demo@pgstack.dev"
# A development-only password, printed by `pgstack dev`; never a production account.
DEMO_PASSWORD = "pgstack-demo-password"


async def ensure_demo_user(database_url: str) -> tuple[str, str]:
    """Create the demo account, or reset it to the known password; return (email, password)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(
            "SELECT hashed_password FROM users WHERE lower(email) = %s", (DEMO_EMAIL,)
        )
        row = await cursor.fetchone()
        if row is not None and await passwords.verify_password(DEMO_PASSWORD, row[0]):
            await conn.execute(
                "UPDATE users SET is_active = true WHERE lower(email) = %s", (DEMO_EMAIL,)
            )
            return DEMO_EMAIL, DEMO_PASSWORD
        hashed = await passwords.hash_password(DEMO_PASSWORD)
        await conn.execute(
            """
            INSERT INTO users (email, hashed_password, full_name) VALUES (%s, %s, 'Demo User')
            ON CONFLICT ((lower(email))) DO UPDATE
                SET hashed_password = EXCLUDED.hashed_password, is_active = true,
                    updated_at = now()
            """,
            (service.normalise_email(DEMO_EMAIL), hashed),
        )
    return DEMO_EMAIL, DEMO_PASSWORD
