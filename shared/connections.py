"""The connection budget: how many connections each kind of pgstack process may open, and the
check each process makes at start against what the server has left.

One place for the numbers the README's "Connection budget" explains. A pool that cannot grow
is otherwise silent: requests wait up to 5 s for a connection, then answer 503.
"""

import asyncio
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

# What the server has left for this role: connection slots beyond the superusers' reserve,
# minus those open now; and the role's own limit (-1: none), minus its open connections.
_HEADROOM = text(
    """
    SELECT current_setting('max_connections')::int
             - current_setting('superuser_reserved_connections')::int
             - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
             AS server_free,
           r.rolconnlimit AS role_limit,
           (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user) AS role_open
    FROM pg_roles r WHERE r.rolname = current_user
    """
)


def budget(kind: str, *, pool_size: int, concurrency: int = 0) -> dict[str, int]:
    """The most connections one process of `kind` opens, by what opens them."""
    if kind == "worker":
        # Procrastinate's pool, its LISTEN connection, and the tasks' SQLAlchemy sessions.
        return {"queue": concurrency + 2, "listen": 1, "sessions": pool_size}
    extra = {"auth": {"session_checks": pool_size}, "demo": {"reads": pool_size}}
    return {"sessions": pool_size, **extra.get(kind, {}), "listen": 1}


async def check_headroom(engine: AsyncEngine, kind: str, wanted: dict[str, int]) -> None:
    """Log this process's budget; warn, with what to change, when the server or the role has
    fewer connections left than the budget (other processes may hold some of this role's
    connections: the check is what is left now, not a promise)."""
    total = sum(wanted.values())
    details: dict[str, Any] = {"process_kind": kind, "connections": total, **wanted}
    try:
        async with asyncio.timeout(3), engine.connect() as conn:
            row = (await conn.execute(_HEADROOM)).one()
    except Exception as exc:  # the database is down: /readyz says so, nothing to compare
        logger.warning("connection budget not checked: %s", exc.__class__.__name__, extra=details)
        return
    # This check's own connection is one of the budget's.
    free = row.server_free + 1
    role_free = None if row.role_limit < 0 else row.role_limit - row.role_open + 1
    logger.info("connection budget", extra={**details, "server_free": free})
    for left, where in ((free, "max_connections"), (role_free, "the role's CONNECTION LIMIT")):
        if left is not None and left < total:
            logger.warning(
                "connection pools cannot be filled: this %s process may open %d connections, "
                "%s leaves %d; requests will wait for a connection and answer 503 after 5 s. "
                "Lower DB_POOL_SIZE (or WORKER_CONCURRENCY), or raise %s "
                "(README: Connection budget)",
                kind,
                total,
                where,
                left,
                where,
                extra={**details, "available": left},
            )
