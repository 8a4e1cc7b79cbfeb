"""Jobs as a service enqueues them, and their rows as the database holds them."""

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared import jobs
from shared.jobs import BackgroundJob


async def enqueue(
    engine: AsyncEngine,
    kind: str,
    user_id: int | None,
    args: dict[str, Any],
    idempotency_key: str | None = None,
) -> BackgroundJob:
    """Enqueue as a service does, and commit."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        job = await jobs.enqueue(session, kind, user_id, args, idempotency_key)
        await session.commit()
    return job


def job_row(db_url: str, job_id: uuid.UUID | str) -> dict[str, Any]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM background_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


def status_is(
    db_url: str, job_id: uuid.UUID | str, *statuses: str
) -> Callable[[], dict[str, Any] | None]:
    """A check for `eventually`: the job's row once its status is one of `statuses`."""

    def check() -> dict[str, Any] | None:
        row = job_row(db_url, job_id)
        return row if row["status"] in statuses else None

    return check
