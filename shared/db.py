"""The async engine and the one-transaction-per-request session dependency."""

from collections.abc import AsyncIterator
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from shared.settings import ServiceSettings, sqlalchemy_url


class Base(DeclarativeBase):
    """The declarative base of every service's models: one metadata for the one database."""


def create_engine(settings: ServiceSettings) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(settings.database_url),
        pool_size=settings.db_pool_size,
        # No overflow: connections beyond the pool would be opened and closed per request.
        max_overflow=0,
        # A connection broken by a database restart is discarded when it fails; the
        # request that meets it gets a 503 and the next one a fresh connection.
        pool_pre_ping=False,
        pool_timeout=5,
        connect_args=prepare_args(settings.db_prepared_statements),
    )


def prepare_args(prepared_statements: bool) -> dict[str, Any]:
    """psycopg's connection arguments for DB_PREPARED_STATEMENTS (false: never prepare)."""
    return {} if prepared_statements else {"prepare_threshold": None}


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit once when the route returns, else roll back."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": commit before the response is sent, so a failed commit is the
# response the client sees, never a 2xx for a write that did not happen.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def create_autocommit_pool(
    database_url: str, *, max_size: int, name: str, prepared_statements: bool = True
) -> AsyncConnectionPool:
    """A plain psycopg pool in autocommit, with no check on checkout: one round trip per
    statement, where SQLAlchemy's request transaction pays BEGIN, statement, COMMIT.

    Used where that matters: the queue (measured: Procrastinate's default connector pays 4 round
    trips per query, this 1), the session check and the dashboard (about half the CPU per
    request, bench/session.py and bench/dashboard.py). A connection that fails is discarded,
    and a request that waits over 5 s for one gets a 503.
    """
    return AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        # Not kwargs={"autocommit": True}: Procrastinate opens its LISTEN connection with the
        # pool's kwargs plus its own autocommit=True, and the duplicate would be an error.
        configure=_autocommit,
        kwargs=prepare_args(prepared_statements),
        timeout=5,
        open=False,
        name=name,
    )


async def _autocommit(connection: AsyncConnection) -> None:
    await connection.set_autocommit(True)


async def psycopg_connection(session: AsyncSession) -> AsyncConnection[Any]:
    """The psycopg connection under the session, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, AsyncConnection)
    return driver


async def execute(
    session: AsyncSession, query: str, params: Mapping[str, Any] | None = None
) -> AsyncCursor[DictRow]:
    """Run one of a module's `.sql` queries (`shared.sql`) in the session's transaction; rows
    come back as dicts."""
    connection = await psycopg_connection(session)
    cursor = connection.cursor(row_factory=dict_row)
    return await cursor.execute(query, params)
