"""`background_jobs`, the user-facing record of every job, and what tasks need to write it.

`enqueue` writes the `background_jobs` row and the Procrastinate job on the caller's own
connection, in the caller's transaction: both exist if it commits, neither if it rolls back.
The row's status is kept by the database (triggers on Procrastinate's events, see migration
0004); a task writes only its progress, its result and its error, through this module:

    blueprint = procrastinate.Blueprint()

    @jobs.task(blueprint, queue="demo", timeout=120, retry=jobs.Backoff(attempts=5))
    async def enable(context: procrastinate.JobContext, *, user_id: int) -> dict[str, Any]:
        await jobs.progress(context, 10, "Creating platforms")
        async with jobs.session(context) as session:  # commits at the end of the block
            ...
        return {"platforms": 3}  # stored as the job's result

The worker wraps every job in `job_middleware`: the per-task timeout, the returned result
stored, an exception stored as its type and message (never a traceback).
"""

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
from procrastinate import JobContext, exceptions
from procrastinate.jobs import Job, JobDeferrer
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from shared import queue
from shared.db import Base, psycopg_connection
from shared.errors import AppError, Conflict
from shared.users import User

logger = logging.getLogger(__name__)

TIMESTAMPTZ = TIMESTAMP(timezone=True)
NOW = text("now()")

ACTIVE_STATUSES = ("queued", "running", "cancelling")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
STATUSES = (*ACTIVE_STATUSES, *TERMINAL_STATUSES)
# Kept short: an error message is shown to users and travels in notifications.
ERROR_MESSAGE_LIMIT = 500


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


class JobEventWatcher(Base):
    """A process streaming `user_id`'s job changes (0: everyone's) until `expires_at`: only
    watched changes are announced on `job_events` (migration 0004)."""

    __tablename__ = "job_event_watchers"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    watcher: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ)


WATCH_LOCK = 7001  # the advisory lock class of watcher registrations (see migration 0004)


class UnknownJobKind(AppError):
    """No task of this kind is registered."""

    status = 422
    title = "Unknown job kind"


class JobAlreadyQueued(Conflict):
    """A job of this kind is already waiting for the same thing."""


# Task authoring ----------------------------------------------------------------------------


class Backoff(BaseRetryStrategy):
    """Retry with exponential back-off: waits `first`, 2x, 4x, ... seconds, at most `cap`.

    `attempts` counts every run, the first included; `on` limits retries to these
    exception types (default: any exception).
    """

    def __init__(
        self,
        *,
        attempts: int = 5,
        first: float = 1.0,
        cap: float = 300.0,
        on: Iterable[type[BaseException]] | None = None,
    ) -> None:
        self.attempts = attempts
        self.first = first
        self.cap = cap
        self.on = tuple(on) if on is not None else None

    def wait(self, previous_attempts: int) -> float:
        return float(min(self.cap, self.first * 2**previous_attempts))

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if job.attempts + 1 >= self.attempts:
            return None
        if self.on is not None and not isinstance(exception, self.on):
            return None
        retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.wait(job.attempts))
        return RetryDecision(retry_at=retry_at)


TaskFunction = Callable[..., Awaitable[Any]]

# Per-task timeouts, by task function (a task's name changes when its blueprint is namespaced).
_TIMEOUTS: dict[Callable[..., Any], float] = {}


def task(
    blueprint: procrastinate.Blueprint,
    *,
    name: str | None = None,
    queue: str = "default",
    timeout: float | None = None,
    retry: BaseRetryStrategy | None = None,
    priority: int = 0,
    lock: str | None = None,
    queueing_lock: str | None = None,
) -> Callable[[TaskFunction], Any]:
    """Register an async task `name` (default: the function's name) on `blueprint`.

    The task receives the `JobContext` first, then its arguments as keywords. `timeout`
    (seconds) overrides the worker's default; on expiry the job fails with `TimeoutError`
    (and is retried if `retry` says so).
    """

    def decorator(func: TaskFunction) -> Any:
        if timeout is not None:
            _TIMEOUTS[func] = timeout
        return blueprint.task(
            name=name or func.__name__,
            pass_context=True,
            queue=queue,
            retry=retry or False,
            priority=priority,
            lock=lock,
            queueing_lock=queueing_lock,
        )(func)

    return decorator


def is_final_attempt(context: JobContext) -> bool:
    """Whether a failure now ends the job (no retry left): the moment for a task to set
    its own state to failed, say. (A `Backoff` counts attempts; other policies: unknown,
    so False unless the task has no retry policy at all.)"""
    strategy = context.task.retry_strategy
    if strategy is None:
        return True
    if isinstance(strategy, Backoff):
        return context.job.attempts + 1 >= strategy.attempts
    return False


def _pool(context: JobContext) -> Any:
    """The worker's autocommit pool (Procrastinate's own)."""
    return context.app.connector.pool  # type: ignore[attr-defined]


@asynccontextmanager
async def session(context: JobContext) -> AsyncIterator[AsyncSession]:
    """A database session for a task's work: committed at the end of the block."""
    sessionmaker: async_sessionmaker[AsyncSession] = context.additional_context["sessionmaker"]
    async with sessionmaker() as db_session, db_session.begin():
        yield db_session


async def progress(context: JobContext, percent: int, message: str | None = None) -> None:
    """Report a running job's progress (0..100, a short message) at once, on its own."""
    async with _pool(context).connection() as conn:
        await conn.execute(_PROGRESS_SQL, (percent, message, context.job.id))


_PROGRESS_SQL = (
    "UPDATE background_jobs SET progress_percent = %s, progress_message = %s"
    " WHERE procrastinate_job_id = %s AND status IN ('running', 'cancelling')"
)


def job_middleware(
    default_timeout: float,
) -> Callable[[Callable[[], Awaitable[Any]], JobContext, Any], Awaitable[Any]]:
    """The worker middleware around every job: timeout, result and error written to its row."""

    async def run_job(
        call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Any
    ) -> Any:
        job_task = context.app.tasks.get(context.job.task_name)
        seconds = _TIMEOUTS.get(job_task.func, default_timeout) if job_task else default_timeout
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                result = await call_next()
        except TimeoutError as exc:
            if not deadline.expired():  # the task's own timeout (a slow HTTP call, say)
                await _record_error(context, "TimeoutError", str(exc))
                raise
            await _record_error(
                context, "TimeoutError", f"The job did not finish within {seconds:g} s."
            )
            raise TimeoutError(f"timed out after {seconds:g} s") from exc
        except asyncio.CancelledError:
            if context.abort_reason() == procrastinate.job_context.AbortReason.SHUTDOWN:
                await _record_error(
                    context, "WorkerShutdown", "The worker stopped before the job finished."
                )
            raise
        except Exception as exc:
            await _record_error(context, type(exc).__name__, str(exc))
            raise
        if result is not None:
            async with _pool(context).connection() as conn:
                await conn.execute(
                    "UPDATE background_jobs SET result = %s WHERE procrastinate_job_id = %s"
                    + _STILL_OURS,
                    (Jsonb(result, dumps=_dumps), context.job.id, *_ours(context)),
                )
        return result

    return run_job


# A worker cut off from the database while its job was recovered and run elsewhere may come
# back and finish its own copy: what it writes then must not replace the other run's outcome
# (tests/deploy/test_hosts.py). The job is still ours while it runs under our worker id.
_STILL_OURS = (
    " AND EXISTS (SELECT 1 FROM procrastinate_jobs"
    " WHERE id = %s AND status = 'doing' AND worker_id IS NOT DISTINCT FROM %s)"
)


def _ours(context: JobContext) -> tuple[int | None, int | None]:
    return context.job.id, context.job.worker_id


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


async def _record_error(context: JobContext, error_type: str, message: str) -> None:
    try:
        async with _pool(context).connection() as conn:
            await conn.execute(
                "UPDATE background_jobs SET error_type = %s, error_message = %s"
                " WHERE procrastinate_job_id = %s" + _STILL_OURS,
                (error_type, message[:ERROR_MESSAGE_LIMIT], context.job.id, *_ours(context)),
            )
    except Exception:
        # The job's own failure is what matters; Procrastinate still records its status.
        logger.exception("could not record a job's error")


# Enqueueing --------------------------------------------------------------------------------


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
    Raises `UnknownJobKind` for a task this process has not registered, `JobAlreadyQueued`
    when the task's queueing lock is taken (the session's transaction stays usable).
    """
    deferrer = deferrer_for(kind)
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

    procrastinate_id = await defer(session, deferrer, args)
    job: BackgroundJob | None = await session.scalar(
        update(BackgroundJob)
        .where(BackgroundJob.id == row_id)
        .values(procrastinate_job_id=procrastinate_id)
        .returning(BackgroundJob)
    )
    assert job is not None
    return job


async def enqueue_many(
    session: AsyncSession, kind: str, user_id: int | None, args_list: Sequence[dict[str, Any]]
) -> list[uuid.UUID]:
    """Create one job per `args` of `args_list` in the session's transaction, in three
    statements whatever their number (no idempotency keys); returns their ids in order."""
    deferrer = deferrer_for(kind)
    ids = [uuid.uuid4() for _ in args_list]
    await session.execute(
        insert(BackgroundJob),
        [
            {"id": job_id, "kind": kind, "user_id": user_id, "args": args}
            for job_id, args in zip(ids, args_list, strict=True)
        ],
    )
    deferrer.connection = await psycopg_connection(session)
    # Queue ids come from one sequence in the order of the batch: sorted, they match it.
    procrastinate_ids = sorted(await deferrer.batch_defer_async(*args_list))
    await session.execute(
        text(
            "UPDATE background_jobs SET procrastinate_job_id = batch.procrastinate_id"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:procrastinate_ids AS bigint[]))"
            " AS batch(id, procrastinate_id) WHERE background_jobs.id = batch.id"
        ),
        {"ids": ids, "procrastinate_ids": procrastinate_ids},
    )
    return ids


def deferrer_for(kind: str) -> JobDeferrer:
    try:
        return queue.app.configure_task(kind, allow_unknown=False)
    except exceptions.TaskNotFound as exc:
        raise UnknownJobKind(f"No task of kind {kind!r} is registered.") from exc


def known_kind(kind: str) -> bool:
    """Whether this process has registered a task named `kind`."""
    return kind in queue.app.tasks


async def defer(session: AsyncSession, deferrer: JobDeferrer, args: dict[str, Any]) -> int:
    """Insert the Procrastinate job on the session's own connection (its transaction)."""
    connection = await psycopg_connection(session)
    deferrer.connection = connection
    if deferrer.job.queueing_lock is None:
        procrastinate_id: int = await deferrer.defer_async(**args)
        return procrastinate_id
    try:
        # A savepoint: a taken queueing lock must not abort the caller's transaction.
        async with connection.transaction():
            procrastinate_id = await deferrer.defer_async(**args)
    except exceptions.AlreadyEnqueued as exc:
        raise JobAlreadyQueued() from exc
    return procrastinate_id


async def report_progress(
    session: AsyncSession, procrastinate_job_id: int, percent: int, message: str | None = None
) -> None:
    """Record a running job's progress (percent 0..100, a short message) in the session's
    transaction; the job's streams see it when that transaction commits."""
    await session.execute(
        update(BackgroundJob)
        .where(
            BackgroundJob.procrastinate_job_id == procrastinate_job_id,
            BackgroundJob.status.in_(("running", "cancelling")),
        )
        .values(progress_percent=percent, progress_message=message)
    )


async def record_result(session: AsyncSession, procrastinate_job_id: int, result: Any) -> None:
    """Store a job's JSON result in the transaction of the task's last write (then return
    None from the task, or the same value)."""
    await session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.procrastinate_job_id == procrastinate_job_id)
        .values(result=result)
    )
