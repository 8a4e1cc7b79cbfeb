"""Enqueueing in the caller's transaction: both the job row and the queue job, or neither."""

import asyncio
import tempfile
import uuid

import psycopg
import pytest
from psycopg import pq
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import job_service.tasks  # registers jobs:noop
from shared import db, jobs
from tests.kit.users import make_user

assert job_service.tasks.noop


def counts(db_url: str, user_id: int) -> tuple[int, int]:
    """The user's job rows, and the queue jobs behind them."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(p.id) FROM background_jobs b"
            " LEFT JOIN procrastinate_jobs p ON p.id = b.procrastinate_job_id"
            " WHERE b.user_id = %s",
            (user_id,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


class TestEnqueue:
    async def test_a_rolled_back_transaction_leaves_no_job_and_no_row(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            job = await jobs.enqueue(session, "jobs:noop", user_id, {"n": 1})
            procrastinate_id = job.procrastinate_job_id
            assert procrastinate_id is not None
            await session.rollback()
        assert counts(db_url, user_id) == (0, 0)
        with psycopg.connect(db_url) as conn:
            orphan = conn.execute(
                "SELECT 1 FROM procrastinate_jobs WHERE id = %s", (procrastinate_id,)
            ).fetchone()
        assert orphan is None

    async def test_a_committed_transaction_leaves_both_linked(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            job = await jobs.enqueue(session, "jobs:noop", user_id, {"n": 1})
            await session.commit()
        assert counts(db_url, user_id) == (1, 1)
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT p.task_name, p.queue_name, p.args, b.status FROM background_jobs b"
                " JOIN procrastinate_jobs p ON p.id = b.procrastinate_job_id WHERE b.id = %s",
                (job.id,),
            ).fetchone()
        assert row == ("jobs:noop", "jobs", {"n": 1}, "queued")

    async def test_the_same_idempotency_key_gives_one_job_under_50_concurrent_calls(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)

        async def request() -> uuid.UUID:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                job = await jobs.enqueue(session, "jobs:noop", user_id, {}, idempotency_key="once")
                await session.commit()
                return job.id

        ids = await asyncio.gather(*(request() for _ in range(50)))
        assert len(set(ids)) == 1
        assert counts(db_url, user_id) == (1, 1)

    async def test_the_same_key_without_a_user_gives_one_job_and_no_key_gives_each_its_own(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        """A job without a user (an internal caller's) is deduplicated by its key too (NULLs
        not distinct, migration 0008); jobs without a key never are."""
        key = f"nightly-{uuid.uuid4()}"

        async def enqueue(user_id: int | None, idempotency_key: str | None) -> uuid.UUID:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                job = await jobs.enqueue(session, "jobs:noop", user_id, {}, idempotency_key)
                await session.commit()
                return job.id

        keyed = [await enqueue(None, key), await enqueue(None, key)]
        user_id = make_user(db_url)
        keyless = [await enqueue(None, None), await enqueue(None, None)]
        own = [await enqueue(user_id, None), await enqueue(user_id, None)]

        assert keyed[0] == keyed[1]
        assert len({*keyless, *own}) == 4
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM background_jobs WHERE idempotency_key = %s", (key,)
            ).fetchone()
        assert row == (1,)
        assert counts(db_url, user_id) == (2, 2)

    async def test_an_unknown_kind_is_refused_before_anything_is_written(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            with pytest.raises(jobs.UnknownJobKind):
                await jobs.enqueue(session, "nope:nothing", user_id, {})
            await session.commit()
        assert counts(db_url, user_id) == (0, 0)


class TestEnqueueMany:
    async def test_each_row_is_linked_to_the_queue_job_of_its_own_arguments(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        async with AsyncSession(engine) as session:
            ids = await jobs.enqueue_many(
                session, "jobs:noop", user_id, [{"i": i} for i in range(50)]
            )
            await session.commit()
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT b.id, b.args, p.args FROM background_jobs b"
                " JOIN procrastinate_jobs p ON p.id = b.procrastinate_job_id WHERE b.user_id = %s",
                (user_id,),
            ).fetchall()
        by_id = {row[0]: (row[1], row[2]) for row in rows}
        assert [by_id[job_id] for job_id in ids] == [({"i": i}, {"i": i}) for i in range(50)]

    async def test_an_item_whose_key_was_used_returns_that_job_and_queues_nothing(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        """Per-item idempotency keys: a key the user used before, or earlier in the same
        batch, gives back that job; items without a key are always new."""
        user_id = make_user(db_url)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            first = await jobs.enqueue(session, "jobs:noop", user_id, {"i": 0}, "a")
            await session.commit()
        async with AsyncSession(engine) as session:
            ids = await jobs.enqueue_many(
                session,
                "jobs:noop",
                user_id,
                [{"i": 1}, {"i": 2}, {"i": 3}, {"i": 4}, {"i": 5}],
                idempotency_keys=["a", "b", None, "b", None],
            )
            await session.commit()
        assert ids[0] == first.id
        assert ids[1] == ids[3]
        assert len({first.id, ids[1], ids[2], ids[4]}) == 4
        assert counts(db_url, user_id) == (4, 4)
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT args FROM background_jobs WHERE id = %s", (ids[1],)
            ).fetchone()
        assert row == ({"i": 2},)

    async def test_a_batch_of_a_hundred_is_one_round_trip(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        """The rows, their queue jobs and their turns in one statement (libpq's trace)."""
        user_id = make_user(db_url)
        async with AsyncSession(engine) as session:
            conn = await db.psycopg_connection(session)
            await conn.execute("SELECT 1")  # its transaction begun
            with tempfile.TemporaryFile("w+") as sink:
                conn.pgconn.trace(sink.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                try:
                    await jobs.enqueue_many(
                        session, "jobs:noop", user_id, [{"i": i} for i in range(100)]
                    )
                finally:
                    conn.pgconn.untrace()
                sink.seek(0)
                sent = [line.split("\t")[2].split()[0] for line in sink if line.startswith("F\t")]
            await session.commit()
        assert sum(1 for message in sent if message in ("Sync", "Query")) == 1
        assert counts(db_url, user_id) == (100, 100)


class TestBackoff:
    def test_waits_double_from_the_first_up_to_the_cap_then_stop(self) -> None:
        backoff = jobs.Backoff(attempts=6, first=1, cap=5)
        assert [backoff.wait(n) for n in range(5)] == [1, 2, 4, 5, 5]
