"""Tasks of the durable-step tests, imported by their worker processes (WORKER_IMPORT_PATHS)
and by the tests that enqueue them.

`durable:five_steps` runs five steps; each step writes one row to `step_effects` through its
own session, so the table counts how often each step's work was committed. On the job's
first attempt, step 3 waits `hang` seconds before writing: long enough for a test to kill the
worker or restart the database under it (the first attempt of step 3, as its job's row
counts them).
"""

import asyncio
from typing import Any

import procrastinate
from procrastinate import JobContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared import jobs, queue

blueprint = procrastinate.Blueprint()

STEPS = 5
EFFECTS_TABLE = "CREATE TABLE IF NOT EXISTS step_effects (run text, step int)"


@jobs.task(blueprint, queue="durable", timeout=120, retry=jobs.Backoff(attempts=5, first=0.2))
async def five_steps(context: JobContext, *, run: str, hang: float) -> dict[str, Any]:
    results = []
    for number in range(1, STEPS + 1):

        async def work(session: AsyncSession, number: int = number) -> int:
            if number == 3 and await _step_attempts(session, context, number) == 1:
                await asyncio.sleep(hang)
            await session.execute(
                text("INSERT INTO step_effects (run, step) VALUES (:run, :step)"),
                {"run": run, "step": number},
            )
            return number * 10

        results.append(await jobs.step(context, f"step {number}", work))
    return {"results": results}


async def _step_attempts(session: AsyncSession, context: JobContext, number: int) -> int:
    attempts = await session.scalar(
        text(
            "SELECT (steps -> :index ->> 'attempts')::int FROM background_jobs"
            " WHERE procrastinate_job_id = :job_id"
        ),
        {"index": number - 1, "job_id": context.job.id},
    )
    return int(attempts or 0)


queue.app.add_tasks_from(blueprint, namespace="durable")
