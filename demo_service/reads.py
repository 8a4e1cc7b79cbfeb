"""The hot-path reads, metrics and the dashboard: JSON built by Postgres in one statement each
(reads.sql), sent as it is, on a plain psycopg connection of the read pool (app.state.read_pool,
autocommit): the hot path skips the ORM and the transaction's BEGIN and COMMIT."""

from typing import Any

from psycopg import AsyncConnection

from demo_service.errors import UserNotFound
from shared import sql

QUERIES = sql.load(__file__)

ReadConnection = AsyncConnection[Any]


async def get_metrics(connection: ReadConnection, *, user_id: int, days: int) -> str:
    """Totals and a daily series (every day, zeros included) over the last `days` days, as
    JSON text (schemas.MetricsRead)."""
    cursor = await connection.execute(QUERIES["get_metrics"], {"user_id": user_id, "days": days})
    row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


async def get_dashboard(connection: ReadConnection, *, user_id: int) -> str:
    """Everything the dashboard page shows, as JSON text (schemas.DashboardRead), from one
    SQL statement: the page waits for this one round trip before its first byte."""
    cursor = await connection.execute(QUERIES["get_dashboard"], {"user_id": user_id})
    row = await cursor.fetchone()
    if row is None:
        raise UserNotFound()
    return str(row[0])
