"""The async engine and the one-transaction-per-request session dependency."""

import contextlib
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolClosed
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from shared.settings import ServiceSettings, plain_database_url, sqlalchemy_url


class Base(DeclarativeBase):
    """The declarative base of every service's models: one metadata for the one database."""


def create_engine(settings: ServiceSettings) -> AsyncEngine:
    engine = create_async_engine(
        sqlalchemy_url(settings.database_url),
        pool_size=settings.db_pool_size,
        # No overflow: connections beyond the pool would be opened and closed per request.
        max_overflow=0,
        # No ping per checkout (a round trip per request): the process's LISTEN connection
        # sees a restart at once and drains the pool (`drain_pools`).
        pool_pre_ping=False,
        pool_timeout=5,
        # Error logs name the statement, never its values (emails, addresses, password hashes).
        hide_parameters=True,
        connect_args=prepare_args(settings.db_prepared_statements),
    )
    _ENGINES[engine] = plain_database_url(settings.database_url)
    return engine


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
    a request that waits over 5 s for one gets a 503, and after a server restart the pool is
    drained (`drain_pools`) rather than checking every connection it lends.
    """
    pool: AsyncConnectionPool = AsyncConnectionPool(
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
    _POOLS[pool] = plain_database_url(database_url)
    return pool


# Every engine and autocommit pool of this process, with its database, for `drain_pools`.
_ENGINES: "weakref.WeakKeyDictionary[AsyncEngine, str]" = weakref.WeakKeyDictionary()
_POOLS: "weakref.WeakKeyDictionary[AsyncConnectionPool, str]" = weakref.WeakKeyDictionary()


async def drain_pools(database_url: str) -> None:
    """Drop the connections the process's pools of this database hold idle, when the server
    went away (its LISTEN connection saw it): each would fail the next request that takes it.

    The pools check nothing on checkout (a round trip per request); this runs once per
    outage instead. An engine gets a fresh pool (connections in use are discarded when they
    come back); a psycopg pool tests its idle connections and replaces the broken ones.
    """
    url = plain_database_url(database_url)
    for engine, engine_url in list(_ENGINES.items()):
        if engine_url == url:
            await engine.dispose()
    for pool, pool_url in list(_POOLS.items()):
        if pool_url == url and not pool.closed:
            with contextlib.suppress(PoolClosed):
                await pool.check()


async def _autocommit(connection: AsyncConnection) -> None:
    await connection.set_autocommit(True)


async def psycopg_connection(
    session: AsyncSession | sqlalchemy_asyncio.AsyncConnection,
) -> AsyncConnection[Any]:
    """The psycopg connection under a session (or an engine's connection), inside its
    transaction."""
    connection = (
        session
        if isinstance(session, sqlalchemy_asyncio.AsyncConnection)
        else await session.connection()
    )
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, AsyncConnection)
    return driver


async def execute(
    session: AsyncSession | sqlalchemy_asyncio.AsyncConnection,
    query: str,
    params: Mapping[str, Any] | None = None,
) -> AsyncCursor[DictRow]:
    """Run one of a module's `.sql` queries (`shared.sql`) in the transaction of a session
    (or of an engine's connection); rows come back as dicts."""
    connection = await psycopg_connection(session)
    cursor = connection.cursor(row_factory=dict_row)
    # Always a mapping, so a literal `%%` means `%` in a query with parameters or without.
    return await cursor.execute(query, params or {})
