"""The connection budget's check at start: a process says, before any request waits, that
its pools cannot be filled, and what to change."""

import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared import connections
from shared.settings import sqlalchemy_url


@pytest.fixture
def limited_url(db_url: str) -> Iterator[str]:
    """The module's database as a role allowed only 3 connections."""
    role = f"pgstack_limited_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 3".encode())
    base, _, rest = db_url.partition("://")
    yield f"{base}://{role}@{rest.partition('@')[2]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE {role}".encode())


@pytest.fixture
async def limited_engine(limited_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(sqlalchemy_url(limited_url))
    yield engine
    await engine.dispose()


class TestBudget:
    def test_each_process_kind_counts_its_pools_and_its_listen(self) -> None:
        """auth and demo: two pools and LISTEN; jobs: one pool and LISTEN; a worker: its
        queue pool (concurrency + 2), Procrastinate's LISTEN and the tasks' sessions."""
        assert sum(connections.budget("auth", pool_size=10).values()) == 21
        assert sum(connections.budget("demo", pool_size=10).values()) == 21
        assert sum(connections.budget("job", pool_size=10).values()) == 11
        worker = connections.budget("worker", pool_size=10, concurrency=10)
        assert sum(worker.values()) == 23


class TestCheckHeadroom:
    async def test_a_role_limit_below_the_budget_is_a_warning_that_says_what_to_change(
        self, limited_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
    ) -> None:
        wanted = connections.budget("auth", pool_size=10)
        with caplog.at_level(logging.INFO, logger="shared.connections"):
            await connections.check_headroom(limited_engine, "auth", wanted)
        (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
        message = warning.getMessage()
        assert "may open 21 connections" in message
        assert "the role's CONNECTION LIMIT leaves 3" in message
        assert "DB_POOL_SIZE" in message

    async def test_enough_room_is_reported_without_a_warning(
        self, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
    ) -> None:
        wanted = connections.budget("job", pool_size=2)
        with caplog.at_level(logging.INFO, logger="shared.connections"):
            await connections.check_headroom(engine, "job", wanted)
        assert [r.levelno for r in caplog.records] == [logging.INFO]
        assert caplog.records[0].__dict__["connections"] == 3
