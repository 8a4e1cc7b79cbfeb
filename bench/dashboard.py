"""Benchmark: GET /v1/dashboard for a user with demo data (4 platforms, 360 metric rows).

One uvicorn process (1 worker, as `pgstack serve demo` runs it) on a fresh migrated database;
the demo data is made the real way (POST /v1/demo/enable, then the worker). The load comes from
`wrk` in another process (apt-get install wrk), 50 connections; `/healthz` of the same process
is measured too, as the machine's baseline at that moment (other work shares its CPUs).

SQL per request is counted in-process from libpq's protocol trace of the app's read pool (each
Execute or simple Query sent is a statement, each Sync or simple Query a round trip; BEGIN and
COMMIT would show as more) plus any statement through the ORM engine (before_cursor_execute).

    .venv/bin/python bench/dashboard.py [--duration 10] [--connections 50] [--rounds 2]

Measured here (2 cores shared with three other engineers' work, 28 Nov 2026, load ~2): the
dashboard 3,200-3,800 req/s, p50 13-15 ms, p99 71-107 ms (healthz at the same time: 9,300-10,300
req/s, p99 63-79 ms); 0.26-0.30 ms of server CPU per request; 1 statement, 1 round trip.
Under load ~6: 1,300-2,000 req/s, p50 16-29 ms, p99 190-320 ms.
"""

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from demo_service.app import create_app  # noqa: E402
from demo_service.config import Settings  # noqa: E402
from tests.kit.passports import PassportKey  # noqa: E402
from tests.kit.servers import serving  # noqa: E402
from tests.kit.users import make_user  # noqa: E402
from tests.kit.waiting import eventually  # noqa: E402
from tests.kit.workers import running_worker  # noqa: E402

DASHBOARD = "/v1/dashboard"
FRONTEND_MESSAGE = re.compile(r"F\t\d+\t(\w+)")
BASELINE = "/healthz"
KEY = PassportKey()


def bearer(user_id: int) -> str:
    """wrk's header: a passport as auth_service mints it (60 s, the most it allows)."""
    return f"Authorization: Bearer {KEY.mint(user_id)}"


async def seed(db_url: str) -> int:
    """A user whose demo mode was enabled through the API and the real worker."""
    user_id = make_user(db_url, name="Bench User")
    os.environ["DEMO_STEP_DELAY"] = "0"  # read by the tasks, in this process's worker
    app = create_app(Settings(DATABASE_URL=db_url, PASSPORT_JWKS=KEY.jwks))
    async with running_worker(db_url), serving(app) as client:
        headers = KEY.headers(user_id)
        (await client.post("/v1/demo/enable", headers=headers)).raise_for_status()

        async def enabled() -> bool:
            return not (await client.get(DASHBOARD, headers=headers)).json()["active_jobs"]

        await eventually(enabled, within=60, every=0.1, what="demo mode enabled")
    return user_id


class TracedPool:
    """The app's read pool, writing what its connections send to `sink` (libpq's trace)."""

    def __init__(self, pool: Any, sink: Any) -> None:
        self.pool, self.sink = pool, sink

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        from psycopg import pq

        async with self.pool.connection() as conn:
            conn.pgconn.trace(self.sink.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                yield conn
            finally:
                conn.pgconn.untrace()


async def count_sql(db_url: str, user_id: int, requests: int = 100) -> dict[str, Any]:
    """Statements and protocol round trips per dashboard request, and the body's size."""
    from sqlalchemy import event

    app = create_app(Settings(DATABASE_URL=db_url, PASSPORT_JWKS=KEY.jwks))
    orm_statements = 0

    def statement(*args: Any) -> None:
        nonlocal orm_statements
        orm_statements += 1

    with tempfile.TemporaryFile("w+") as sink:
        async with serving(app) as client:
            headers = KEY.headers(user_id)
            warm = await client.get(DASHBOARD, headers=headers)
            warm.raise_for_status()
            event.listen(app.state.engine.sync_engine, "before_cursor_execute", statement)
            app.state.read_pool = TracedPool(app.state.read_pool, sink)
            for _ in range(requests):
                (await client.get(DASHBOARD, headers=headers)).raise_for_status()
            app.state.read_pool = app.state.read_pool.pool
        sink.seek(0)
        # A message is "F<tab>length<tab>type ..."; the SQL it carries may span lines (one
        # starting "FROM" is no message).
        sent = [m[1] for line in sink if (m := FRONTEND_MESSAGE.match(line))]
    return {
        "statements": (orm_statements + sum(m in ("Execute", "Query") for m in sent)) / requests,
        "round_trips": sum(m in ("Sync", "Query") for m in sent) / requests,
        "bytes": len(warm.content),
        "platforms": len(warm.json()["platforms"]),
    }


def sessions_opened(db_url: str) -> int:
    """Connections ever opened to the database (pg_stat_database.sessions, Postgres 14+)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def server_cpu(process: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    import psutil

    times = psutil.Process(process.pid).cpu_times()
    return float(times.user + times.system)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    harness.load_arguments(parser)
    parser.add_argument("--pool-size", type=int, default=10, help="DB_POOL_SIZE of the server")
    args = parser.parse_args()
    harness.require_wrk("bench/dashboard.py")

    with harness.migrated_database() as db_url:
        user_id = asyncio.run(seed(db_url))
        sql = asyncio.run(count_sql(db_url, user_id))
        env = {
            "DATABASE_URL": db_url,
            "DB_POOL_SIZE": str(args.pool_size),
            "PASSPORT_JWKS": KEY.jwks,
            "PGSTACK_ENV": "test",
        }
        with harness.uvicorn_server("demo_service.app:create_app", env, ready="/readyz") as (
            base,
            server,
        ):
            results: dict[str, list[dict[str, float]]] = {BASELINE: [], DASHBOARD: []}
            for path in (BASELINE, DASHBOARD):  # warm-up: connections, caches, prepared plans
                harness.wrk(
                    base + path, header=bearer(user_id), duration=3, connections=args.connections
                )
            for _ in range(args.rounds):
                for path in (BASELINE, DASHBOARD):
                    # A fresh passport per run: one lives 60 s, as auth_service mints them.
                    opened = sessions_opened(db_url)
                    cpu = server_cpu(server)
                    run = harness.wrk(
                        base + path,
                        header=bearer(user_id),
                        duration=args.duration,
                        connections=args.connections,
                    )
                    run["connects"] = sessions_opened(db_url) - opened - 1  # minus our own
                    cpu_ms = (server_cpu(server) - cpu) * 1000 / (run["rps"] * args.duration)
                    run["cpu_ms"] = cpu_ms
                    results[path].append(run)

    print(
        f"\n{args.connections} connections, {args.duration} s x {args.rounds} rounds,"
        f" 1 uvicorn worker, DB_POOL_SIZE={args.pool_size},"
        f" {os.cpu_count()} CPUs (shared with wrk and Postgres)"
    )
    print(
        f"dashboard: {sql['platforms']} platforms, {sql['bytes']} bytes;"
        f" per request {sql['statements']:g} SQL statement(s), {sql['round_trips']:g} round trip(s)"
    )
    print(
        f"{'endpoint':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'server CPU ms/req':>19}{'db connects':>13}"
    )
    for path, runs in results.items():
        for run in runs:
            print(
                f"{path:<16}{run['rps']:>10.0f}{run['p50_ms']:>10.2f}{run['p99_ms']:>10.2f}"
                f"{run['cpu_ms']:>19.3f}{run['connects']:>13.0f}"
            )


if __name__ == "__main__":
    main()
