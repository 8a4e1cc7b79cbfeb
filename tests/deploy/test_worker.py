"""`pgstack worker` as a real process: killed, it loses no job; stopped, it finishes its jobs.

The test tasks (`test:*`) live in tests/job_service/job_test_tasks.py; the worker processes
import them through WORKER_IMPORT_PATHS.
"""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "job_service"))
import job_test_tasks

from deploy.worker import WorkerSettings, run_worker
from shared import jobs

ROOT = Path(__file__).resolve().parents[2]
TASKS = job_test_tasks.__name__


def make_user(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO users (email, hashed_password) VALUES (%s, 'x') RETURNING id",
            (f"{uuid.uuid4().hex}@example.com",),
        ).fetchone()
    assert row is not None
    return int(row[0])


def job_row(db_url: str, job_id: uuid.UUID) -> dict[str, Any]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM background_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


async def wait_for_status(
    db_url: str, job_id: uuid.UUID, status: str, within: float = 30
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (row := job_row(db_url, job_id))["status"] != status:
        assert loop.time() < deadline, f"job still {row['status']}, not {status}"
        await asyncio.sleep(0.05)
    return row


async def enqueue(engine: AsyncEngine, kind: str, user_id: int, args: dict[str, Any]) -> uuid.UUID:
    async with AsyncSession(engine) as session:
        job = await jobs.enqueue(session, kind, user_id, args)
        job_id = job.id
        await session.commit()
    return job_id


FAST = {
    "WORKER_IMPORT_PATHS": TASKS,
    "WORKER_HEARTBEAT": "0.5",
    "WORKER_STALLED_AFTER": "2",
    "WORKER_RECOVER_CRON": "* * * * * *",
    "WORKER_POLL_SECONDS": "0.5",
}


@pytest.fixture
def worker_process(db_url: str) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `python -m deploy worker` processes; any still running are killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(job_test_tasks.__file__).parent)]),
            "DATABASE_URL": db_url,
            "LOG_LEVEL": "WARNING",
            **FAST,
            **extra,
        }
        process = subprocess.Popen([sys.executable, "-m", "deploy", "worker"], cwd=ROOT, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


class TestCrash:
    async def test_a_job_of_a_killed_worker_is_picked_up_again_and_succeeds(
        self,
        db_url: str,
        engine: AsyncEngine,
        worker_process: Callable[..., subprocess.Popen[bytes]],
        tmp_path: Path,
    ) -> None:
        go = tmp_path / "go"
        job_id = await enqueue(engine, "test:wait_for_file", make_user(db_url), {"path": str(go)})
        first = worker_process()
        await wait_for_status(db_url, job_id, "running")
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert job_row(db_url, job_id)["status"] == "running"  # nobody told the database
        go.touch()
        worker_process()  # its recovery finds the dead worker's job after 2 s of silence
        row = await wait_for_status(db_url, job_id, "succeeded")
        assert row["attempts"] == 2
        assert row["result"] == "done"


class TestShutdown:
    async def test_sigterm_lets_the_running_job_finish_takes_no_new_one_and_exits_0(
        self,
        db_url: str,
        engine: AsyncEngine,
        worker_process: Callable[..., subprocess.Popen[bytes]],
        tmp_path: Path,
    ) -> None:
        user_id = make_user(db_url)
        go = tmp_path / "go"
        go.touch()
        job_id = await enqueue(
            engine, "test:wait_for_file", user_id, {"path": str(go), "then_sleep": 2}
        )
        worker = worker_process()
        await wait_for_status(db_url, job_id, "running")
        worker.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        later = await enqueue(engine, "test:steps", user_id, {})
        assert await asyncio.to_thread(worker.wait, 30) == 0
        assert job_row(db_url, job_id)["status"] == "succeeded"
        assert job_row(db_url, later)["status"] == "queued"


class TestRecovery:
    async def test_a_stalled_job_whose_queueing_lock_was_taken_again_fails_as_worker_lost(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        stalled = await enqueue(engine, "test:singleton", user_id, {})
        with psycopg.connect(db_url) as conn:
            # As if a worker fetched it and died: running, and no live worker owns it.
            conn.execute(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL"
                " WHERE id = (SELECT procrastinate_job_id FROM background_jobs WHERE id = %s)",
                (stalled,),
            )
        newer = await enqueue(engine, "test:singleton", user_id, {})
        # A worker of the `jobs` queue only: it recovers, and leaves the newer job waiting.
        settings = WorkerSettings(DATABASE_URL=db_url, WORKER_QUEUES="jobs", **FAST)
        worker = asyncio.create_task(run_worker(settings, install_signal_handlers=False))
        try:
            lost = await wait_for_status(db_url, stalled, "failed")
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        assert lost["error_type"] == "WorkerLost"
        assert job_row(db_url, newer)["status"] == "queued"

    async def test_old_finished_jobs_are_pruned_and_recent_ones_kept(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        old = await enqueue(engine, "test:steps", user_id, {})
        recent = await enqueue(engine, "test:steps", user_id, {})
        queue_ids = [job_row(db_url, job)["procrastinate_job_id"] for job in (old, recent)]
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "UPDATE procrastinate_jobs SET status = 'cancelled' WHERE id IN"
                " (SELECT procrastinate_job_id FROM background_jobs WHERE user_id = %s)",
                (user_id,),
            )
            conn.execute(
                "UPDATE procrastinate_events SET at = now() - interval '2 days' WHERE job_id ="
                " (SELECT procrastinate_job_id FROM background_jobs WHERE id = %s)",
                (old,),
            )
            conn.execute(
                "UPDATE background_jobs SET finished_at = now() - interval '40 days' WHERE id = %s",
                (old,),
            )
        settings = WorkerSettings(DATABASE_URL=db_url, WORKER_PRUNE_CRON="* * * * * *", **FAST)
        worker = asyncio.create_task(run_worker(settings, install_signal_handlers=False))
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while _exists(db_url, old):
                assert loop.time() < deadline
                await asyncio.sleep(0.1)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        assert job_row(db_url, recent)["status"] == "cancelled"
        with psycopg.connect(db_url) as conn:
            queue_rows = conn.execute(
                "SELECT id FROM procrastinate_jobs WHERE id = ANY(%s)", (queue_ids,)
            ).fetchall()
        assert queue_rows == [(queue_ids[1],)]


def _exists(db_url: str, job_id: uuid.UUID) -> bool:
    with psycopg.connect(db_url) as conn:
        return (
            conn.execute("SELECT 1 FROM background_jobs WHERE id = %s", (job_id,)).fetchone()
            is not None
        )
