"""Benchmark of durable steps and per-user fairness, in one run on this machine.

    uv run python bench/durable.py [--jobs 2000] [--rounds 3]

Uses DATABASE_URL's server, else the embedded cluster under .pgstack/, in throwaway
databases; one `pgstack worker` process of concurrency 10 unless said. Measures:
1. the cost of a step: 100 jobs of 10 no-op steps against 1,000 jobs of one no-op step, the
   same 1,000 steps, drained by one worker: ms per step of each (drain time / steps) and their
   ratio (a step of a 10-step job shares its job's fetch and bookkeeping; a one-step job pays
   them alone);
2. fairness under skew (JOBS_MAX_ACTIVE_PER_USER=4): nine users enqueue 10 no-op jobs each,
   alone, then behind one user's 1,000 (enqueued first), with the cap and without it: the
   nine's p95 wait (a job's start minus its enqueue) against their wait alone, and the total
   jobs/s (first start .. last finish) with the cap against without;
3. the pipeline (steps and fairness in place) against bare Procrastinate, bench/jobs.py's
   drain (the pipeline's jobs spread over 10 users, each capped at 4 running), in alternating
   rounds (the machine's speed drifts between drains): jobs/s, each round's ratio and their
   median.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import job_service.tasks  # noqa: E402
from bench import durable_tasks  # noqa: E402
from bench.harness import server_url  # noqa: E402
from bench.jobs import (  # noqa: E402
    bare_drain,
    env,
    pipeline_drain,
    report,
    stop,
    wait_registered,
)
from deploy import migrate  # noqa: E402
from shared import jobs  # noqa: E402
from shared.settings import sqlalchemy_url  # noqa: E402
from tests.kit.databases import create_database, drop_database  # noqa: E402
from tests.kit.users import make_user  # noqa: E402
from tests.kit.waiting import wait_for  # noqa: E402

assert job_service.tasks.noop
CAP = 4
CONCURRENCY = 10


def worker(db_url: str, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "deploy", "worker"],
        cwd=ROOT,
        env=env(
            db_url,
            WORKER_IMPORT_PATHS=durable_tasks.__name__,
            WORKER_CONCURRENCY=str(CONCURRENCY),
            **extra,
        ),
    )


async def enqueue(db_url: str, kind: str, user_id: int, args: list[dict[str, Any]]) -> None:
    engine = create_async_engine(sqlalchemy_url(db_url))
    try:
        for offset in range(0, len(args), 100):
            async with AsyncSession(engine) as session:
                await jobs.enqueue_many(session, kind, user_id, args[offset : offset + 100])
                await session.commit()
    finally:
        await engine.dispose()


def query(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql.encode(), params).fetchall()


def wait_done(db_url: str, count: int) -> None:
    def done() -> bool:
        [(n,)] = query(db_url, "SELECT count(*) FROM background_jobs WHERE status = 'succeeded'")
        return bool(n >= count)

    wait_for(done, within=900, every=0.2, what=f"{count} jobs succeeded")


def drain_seconds(db_url: str) -> float:
    [(seconds,)] = query(
        db_url,
        "SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM background_jobs",
    )
    return float(seconds)


async def step_cost(server: str, template: str) -> dict[str, float]:
    figures = {}
    for name, jobs_count, steps in (("10_step_jobs", 100, 10), ("1_step_jobs", 1000, 1)):
        db_url = create_database(server, template=template, prefix="bench")
        try:
            user_id = make_user(db_url)
            # The cap off: the cost of a step, not of fairness.
            os.environ["JOBS_MAX_ACTIVE_PER_USER"] = "0"
            await enqueue(db_url, "durable_bench:steps", user_id, [{"count": steps}] * jobs_count)
            process = worker(db_url)
            try:
                wait_registered(db_url, 1)
                wait_done(db_url, jobs_count)
            finally:
                stop([process])
            figures[f"{name}_ms_per_step"] = round(
                drain_seconds(db_url) * 1000 / (jobs_count * steps), 3
            )
        finally:
            drop_database(db_url)
    figures["ratio_10_step/1_step"] = round(
        figures["10_step_jobs_ms_per_step"] / figures["1_step_jobs_ms_per_step"], 3
    )
    return figures


async def skew(server: str, template: str, *, heavy: int, cap: int) -> dict[str, float]:
    """Nine users of 10 no-op jobs, behind `heavy` jobs of one user (0: none), under `cap`."""
    db_url = create_database(server, template=template, prefix="bench")
    try:
        os.environ["JOBS_MAX_ACTIVE_PER_USER"] = str(cap)
        heavy_user = make_user(db_url)
        light_users = [make_user(db_url) for _ in range(9)]
        process = worker(db_url)
        try:
            wait_registered(db_url, 1)
            if heavy:
                await enqueue(db_url, "jobs:noop", heavy_user, [{}] * heavy)
            for user_id in light_users:
                await enqueue(db_url, "jobs:noop", user_id, [{}] * 10)
            wait_done(db_url, heavy + 90)
        finally:
            stop([process])
        waits = sorted(
            float(wait)
            for (wait,) in query(
                db_url,
                "SELECT extract(epoch FROM started_at - created_at) FROM background_jobs"
                " WHERE user_id = ANY(%s)",
                light_users,
            )
        )
        return {
            "nine_p95_wait_ms": round(waits[int(len(waits) * 0.95) - 1] * 1000, 1),
            "nine_median_wait_ms": round(statistics.median(waits) * 1000, 1),
            "jobs_per_s": round((heavy + 90) / drain_seconds(db_url), 1),
        }
    finally:
        drop_database(db_url)


async def main(n: int, rounds: int) -> None:
    server = server_url()
    template_url = create_database(server, prefix="benchtemplate")
    migrate.upgrade(template_url)
    template = template_url.rpartition("/")[2]
    report("load_average_1_5_15", os.getloadavg())
    try:
        report("step cost", await step_cost(server, template))

        alone = report("skew: the nine alone", await skew(server, template, heavy=0, cap=CAP))
        capped = report(
            f"skew: behind 1,000, cap {CAP}", await skew(server, template, heavy=1000, cap=CAP)
        )
        uncapped = report(
            "skew: behind 1,000, no cap", await skew(server, template, heavy=1000, cap=0)
        )
        report(
            "ratio nine's p95 wait, cap / alone (goal <= 2)",
            round(capped["nine_p95_wait_ms"] / alone["nine_p95_wait_ms"], 2),
        )
        report(
            "ratio nine's p95 wait, no cap / alone",
            round(uncapped["nine_p95_wait_ms"] / alone["nine_p95_wait_ms"], 2),
        )
        report(
            "ratio throughput, cap / no cap (goal >= 0.8)",
            round(capped["jobs_per_s"] / uncapped["jobs_per_s"], 3),
        )

        os.environ["JOBS_MAX_ACTIVE_PER_USER"] = str(CAP)
        ratios = []
        for round_ in range(1, rounds + 1):
            bare = report(f"round {round_} bare", await bare_drain(server, n, CONCURRENCY))
            pipeline = report(
                f"round {round_} pipeline",
                await pipeline_drain(server, template, n, CONCURRENCY, workers=1),
            )
            ratios.append(round(pipeline["jobs_per_s"] / bare["jobs_per_s"], 3))
        report("ratios pipeline/bare by round", ratios)
        report("median ratio pipeline/bare (jobs/s, goal >= 1.2)", statistics.median(ratios))
        report("load_average_1_5_15", os.getloadavg())
    finally:
        drop_database(template_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating drains of part 3")
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.rounds))
