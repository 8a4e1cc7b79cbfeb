"""`enqueue(..., supersede=True)`: a second click on "sync" replaces the first job of the same
user, kind and key, whether it is still waiting or already running."""

import uuid

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared import jobs
from shared.jobs import BackgroundJob
from tests.kit.jobs import job_row, status_is
from tests.kit.users import make_user
from tests.kit.waiting import eventually
from tests.kit.workers import running_worker
from tests.shared import step_tasks


@pytest.fixture(scope="module", autouse=True)
def effects_table(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(step_tasks.EFFECTS_TABLE)


async def sync(engine: AsyncEngine, user_id: int, seconds: float) -> BackgroundJob:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        job = await jobs.enqueue(
            session,
            "stepping:hold",
            user_id,
            {"run": uuid.uuid4().hex, "seconds": seconds},
            idempotency_key="sync",
            supersede=True,
        )
        await session.commit()
    return job


async def test_a_second_sync_cancels_the_waiting_first_and_takes_its_key(
    db_url: str, engine: AsyncEngine
) -> None:
    """No worker runs: the first job is cancelled at once, the second waits, and the key now
    names the second. Another user's sync with the same key is untouched."""
    user_id, other = make_user(db_url), make_user(db_url)
    theirs = await sync(engine, other, 0)
    first = await sync(engine, user_id, 0)
    second = await sync(engine, user_id, 0)
    assert second.id != first.id
    assert job_row(db_url, first.id)["status"] == "cancelled"
    assert job_row(db_url, first.id)["idempotency_key"] is None
    assert job_row(db_url, second.id)["status"] == "queued"
    assert job_row(db_url, second.id)["idempotency_key"] == "sync"
    assert job_row(db_url, theirs.id)["status"] == "queued"


async def test_without_supersede_the_same_key_still_returns_the_first_job(
    db_url: str, engine: AsyncEngine
) -> None:
    user_id = make_user(db_url)
    first = await sync(engine, user_id, 0)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        again = await jobs.enqueue(session, "stepping:hold", user_id, {}, idempotency_key="sync")
        await session.commit()
    assert again.id == first.id
    assert job_row(db_url, first.id)["status"] == "queued"


async def test_a_second_sync_aborts_the_running_first_and_runs_itself(
    db_url: str, engine: AsyncEngine
) -> None:
    """The first sync is running (holding for a minute): the second asks it to abort, it ends
    cancelled, and the second runs to success."""
    user_id = make_user(db_url)
    async with running_worker(
        db_url,
        WORKER_QUEUES="fair",
        WORKER_CONCURRENCY=2,
        WORKER_POLL_SECONDS=0.2,
        WORKER_SHUTDOWN_GRACE=1,
    ):
        first = await sync(engine, user_id, 60)
        await eventually(status_is(db_url, first.id, "running"), within=30)
        second = await sync(engine, user_id, 0)
        ended = await eventually(status_is(db_url, first.id, "cancelled", "failed"), within=30)
        assert ended["status"] == "cancelled"
        done = await eventually(status_is(db_url, second.id, "succeeded", "failed"), within=30)
        assert done["status"] == "succeeded"


async def test_supersede_without_a_key_is_refused(db_url: str, engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        with pytest.raises(ValueError, match="idempotency key"):
            await jobs.enqueue(session, "stepping:hold", make_user(db_url), {}, supersede=True)
