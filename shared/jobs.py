"""`background_jobs`, the user-facing record of every job, and enqueueing inside a transaction.

`enqueue` writes the `background_jobs` row and the Procrastinate job on the caller's own
connection, in the caller's transaction: both exist if it commits, neither if it rolls back.
"""

import datetime as dt
import uuid
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shared import queue
from shared.db import Base
from shared.users import User

TIMESTAMPTZ = TIMESTAMP(timezone=True)
NOW = text("now()")

ACTIVE_STATUSES = ("queued", "running", "cancelling")


class BackgroundJob(Base):
    __tablename__ = "background_jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelling', 'cancelled')",
            name="background_jobs_status_check",
        ),
        CheckConstraint(
            "progress_percent BETWEEN 0 AND 100", name="background_jobs_progress_check"
        ),
        UniqueConstraint("user_id", "idempotency_key", name="background_jobs_idempotency_key"),
        Index("background_jobs_user_created_idx", "user_id", text("created_at DESC")),
        Index(
            "background_jobs_active_idx",
            "user_id",
            postgresql_where=text("status IN ('queued', 'running', 'cancelling')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID, primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey(User.id, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    procrastinate_job_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(Text, server_default=text("'queued'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    progress_percent: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    progress_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any | None] = mapped_column(JSONB)
    error_type: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    started_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMPTZ)
    finished_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMPTZ)


async def enqueue(
    session: AsyncSession,
    kind: str,
    user_id: int | None,
    args: dict[str, Any],
    idempotency_key: str | None = None,
) -> BackgroundJob:
    """Create a job of task `kind` for `user_id` in the session's transaction.

    A repeated `(user_id, idempotency_key)` returns the first job and enqueues nothing, even
    when the calls race: the second INSERT waits for the first transaction, then sees it.
    """
    row_id = await session.scalar(
        insert(BackgroundJob)
        .values(kind=kind, user_id=user_id, args=args, idempotency_key=idempotency_key)
        .on_conflict_do_nothing(constraint="background_jobs_idempotency_key")
        .returning(BackgroundJob.id)
    )
    if row_id is None:
        existing = await session.scalar(
            select(BackgroundJob).where(
                BackgroundJob.user_id == user_id, BackgroundJob.idempotency_key == idempotency_key
            )
        )
        assert existing is not None  # the conflicting row is committed, so visible
        return existing

    connection = await _psycopg_connection(session)
    procrastinate_id = await queue.app.configure_task(kind, connection=connection).defer_async(
        **args
    )
    job = await session.get_one(BackgroundJob, row_id)
    job.procrastinate_job_id = procrastinate_id
    await session.flush()
    return job


async def _psycopg_connection(session: AsyncSession) -> AsyncConnection[Any]:
    """The psycopg connection under the session, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, AsyncConnection)
    return driver


async def report_progress(
    session: AsyncSession, procrastinate_job_id: int, percent: int, message: str | None = None
) -> None:
    """Record a running job's progress (percent 0..100 and a short message)."""
    await session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.procrastinate_job_id == procrastinate_job_id)
        .values(progress_percent=percent, progress_message=message)
    )


async def record_result(session: AsyncSession, procrastinate_job_id: int, result: Any) -> None:
    """Store a job's JSON result, in the transaction of the task's last write."""
    await session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.procrastinate_job_id == procrastinate_job_id)
        .values(result=result, progress_percent=100)
    )
