"""The database every test runs on: a real PostgreSQL, schema from the real migrations.

`DATABASE_URL` names the server to use; without it the tests start the embedded cluster under
`.pgstack/`, as `pgstack dev` does. The migrations run once per session into a template
database; each test module gets its own copy (`CREATE DATABASE ... TEMPLATE`, milliseconds).
"""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from deploy import migrate
from deploy.embedded import EmbeddedPostgres
from shared.settings import plain_database_url, sqlalchemy_url
from tests.kit.databases import create_database, database_url, drop_database
from tests.kit.passports import PassportKey

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server_url() -> str:
    """A URL on the test server (its maintenance database), for creating databases."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        url = EmbeddedPostgres(ROOT / ".pgstack").start()
    return database_url(plain_database_url(url), "postgres")


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    """The name of a database migrated to the head once for this session."""
    url = create_database(server_url, prefix="template")
    migrate.upgrade(url)
    yield url.rpartition("/")[2]
    drop_database(url)


@pytest.fixture(scope="module")
def db_url(server_url: str, template_db: str) -> Iterator[str]:
    """A migrated database of this test module's own."""
    url = create_database(server_url, template=template_db)
    yield url
    drop_database(url)


@pytest.fixture
def empty_db_url(server_url: str) -> Iterator[str]:
    """An empty database of this test's own, for migration tests."""
    url = create_database(server_url, prefix="empty")
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(sqlalchemy_url(db_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work is rolled back after the test."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        async with AsyncSession(bind=conn, expire_on_commit=False) as session:
            yield session
        await transaction.rollback()


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A migrated cluster of this test's own: it is the only one a test may stop."""
    cluster = EmbeddedPostgres(tmp_path / "pg")
    migrate.upgrade(cluster.start())
    yield cluster
    cluster.stop(mode="immediate")


@pytest.fixture(scope="session")
def passport_key() -> PassportKey:
    """The key standing in for auth_service's: services under test trust its JWKS."""
    return PassportKey()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API holds an event loop open in the main thread
    until its session ends, and the async tests need that thread's loop to themselves."""
    items.sort(key=lambda item: "tests/e2e/" in item.nodeid or "e2e" in item.path.parts)
