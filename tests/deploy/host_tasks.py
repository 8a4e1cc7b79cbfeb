"""A task for the multi-host test, registered as `hosts:hold`: it writes which host started
it, then runs until the test lets it end. The worker imports it (WORKER_IMPORT_PATHS)."""

import asyncio
import os
from pathlib import Path

import procrastinate
from procrastinate import JobContext

from shared import jobs, queue

blueprint = procrastinate.Blueprint()


@jobs.task(blueprint, queue="hosts", timeout=120)
async def hold(context: JobContext, *, log: str, release: str) -> str:
    """Append `start <host>` to `log`, wait for `release` to exist, return the host."""
    host = os.environ["PGSTACK_TEST_HOST"]
    await asyncio.to_thread(_append, log, f"start {host}\n")
    # Polling: the signal comes from another process (the test), not from this loop.
    while not await asyncio.to_thread(os.path.exists, release):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return host


def _append(path: str, line: str) -> None:
    with Path(path).open("a") as file:
        file.write(line)


queue.app.add_tasks_from(blueprint, namespace="hosts")
