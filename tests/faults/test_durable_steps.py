"""Durable steps under faults: a worker SIGKILLed in step 3 of 5, and the database restarted
in step 3 of 5. After recovery, steps 1 and 2 ran once (their rows were committed once), step
3 ran again, and the job succeeded with every step's result."""

import signal
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import sqlalchemy_url
from tests.faults import durable_tasks
from tests.kit.jobs import enqueue
from tests.kit.processes import Cluster, Processes
from tests.kit.waiting import eventually

# Every queue: the recovery of stalled jobs is a periodic job of its own.
WORKER = {"WORKER_IMPORT_PATHS": durable_tasks.__name__}


async def _enqueue(cluster: Cluster, run: str, hang: float) -> uuid.UUID:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(durable_tasks.EFFECTS_TABLE)
    [user] = cluster.query(
        "INSERT INTO users (email, hashed_password, full_name) VALUES (%s, 'x', 'Durable')"
        " RETURNING id",
        f"{run}@example.com",
    )
    engine = create_async_engine(sqlalchemy_url(cluster.url))
    try:
        job = await enqueue(engine, "durable:five_steps", user["id"], {"run": run, "hang": hang})
    finally:
        await engine.dispose()
    return job.id


def _step3_running(cluster: Cluster, job_id: uuid.UUID) -> bool:
    [row] = cluster.query("SELECT steps FROM background_jobs WHERE id = %s", job_id)
    return len(row["steps"]) == 3 and row["steps"][2]["status"] == "running"


def _finished(cluster: Cluster, job_id: uuid.UUID) -> dict[str, Any] | None:
    [row] = cluster.query("SELECT * FROM background_jobs WHERE id = %s", job_id)
    return row if row["status"] in ("succeeded", "failed", "cancelled") else None


def _effects(cluster: Cluster, run: str) -> dict[int, int]:
    rows = cluster.query(
        "SELECT step, count(*) AS n FROM step_effects WHERE run = %s GROUP BY step", run
    )
    return {row["step"]: row["n"] for row in rows}


async def test_a_worker_killed_in_step_3_of_5_leaves_steps_1_and_2_done_once(
    cluster: Cluster, logs: Path
) -> None:
    """SIGKILL while step 3 runs: the recovering worker skips steps 1 and 2 (their rows exist
    once), runs step 3 again (two attempts, one committed row) and the job succeeds with all
    five results."""
    run = f"kill-{uuid.uuid4().hex[:8]}"
    job_id = await _enqueue(cluster, run, hang=3600)
    stack = Processes(cluster, logs)
    try:
        doomed = stack.start_worker(**WORKER)
        await eventually(lambda: _step3_running(cluster, job_id), within=60, what="step 3")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        stack.start_worker(**WORKER)
        job = await eventually(lambda: _finished(cluster, job_id), within=90, what="job ended")
    finally:
        stack.stop()
    assert job["status"] == "succeeded", stack.log("worker-1")
    assert job["result"] == {"results": [10, 20, 30, 40, 50]}
    assert _effects(cluster, run) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    assert [(s["name"], s["status"], s["attempts"]) for s in job["steps"]] == [
        ("step 1", "succeeded", 1),
        ("step 2", "succeeded", 1),
        ("step 3", "succeeded", 2),
        ("step 4", "succeeded", 1),
        ("step 5", "succeeded", 1),
    ]


async def test_a_database_restart_in_step_3_of_5_leaves_steps_1_and_2_done_once(
    cluster: Cluster, logs: Path
) -> None:
    """PostgreSQL restarts while step 3 waits on its open transaction: that step's work is
    lost with its connection, the job's retry skips steps 1 and 2, runs step 3 again, and the
    job succeeds with one committed row per step."""
    run = f"restart-{uuid.uuid4().hex[:8]}"
    job_id = await _enqueue(cluster, run, hang=4)
    stack = Processes(cluster, logs)
    try:
        stack.start_worker(**WORKER)
        await eventually(lambda: _step3_running(cluster, job_id), within=60, what="step 3")
        cluster.restart()
        job = await eventually(lambda: _finished(cluster, job_id), within=120, what="job ended")
    finally:
        stack.stop()
    assert job["status"] == "succeeded", stack.log("worker-0")
    assert job["result"] == {"results": [10, 20, 30, 40, 50]}
    assert _effects(cluster, run) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    attempts = [s["attempts"] for s in job["steps"]]
    assert attempts[:2] == [1, 1]
    assert attempts[2] >= 2
    assert attempts[3:] == [1, 1]


def _outcome_pending(cluster: Cluster, job_id: uuid.UUID) -> bool:
    """The task has returned (the middleware stored its result) but its outcome is not stored:
    the queue job is still `doing`, its row still `running`."""
    [row] = cluster.query(
        "SELECT b.status, b.result, q.status AS queue_status FROM background_jobs AS b"
        " JOIN procrastinate_jobs AS q ON q.id = b.procrastinate_job_id WHERE b.id = %s",
        job_id,
    )
    return row["result"] is not None and (row["status"], row["queue_status"]) == (
        "running",
        "doing",
    )


async def test_a_worker_killed_with_a_flush_pending_loses_no_job_and_reruns_no_step(
    cluster: Cluster, logs: Path
) -> None:
    """The worker stores outcomes in batches: SIGKILL after the job's five steps and its
    return, before the outcome was flushed. The job is recovered as stalled, its rerun skips
    every finished step (each step's work committed once, one attempt each), and it succeeds."""
    run = f"flush-{uuid.uuid4().hex[:8]}"
    job_id = await _enqueue(cluster, run, hang=0)
    stack = Processes(cluster, logs)
    try:
        # A flush an hour away: the outcome stays pending until the kill.
        doomed = stack.start_worker(**WORKER, WORKER_FLUSH_SECONDS="3600")
        await eventually(
            lambda: _outcome_pending(cluster, job_id), within=60, what="outcome pending"
        )
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        stack.start_worker(**WORKER)
        job = await eventually(lambda: _finished(cluster, job_id), within=90, what="job ended")
    finally:
        stack.stop()
    assert job["status"] == "succeeded", stack.log("worker-1")
    assert job["result"] == {"results": [10, 20, 30, 40, 50]}
    assert _effects(cluster, run) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    assert [(s["name"], s["status"], s["attempts"]) for s in job["steps"]] == [
        (f"step {n}", "succeeded", 1) for n in range(1, 6)
    ]
    assert job["attempts"] == 2  # the lost run and the recovered one
