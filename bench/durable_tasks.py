"""Tasks of the durable-steps benchmark (bench/durable.py), imported by its worker processes."""

from typing import Any

import procrastinate
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncSession

from shared import jobs, queue

blueprint = procrastinate.Blueprint()


async def _nothing(session: AsyncSession) -> None:
    return None


@jobs.task(blueprint, queue="durable_bench", timeout=60)
async def steps(context: JobContext, *, count: int, **args: Any) -> None:
    """`count` no-op steps: what a step costs beyond its own work."""
    for number in range(count):
        await jobs.step(context, f"step {number}", _nothing)


queue.app.add_tasks_from(blueprint, namespace="durable_bench")
