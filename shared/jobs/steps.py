"""Durable steps: `await jobs.step(context, "name", fn)` runs `fn` once per job.

    async def create(session: AsyncSession) -> dict[str, int]:
        return await make_platforms(session, user_id=user_id)

    platform_ids = await jobs.step(context, "create_platforms", create)

A step is two transactions. The first records its start (status `running`, one more attempt),
committed at once so a crash mid-step still counts the attempt and streams see the step begin.
The second runs `fn` on the step's own session and, before committing, stores its JSON result
with status `succeeded`: the step's writes and its being done commit together, or neither does.
A retried or recovered job (the same `background_jobs` row, so the same steps) returns a
finished step's stored result without running it, and runs the first unfinished one again.

The steps live on the job's row (`background_jobs.steps`, in the order the task meets them), so
`JobRead` shows them and each start and end bumps the row's version and is announced like
progress (migration 0009). Names are unique within a job; a task whose step at some position
is not the one stored there (a deploy changed the task under a job in flight) fails with
`StepsChanged`, which is not retried: the stored steps no longer describe its work.

A job without a row (a periodic task) runs its steps without recording them.
"""

import contextlib
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from procrastinate import JobContext
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncSession

from shared import db, sql
from shared.jobs.kit import NotRetried, session

QUERIES = sql.load(__file__)

T = TypeVar("T")

# The names this run of the job has met, in order: Procrastinate copies the worker's
# additional context for each job it runs, so this list belongs to one run.
_SEEN = "pgstack_steps_seen"


class StepsChanged(NotRetried):
    """The task's steps are not the ones stored on its job: it changed under a job in flight."""


class DuplicateStep(NotRetried):
    """A task met the same step name twice in one run."""


async def step(context: JobContext, name: str, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `fn(session)` as the step `name` of the job, once: a finished step's stored result
    is returned without running it again. `fn`'s result must be JSON (it is stored)."""
    seen: list[str] = context.additional_context.setdefault(_SEEN, [])
    if name in seen:
        raise DuplicateStep(f"The step {name!r} ran twice in one run of the job.")
    position = len(seen)
    seen.append(name)
    job_id = context.job.id

    async with session(context) as db_session:
        steps = await _locked_steps(db_session, job_id)
        if steps is None:
            return await fn(db_session)
        if position < len(steps):
            if steps[position]["name"] != name:
                raise StepsChanged(
                    f"Step {position + 1} of this job was {steps[position]['name']!r}; the task"
                    f" now runs {name!r} there. Start a new job."
                )
            if steps[position]["status"] == "succeeded":
                stored: T = steps[position]["result"]
                return stored
            entry = steps[position]
        else:
            entry = {"name": name, "attempts": 0, "result": None}
            steps.append(entry)
        entry.update(status="running", attempts=entry["attempts"] + 1, started_at=_now())
        entry["finished_at"] = None
        await _write_steps(db_session, job_id, steps)

    try:
        async with session(context) as db_session:
            result = await fn(db_session)
            await _end(db_session, job_id, position, "succeeded", result)
    except BaseException:
        # Best effort, on a session of its own (the step's rolled back): the step is shown
        # failed rather than running. A killed worker (or a lost database) leaves it running;
        # the retry runs it again either way.
        with contextlib.suppress(Exception):
            async with session(context) as db_session:
                await _end(db_session, job_id, position, "failed", None)
        raise
    return result


async def _end(
    db_session: AsyncSession, job_id: int | None, position: int, status: str, result: Any
) -> None:
    steps = await _locked_steps(db_session, job_id)
    assert steps is not None
    assert position < len(steps)
    steps[position].update(status=status, finished_at=_now(), result=result)
    await _write_steps(db_session, job_id, steps)


async def _locked_steps(
    db_session: AsyncSession, job_id: int | None
) -> list[dict[str, Any]] | None:
    cursor = await db.execute(db_session, QUERIES["lock_steps"], {"job_id": job_id})
    row = await cursor.fetchone()
    return None if row is None else list(row["steps"])


async def _write_steps(
    db_session: AsyncSession, job_id: int | None, steps: list[dict[str, Any]]
) -> None:
    await db.execute(
        db_session,
        QUERIES["write_steps"],
        {"steps": Jsonb(steps, dumps=json.dumps), "job_id": job_id},
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
