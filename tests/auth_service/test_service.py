"""auth_service's service functions that have no route of their own, on a real database."""

import asyncio
import datetime as dt

import psycopg
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from auth_service import service
from auth_service.demo_user import ensure_demo_user
from shared import db
from shared.passport import REVOCATION_CHANNEL
from shared.settings import sqlalchemy_url
from tests.auth_service.kit import login, new_user, with_cookie


async def test_disabling_a_user_revokes_every_session_and_notifies_each(
    client: AsyncClient, db_url: str
) -> None:
    email, first = await new_user(client)
    second = await login(client, email)
    user_id = (await client.get("/v1/session", headers=with_cookie(first))).json()["user"]["id"]

    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {REVOCATION_CHANNEL}")
        engine = create_async_engine(sqlalchemy_url(db_url))
        async with async_sessionmaker(engine)() as session, session.begin():
            revoked = await service.disable_user(
                session, user_id=user_id, now=dt.datetime.now(dt.UTC)
            )
        await engine.dispose()
        heard = set()
        async with asyncio.timeout(5):
            async for notify in listener.notifies():
                heard.add(notify.payload)
                if len(heard) == 2:
                    break

    assert revoked == 2
    assert heard == {first.partition(".")[0], second.partition(".")[0]}
    # This process's session cache learns of the revocation by its own LISTEN, a moment
    # after the test's listener: the promise is "within a second", so allow that second.
    for _ in range(50):  # 50 x 20 ms
        statuses = [
            (await client.get("/v1/session", headers=with_cookie(token))).status_code
            for token in (first, second)
        ]
        if statuses == [401, 401]:
            break
        await asyncio.sleep(0.02)
    assert statuses == [401, 401]


async def test_a_revocation_that_rolls_back_notifies_nobody(
    client: AsyncClient, db_url: str
) -> None:
    _, token = await new_user(client)
    user_id = (await client.get("/v1/session", headers=with_cookie(token))).json()["user"]["id"]
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {REVOCATION_CHANNEL}")
        engine = create_async_engine(sqlalchemy_url(db_url))
        async with async_sessionmaker(engine)() as session:
            await service.disable_user(session, user_id=user_id, now=dt.datetime.now(dt.UTC))
            await session.rollback()
        await engine.dispose()
        await listener.execute("SELECT 1")  # a round trip: any notification would be in
        assert [n async for n in listener.notifies(timeout=0.2)] == []
    assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 200


async def test_the_demo_user_is_created_once_and_can_log_in(
    client: AsyncClient, db_url: str
) -> None:
    first = await ensure_demo_user(db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE users SET hashed_password = 'changed', is_active = false WHERE email = %s",
            (first[0],),
        )
    assert await ensure_demo_user(db_url) == first
    email, password = first
    await login(client, email, password)
    with psycopg.connect(db_url) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM users WHERE lower(email) = %s", (email,)
        ).fetchone() or (0,)
    assert count == 1


async def test_create_user_makes_one_account_of_an_email_in_any_case(
    session: AsyncSession,
) -> None:
    """A second registration of the same email, in another case, creates nothing."""
    first = await service.create_user(session, email="Case@Example.com", password="long enough")
    again = await service.create_user(session, email="  CASE@example.COM ", password="other pw")
    assert first is not None
    assert again is None
    rows = await db.execute(session, "SELECT email FROM users WHERE id = %(id)s", {"id": first})
    assert await rows.fetchall() == [{"email": "case@example.com"}]
