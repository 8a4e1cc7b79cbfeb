"""Registration throttled per client address and in all (429 + Retry-After), over real HTTP
on a real PostgreSQL, with the window driven by the test's clock."""

from httpx import AsyncClient

from tests.auth_service.kit import PASSWORD, ManualClock, ServeFactory, unique_email

HOUR = 3600


async def register_status(client: AsyncClient, address: str | None = None) -> tuple[int, str]:
    headers = {"x-forwarded-for": address} if address else {}
    response = await client.post(
        "/v1/users", json={"email": unique_email(), "password": PASSWORD}, headers=headers
    )
    return response.status_code, response.headers.get("retry-after", "")


async def test_the_21st_registration_from_one_address_within_an_hour_is_a_429(
    serve: ServeFactory, clock: ManualClock
) -> None:
    """By default 20 an hour per address; the 21st waits for the hour to pass, and another
    address is not held back meanwhile."""
    async with serve() as client:
        for _ in range(20):
            assert (await register_status(client))[0] == 201
        clock.advance(minutes=10)
        status, retry_after = await register_status(client)
        assert status == 429
        assert int(retry_after) == HOUR - 10 * 60
        async with serve() as elsewhere:
            assert (await register_status(elsewhere))[0] == 201
        clock.advance(seconds=int(retry_after))
        assert (await register_status(client))[0] == 201


async def test_registrations_from_many_addresses_meet_the_total_limit(
    serve: ServeFactory, clock: ManualClock
) -> None:
    clock.advance(hours=3)  # past the other tests' registrations in this database
    async with serve(
        registrations_total=5, ip="10.9.0.1", trusted_proxies=["10.9.0.0/16"]
    ) as client:
        for i in range(5):
            assert (await register_status(client, f"203.0.113.{i + 1}"))[0] == 201
        status, retry_after = await register_status(client, "203.0.113.99")
    assert status == 429
    assert 0 < int(retry_after) <= HOUR


async def test_a_throttled_registration_is_a_problem_and_creates_no_account(
    serve: ServeFactory,
) -> None:
    async with serve(registrations_per_ip=1) as client:
        assert (await register_status(client))[0] == 201
        email = unique_email()
        response = await client.post("/v1/users", json={"email": email, "password": PASSWORD})
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/problem+json"
        login = await client.post("/v1/session", json={"email": email, "password": PASSWORD})
        assert login.status_code == 401
