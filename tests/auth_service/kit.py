"""auth_service test kit: a controlled clock, an app per test, and plain async helpers.

Imported as `tests.auth_service.kit` (the tests directory is a namespace package on the
project path), so it works whatever import mode pytest runs in.
"""

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from auth_service.app import create_app
from auth_service.config import Settings

PASSWORD = "correct horse battery staple"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
COOKIE = "__Host-session"


class ManualClock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def make_settings(db_url: str, **overrides: Any) -> Settings:
    return Settings(DATABASE_URL=db_url, PGSTACK_ENV="test", **overrides)


@asynccontextmanager
async def client_for(
    app: FastAPI, *, ip: str | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncClient]:
    """Run the app's lifespan; requests come from `ip` (a random one by default, so one
    test's failed logins never throttle another's)."""
    peer = ip or f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    async with (
        app.router.lifespan_context(app),
        AsyncClient(
            transport=ASGITransport(app, client=(peer, 50000)),
            base_url="http://testserver",
            headers=headers,
        ) as client,
    ):
        yield client


ServeFactory = Callable[..., AbstractAsyncContextManager[AsyncClient]]


def serve_factory(db_url: str, clock: ManualClock) -> ServeFactory:
    def factory(
        *, ip: str | None = None, headers: dict[str, str] | None = None, **overrides: Any
    ) -> AbstractAsyncContextManager[AsyncClient]:
        app = create_app(make_settings(db_url, **overrides), clock=clock)
        return client_for(app, ip=ip, headers=SAME_ORIGIN if headers is None else headers)

    return factory


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


async def register(client: AsyncClient, email: str | None = None, password: str = PASSWORD) -> str:
    email = email or unique_email()
    response = await client.post("/v1/users", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return email


def session_cookie(response: Response, name: str = COOKIE) -> str:
    """The token the response's Set-Cookie hands to the browser."""
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.partition(";")[0]
    raise AssertionError(f"no {name} cookie in {response.headers}")


async def login(client: AsyncClient, email: str, password: str = PASSWORD, **headers: str) -> str:
    """Log in and return the session token from the cookie."""
    response = await client.post(
        "/v1/session", json={"email": email, "password": password}, headers=headers
    )
    assert response.status_code == 200, response.text
    return session_cookie(response)


async def new_user(client: AsyncClient) -> tuple[str, str]:
    """A registered user, logged in: (email, session token)."""
    email = await register(client)
    return email, await login(client, email)


def with_cookie(token: str, name: str = COOKIE) -> dict[str, str]:
    return {"cookie": f"{name}={token}"}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
