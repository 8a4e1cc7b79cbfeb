"""Durable steps (`jobs.step`) run by the real worker: a retry skips the steps that finished
and gets their results, a task that meets other steps than its job stored fails clearly, and
`JobRead` shows the steps."""

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared import jobs
from shared.jobs import BackgroundJob, JobRead
from tests.kit.jobs import enqueue, job_row, status_is
from tests.kit.users import make_user
from tests.kit.waiting import eventually
from tests.kit.workers import running_worker
from tests.shared import step_tasks


@pytest.fixture(scope="module")
async def worker(db_url: str) -> AsyncIterator[None]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(step_tasks.EFFECTS_TABLE)
    async with running_worker(
        db_url, WORKER_QUEUES="steps", WORKER_POLL_SECONDS=0.2, WORKER_SHUTDOWN_GRACE=1
    ):
        yield


def effects(db_url: str, run: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT what FROM task_effects WHERE run = %s ORDER BY at", (run,)
        ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.usefixtures("worker")
class TestSteps:
    async def test_a_retry_skips_finished_steps_and_reuses_their_results(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        """Step 2 fails once: the retry does not run step 1 again (its row exists once), runs
        step 2 again, and step 3 sums step 1's stored result with step 2's."""
        run = uuid.uuid4().hex
        job = await enqueue(engine, "stepping:three", make_user(db_url), {"run": run})
        row = await eventually(status_is(db_url, job.id, "succeeded", "failed"), within=30)
        assert row["status"] == "succeeded"
        assert row["result"] == {"sum": 42}
        # step 2's first run was rolled back with its failure: one committed row.
        assert effects(db_url, run) == ["step 1", "step 2", "step 3"]
        assert [(s["name"], s["status"], s["attempts"]) for s in row["steps"]] == [
            ("first", "succeeded", 1),
            ("second", "succeeded", 2),
            ("third", "succeeded", 1),
        ]

    async def test_job_read_shows_each_step_in_order_with_its_times(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        run = uuid.uuid4().hex
        job = await enqueue(engine, "stepping:three", make_user(db_url), {"run": run})
        await eventually(status_is(db_url, job.id, "succeeded", "failed"), within=30)
        async with AsyncSession(engine) as session:
            loaded = await session.get(BackgroundJob, job.id)
            assert loaded is not None
            read = JobRead.of(loaded)
        assert [step.name for step in read.steps] == ["first", "second", "third"]
        assert [step.status for step in read.steps] == ["succeeded"] * 3
        for step in read.steps:
            assert step.started_at is not None
            assert step.finished_at is not None
            assert step.started_at <= step.finished_at
        assert "result" not in read.model_dump()["steps"][0]

    async def test_a_task_that_meets_other_steps_than_its_job_stored_fails_once_clearly(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        """A job whose stored first step is not the task's first (the task changed under it)
        fails with StepsChanged, is not retried, and runs none of its steps."""
        run = uuid.uuid4().hex
        user_id = make_user(db_url)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            # In one transaction: no worker sees the job before its steps are an older task's.
            queued = await jobs.enqueue(session, "stepping:three", user_id, {"run": run})
            await session.execute(
                update(BackgroundJob)
                .where(BackgroundJob.id == queued.id)
                .values(
                    steps=[
                        {
                            "name": "fetch",
                            "status": "succeeded",
                            "attempts": 1,
                            "started_at": None,
                            "finished_at": None,
                            "result": 1,
                        }
                    ]
                )
            )
            await session.commit()
        row = await eventually(status_is(db_url, queued.id, "failed", "succeeded"), within=30)
        assert row["status"] == "failed"
        assert row["error_type"] == "StepsChanged"
        assert "'fetch'" in row["error_message"]
        assert "'first'" in row["error_message"]
        assert row["attempts"] == 1
        assert effects(db_url, run) == []

    async def test_a_step_name_met_twice_in_one_run_fails_the_job(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        run = uuid.uuid4().hex
        job = await enqueue(engine, "stepping:twice", make_user(db_url), {"run": run})
        row = await eventually(status_is(db_url, job.id, "failed", "succeeded"), within=30)
        assert row["status"] == "failed"
        assert row["error_type"] == "DuplicateStep"
        assert row["attempts"] == 1
        assert effects(db_url, run) == ["noop"]
        assert job_row(db_url, job.id)["steps"][0]["name"] == "same"
