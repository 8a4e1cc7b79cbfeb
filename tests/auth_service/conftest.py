"""Fixtures of auth_service's tests; the helpers themselves are in `kit.py`."""

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from tests.auth_service.kit import ManualClock, ServeFactory, serve_factory


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def serve(db_url: str, clock: ManualClock) -> ServeFactory:
    """`async with serve(**settings) as client`: auth_service on this module's database,
    on the test's clock, sending same-origin requests unless told otherwise."""
    return serve_factory(db_url, clock)


@pytest.fixture
async def client(serve: ServeFactory) -> AsyncIterator[AsyncClient]:
    async with serve() as client:
        yield client
