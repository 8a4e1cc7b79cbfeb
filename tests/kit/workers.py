"""The real worker (`pgstack worker`'s code): in this process, or as processes of its own."""

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from deploy.worker import WorkerSettings, run_worker

ROOT = Path(__file__).resolve().parents[2]
# Heartbeats and recovery in seconds rather than tens of seconds.
FAST_RECOVERY = {
    "WORKER_HEARTBEAT": "0.5",
    "WORKER_STALLED_AFTER": "2",
    "WORKER_RECOVER_CRON": "* * * * * *",
    "WORKER_POLL_SECONDS": "0.5",
}


@contextlib.asynccontextmanager
async def running_worker(db_url: str, **settings: Any) -> AsyncIterator[None]:
    """The real worker, in this process, until the block ends."""
    task = asyncio.create_task(
        run_worker(WorkerSettings(DATABASE_URL=db_url, **settings), install_signal_handlers=False)
    )
    try:
        await asyncio.sleep(0.2)
        assert not task.done(), task.exception() if task.done() else None
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class WorkerProcesses:
    """Starts `python -m deploy worker` processes on one database; `stop_all` kills those
    still running."""

    def __init__(self, db_url: str, **env: str) -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": db_url,
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploy", "worker"], cwd=ROOT, env={**self.env, **env}
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


@contextlib.contextmanager
def worker_processes(db_url: str, **env: str) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(db_url, **env)
    try:
        yield processes
    finally:
        processes.stop_all()
