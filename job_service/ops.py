"""What operators see and do across every user's jobs: queues, workers, stuck and failed jobs;
retrying, cancelling and pruning anyone's job. The ops API (job_service/ops_api.py) and the
`pgstack status` and `pgstack jobs` commands (deploy/ops_cli.py) both call these."""

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from job_service import service
from job_service.ops_schemas import QueueRead, WorkerRead
from shared import db, sql
from shared.jobs import ACTIVE_STATUSES, TERMINAL_STATUSES, BackgroundJob
from shared.users import User

QUERIES = sql.load(__file__)
THROUGHPUT_BUCKETS = 12  # of five minutes: the last hour
LIST_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Health:
    """When a worker counts as alive, and a running job as stuck."""

    # A heartbeat older than this is not fresh (JOBS_WORKER_HEARTBEAT_FRESH_SECONDS).
    fresh_seconds: float
    # A job running longer than this is stuck (JOBS_STUCK_AFTER_SECONDS: the workers' timeout).
    timeout_seconds: float


async def list_queues(session: AsyncSession, *, health: Health) -> list[QueueRead]:
    """Every queue with waiting, running or stuck jobs, or jobs finished in the last hour."""
    params = {"fresh_seconds": health.fresh_seconds, "timeout_seconds": health.timeout_seconds}
    rows = await (await db.execute(session, QUERIES["queues"], params)).fetchall()
    buckets: dict[str, list[int]] = {}
    for row in await (await db.execute(session, QUERIES["throughput"])).fetchall():
        counts = buckets.setdefault(row["queue"], [0] * THROUGHPUT_BUCKETS)
        counts[THROUGHPUT_BUCKETS - 1 - row["bucket"]] = row["finished"]
    return [
        QueueRead(**row, throughput=buckets.get(row["queue"], [0] * THROUGHPUT_BUCKETS))
        for row in rows
    ]


async def list_workers(session: AsyncSession, *, health: Health) -> list[WorkerRead]:
    """The registered workers with their heartbeats' age."""
    rows = await (await db.execute(session, QUERIES["workers"])).fetchall()
    return [
        WorkerRead(**row, fresh=row["heartbeat_age_seconds"] <= health.fresh_seconds)
        for row in rows
    ]


async def list_stuck_job_ids(session: AsyncSession, *, health: Health) -> list[uuid.UUID]:
    """Running jobs that no live worker is running (or past the timeout), oldest first."""
    params = {"fresh_seconds": health.fresh_seconds, "timeout_seconds": health.timeout_seconds}
    rows = await (await db.execute(session, QUERIES["stuck_jobs"], params)).fetchall()
    return [row["id"] for row in rows]


async def list_jobs(
    session: AsyncSession,
    *,
    health: Health,
    status: str | None = None,
    kind: str | None = None,
    user_email: str | None = None,
    since: dt.datetime | None = None,
    finished_before: dt.datetime | None = None,
    limit: int = LIST_LIMIT,
) -> list[tuple[BackgroundJob, str | None]]:
    """Anyone's jobs with their owner's email, newest first; `status` "active" (queued,
    running, cancelling) or "stuck" besides the statuses; `since`: created since;
    `finished_before`: only jobs that finished before then (what pruning deletes)."""
    query = select(BackgroundJob, User.email).outerjoin(User, User.id == BackgroundJob.user_id)
    if status == "active":
        query = query.where(BackgroundJob.status.in_(ACTIVE_STATUSES))
    elif status == "stuck":
        stuck = await list_stuck_job_ids(session, health=health)
        query = query.where(BackgroundJob.id.in_(stuck))
    elif status is not None:
        query = query.where(BackgroundJob.status == status)
    if kind is not None:
        query = query.where(BackgroundJob.kind == kind)
    if user_email is not None:
        query = query.where(func.lower(User.email) == user_email.lower())
    if since is not None:
        query = query.where(BackgroundJob.created_at >= since)
    if finished_before is not None:
        query = query.where(
            BackgroundJob.status.in_(TERMINAL_STATUSES),
            BackgroundJob.finished_at < finished_before,
        )
    result = await session.execute(
        query.order_by(BackgroundJob.created_at.desc(), BackgroundJob.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return [(job, email) for job, email in result]


async def get_job_or_raise(
    session: AsyncSession, *, job_id: uuid.UUID
) -> tuple[BackgroundJob, str | None]:
    """Anyone's job with its owner's email; JobNotFound if there is none."""
    job = await service.get_job_or_raise(session, job_id=job_id, user_id=None)
    email = await session.scalar(select(User.email).where(User.id == job.user_id))
    return job, email


async def retry_job(session: AsyncSession, *, job_id: uuid.UUID) -> BackgroundJob:
    """Run anyone's failed or cancelled job again (JobNotRetryable otherwise)."""
    return await service.retry_job(session, job_id=job_id, user_id=None)


async def cancel_job(session: AsyncSession, *, job_id: uuid.UUID) -> BackgroundJob:
    """Cancel anyone's waiting job, or ask a running one to stop (JobFinished if it ended)."""
    return await service.cancel_job(session, job_id=job_id, user_id=None)


async def prune_jobs(session: AsyncSession, *, job_ids: list[uuid.UUID]) -> int:
    """Forget these jobs if they have finished; how many were deleted."""
    result = await session.execute(
        delete(BackgroundJob).where(
            BackgroundJob.id.in_(job_ids), BackgroundJob.status.in_(TERMINAL_STATUSES)
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
