"""How the workers scale on one Postgres: 1, 2 and 4 `pgstack worker` processes, in one run.

    uv run python bench/scale.py [--jobs 3000] [--concurrency 10] [--samples 100] [--rounds 1]

Uses DATABASE_URL's server, else the embedded cluster under .pgstack/, in throwaway
databases. For each number of worker processes:
1. drain: N no-op jobs (with their `background_jobs` rows), half enqueued beforehand and half
   while the workers drain; jobs/s between the first start and the last finish
   (procrastinate_events); during the drain: the machine's CPU use, the CPU time per job of the
   workers and of their backends (and the workers' share of it), commits per second,
   and what the backends wait on (pg_stat_activity sampled every 20 ms), the NOTIFY queue's
   lock among them;
2. latency from an enqueue's COMMIT returning to the task's code starting, one job at a time,
   the workers idle (every idle worker is woken by each NOTIFY).
"""

import argparse
import asyncio
import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import job_service.tasks  # noqa: E402
from bench import bench_tasks  # noqa: E402
from bench.harness import cpu_seconds  # noqa: E402
from deploy import migrate  # noqa: E402
from deploy.embedded import EmbeddedPostgres  # noqa: E402
from shared import jobs  # noqa: E402
from shared.settings import plain_database_url, sqlalchemy_url  # noqa: E402

assert bench_tasks.stamp
assert job_service.tasks.noop


def server_url() -> str:
    url = os.environ.get("DATABASE_URL") or EmbeddedPostgres(ROOT / ".pgstack").start()
    base, _, _ = plain_database_url(url).rpartition("/")
    return f"{base}/postgres"


def create_database(server: str, template: str | None = None) -> str:
    name = f"pgstack_scale_{uuid.uuid4().hex[:10]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}'.encode())
    return f"{server.rpartition('/')[0]}/{name}"


def drop_database(url: str) -> None:
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def start_workers(db_url: str, count: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": db_url,
        "LOG_LEVEL": "WARNING",
        "WORKER_IMPORT_PATHS": bench_tasks.__name__,
        "WORKER_CONCURRENCY": str(concurrency),
    }
    processes = [
        subprocess.Popen([sys.executable, "-m", "deploy", "worker"], cwd=ROOT, env=env)
        for _ in range(count)
    ]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with psycopg.connect(db_url) as conn:
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
        if row and row[0] >= count:
            return processes
        time.sleep(0.05)
    raise TimeoutError("the workers did not register")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(60)


def make_user(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO users (email, hashed_password) VALUES (%s, 'x') RETURNING id",
            (f"scale-{uuid.uuid4().hex}@example.com",),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def enqueue(db_url: str, user_id: int, count: int) -> None:
    engine = create_async_engine(sqlalchemy_url(db_url))
    for offset in range(0, count, 100):
        async with AsyncSession(engine) as session:
            batch = [{"i": i} for i in range(offset, min(count, offset + 100))]
            await jobs.enqueue_many(session, "jobs:noop", user_id, batch)
            await session.commit()
    await engine.dispose()


class WaitSampler(threading.Thread):
    """What the database's backends wait on, every 20 ms, until stopped."""

    QUERY = """
        SELECT a.wait_event_type, a.wait_event,
               EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted
                       AND l.locktype = 'object' AND l.classid = 'pg_database'::regclass
                       AND l.objid = 0) AS notify_lock
        FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
          AND a.state = 'active'
    """

    def __init__(self, db_url: str) -> None:
        super().__init__(daemon=True)
        self.db_url = db_url
        self.stopping = threading.Event()
        self.samples = 0
        self.active = 0
        self.waits: collections.Counter[str] = collections.Counter()

    def run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while not self.stopping.is_set():
                rows = conn.execute(self.QUERY).fetchall()
                self.samples += 1
                for kind, event, notify_lock in rows:
                    self.active += 1
                    name = "NOTIFY queue lock" if notify_lock else f"{kind or 'CPU'}:{event or '-'}"
                    self.waits[name] += 1
                time.sleep(0.02)

    def report(self) -> dict[str, Any]:
        per_sample = self.active / max(1, self.samples)
        return {
            "active_backends_avg": round(per_sample, 2),
            # Of the active backends' time, the share in each state (CPU: not waiting).
            "active_time_share": {
                name: round(count / max(1, self.active), 3)
                for name, count in self.waits.most_common(6)
            },
        }


def commits(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def wait_done(db_url: str, task: str, count: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s"
                " AND status = 'succeeded'",
                (task,),
            ).fetchone()
        if row and row[0] >= count:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{task}: {count} jobs not done within {timeout} s")


async def drain(
    server: str, template: str, workers: int, n: int, concurrency: int
) -> dict[str, Any]:
    db_url = create_database(server, template)
    try:
        user_id = make_user(db_url)
        await enqueue(db_url, user_id, n // 2)
        processes = start_workers(db_url, workers, concurrency)
        sampler = WaitSampler(db_url)
        try:
            psutil.cpu_percent()  # starts the machine-wide measurement interval
            commits_before = commits(db_url)
            sampler.start()
            cpu_before = cpu_seconds(db_url, processes)
            # The other half arrives while the workers drain: enqueue commits (each with its
            # NOTIFY) contend with the workers' commits, as in production.
            await enqueue(db_url, user_id, n - n // 2)
            await asyncio.to_thread(wait_done, db_url, "jobs:noop", n)
            cpu_after = cpu_seconds(db_url, processes)
            machine_cpu = psutil.cpu_percent()
        finally:
            sampler.stopping.set()
            stop(processes)
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                """
                SELECT count(*) FILTER (WHERE e.type = 'succeeded'),
                       extract(epoch FROM max(e.at) FILTER (WHERE e.type = 'succeeded')
                                         - min(e.at) FILTER (WHERE e.type = 'started'))
                FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id
                WHERE j.task_name = 'jobs:noop'
                """
            ).fetchone()
        assert row is not None
        done, seconds = row
        assert done == n, f"{done} of {n}"
        sampler.join()
        worker_pids = {p.pid for p in processes}
        used = {pid: v - cpu_before.get(pid, 0.0) for pid, v in cpu_after.items()}
        cpu = sum(used.values())
        cpu_workers = sum(v for pid, v in used.items() if pid in worker_pids)
        rate = done / float(seconds)
        # Jobs run from registration on, so a few commits before `commits_before` are missed.
        per_job = (commits(db_url) - commits_before) / n
        return {
            "jobs_per_s": round(rate, 1),
            "cpu_ms_per_job": round(cpu * 1000 / n, 2),
            "of_which_workers_ms": round(cpu_workers * 1000 / n, 2),
            "machine_cpu_percent": machine_cpu,
            "machine_load_1m": round(os.getloadavg()[0], 1),
            "commits_per_job": round(per_job, 2),
            "commits_per_s": round(per_job * rate, 1),
            **sampler.report(),
        }
    finally:
        drop_database(db_url)


async def latency(
    server: str, template: str, workers: int, samples: int, concurrency: int
) -> dict[str, float]:
    db_url = create_database(server, template)
    engine = create_async_engine(sqlalchemy_url(db_url))
    processes = start_workers(db_url, workers, concurrency)
    try:
        user_id = make_user(db_url)
        committed: dict[uuid.UUID, float] = {}
        for index in range(samples + 5):
            async with AsyncSession(engine, expire_on_commit=False) as session:
                job = await jobs.enqueue(session, "bench:stamp", user_id, {})
                await session.commit()
            if index >= 5:  # the first few warm the workers' pools up
                committed[job.id] = time.time()
            await asyncio.sleep(0.03)
        wait_done(db_url, "bench:stamp", samples + 5)
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT id, result FROM background_jobs WHERE kind = 'bench:stamp'"
            ).fetchall()
        delays = sorted(float(r) - committed[i] for i, r in rows if i in committed)
        return {
            "p50_ms": round(statistics.median(delays) * 1000, 2),
            "p99_ms": round(delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000, 2),
        }
    finally:
        stop(processes)
        await engine.dispose()
        drop_database(db_url)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    # Rounds interleave the worker counts (1, 2, 4, 1, 2, 4, ...), so a busy spell of a shared
    # machine does not fall on one count only; the summary takes each count's median.
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    server = server_url()
    template_url = create_database(server)
    try:
        migrate.upgrade(template_url)
        template = template_url.rpartition("/")[2]
        print(f"machine: {psutil.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
        counts = [int(w) for w in args.workers.split(",")]
        rates: dict[int, list[float]] = {w: [] for w in counts}
        for round_ in range(1, args.rounds + 1):
            for workers in counts:
                result = {
                    "drain": await drain(server, template, workers, args.jobs, args.concurrency),
                    "enqueue_to_start": await latency(
                        server, template, workers, args.samples, args.concurrency
                    ),
                }
                rates[workers].append(result["drain"]["jobs_per_s"])
                print(json.dumps({"round": round_, "workers": workers, **result}), flush=True)
        medians = {w: statistics.median(r) for w, r in rates.items()}
        base = medians[counts[0]]
        print(
            f"median jobs/s (vs {counts[0]} worker): "
            + ", ".join(f"{w}: {m:.0f} ({m / base:.2f}x)" for w, m in medians.items()),
            flush=True,
        )
    finally:
        drop_database(template_url)


if __name__ == "__main__":
    asyncio.run(main())
