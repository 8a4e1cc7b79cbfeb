"""Tasks of the step, fairness and supersede tests (tests/shared/test_steps.py, ...),
imported by the tests and by their worker processes (WORKER_IMPORT_PATHS).

Each writes what it did to `task_effects` (made by `EFFECTS_TABLE`), through the session of
the step it ran in where it has one, so a row means committed work.
"""

import asyncio
from typing import Any

import procrastinate
from procrastinate import JobContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared import jobs, queue

blueprint = procrastinate.Blueprint()

EFFECTS_TABLE = (
    "CREATE TABLE IF NOT EXISTS task_effects (run text, what text, value bigint,"
    " at timestamptz DEFAULT clock_timestamp())"
)
RETRY = jobs.Backoff(attempts=3, first=0.1)


async def _effect(session: AsyncSession, run: str, what: str, value: int = 0) -> None:
    await session.execute(
        text("INSERT INTO task_effects (run, what, value) VALUES (:run, :what, :value)"),
        {"run": run, "what": what, "value": value},
    )


@jobs.task(blueprint, queue="steps", retry=RETRY)
async def three(context: JobContext, *, run: str) -> dict[str, Any]:
    """Three steps; the second fails on the job's first attempt. Step 3 adds step 1's result
    (replayed on the retry) to step 2's."""

    async def first(session: AsyncSession) -> int:
        await _effect(session, run, "step 1")
        return 7

    async def second(session: AsyncSession) -> int:
        await _effect(session, run, "step 2")
        if context.job.attempts == 0:
            raise RuntimeError("the first attempt fails in step 2")
        return 35

    a = await jobs.step(context, "first", first)
    b = await jobs.step(context, "second", second)

    async def third(session: AsyncSession) -> int:
        await _effect(session, run, "step 3")
        return a + b

    return {"sum": await jobs.step(context, "third", third)}


@jobs.task(blueprint, queue="steps", retry=RETRY)
async def twice(context: JobContext, *, run: str) -> None:
    """Meets the same step name twice: a bug the kit refuses."""

    async def noop(session: AsyncSession) -> None:
        await _effect(session, run, "noop")

    await jobs.step(context, "same", noop)
    await jobs.step(context, "same", noop)


@jobs.task(blueprint, queue="fair")
async def hold(context: JobContext, *, run: str, seconds: float) -> None:
    """Records how many of its user's jobs run as it starts (itself included), then holds."""
    await _hold(context, run, seconds)


@jobs.task(blueprint, queue="fair")
async def hold_too(context: JobContext, *, run: str, seconds: float) -> None:
    """`hold` under another kind (the per-kind cap's test)."""
    await _hold(context, run, seconds)


async def _hold(context: JobContext, run: str, seconds: float) -> None:
    async with jobs.session(context) as session:
        await session.execute(
            text(
                "INSERT INTO task_effects (run, what, value)"
                " SELECT :run, 'running', count(*) FROM background_jobs"
                " WHERE status IN ('running', 'cancelling') AND user_id ="
                " (SELECT user_id FROM background_jobs WHERE procrastinate_job_id = :job_id)"
            ),
            {"run": run, "job_id": context.job.id},
        )
        await session.execute(
            text(
                "INSERT INTO task_effects (run, what, value)"
                " SELECT :run, 'running ' || kind, count(*) FROM background_jobs"
                " WHERE status IN ('running', 'cancelling') AND (user_id, kind) ="
                " (SELECT user_id, kind FROM background_jobs WHERE procrastinate_job_id = :job_id)"
                " GROUP BY kind"
            ),
            {"run": run, "job_id": context.job.id},
        )
    await asyncio.sleep(seconds)


queue.app.add_tasks_from(blueprint, namespace="stepping")
