"""Account features over real HTTP on a real PostgreSQL: password change, refused passwords,
the cap on live sessions, operators' commands (the real `pgstack users` process), the operator
role in passports, and the end of new bearer logins."""

import os
import subprocess
import sys

import jwt
import pytest
from httpx import AsyncClient

from tests.auth_service.kit import (
    PASSWORD,
    ManualClock,
    ServeFactory,
    bearer,
    login,
    new_user,
    register,
    session_cookie,
    unique_email,
    with_cookie,
)
from tests.kit.waiting import eventually

NEW_PASSWORD = "a different long passphrase"


async def status_of(client: AsyncClient, token: str) -> int:
    return (await client.get("/v1/session", headers=with_cookie(token))).status_code


async def refused_soon(client: AsyncClient, *tokens: str) -> None:
    """Revoked by another process: this app's session cache hears of it by NOTIFY."""

    async def all_refused() -> bool:
        return all([await status_of(client, token) == 401 for token in tokens])

    await eventually(all_refused, within=5, every=0.02, what="the revocation heard")


def pgstack_users(db_url: str, action: str, email: str) -> subprocess.CompletedProcess[str]:
    """`pgstack users ACTION EMAIL` as an operator runs it: its own process and connection."""
    return subprocess.run(
        [sys.executable, "-m", "deploy", "users", action, email],
        env={**os.environ, "DATABASE_URL": db_url, "PGSTACK_ENV": "test"},
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestPasswordChange:
    async def test_needs_the_current_password_ends_every_session_and_opens_a_new_one(
        self, client: AsyncClient
    ) -> None:
        email, first = await new_user(client)
        second = await login(client, email)
        response = await client.put(
            "/v1/users/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=with_cookie(first),
        )
        assert response.status_code == 200
        assert response.json()["user"]["email"] == email
        fresh = session_cookie(response)
        assert [await status_of(client, t) for t in (first, second, fresh)] == [401, 401, 200]
        old = await client.post("/v1/session", json={"email": email, "password": PASSWORD})
        assert old.status_code == 401
        await login(client, email, NEW_PASSWORD)

    async def test_a_wrong_current_password_is_a_403_and_changes_nothing(
        self, client: AsyncClient
    ) -> None:
        email, token = await new_user(client)
        response = await client.put(
            "/v1/users/me/password",
            json={"current_password": "not my password", "new_password": NEW_PASSWORD},
            headers=with_cookie(token),
        )
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert await status_of(client, token) == 200
        await login(client, email)

    async def test_without_a_session_it_is_a_401(self, client: AsyncClient) -> None:
        response = await client.put(
            "/v1/users/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert response.status_code == 401

    async def test_a_common_new_password_is_a_422_that_says_why(self, client: AsyncClient) -> None:
        _, token = await new_user(client)
        response = await client.put(
            "/v1/users/me/password",
            json={"current_password": PASSWORD, "new_password": "Password1"},
            headers=with_cookie(token),
        )
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["loc"] == ["body", "new_password"]
        assert "most common in breached password lists" in error["msg"]
        assert await status_of(client, token) == 200


@pytest.mark.parametrize("password", ["iloveyou", "password1", "QWERTYUIOP", "trustno1"])
async def test_registering_with_a_common_password_is_a_422_that_says_why(
    client: AsyncClient, password: str
) -> None:
    response = await client.post("/v1/users", json={"email": unique_email(), "password": password})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "password"]
    assert "most common in breached password lists" in error["msg"]


async def test_a_password_that_is_the_email_is_refused(client: AsyncClient) -> None:
    email = unique_email()
    response = await client.post("/v1/users", json={"email": email, "password": email})
    assert response.status_code == 422
    assert "your email address" in response.json()["errors"][0]["msg"]


async def test_past_the_cap_on_live_sessions_the_oldest_is_revoked(
    serve: ServeFactory, clock: ManualClock
) -> None:
    async with serve(max_sessions=3) as client:
        email = await register(client)
        tokens = []
        for _ in range(4):
            tokens.append(await login(client, email))
            clock.advance(seconds=1)
        assert [await status_of(client, t) for t in tokens] == [401, 200, 200, 200]
        devices = (await client.get("/v1/sessions", headers=with_cookie(tokens[-1]))).json()
        assert len(devices) == 3


class TestOperatorCommands:
    async def test_disable_revokes_every_session_at_once_and_enable_lets_them_log_in(
        self, client: AsyncClient, db_url: str
    ) -> None:
        email, first = await new_user(client)
        second = await login(client, email)
        disabled = pgstack_users(db_url, "disable", email.upper())
        assert disabled.returncode == 0, disabled.stderr
        assert "2 session(s) revoked" in disabled.stdout
        await refused_soon(client, first, second)
        refused = await client.post("/v1/session", json={"email": email, "password": PASSWORD})
        assert refused.status_code == 403
        assert pgstack_users(db_url, "enable", email).returncode == 0
        await login(client, email)

    async def test_an_unknown_email_exits_non_zero_saying_so(self, db_url: str) -> None:
        result = pgstack_users(db_url, "disable", unique_email())
        assert result.returncode == 1
        assert "No account has this email" in result.stderr

    async def test_an_operator_s_passport_carries_the_role_until_it_is_taken_away(
        self, client: AsyncClient, db_url: str
    ) -> None:
        email = await register(client)
        assert pgstack_users(db_url, "grant-operator", email).returncode == 0
        token = await login(client, email)
        body = (await client.get("/v1/session", headers=with_cookie(token))).json()
        claims = jwt.decode(body["passport"]["token"], options={"verify_signature": False})
        assert claims["roles"] == ["operator"]
        assert body["user"]["roles"] == ["operator"]

        taken = pgstack_users(db_url, "revoke-operator", email)
        assert taken.returncode == 0, taken.stderr
        await refused_soon(client, token)  # and its passports with it
        again = await login(client, email)
        body = (await client.get("/v1/session", headers=with_cookie(again))).json()
        claims = jwt.decode(body["passport"]["token"], options={"verify_signature": False})
        assert "roles" not in claims
        assert body["user"]["roles"] == []


class TestBearerSunset:
    async def test_a_new_bearer_login_is_refused_by_default(self, client: AsyncClient) -> None:
        email = await register(client)
        response = await client.post(
            "/v1/session", json={"email": email, "password": PASSWORD, "transport": "bearer"}
        )
        assert response.status_code == 401
        assert "cookie" in response.json()["detail"]

    async def test_an_existing_bearer_token_still_works_and_is_exchanged(
        self, serve: ServeFactory
    ) -> None:
        """A token minted while bearer logins were allowed keeps working after they end, and
        trades for a cookie session, while AUTH_LEGACY_BEARER is on."""
        async with serve(bearer_logins=True) as client:
            email = await register(client)
            minted = await client.post(
                "/v1/session", json={"email": email, "password": PASSWORD, "transport": "bearer"}
            )
            token = minted.json()["token"]
        async with serve() as client:
            assert (await client.get("/v1/session", headers=bearer(token))).status_code == 200
            exchanged = await client.post("/v1/session/exchange", headers=bearer(token))
            assert exchanged.status_code == 200
            assert await status_of(client, session_cookie(exchanged)) == 200
