"""`pgstack worker` as a real process: killed, it loses no job; stopped, it finishes its jobs.

The test tasks (`test:*`) live in tests/job_service/job_test_tasks.py; the workers import them
through WORKER_IMPORT_PATHS.
"""

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.job_service import job_test_tasks  # registers the test:* tasks for enqueueing
from tests.kit.jobs import enqueue, job_row, status_is
from tests.kit.users import make_user
from tests.kit.waiting import eventually
from tests.kit.workers import FAST_RECOVERY, running_worker, worker_processes

FAST = {"WORKER_IMPORT_PATHS": job_test_tasks.__name__, **FAST_RECOVERY}


async def wait_for_status(db_url: str, job_id: uuid.UUID, status: str) -> dict[str, Any]:
    row: dict[str, Any] = await eventually(status_is(db_url, job_id, status), what=f"job {status}")
    return row


WorkerProcess = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def worker_process(db_url: str) -> Iterator[WorkerProcess]:
    """Start `python -m deploy worker` processes; any still running are killed afterwards."""
    with worker_processes(db_url, **FAST) as processes:
        yield processes.start


class TestCrash:
    async def test_a_job_of_a_killed_worker_is_picked_up_again_and_succeeds(
        self, db_url: str, engine: AsyncEngine, worker_process: WorkerProcess, tmp_path: Path
    ) -> None:
        go = tmp_path / "go"
        job_id = await enqueue_id(
            engine, "test:wait_for_file", make_user(db_url), {"path": str(go)}
        )
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


class TestDatabaseOutage:
    async def test_a_worker_whose_connections_are_cut_keeps_taking_jobs(
        self, db_url: str, engine: AsyncEngine, worker_process: WorkerProcess, tmp_path: Path
    ) -> None:
        """Every connection of the worker cut (as a restart or a network cut would): the same
        process reconnects by itself, finishes the job it was running and takes new ones."""
        user_id = make_user(db_url)
        worker = worker_process(PGAPPNAME="worker-to-cut")
        go = tmp_path / "go"
        running = await enqueue_id(engine, "test:wait_for_file", user_id, {"path": str(go)})
        await eventually(
            lambda: job_row(db_url, running)["progress_message"] == "waiting", what="waiting"
        )
        with psycopg.connect(db_url, autocommit=True) as conn:
            cut = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'worker-to-cut'"
            ).fetchall()
        assert cut
        await asyncio.sleep(2)  # the job waits on; its outcome is stored after the cut
        go.touch()
        await wait_for_status(db_url, running, "succeeded")
        later = await enqueue_id(engine, "test:steps", user_id, {})
        await wait_for_status(db_url, later, "succeeded")
        assert worker.poll() is None


class TestShutdown:
    async def test_sigterm_lets_the_running_job_finish_takes_no_new_one_and_exits_0(
        self, db_url: str, engine: AsyncEngine, worker_process: WorkerProcess, tmp_path: Path
    ) -> None:
        user_id = make_user(db_url)
        go = tmp_path / "go"
        go.touch()
        job_id = await enqueue_id(
            engine, "test:wait_for_file", user_id, {"path": str(go), "then_sleep": 2}
        )
        worker = worker_process()
        await wait_for_status(db_url, job_id, "running")
        worker.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        later = await enqueue_id(engine, "test:steps", user_id, {})
        assert await asyncio.to_thread(worker.wait, 30) == 0
        assert job_row(db_url, job_id)["status"] == "succeeded"
        assert job_row(db_url, later)["status"] == "queued"


class TestRecovery:
    async def test_a_stalled_job_whose_queueing_lock_was_taken_again_fails_as_worker_lost(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        stalled = await enqueue_id(engine, "test:singleton", user_id, {})
        with psycopg.connect(db_url) as conn:
            # As if a worker fetched it and died: running, and no live worker owns it.
            conn.execute(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL"
                " WHERE id = (SELECT procrastinate_job_id FROM background_jobs WHERE id = %s)",
                (stalled,),
            )
        newer = await enqueue_id(engine, "test:singleton", user_id, {})
        # A worker of the `jobs` queue only: it recovers, and leaves the newer job waiting.
        async with running_worker(db_url, WORKER_QUEUES="jobs", **FAST):
            lost = await wait_for_status(db_url, stalled, "failed")
        assert lost["error_type"] == "WorkerLost"
        assert job_row(db_url, newer)["status"] == "queued"

    async def test_a_job_whose_worker_died_too_often_fails_and_a_first_stall_is_retried(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        """WORKER_MAX_RECOVERIES: a job on its last allowed run when its worker dies ends
        failed as WorkerLost (a job that kills its worker must not loop forever); a job
        stalled for the first time runs again."""
        user_id = make_user(db_url)
        doomed = await enqueue_id(engine, "test:steps", user_id, {})
        lucky = await enqueue_id(engine, "test:steps", user_id, {})
        with psycopg.connect(db_url) as conn:
            # As if a worker fetched both and died; `doomed` had already been run once.
            for job_id, attempts in ((doomed, 1), (lucky, 0)):
                conn.execute(
                    "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL,"
                    " attempts = %s WHERE id ="
                    " (SELECT procrastinate_job_id FROM background_jobs WHERE id = %s)",
                    (attempts, job_id),
                )
        async with running_worker(db_url, WORKER_MAX_RECOVERIES="2", **FAST):
            lost = await wait_for_status(db_url, doomed, "failed")
            await wait_for_status(db_url, lucky, "succeeded")
        assert lost["error_type"] == "WorkerLost"
        assert lost["error_message"] == "The job's worker stopped too many times."

    async def test_old_finished_jobs_are_pruned_and_recent_ones_kept(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        old = await enqueue_id(engine, "test:steps", user_id, {})
        recent = await enqueue_id(engine, "test:steps", user_id, {})
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
        async with running_worker(db_url, WORKER_PRUNE_CRON="* * * * * *", **FAST):
            await eventually(lambda: not _exists(db_url, old), within=20, every=0.1)
        assert job_row(db_url, recent)["status"] == "cancelled"
        with psycopg.connect(db_url) as conn:
            queue_rows = conn.execute(
                "SELECT id FROM procrastinate_jobs WHERE id = ANY(%s)", (queue_ids,)
            ).fetchall()
        assert queue_rows == [(queue_ids[1],)]


async def enqueue_id(
    engine: AsyncEngine, kind: str, user_id: int, args: dict[str, Any]
) -> uuid.UUID:
    return (await enqueue(engine, kind, user_id, args)).id


def _exists(db_url: str, job_id: uuid.UUID) -> bool:
    with psycopg.connect(db_url) as conn:
        return (
            conn.execute("SELECT 1 FROM background_jobs WHERE id = %s", (job_id,)).fetchone()
            is not None
        )
