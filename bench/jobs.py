# The benchmark drives worker processes; blocking on them is part of what it measures.
# ruff: noqa: ASYNC220
"""Benchmark of the job pipeline against PgQueuer and bare Procrastinate, in one run on this
machine.

    uv run --group bench python bench/jobs.py [--jobs 10000] [--concurrency 10]

Uses DATABASE_URL's server, else the embedded cluster under .pgstack/ (as the tests do), in
throwaway databases. Measures:
1. drain: N no-op jobs through the whole pipeline (enqueue in batches of 100 with the
   `background_jobs` row, the status trigger, NOTIFY job_events, `pgstack worker` with its
   middleware) and through bare Procrastinate (default connector, a database with its schema
   only, `App.run_worker_async`), both at the same concurrency, workers as separate
   processes; jobs/s = N / (first start .. last finish, from procrastinate_events), and the
   CPU time per job of the workers and of the database's backends (robust to a busy machine);
   and per job the database's commits, rows written (inserted, updated, deleted: its
   pg_stat_database) and WAL bytes (pg_current_wal_lsn before and after; the cluster's, so
   nothing else may run on it meanwhile). PgQueuer (a benchmark-only dependency, group
   `bench`) drains the same jobs with its defaults (batches of 10) in its own database; its
   rate is timed from the first job gone from its queue to the last.
   Nobody streams these jobs, so their changes are not announced (job_event_watchers). The
   pipeline's jobs belong to USERS users: one user's jobs run at most JOBS_MAX_ACTIVE_PER_USER
   (4) at a time by design (shared/jobs/fairness.py), fewer than the drain's concurrency;
2. the pipeline with 2 worker processes, and with every change announced (a watcher of all
   users, as if each had a stream open);
3. latency from the enqueue's COMMIT returning to the task's code starting (one job at a time);
4. latency from a status change (its `updated_at`) to an SSE client of job_service receiving it.
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import procrastinate
import psycopg
from procrastinate.schema import SchemaManager
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import job_service.tasks  # noqa: E402
from bench import bench_tasks  # noqa: E402
from bench.harness import cpu_seconds, server_url, wait_ready  # noqa: E402
from deploy import migrate  # noqa: E402
from shared import jobs  # noqa: E402
from shared.settings import sqlalchemy_url  # noqa: E402
from tests.kit.databases import create_database, drop_database  # noqa: E402
from tests.kit.passports import PassportKey  # noqa: E402
from tests.kit.users import make_user  # noqa: E402
from tests.kit.waiting import wait_for  # noqa: E402

assert bench_tasks.stamp
assert job_service.tasks.noop
QUIET = {"LOG_LEVEL": "WARNING"}
# The pipeline's drains spread their jobs over this many users, so the per-user cap (4) does
# not hold a drain of concurrency 10 below bare Procrastinate's 10 at once.
USERS = 10


def env(db_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": db_url,
        **QUIET,
        **extra,
    }


async def enqueue_batches(db_url: str, kind: str, user_id: int, count: int) -> float:
    """Enqueue `count` jobs, 100 per transaction; returns jobs/s."""
    engine = create_async_engine(sqlalchemy_url(db_url))
    started = time.perf_counter()
    for offset in range(0, count, 100):
        async with AsyncSession(engine) as session:
            batch = [{"i": i} for i in range(offset, min(count, offset + 100))]
            await jobs.enqueue_many(session, kind, user_id, batch)
            await session.commit()
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return count / elapsed


def drain_rate(db_url: str, task_name: str) -> tuple[int, float]:
    """Jobs finished and jobs/s between the first start and the last finish."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            """
            SELECT count(*) FILTER (WHERE e.type = 'succeeded'),
                   extract(epoch FROM max(e.at) FILTER (WHERE e.type = 'succeeded')
                                     - min(e.at) FILTER (WHERE e.type = 'started'))
            FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id
            WHERE j.task_name = %s
            """,
            (task_name,),
        ).fetchone()
    assert row is not None
    done, seconds = row
    return done, done / float(seconds)


def wait_drained(db_url: str, task_name: str, count: int, timeout: float = 600) -> None:
    def drained() -> bool:
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s"
                " AND status = 'succeeded'",
                (task_name,),
            ).fetchone()
        return bool(row and row[0] >= count)

    wait_for(drained, within=timeout, every=0.2, what=f"{task_name} drained")


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def writes(db_url: str) -> tuple[int, int, int]:
    """The database's commits and rows written so far, and the cluster's WAL position."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted,"
            " pg_current_wal_lsn() - '0/0'::pg_lsn"
            " FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def writes_since(db_url: str, before: tuple[int, int, int], n: int) -> dict[str, float]:
    """Per job since `before`: commits, rows written, WAL bytes. Workers' statistics reach
    pg_stat_database when they exit (and every second): read after they stopped."""
    time.sleep(1.5)
    after = writes(db_url)
    commits, rows, wal = (a - b for a, b in zip(after, before, strict=True))
    return {
        "commits_per_job": round(commits / n, 2),
        "rows_per_job": round(rows / n, 2),
        "wal_bytes_per_job": round(wal / n),
    }


def wait_registered(db_url: str, workers: int) -> None:
    """Until the workers are registered: started, imports done, about to fetch."""

    def registered() -> bool:
        with psycopg.connect(db_url) as conn:
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
        return bool(row and row[0] >= workers)

    wait_for(registered, within=600, every=0.01, what=f"{workers} workers registered")


@contextlib.contextmanager
def queue_held(db_url: str) -> Iterator[None]:
    """Procrastinate's queue locked against every claim for the block: workers start,
    register and wait, so a drain's figures start with all of them ready (with two workers,
    the first would otherwise drain part of the queue before the second has registered)."""
    with psycopg.connect(db_url) as conn:
        conn.execute("LOCK TABLE procrastinate_jobs IN EXCLUSIVE MODE")
        yield


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(30)


async def pipeline_drain(
    server: str, template: str, n: int, concurrency: int, workers: int, watch_all: bool = False
) -> dict[str, float]:
    """`watch_all`: as if every user had a stream open, so every change is announced."""
    db_url = create_database(server, template=template, prefix="bench")
    try:
        user_ids = [make_user(db_url) for _ in range(USERS)]
        if watch_all:
            with psycopg.connect(db_url) as conn:
                conn.execute(
                    "INSERT INTO job_event_watchers VALUES (0, %s, now() + interval '1 hour')",
                    (uuid.uuid4(),),
                )
        started = time.perf_counter()
        for index, user_id in enumerate(user_ids):
            count = n // USERS + (index < n % USERS)
            await enqueue_batches(db_url, "jobs:noop", user_id, count)
        enqueue_rate = n / (time.perf_counter() - started)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            with queue_held(db_url):
                processes += [
                    subprocess.Popen(
                        [sys.executable, "-m", "deploy", "worker"],
                        cwd=ROOT,
                        env=env(db_url, WORKER_CONCURRENCY=str(concurrency)),
                    )
                    for _ in range(workers)
                ]
                wait_registered(db_url, workers)
                before = cpu_seconds(db_url, processes)
                written = writes(db_url)
            wait_drained(db_url, "jobs:noop", n)
            cpu = cpu_since(before, cpu_seconds(db_url, processes))
        finally:
            stop(processes)
        per_job = writes_since(db_url, written, n)
        done, rate = drain_rate(db_url, "jobs:noop")
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM background_jobs WHERE status = 'succeeded'"
            ).fetchone()
        assert row is not None
        assert row[0] == n, f"{row[0]} rows succeeded of {n}"
        return {**drain_figures(n, done, rate, cpu, enqueue_rate), **per_job}
    finally:
        drop_database(db_url)


def drain_figures(
    n: int, done: int, rate: float, cpu: float, enqueue_rate: float
) -> dict[str, float]:
    """A drain's figures: `cpu` is the CPU seconds all its processes used for `n` jobs."""
    return {
        "done": done,
        "jobs_per_s": rate,
        "cpu_ms_per_job": round(cpu * 1000 / n, 3),
        "enqueue_per_s": enqueue_rate,
    }


def bare_worker(db_url: str, concurrency: int) -> None:
    """A bare Procrastinate worker: default connector, a no-op task."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=db_url))

    @app.task(name="noop")
    async def noop(**args: Any) -> None:
        pass

    async def run() -> None:
        async with app.open_async():
            await app.run_worker_async(concurrency=concurrency)

    asyncio.run(run())


async def bare_drain(server: str, n: int, concurrency: int) -> dict[str, float]:
    db_url = create_database(server, prefix="bare")
    try:
        with psycopg.connect(db_url) as conn:
            conn.execute(SchemaManager.get_schema().encode())
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=db_url))
        task = app.task(name="noop")(_noop)
        started = time.perf_counter()
        async with app.open_async():
            for offset in range(0, n, 100):
                batch: list[dict[str, Any]] = [
                    {"i": i} for i in range(offset, min(n, offset + 100))
                ]
                await task.batch_defer_async(*batch)
        enqueue_rate = n / (time.perf_counter() - started)
        with queue_held(db_url):
            process = subprocess.Popen(
                [sys.executable, __file__, "bare-worker", db_url, str(concurrency)],
                cwd=ROOT,
                env=env(db_url),
            )
            wait_registered(db_url, 1)
            before = cpu_seconds(db_url, [process])
            written = writes(db_url)
        try:
            wait_drained(db_url, "noop", n)
            cpu = cpu_since(before, cpu_seconds(db_url, [process]))
        finally:
            stop([process])
        per_job = writes_since(db_url, written, n)
        done, rate = drain_rate(db_url, "noop")
        assert done == n, f"{done} of {n}"
        return {**drain_figures(n, done, rate, cpu, enqueue_rate), **per_job}
    finally:
        drop_database(db_url)


async def _noop(**args: Any) -> None:
    pass


def pgqueuer_worker(db_url: str) -> None:
    """A PgQueuer worker with its defaults (batches of 10), a no-op entrypoint."""
    from pgqueuer import QueueManager
    from pgqueuer.queries import Queries

    async def run() -> None:
        conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
        manager = QueueManager(Queries.from_psycopg_connection(conn))

        @manager.entrypoint("noop")
        async def noop(job: Any) -> None:
            pass

        await manager.run()

    asyncio.run(run())


async def pgqueuer_drain(server: str, n: int) -> dict[str, float]:
    from pgqueuer.queries import Queries

    db_url = create_database(server, prefix="pgqueuer")
    try:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            queries = Queries.from_psycopg_connection(conn)
            await queries.install()
            started = time.perf_counter()
            for offset in range(0, n, 100):
                size = min(n, offset + 100) - offset
                await queries.enqueue(["noop"] * size, [None] * size, [0] * size)
            enqueue_rate = n / (time.perf_counter() - started)
        written = writes(db_url)
        process = subprocess.Popen(
            [sys.executable, __file__, "pgqueuer-worker", db_url], cwd=ROOT, env=env(db_url)
        )
        try:
            first, before = _pgqueuer_started(db_url, n, process)
            last = _pgqueuer_drained(db_url)
            cpu = cpu_since(before, cpu_seconds(db_url, [process]))
        finally:
            stop([process])
        per_job = writes_since(db_url, written, n)
        return {**drain_figures(n, n, n / (last - first), cpu, enqueue_rate), **per_job}
    finally:
        drop_database(db_url)


def _pgqueuer_started(
    db_url: str, n: int, process: subprocess.Popen[bytes]
) -> tuple[float, dict[int, float]]:
    """When the first job left PgQueuer's queue (polled every 5 ms), and the CPU used so far:
    its worker has no registration to wait for, and its start-up is not the drain's."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM pgqueuer").fetchone()
            assert row is not None
            assert process.poll() is None, "the PgQueuer worker exited"
            if row[0] < n:
                return time.perf_counter(), cpu_seconds(db_url, [process])
            time.sleep(0.005)


def _pgqueuer_drained(db_url: str, timeout: float = 600) -> float:
    """When the last job left PgQueuer's queue (polled every 5 ms)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pgqueuer").fetchone()
            assert row is not None
            if row[0] == 0:
                return time.perf_counter()
            time.sleep(0.005)
    raise TimeoutError("pgqueuer did not drain")


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def warm_up(engine: Any, db_url: str, user_id: int) -> None:
    """Until the worker has run a job: started, listening, its pools open."""
    wait_registered(db_url, 1)
    for _ in range(3):
        async with AsyncSession(engine) as session:
            await jobs.enqueue(session, "bench:stamp", user_id, {})
            await session.commit()
    wait_drained(db_url, "bench:stamp", 3)
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM background_jobs WHERE kind = 'bench:stamp'")


async def start_latency(server: str, template: str, samples: int) -> dict[str, float]:
    """COMMIT returned -> the task's code started, one job at a time, a worker idle."""
    db_url = create_database(server, template=template, prefix="bench")
    engine = create_async_engine(sqlalchemy_url(db_url))
    worker = subprocess.Popen(
        [sys.executable, "-m", "deploy", "worker"],
        cwd=ROOT,
        env=env(db_url, WORKER_IMPORT_PATHS=bench_tasks.__name__, WORKER_CONCURRENCY="10"),
    )
    try:
        user_id = make_user(db_url)
        await warm_up(engine, db_url, user_id)
        committed: dict[uuid.UUID, float] = {}
        for _ in range(samples):
            async with AsyncSession(engine, expire_on_commit=False) as session:
                job = await jobs.enqueue(session, "bench:stamp", user_id, {})
                await session.commit()
            committed[job.id] = time.time()
            await asyncio.sleep(0.02)
        await asyncio.sleep(1)
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT id, result FROM background_jobs WHERE kind = 'bench:stamp'"
                " AND status = 'succeeded'"
            ).fetchall()
        return percentiles([float(result) - committed[job_id] for job_id, result in rows])
    finally:
        stop([worker])
        await engine.dispose()
        drop_database(db_url)


async def sse_latency(server: str, template: str, samples: int) -> dict[str, float]:
    """A status change's `updated_at` -> an SSE client of job_service receiving it."""
    db_url = create_database(server, template=template, prefix="bench")
    engine = create_async_engine(sqlalchemy_url(db_url))
    key = PassportKey()
    port = "18093"
    server_process = subprocess.Popen(
        [sys.executable, "-m", "deploy", "serve", "jobs", "--port", port],
        cwd=ROOT,
        env=env(db_url, PASSPORT_JWKS=key.jwks, PGSTACK_ENV="test"),
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "deploy", "worker"],
        cwd=ROOT,
        env=env(db_url, WORKER_IMPORT_PATHS=bench_tasks.__name__, WORKER_CONCURRENCY="10"),
    )
    delays: list[float] = []
    try:
        user_id = make_user(db_url)
        passport = key.mint(user_id)  # checked when the stream opens; it stays open
        wait_ready(f"http://127.0.0.1:{port}/healthz", server_process)

        async def listen() -> None:
            async with (
                httpx.AsyncClient(timeout=None) as client,
                client.stream(
                    "GET",
                    f"http://127.0.0.1:{port}/v1/events",
                    headers={"Authorization": f"Bearer {passport}"},
                ) as response,
            ):
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        received = time.time()
                        data = json.loads(line[6:])
                        # Worker changes only: single-statement transactions, so updated_at
                        # (the transaction's start) is within a fraction of a ms of the commit.
                        if data.get("status") in ("running", "succeeded") and "updated_at" in data:
                            changed = data["updated_at"]
                            if isinstance(changed, (int, float)):
                                delays.append(received - changed / 1000)

        await warm_up(engine, db_url, user_id)
        listener = asyncio.create_task(listen())
        await asyncio.sleep(1)
        for _ in range(samples):
            async with AsyncSession(engine) as session:
                await jobs.enqueue(session, "bench:stamp", user_id, {})
                await session.commit()
            await asyncio.sleep(0.02)
        await asyncio.sleep(2)
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        return percentiles(delays)
    finally:
        stop([worker, server_process])
        await engine.dispose()
        drop_database(db_url)


async def main(n: int, concurrency: int, rounds: int) -> None:
    server = server_url()
    template_url = create_database(server, prefix="benchtemplate")
    migrate.upgrade(template_url)
    template = template_url.rpartition("/")[2]
    report("load_average_1_5_15", os.getloadavg())
    try:
        # Rounds alternate bare and pipeline, so a busy moment of the machine hits both.
        queuer, bare, pipeline, two, loud = [], [], [], [], []
        for round_ in range(1, rounds + 1):
            queuer.append(report(f"round {round_} pgqueuer", await pgqueuer_drain(server, n)))
            bare.append(report(f"round {round_} bare", await bare_drain(server, n, concurrency)))
            pipeline.append(
                report(
                    f"round {round_} pipeline",
                    await pipeline_drain(server, template, n, concurrency, workers=1),
                )
            )
            two.append(
                report(
                    f"round {round_} pipeline, 2 workers",
                    await pipeline_drain(server, template, n, concurrency, workers=2),
                )
            )
            loud.append(
                report(
                    f"round {round_} pipeline, every change announced",
                    await pipeline_drain(server, template, n, concurrency, 1, watch_all=True),
                )
            )
        medians = {
            name: {
                key: round(statistics.median(r[key] for r in runs), 3)
                for key in (
                    "jobs_per_s",
                    "cpu_ms_per_job",
                    "enqueue_per_s",
                    "commits_per_job",
                    "rows_per_job",
                    "wal_bytes_per_job",
                )
            }
            for name, runs in (
                ("pgqueuer", queuer),
                ("bare", bare),
                ("pipeline", pipeline),
                ("pipeline_2_workers", two),
                ("pipeline_every_change_announced", loud),
            )
        }
        report("median", medians)
        for name, runs in (("pipeline", pipeline), ("pipeline_2_workers", two)):
            report(
                f"ratio {name}/pgqueuer (jobs/s, median of the rounds' ratios)",
                round(
                    statistics.median(
                        p["jobs_per_s"] / q["jobs_per_s"] for p, q in zip(runs, queuer, strict=True)
                    ),
                    3,
                ),
            )
        report(
            "ratio pipeline/bare (jobs/s)",
            round(medians["pipeline"]["jobs_per_s"] / medians["bare"]["jobs_per_s"], 3),
        )
        report(
            "ratio bare/pipeline (CPU per job)",
            round(medians["bare"]["cpu_ms_per_job"] / medians["pipeline"]["cpu_ms_per_job"], 3),
        )
        report("enqueue_to_start", await start_latency(server, template, 300))
        report("change_to_sse", await sse_latency(server, template, 300))
        report("load_average_1_5_15", os.getloadavg())
    finally:
        drop_database(template_url)


def report(name: str, value: Any) -> Any:
    shown = value
    if isinstance(value, dict):
        shown = {
            k: round(v, 1) if isinstance(v, float) and k.endswith("_per_s") else v
            for k, v in value.items()
        }
    print(f"{name}: {shown}", flush=True)
    return value


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bare-worker":
        bare_worker(sys.argv[2], int(sys.argv[3]))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "pgqueuer-worker":
        pgqueuer_worker(sys.argv[2])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.concurrency, args.rounds))
