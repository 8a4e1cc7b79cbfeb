"""demo_service's test kit: platforms made with SQL, the user's demo state, the read pool's
round trips. Users, passports, waiting and the worker: `tests.kit`."""

import contextlib
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import pq


async def create_platform(
    db_url: str, user_id: int, *, kind: str = "google_ads", status: str = "disconnected"
) -> int:
    """A platform the user added themselves (not demo data)."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "INSERT INTO platforms (user_id, kind, name, connection_status)"
            " VALUES (%s, %s, 'My own account', %s) RETURNING id",
            (user_id, kind, status),
        )
        row = await cursor.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO daily_metrics (platform_id, day, impressions, clicks, spend, conversions)"
            " VALUES (%s, current_date, 1000, 10, 5.00, 1)",
            (row[0],),
        )
    return int(row[0])


async def query(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cursor = await conn.execute(sql, params)
        return await cursor.fetchall() if cursor.description else []


async def demo_status(db_url: str, user_id: int) -> str:
    rows = await query(db_url, "SELECT demo_mode_status FROM users WHERE id = %s", user_id)
    return str(rows[0][0])


async def workspace(db_url: str, user_id: int) -> tuple[int, int]:
    """(demo platforms, their metric rows) of the user."""
    rows = await query(
        db_url,
        "SELECT count(DISTINCT p.id), count(m.id) FROM platforms p"
        " LEFT JOIN daily_metrics m ON m.platform_id = p.id"
        " WHERE p.user_id = %s AND p.is_demo",
        user_id,
    )
    return int(rows[0][0]), int(rows[0][1])


class TracedReadPool:
    """The app's read pool, recording what each checked-out connection sends (libpq's
    protocol trace): every Sync or simple Query is one round trip to Postgres."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.sent: list[str] = []

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        async with self.pool.connection() as conn:
            with tempfile.TemporaryFile("w+") as sink:
                conn.pgconn.trace(sink.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                try:
                    yield conn
                finally:
                    conn.pgconn.untrace()  # flushes the trace
                    sink.seek(0)
                    lines = sink.read().splitlines()
        # A message line is "F\t<length>\t<type> ..."; a query's own lines carry no tab.
        self.sent += [line.split("\t")[2].split()[0] for line in lines if line.startswith("F\t")]

    def count(self, *messages: str) -> int:
        return sum(1 for message in self.sent if message in messages)
