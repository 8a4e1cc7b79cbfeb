"""Jobs through the real worker: progress, results, retries, timeouts, cancellation."""

import asyncio
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.job_service.job_helpers import listening, run_to, running_worker
from tests.kit.jobs import enqueue, job_row, status_is
from tests.kit.users import make_user
from tests.kit.waiting import eventually


class TestRun:
    async def test_a_job_runs_reports_progress_and_keeps_its_result(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        async with listening(db_url) as notifications, running_worker(db_url):
            job = await enqueue(engine, "test:steps", user_id, {"steps": 3})
            row = await eventually(status_is(db_url, job.id, "succeeded"))
            await eventually(
                lambda: any(n["status"] == "succeeded" for n in notifications.of(job.id))
            )
        assert row["result"] == {"steps": 3}
        assert row["attempts"] == 1
        assert row["progress_percent"] == 100
        assert row["started_at"] <= row["finished_at"]
        seen = notifications.of(job.id)
        assert [n["status"] for n in seen] == ["queued", "running"] + ["running"] * 3 + [
            "succeeded"
        ]
        assert [n["progress"] for n in seen[2:5]] == [25, 50, 75]
        assert [n["version"] for n in seen] == list(range(1, 7))

    async def test_progress_and_result_written_in_the_tasks_transaction_are_kept(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        row = await run_to(db_url, engine, "test:write_with_session", {"value": 7}, "succeeded")
        assert row["result"] == {"value": 7}

    async def test_a_failing_job_is_retried_with_back_off_then_fails_with_its_error(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        async with listening(db_url) as notifications, running_worker(db_url):
            job = await enqueue(engine, "test:broken", user_id, {"message": "no luck"})
            row = await eventually(status_is(db_url, job.id, "failed"))
        assert row["attempts"] == 3
        assert (row["error_type"], row["error_message"]) == ("ValueError", "no luck (final)")
        assert row["result"] is None
        statuses = [n["status"] for n in notifications.of(job.id)]
        assert statuses == ["queued", "running", "queued", "running", "queued", "running", "failed"]
        # Back-off: 0.3 s, then 0.6 s between the attempts.
        assert (row["finished_at"] - row["created_at"]).total_seconds() >= 0.9

    async def test_a_job_past_its_timeout_fails_with_timeout_error(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        row = await run_to(db_url, engine, "test:slow", {"seconds": 30}, "failed")
        assert row["error_type"] == "TimeoutError"
        assert "0.5 s" in row["error_message"]


class TestCancel:
    async def test_a_waiting_job_cancelled_never_runs(
        self, db_url: str, engine: AsyncEngine, tmp_path: Path
    ) -> None:
        from shared import queue

        user_id = make_user(db_url)
        job = await enqueue(engine, "test:wait_for_file", user_id, {"path": str(tmp_path / "go")})
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            assert job.procrastinate_job_id is not None
            await queue.app.job_manager.cancel_job_by_id_async(
                job.procrastinate_job_id, abort=True, connection=raw.driver_connection
            )
        assert job_row(db_url, job.id)["status"] == "cancelled"
        async with running_worker(db_url):
            await asyncio.sleep(1)
        row = job_row(db_url, job.id)
        assert (row["status"], row["attempts"], row["started_at"]) == ("cancelled", 0, None)

    async def test_a_running_job_asked_to_abort_ends_cancelled(
        self, db_url: str, engine: AsyncEngine, tmp_path: Path
    ) -> None:
        from shared import queue

        user_id = make_user(db_url)
        async with running_worker(db_url):
            job = await enqueue(
                engine, "test:wait_for_file", user_id, {"path": str(tmp_path / uuid.uuid4().hex)}
            )
            await eventually(status_is(db_url, job.id, "running"))
            async with engine.begin() as conn:
                raw = await conn.get_raw_connection()
                assert job.procrastinate_job_id is not None
                await queue.app.job_manager.cancel_job_by_id_async(
                    job.procrastinate_job_id, abort=True, connection=raw.driver_connection
                )
            assert job_row(db_url, job.id)["status"] in ("cancelling", "cancelled")
            row = await eventually(status_is(db_url, job.id, "cancelled"))
        assert row["finished_at"] is not None
