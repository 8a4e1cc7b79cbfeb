"""Per-user fairness (JOBS_MAX_ACTIVE_PER_USER), with several real worker processes: a user's
jobs beyond the cap wait as queued, without holding back another user's jobs."""

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared import jobs
from tests.kit.users import make_user
from tests.kit.waiting import eventually
from tests.kit.workers import running_worker, worker_processes
from tests.shared import step_tasks

CAP = 2


def query(db_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        cursor = conn.execute(sql.encode(), params)
        return cursor.fetchall() if cursor.description else []


async def enqueue_holds(
    engine: AsyncEngine,
    user_id: int,
    run: str,
    count: int,
    seconds: float,
    kind: str = "stepping:hold",
) -> list[uuid.UUID]:
    async with AsyncSession(engine) as session:
        ids = await jobs.enqueue_many(
            session,
            kind,
            user_id,
            [{"run": run, "seconds": seconds} for _ in range(count)],
        )
        await session.commit()
    return ids


def unfinished(db_url: str, ids: list[uuid.UUID]) -> int:
    [row] = query(
        db_url,
        "SELECT count(*) AS n FROM background_jobs WHERE id = ANY(%s)"
        " AND status NOT IN ('succeeded', 'failed', 'cancelled')",
        ids,
    )
    return int(row["n"])


async def test_a_heavy_user_runs_at_most_the_cap_and_holds_back_nobody_under_three_workers(
    db_url: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One user queues 16 jobs, then another queues 3; three workers of 4 slots each run
    them. No job of either user ever started with more than CAP of its user's jobs running
    (the cap was reached), and the second user's jobs all started while the first user's
    were still waiting."""
    monkeypatch.setenv("JOBS_MAX_ACTIVE_PER_USER", str(CAP))
    query(db_url, step_tasks.EFFECTS_TABLE)
    heavy_run, light_run = uuid.uuid4().hex, uuid.uuid4().hex
    heavy = await enqueue_holds(engine, make_user(db_url), heavy_run, 16, 0.3)
    light = await enqueue_holds(engine, make_user(db_url), light_run, 3, 0.3)
    with worker_processes(
        db_url,
        WORKER_IMPORT_PATHS=step_tasks.__name__,
        WORKER_QUEUES="fair",
        WORKER_CONCURRENCY="4",
        WORKER_POLL_SECONDS="0.2",
    ) as workers:
        for _ in range(3):
            workers.start()
        await eventually(lambda: unfinished(db_url, heavy + light) == 0, within=120)
    seen = {
        run: [
            row["value"]
            for row in query(
                db_url, "SELECT value FROM task_effects WHERE run = %s AND what = 'running'", run
            )
        ]
        for run in (heavy_run, light_run)
    }
    assert len(seen[heavy_run]) == 16
    assert max(seen[heavy_run]) == CAP
    assert len(seen[light_run]) == 3
    assert max(seen[light_run]) <= CAP
    [order] = query(
        db_url,
        "SELECT max(started_at) FILTER (WHERE id = ANY(%s)) AS light_last,"
        " max(started_at) FILTER (WHERE id = ANY(%s)) AS heavy_last FROM background_jobs",
        light,
        heavy,
    )
    assert order["light_last"] < order["heavy_last"]


async def test_without_a_cap_one_user_runs_as_many_jobs_as_there_are_slots(
    db_url: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JOBS_MAX_ACTIVE_PER_USER=0 turns the cap off: the jobs carry none, and one worker of
    4 slots runs 4 of the user's jobs at once."""
    monkeypatch.setenv("JOBS_MAX_ACTIVE_PER_USER", "0")
    query(db_url, step_tasks.EFFECTS_TABLE)
    run = uuid.uuid4().hex
    ids = await enqueue_holds(engine, make_user(db_url), run, 8, 0.5)
    assert query(
        db_url, "SELECT DISTINCT max_active_per_user FROM background_jobs WHERE id = ANY(%s)", ids
    ) == [{"max_active_per_user": None}]
    with worker_processes(
        db_url,
        WORKER_IMPORT_PATHS=step_tasks.__name__,
        WORKER_QUEUES="fair",
        WORKER_CONCURRENCY="4",
        WORKER_POLL_SECONDS="0.2",
    ) as workers:
        workers.start()
        await eventually(lambda: unfinished(db_url, ids) == 0, within=120)
    rows = query(db_url, "SELECT value FROM task_effects WHERE run = %s AND what = 'running'", run)
    assert max(row["value"] for row in rows) == 4


async def test_users_take_turns_so_ten_jobs_queued_after_a_thousand_do_not_wait_for_them(
    db_url: str, engine: AsyncEngine
) -> None:
    """One user queues 30 jobs, then another queues 3; one worker running one job at a time
    alternates between them: the second user's 3 jobs have all started before the first
    user's 5th."""
    query(db_url, step_tasks.EFFECTS_TABLE)
    heavy = await enqueue_holds(engine, make_user(db_url), uuid.uuid4().hex, 30, 0)
    light = await enqueue_holds(engine, make_user(db_url), uuid.uuid4().hex, 3, 0)
    async with running_worker(
        db_url,
        WORKER_QUEUES="fair",
        WORKER_CONCURRENCY=1,
        WORKER_POLL_SECONDS=0.2,
        WORKER_SHUTDOWN_GRACE=1,
    ):
        await eventually(lambda: unfinished(db_url, heavy + light) == 0, within=120)
    heavy_starts = sorted(
        row["started_at"]
        for row in query(db_url, "SELECT started_at FROM background_jobs WHERE id = ANY(%s)", heavy)
    )
    [light_last] = query(
        db_url, "SELECT max(started_at) AS at FROM background_jobs WHERE id = ANY(%s)", light
    )
    assert light_last["at"] < heavy_starts[4]


async def test_a_kind_capped_at_one_runs_one_at_a_time_beside_the_users_other_kinds(
    db_url: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JOBS_MAX_ACTIVE_PER_KIND caps one kind at 1 within the user's cap of 4: two worker
    processes of 4 slots never ran two of the user's jobs of that kind at once, while the
    user's jobs of another kind ran beside it up to the user's cap."""
    monkeypatch.setenv("JOBS_MAX_ACTIVE_PER_USER", "4")
    monkeypatch.setenv("JOBS_MAX_ACTIVE_PER_KIND", '{"stepping:hold": 1}')
    query(db_url, step_tasks.EFFECTS_TABLE)
    user_id, run = make_user(db_url), uuid.uuid4().hex
    capped = await enqueue_holds(engine, user_id, run, 6, 0.3)
    other = await enqueue_holds(engine, user_id, run, 6, 0.3, kind="stepping:hold_too")
    assert query(
        db_url,
        "SELECT kind, max_active_per_kind FROM background_jobs WHERE id = ANY(%s)"
        " GROUP BY 1, 2 ORDER BY 1",
        capped + other,
    ) == [
        {"kind": "stepping:hold", "max_active_per_kind": 1},
        {"kind": "stepping:hold_too", "max_active_per_kind": None},
    ]
    with worker_processes(
        db_url,
        WORKER_IMPORT_PATHS=step_tasks.__name__,
        WORKER_QUEUES="fair",
        WORKER_CONCURRENCY="4",
        WORKER_POLL_SECONDS="0.2",
    ) as workers:
        for _ in range(2):
            workers.start()
        await eventually(lambda: unfinished(db_url, capped + other) == 0, within=120)
    seen = {
        row["what"]: row["most"]
        for row in query(
            db_url,
            "SELECT what, max(value) AS most, count(*) AS n FROM task_effects WHERE run = %s"
            " GROUP BY what",
            run,
        )
    }
    assert seen["running stepping:hold"] == 1
    assert seen["running stepping:hold_too"] >= 3
    assert seen["running"] == 4


async def test_a_claim_beside_another_takes_its_turn_and_then_every_job_that_may_run(
    db_url: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two claims at once (migration 0015_worker_claim's `pgstack_fetch_jobs`): the second waits
    until the first commits, then takes both jobs that may run, the user whose lock the first
    held included (at 1 of their cap of 2), instead of passing that user over and leaving a
    free slot idle."""
    monkeypatch.setenv("JOBS_MAX_ACTIVE_PER_USER", str(CAP))
    # The claims below take from the queue "fair": earlier tests' waiting jobs out of the way.
    query(db_url, "UPDATE procrastinate_jobs SET queue_name = 'aside' WHERE status = 'todo'")
    first_user, second_user = make_user(db_url), make_user(db_url)
    run = uuid.uuid4().hex
    first_jobs = await enqueue_holds(engine, first_user, run, 2, 0)
    second_jobs = await enqueue_holds(engine, second_user, run, 1, 0)
    queued = query(
        db_url,
        "SELECT procrastinate_job_id AS id FROM background_jobs WHERE id = ANY(%s)",
        [*first_jobs, *second_jobs],
    )
    claim = "SELECT id FROM pgstack_fetch_jobs(ARRAY['fair'], NULL, %s)"
    with psycopg.connect(db_url) as first:
        [(taken,)] = first.execute(claim, (1,)).fetchall()  # the first user's first job

        def second_claim() -> list[int]:
            with psycopg.connect(db_url) as conn:
                return [row[0] for row in conn.execute(claim, (2,)).fetchall()]

        second = asyncio.create_task(asyncio.to_thread(second_claim))
        await asyncio.sleep(0.5)
        assert not second.done()  # waiting for its turn
        first.commit()
    claimed = await asyncio.wait_for(second, 10)
    assert sorted(claimed) == sorted(row["id"] for row in queued if row["id"] != taken)
