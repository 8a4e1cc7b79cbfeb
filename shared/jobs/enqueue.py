"""Enqueueing: the `background_jobs` row and the Procrastinate job, in the caller's transaction.

Both are written on the caller's own connection, so both exist if it commits, neither if it
rolls back. A kind is a task registered on the shared app (`shared.queue`) in this process:
its queue, lock and priority come from there.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from procrastinate import exceptions
from procrastinate.jobs import JobDeferrer
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared import db, queue, sql
from shared.jobs.errors import JobAlreadyQueued, UnknownJobKind
from shared.jobs.models import BackgroundJob

QUERIES = sql.load(__file__)


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
        # The unique index background_jobs_idempotency_key (NULLS NOT DISTINCT, keyed rows).
        .on_conflict_do_nothing(
            index_elements=[BackgroundJob.user_id, BackgroundJob.idempotency_key],
            index_where=BackgroundJob.idempotency_key.is_not(None),
        )
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
    deferrer.connection = await db.psycopg_connection(session)
    # Queue ids come from one sequence in the order of the batch: sorted, they match it.
    procrastinate_ids = sorted(await deferrer.batch_defer_async(*args_list))
    await db.execute(
        session, QUERIES["link_queue_jobs"], {"ids": ids, "procrastinate_ids": procrastinate_ids}
    )
    return ids


def deferrer_for(kind: str) -> JobDeferrer:
    """The deferrer of the registered task `kind`; `UnknownJobKind` if there is none."""
    try:
        return queue.app.configure_task(kind, allow_unknown=False)
    except exceptions.TaskNotFound as exc:
        raise UnknownJobKind(f"No task of kind {kind!r} is registered.") from exc


async def defer(session: AsyncSession, deferrer: JobDeferrer, args: dict[str, Any]) -> int:
    """Insert the Procrastinate job on the session's own connection (its transaction)."""
    connection = await db.psycopg_connection(session)
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
