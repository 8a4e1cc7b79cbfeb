"""A flood of wrong passwords against one account from many addresses, over real HTTP (in-process
ASGI) on a real PostgreSQL: every answer a clear 4xx, every failure counted, and other users'
logins unharmed; a pool that runs dry anyway is a 503 with Retry-After."""

import asyncio

import psycopg
from httpx import AsyncClient, Response

from tests.auth_service.kit import PASSWORD, ServeFactory, register, unique_email
from tests.kit.waiting import eventually

# Requests come from a proxy the app trusts, which names 200 different clients.
PROXY = {"ip": "10.9.0.1", "trusted_proxies": ["10.9.0.0/16"]}
# The office tests register more people (through the proxy's own address) than an hour's
# registrations from one address.
OFFICE = {**PROXY, "registrations_per_ip": 1000}


def failures_of(db_url: str, email: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM login_failures WHERE email = %s", (email,))
        (count,) = row.fetchone() or (0,)
    return int(count)


async def waiting_on_locks(db_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = await cursor.fetchone() or (0,)
    return int(count)


async def log_in_from(client: AsyncClient, address: str, email: str, password: str) -> Response:
    return await client.post(
        "/v1/session",
        json={"email": email, "password": password},
        headers={"x-forwarded-for": address},
    )


async def test_200_concurrent_wrong_passwords_get_4xx_are_all_counted_and_spare_other_users(
    serve: ServeFactory, db_url: str
) -> None:
    """With a pool of two connections, 200 concurrent wrong passwords for one account (each
    from its own address) get 401 or 429 and never a 5xx; every 401 is a recorded failure; and
    five other users logging in meanwhile all get in."""
    async with serve(db_pool_size=2, **PROXY) as client:
        victim = await register(client)
        others = [await register(client) for _ in range(5)]
        flood = [
            log_in_from(client, f"203.0.{i // 250}.{i % 250 + 1}", victim, "wrong password")
            for i in range(200)
        ]
        correct = [
            log_in_from(client, f"198.51.100.{i + 1}", email, PASSWORD)
            for i, email in enumerate(others)
        ]
        responses = await asyncio.gather(*flood, *correct)

    statuses = [response.status_code for response in responses[:200]]
    assert set(statuses) <= {401, 429}, sorted(set(statuses))
    assert failures_of(db_url, victim) == statuses.count(401)
    # The account limit (10) holds exactly against a burst: one admission at a time per account.
    assert statuses.count(401) == 10
    assert [response.status_code for response in responses[200:]] == [200] * 5


async def test_a_login_that_finds_every_connection_stuck_is_a_503_with_retry_after(
    serve: ServeFactory, db_url: str
) -> None:
    """Logins wait on a table another client has locked: the pool runs dry, and the login
    that cannot get a connection is answered 503 with Retry-After (after the pool's 5 s)."""
    async with serve(db_pool_size=1) as client:
        async with await psycopg.AsyncConnection.connect(db_url) as blocker:
            await blocker.execute("LOCK TABLE login_failures IN ACCESS EXCLUSIVE MODE")
            stuck = asyncio.ensure_future(
                client.post("/v1/session", json={"email": unique_email(), "password": "whatever"})
            )

            async def one_waits_on_the_lock() -> bool:
                return await waiting_on_locks(db_url) == 1

            # The first login now holds the pool's one connection, stuck behind the lock.
            await eventually(one_waits_on_the_lock, within=10, what="a login stuck on the lock")
            response = await client.post(
                "/v1/session", json={"email": unique_email(), "password": "whatever"}
            )
            await blocker.rollback()
        assert (await stuck).status_code == 401
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.headers["content-type"] == "application/problem+json"


async def test_once_an_account_backs_off_further_guesses_are_refused_without_the_database(
    serve: ServeFactory, db_url: str
) -> None:
    """The process remembers a back-off it has read: with the throttle's table locked by
    another client, a further guess is still answered 429 at once (no query is waiting)."""
    async with serve(**PROXY) as client:
        victim = await register(client)
        for i in range(11):
            response = await log_in_from(client, f"203.0.113.{i + 1}", victim, "wrong password")
        assert response.status_code == 429
        async with await psycopg.AsyncConnection.connect(db_url) as blocker:
            await blocker.execute("LOCK TABLE login_failures IN ACCESS EXCLUSIVE MODE")
            # Were it to query, it would wait on the lock for good: the timeout only ends a hang.
            async with asyncio.timeout(4):
                again = await log_in_from(client, "203.0.113.200", victim, "wrong password")
            assert await waiting_on_locks(db_url) == 0
            await blocker.rollback()
    assert again.status_code == 429
    assert int(again.headers["retry-after"]) > 0


async def test_twenty_people_of_one_office_logging_in_at_once_all_get_in(
    serve: ServeFactory, db_url: str
) -> None:
    """Their attempts are in flight together, not ten failures of their address."""
    async with serve(**OFFICE) as client:
        office = [await register(client) for _ in range(20)]
        responses = await asyncio.gather(
            *(log_in_from(client, "203.0.113.50", email, PASSWORD) for email in office)
        )
    assert [response.status_code for response in responses] == [200] * 20


async def test_an_offices_wrong_passwords_still_count_against_its_address(
    serve: ServeFactory,
) -> None:
    """Settled as failures once checked: ten of them and the address backs off."""
    async with serve(**OFFICE) as client:
        people = [await register(client) for _ in range(11)]
        wrong = await asyncio.gather(
            *(log_in_from(client, "203.0.113.51", email, "wrong password") for email in people[:10])
        )
        assert [response.status_code for response in wrong] == [401] * 10
        after = await log_in_from(client, "203.0.113.51", people[10], PASSWORD)
    assert after.status_code == 429
    assert int(after.headers["retry-after"]) > 1


async def test_past_the_attempts_in_flight_one_address_may_have_it_waits_a_second(
    serve: ServeFactory,
) -> None:
    """One address cannot have a hundred accounts' passwords checked at once."""
    async with serve(login_in_flight_per_ip=3, **OFFICE) as client:
        people = [await register(client) for _ in range(12)]
        responses = await asyncio.gather(
            *(log_in_from(client, "203.0.113.52", email, PASSWORD) for email in people)
        )
    statuses = [response.status_code for response in responses]
    assert set(statuses) == {200, 429}, statuses
    assert all(r.headers["retry-after"] == "1" for r in responses if r.status_code == 429)
