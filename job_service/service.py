"""Jobs as their owners see them: read, list, cancel, retry; and enqueue for internal callers.

Status is never written here: cancelling and retrying act on Procrastinate's queue in the
request's transaction, and the database's triggers move `background_jobs` (migration 0004).
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from job_service.errors import JobFinished, JobNotFound, JobNotRetryable, UnknownUser
from shared import db, jobs, queue, sql
from shared.jobs import ACTIVE_STATUSES, BackgroundJob
from shared.users import User

LIST_LIMIT = 100
QUERIES = sql.load(__file__)


async def get_job_or_raise(
    session: AsyncSession, *, job_id: uuid.UUID, user_id: int | None
) -> BackgroundJob:
    """The user's job; someone else's job is as absent as a missing one. `user_id` None:
    anyone's (the operators' routes, job_service/ops.py)."""
    query = select(BackgroundJob).where(BackgroundJob.id == job_id)
    if user_id is not None:
        query = query.where(BackgroundJob.user_id == user_id)
    job = await session.scalar(query.execution_options(populate_existing=True))
    if job is None:
        raise JobNotFound()
    return job


async def get_status_or_raise(
    session: AsyncSession, *, job_id: uuid.UUID, user_id: int
) -> dict[str, Any]:
    """The few columns a poller needs (id, status, progress, message, version): one indexed
    read."""
    cursor = await db.execute(session, QUERIES["get_status"], {"id": job_id, "user_id": user_id})
    row = await cursor.fetchone()
    if row is None:
        raise JobNotFound()
    return row


async def list_jobs(
    session: AsyncSession, *, user_id: int, status: str | None = None, limit: int = LIST_LIMIT
) -> list[BackgroundJob]:
    """The user's jobs, newest first; `status` "active" means queued, running or cancelling."""
    query = select(BackgroundJob).where(BackgroundJob.user_id == user_id)
    if status == "active":
        query = query.where(BackgroundJob.status.in_(ACTIVE_STATUSES))
    elif status is not None:
        query = query.where(BackgroundJob.status == status)
    result = await session.scalars(
        query.order_by(BackgroundJob.created_at.desc(), BackgroundJob.id).limit(limit)
    )
    return list(result)


async def list_changed_jobs(
    session: AsyncSession, *, user_id: int, since: dt.datetime | None = None
) -> list[BackgroundJob]:
    """The user's active jobs, and (with `since`) those updated since, oldest change first:
    what a stream of the user's jobs sends when it starts or resumes."""
    condition: ColumnElement[bool] = BackgroundJob.status.in_(ACTIVE_STATUSES)
    if since is not None:
        condition = or_(condition, BackgroundJob.updated_at >= since)
    result = await session.scalars(
        select(BackgroundJob)
        .where(BackgroundJob.user_id == user_id, condition)
        .order_by(BackgroundJob.updated_at, BackgroundJob.id)
    )
    return list(result)


async def list_job_events(
    session: AsyncSession, *, job_id: uuid.UUID, after: int
) -> list[dict[str, Any]]:
    """The job's logged changes after offset `after`, in order (migration 0010): each row's
    `job_offset`, `kind`, `payload` and `at` (epoch ms)."""
    cursor = await db.execute(
        session, QUERIES["job_events_after"], {"job_id": job_id, "after": after}
    )
    return list(await cursor.fetchall())


async def list_user_events(
    session: AsyncSession, *, user_id: int, since_ms: float
) -> list[dict[str, Any]]:
    """The user's logged changes written since `since_ms` (epoch ms), in the order written."""
    cursor = await db.execute(
        session, QUERIES["user_events_since"], {"user_id": user_id, "since": since_ms}
    )
    return list(await cursor.fetchall())


async def get_now(session: AsyncSession) -> float:
    """The database's time (epoch ms); a read that follows sees all committed before it."""
    cursor = await db.execute(session, QUERIES["now"], {})
    row = await cursor.fetchone()
    assert row is not None
    return float(row["now"])


async def cancel_job(
    session: AsyncSession, *, job_id: uuid.UUID, user_id: int | None
) -> BackgroundJob:
    """Cancel a waiting job at once; ask a running one to abort (it becomes `cancelling`).

    Cancelling a job that is already cancelled or cancelling changes nothing.
    """
    job = await get_job_or_raise(session, job_id=job_id, user_id=user_id)
    if job.status in ("cancelled", "cancelling"):
        return job
    if job.status in ("succeeded", "failed") or job.procrastinate_job_id is None:
        raise JobFinished()
    # Locks the queue row, then (by trigger) the job row: the order a worker uses too.
    await queue.app.job_manager.cancel_job_by_id_async(
        job.procrastinate_job_id,
        abort=True,
        connection=await db.psycopg_connection(session),
    )
    job = await get_job_or_raise(session, job_id=job_id, user_id=user_id)
    if job.status not in ("cancelled", "cancelling"):
        raise JobFinished()  # it finished between our read and the cancellation
    return job


async def retry_job(
    session: AsyncSession, *, job_id: uuid.UUID, user_id: int | None
) -> BackgroundJob:
    """Run a failed or cancelled job again: a new queue job behind the same row."""
    job = await get_job_or_raise(session, job_id=job_id, user_id=user_id)
    retried = await jobs.retry(session, job)
    if retried is None:
        # Not retryable, or a concurrent retry won (ours rolls back with the request).
        raise JobNotRetryable()
    return retried


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    user_id: int | None,
    args: dict[str, Any],
    idempotency_key: str | None,
) -> BackgroundJob:
    """Enqueue for an internal caller: only kinds registered in this process, only for a
    user who exists (or for nobody)."""
    if user_id is not None and await session.get(User, user_id) is None:
        raise UnknownUser()
    return await jobs.enqueue(session, kind, user_id, args, idempotency_key)
