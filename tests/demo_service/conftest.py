"""Fixtures of demo_service's tests: the app served in-process, clients carrying passports,
the real worker running in-process on the module's database. Helpers are in `kit.py`."""

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from demo_service.app import create_app
from demo_service.config import Settings
from tests.kit.passports import PassportAuth, PassportKey
from tests.kit.workers import running_worker


@pytest.fixture(autouse=True)
def task_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker reads DEMO_* from its environment: no step delay unless a test asks."""
    monkeypatch.setenv("PGSTACK_ENV", "test")
    monkeypatch.setenv("DEMO_STEP_DELAY", "0")
    monkeypatch.delenv("DEMO_FAIL_ATTEMPTS", raising=False)


@pytest.fixture(scope="module")
async def app(db_url: str, passport_key: PassportKey) -> AsyncIterator[FastAPI]:
    """demo_service on the module's database, its lifespan running."""
    app = create_app(Settings(DATABASE_URL=db_url, PASSPORT_JWKS=passport_key.jwks))
    async with app.router.lifespan_context(app):
        yield app


ClientFor = Callable[[int], httpx.AsyncClient]


@pytest.fixture
async def client_for(app: FastAPI, passport_key: PassportKey) -> AsyncIterator[ClientFor]:
    """`client_for(user_id)`: an HTTP client carrying that user's passports."""
    clients: list[httpx.AsyncClient] = []

    def make(user_id: int) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://testserver",
            auth=PassportAuth(passport_key, user_id),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def worker(db_url: str) -> AsyncIterator[None]:
    """The real worker (`pgstack worker`'s code) running in this process."""
    async with running_worker(
        db_url, WORKER_CONCURRENCY=4, WORKER_POLL_SECONDS=0.2, WORKER_SHUTDOWN_GRACE=1
    ):
        yield
