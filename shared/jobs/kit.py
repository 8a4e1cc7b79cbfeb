"""The task kit: what a task needs to be registered, retried, and to write its job's row.

    blueprint = procrastinate.Blueprint()

    @jobs.task(blueprint, queue="demo", timeout=120, retry=jobs.Backoff(attempts=5))
    async def enable(context: procrastinate.JobContext, *, user_id: int) -> dict[str, Any]:
        async with jobs.session(context) as session:  # commits at the end of the block
            ...
            await jobs.report_progress(session, context, 10, "Created the platforms")
        return {"platforms": 3}  # stored as the job's result (by the middleware)

Progress is written in the task's transaction, so it is seen (by the job's streams, say)
exactly when the work it reports is; the result is what the task returns.
"""

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
from procrastinate import JobContext
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import db, sql

QUERIES = sql.load(__file__)


class NotRetried(Exception):
    """A failure no retry can mend (a task changed under its job, say): `Backoff` never
    retries it."""


class Backoff(BaseRetryStrategy):
    """Retry with exponential back-off: waits `first`, 2x, 4x, ... seconds, at most `cap`.

    `attempts` counts every run, the first included; `on` limits retries to these
    exception types (default: any exception but `NotRetried`).
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
        if job.attempts + 1 >= self.attempts or isinstance(exception, NotRetried):
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


def timeout_of(context: JobContext, default: float) -> float:
    """The job's timeout in seconds: its task's own, else `default`."""
    job_task = context.app.tasks.get(context.job.task_name)
    return _TIMEOUTS.get(job_task.func, default) if job_task else default


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


@asynccontextmanager
async def session(context: JobContext) -> AsyncIterator[AsyncSession]:
    """A database session for a task's work: committed at the end of the block."""
    sessionmaker: async_sessionmaker[AsyncSession] = context.additional_context["sessionmaker"]
    async with sessionmaker() as db_session, db_session.begin():
        yield db_session


async def report_progress(
    session: AsyncSession, context: JobContext, percent: int, message: str | None = None
) -> None:
    """Record the running job's progress (percent 0..100, a short message) in the session's
    transaction; the job's streams see it when that transaction commits."""
    await db.execute(
        session,
        QUERIES["report_progress"],
        {"percent": percent, "message": message, "job_id": context.job.id},
    )
