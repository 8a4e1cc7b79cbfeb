"""Tasks for the job tests only, registered as `test:*`; the worker process imports this
module through WORKER_IMPORT_PATHS."""

import asyncio
import os
from typing import Any

import procrastinate
from procrastinate import JobContext

from shared import jobs, queue

blueprint = procrastinate.Blueprint()


@jobs.task(blueprint, queue="test", timeout=30)
async def steps(context: JobContext, *, steps: int = 3, pause: float = 0.05) -> dict[str, Any]:
    """Report progress `steps` times, then return a result."""
    for step in range(1, steps + 1):
        await asyncio.sleep(pause)
        async with jobs.session(context) as session:
            percent = step * 100 // (steps + 1)
            await jobs.report_progress(session, context, percent, f"step {step} of {steps}")
    return {"steps": steps}


@jobs.task(blueprint, queue="test", retry=jobs.Backoff(attempts=3, first=0.3, cap=0.6))
async def broken(context: JobContext, *, message: str) -> None:
    """Fail every time, saying whether it is for good."""
    raise ValueError(f"{message} (final)" if jobs.is_final_attempt(context) else message)


@jobs.task(blueprint, queue="test", timeout=0.5)
async def slow(context: JobContext, *, seconds: float) -> None:
    """Outlive its own timeout."""
    await asyncio.sleep(seconds)


@jobs.task(blueprint, queue="test", timeout=60)
async def wait_for_file(context: JobContext, *, path: str, then_sleep: float = 0) -> str:
    """Run until `path` exists (the test decides when the job may end)."""
    async with jobs.session(context) as session:
        await jobs.report_progress(session, context, 10, "waiting")
    # Polling: the signal comes from another process (the test), not from this loop.
    while not await asyncio.to_thread(os.path.exists, path):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await asyncio.sleep(then_sleep)
    return "done"


@jobs.task(blueprint, queue="test", timeout=60)
async def write_with_session(context: JobContext, *, value: int) -> dict[str, int]:
    """Report progress in the task's own transaction, then return the result."""
    async with jobs.session(context) as session:
        await jobs.report_progress(session, context, 50, "half way")
    return {"value": value}


@jobs.task(blueprint, queue="test", queueing_lock="one-waiting")
async def singleton(context: JobContext) -> str:
    """At most one of these waits in the queue at a time."""
    return "ran"


queue.app.add_tasks_from(blueprint, namespace="test")
