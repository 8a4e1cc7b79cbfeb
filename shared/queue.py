"""The one Procrastinate `App` of the whole stack, and the pool it runs on.

Each service's `tasks.py` adds its blueprint here (namespaced by service, so task names are
`demo:enable`, `auth:purge_sessions`); the worker and every service use this same app.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import procrastinate
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


def create_pool(database_url: str, *, max_size: int = 10) -> AsyncConnectionPool:
    """An autocommit pool with no per-checkout check.

    Measured on 2 cores: Procrastinate's default connector pays 4 round trips per query (a
    check on every checkout, then BEGIN and COMMIT around the statement); this pays 1. Broken
    connections are still replaced: the pool discards a connection that fails.
    """
    return AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        # Not kwargs={"autocommit": True}: Procrastinate opens its LISTEN connection with the
        # pool's kwargs plus its own autocommit=True, and the duplicate would be an error.
        configure=_autocommit,
        open=False,
        name="procrastinate",
    )


async def _autocommit(connection: AsyncConnection) -> None:
    await connection.set_autocommit(True)


@asynccontextmanager
async def opened(database_url: str, *, max_size: int = 10) -> AsyncIterator[procrastinate.App]:
    """Open the shared app on its own pool for the duration of the block.

    A fresh connector each time: Procrastinate's connector keeps a pool it was given even
    after closing, so reusing it would hand the next block a closed pool.
    """
    pool = create_pool(database_url, max_size=max_size)
    await pool.open(wait=False)
    try:
        with app.replace_connector(procrastinate.PsycopgConnector()):
            async with app.open_async(pool=pool):
                yield app
    finally:
        await pool.close()
