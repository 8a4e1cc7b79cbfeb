"""The one Procrastinate `App` of the whole stack, and the pool it runs on.

Each service's `tasks.py` adds its blueprint here (namespaced by service, so task names are
`demo:enable`, `auth:purge_sessions`); the worker and every service use this same app.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import procrastinate

from shared.db import create_autocommit_pool

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@asynccontextmanager
async def opened(database_url: str, *, max_size: int = 10) -> AsyncIterator[procrastinate.App]:
    """Open the shared app on its own pool for the duration of the block.

    A fresh connector each time: Procrastinate's connector keeps a pool it was given even
    after closing, so reusing it would hand the next block a closed pool.
    """
    pool = create_autocommit_pool(database_url, max_size=max_size, name="procrastinate")
    await pool.open(wait=False)
    try:
        with app.replace_connector(procrastinate.PsycopgConnector()):
            async with app.open_async(pool=pool):
                yield app
    finally:
        await pool.close()
