"""Enqueueing: the `background_jobs` row and the Procrastinate job, in the caller's transaction.

Both are written on the caller's own connection, so both exist if it commits, neither if it
rolls back. A kind is a task registered on the shared app (`shared.queue`) in this process:
its queue, lock and priority come from there. Each job carries its user's cap on running jobs
(shared/jobs/fairness.py).

`supersede=True` replaces, rather than returns, the user's earlier job of the same kind and key:
a second click on "sync" cancels the first sync (queued: at once; running: it is asked to abort
and ends `cancelled`) and starts a new one. The earlier job gives up its key, so the key names
the newest job.
"""

import contextlib
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from procrastinate import exceptions
from procrastinate.jobs import JobDeferrer
from psycopg.types.json import Jsonb
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared import db, queue, sql, tracing
from shared.jobs import fairness, lifecycle
from shared.jobs.errors import JobAlreadyQueued, UnknownJobKind
from shared.jobs.models import BackgroundJob

QUERIES = sql.load(__file__)


async def enqueue(
    session: AsyncSession,
    kind: str,
    user_id: int | None,
    args: dict[str, Any],
    idempotency_key: str | None = None,
    *,
    supersede: bool = False,
) -> BackgroundJob:
    """Create a job of task `kind` for `user_id` in the session's transaction.

    A repeated `(user_id, idempotency_key)` returns the first job and enqueues nothing, even
    when the calls race: the second INSERT waits for the first transaction, then sees it.
    With `supersede` (which needs a key), the user's earlier job of this kind and key is
    cancelled if it is still queued or running, and a new job is made.
    Raises `UnknownJobKind` for a task this process has not registered, `JobAlreadyQueued`
    when the task's queueing lock is taken (the session's transaction stays usable).
    """
    deferrer = deferrer_for(kind)
    caps = fairness.caps_for(user_id, kind)
    if supersede:
        if idempotency_key is None:
            raise ValueError("supersede needs an idempotency key: it names the job to replace")
        await _supersede(session, kind, user_id, idempotency_key)
    row_id = await session.scalar(
        insert(BackgroundJob)
        .values(
            kind=kind,
            user_id=user_id,
            args=args,
            idempotency_key=idempotency_key,
            max_active_per_user=caps.per_user,
            max_active_per_kind=caps.per_kind,
            traceparent=tracing.current_traceparent(),
        )
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
    await _rank(session, user_id, [row_id], [procrastinate_id])
    job: BackgroundJob | None = await session.scalar(
        update(BackgroundJob)
        .where(BackgroundJob.id == row_id)
        .values(procrastinate_job_id=procrastinate_id)
        .returning(BackgroundJob)
    )
    assert job is not None
    return job


async def enqueue_many(
    session: AsyncSession,
    kind: str,
    user_id: int | None,
    args_list: Sequence[dict[str, Any]],
    idempotency_keys: Sequence[str | None] | None = None,
) -> list[uuid.UUID]:
    """Create one job per `args` of `args_list` in the session's transaction, in one statement
    whatever their number; returns their ids in order.

    `idempotency_keys`, one per item (None: no key), work as `enqueue`'s: an item whose key the
    user has used, before or earlier in the batch, gives back that job and makes nothing.
    Raises `UnknownJobKind` as `enqueue` does, `JobAlreadyQueued` when the task's queueing lock
    is taken (the session's transaction stays usable).
    """
    deferrer = deferrer_for(kind)
    keys = list(idempotency_keys) if idempotency_keys is not None else [None] * len(args_list)
    if len(keys) != len(args_list):
        raise ValueError("one idempotency key (or None) per item")
    ids = [uuid.uuid4() for _ in args_list]
    caps = fairness.caps_for(user_id, kind)
    template = deferrer.job
    params = {
        "ids": ids,
        "args": [Jsonb(args) for args in args_list],
        "keys": keys,
        "kind": kind,
        "user_id": user_id,
        "max_active_per_user": caps.per_user,
        "max_active_per_kind": caps.per_kind,
        "traceparent": tracing.current_traceparent(),
        "queue": template.queue,
        "priority": template.priority,
        "lock": template.lock,
        "queueing_lock": template.queueing_lock,
    }
    connection = await db.psycopg_connection(session)
    try:
        # A savepoint only where a statement may fail on purpose (a taken queueing lock).
        async with (
            connection.transaction()
            if template.queueing_lock is not None
            else contextlib.nullcontext()
        ):
            cursor = await db.execute(session, QUERIES["enqueue_many"], params)
    except psycopg.errors.UniqueViolation as exc:
        raise JobAlreadyQueued() from exc
    made = {row["id"] for row in await cursor.fetchall()}
    if len(made) == len(ids):
        return ids
    # Some keys were taken: those items are the jobs holding them.
    cursor = await db.execute(
        session,
        QUERIES["keyed_jobs"],
        {"user_id": user_id, "keys": [key for key in keys if key is not None]},
    )
    holders = {row["idempotency_key"]: row["id"] for row in await cursor.fetchall()}
    return [
        job_id if job_id in made else holders[key] for job_id, key in zip(ids, keys, strict=True)
    ]


async def retry(session: AsyncSession, job: BackgroundJob) -> BackgroundJob | None:
    """Run a finished job again, in the session's transaction: a new queue job behind the same
    row, which moves back to the lifecycle's start with its outcome cleared. None when the job
    is not (or no longer: a concurrent retry won) in a status a retry may start from.

    Its queue job keeps its task's priority, the front of it: it has waited its turn once.
    """
    if job.status not in lifecycle.RETRYABLE_STATUSES:
        return None
    procrastinate_id = await defer(session, deferrer_for(job.kind), job.args)
    retried: BackgroundJob | None = await session.scalar(
        update(BackgroundJob)
        .where(
            BackgroundJob.id == job.id,
            BackgroundJob.status.in_(lifecycle.RETRYABLE_STATUSES),
        )
        .values(
            procrastinate_job_id=procrastinate_id,
            status=lifecycle.INITIAL,
            progress_percent=0,
            progress_message=None,
            result=None,
            error_type=None,
            error_message=None,
            started_at=None,
            finished_at=None,
        )
        .returning(BackgroundJob)
        .execution_options(populate_existing=True)
    )
    return retried


async def _rank(
    session: AsyncSession,
    user_id: int | None,
    ids: list[uuid.UUID],
    procrastinate_ids: list[int],
) -> None:
    """Place new jobs in their user's turn (shared/jobs/fairness.py: the order)."""
    await db.execute(
        session,
        QUERIES["rank_queue_jobs"],
        {"user_id": user_id, "ids": ids, "procrastinate_ids": procrastinate_ids},
    )


async def _supersede(
    session: AsyncSession, kind: str, user_id: int | None, idempotency_key: str
) -> None:
    """Take the key from the user's earlier job of `kind`, cancelling it if still active.

    Its row is locked first: two superseding calls at once take turns, and the second's
    INSERT then meets the first's new job (and returns it).
    """
    cursor = await db.execute(
        session,
        QUERIES["release_key"],
        {"user_id": user_id, "kind": kind, "idempotency_key": idempotency_key},
    )
    for row in await cursor.fetchall():
        if row["procrastinate_job_id"] is not None and row["active"]:
            await db.execute(
                session, QUERIES["cancel_queue_job"], {"job_id": row["procrastinate_job_id"]}
            )


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
