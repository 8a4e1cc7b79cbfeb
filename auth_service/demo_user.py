"""The demo account `pgstack dev` prints, so a fresh checkout can log in at once."""

import psycopg

from auth_service import emails, passwords
from shared import sql

QUERIES = sql.load(__file__)

DEMO_EMAIL = "demo@pgstack.dev"
# A development-only password, printed by `pgstack dev`; never a production account.
DEMO_PASSWORD = "pgstack-demo-password"


async def ensure_demo_user(database_url: str) -> tuple[str, str]:
    """Create the demo account, or reset it to the known password; return (email, password)."""
    email = emails.canonical(DEMO_EMAIL)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(QUERIES["get_demo_hash"], {"email": email})
        row = await cursor.fetchone()
        if row is not None and await passwords.verify_password(DEMO_PASSWORD, row[0]):
            await conn.execute(QUERIES["activate_demo"], {"email": email})
            return DEMO_EMAIL, DEMO_PASSWORD
        hashed = await passwords.hash_password(DEMO_PASSWORD)
        await conn.execute(QUERIES["upsert_demo"], {"email": email, "hashed": hashed})
    return DEMO_EMAIL, DEMO_PASSWORD
