"""Tasks of the job benchmark (bench/jobs.py), imported by its worker processes."""

import time

import procrastinate
from procrastinate import JobContext

from shared import jobs, queue

blueprint = procrastinate.Blueprint()


@jobs.task(blueprint, queue="bench", timeout=10)
async def stamp(context: JobContext) -> float:
    """When the task's code started (epoch seconds): enqueue-to-start latency."""
    return time.time()


queue.app.add_tasks_from(blueprint, namespace="bench")
