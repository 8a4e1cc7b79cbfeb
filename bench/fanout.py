"""Benchmark: one job watched by 1,000 SSE streams of one job_service process.

One uvicorn process serves job_service as `pgstack serve jobs` builds it, on a fresh migrated
database. Client processes (uvloop) open `--streams` streams of one job; this process changes
the job's progress (an UPDATE: its trigger logs, versions and announces it) at a fixed rate.
Each event carries the change's time (`updated_at`, epoch ms), so each client measures its own
delivery latency; the figure that matters is the last stream's: for each change, the latency
of the stream that received it last.

1. `--seconds` at 1 change a second: the last stream's p50 / p99 over the changes, and the
   collector's pauses in the server (gc.callbacks, read from the process by a route of the
   benchmark's own).
2. Rising rates (`--rates`, changes a second, each `--step-seconds`): events delivered a
   second, the last stream's p50 / p99, and the server's CPU per event. The process keeps up
   while the p99 stays flat; past its capacity the latency grows with every second.

    .venv/bin/python bench/fanout.py [--streams 1000] [--seconds 30] [--rates 10,20,30,40]

`--gc-default` runs the server with CPython's collector settings instead of the services'
(`deploy/services.py`), to show what those are for.
"""

import argparse
import asyncio
import gc
import multiprocessing
import os
import re
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from bench import harness  # noqa: E402
from tests.kit.passports import PassportKey  # noqa: E402
from tests.kit.users import make_user  # noqa: E402

KEY = PassportKey()
CLIENT_PROCESSES = 2
_VERSION = re.compile(rb'"version": (\d+)')
_UPDATED_AT = re.compile(rb'"updated_at": ([\d.]+)')


# The server ------------------------------------------------------------------------------


def create_measured_app() -> FastAPI:
    """job_service as `pgstack serve jobs` builds it, plus the collector's pauses at
    /bench/gc (every collection's generation and duration once the app is built)."""
    from deploy import services

    pauses: list[tuple[int, float]] = []
    started: list[float] = []

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses.append((info["generation"], time.perf_counter() - started.pop()))

    if os.environ.get("BENCH_GC_DEFAULT") == "1":
        from deploy.tasks import create_job_service

        app = create_job_service()
    else:
        app = services.create_jobs()
    gc.callbacks.append(timed)  # from here on: the start-up's own collection is no pause

    @app.get("/bench/gc")
    async def collections() -> list[tuple[int, float]]:
        return pauses

    return app


# The clients -----------------------------------------------------------------------------


class Stream(asyncio.Protocol):
    """One SSE stream: each event's (version, latency ms) as it arrives."""

    def __init__(self, request: bytes, received: list[tuple[int, float]]) -> None:
        self.request = request
        self.received = received
        self.buffer = b""
        self.opened = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no subclass of asyncio's, but write alike.
        cast(asyncio.WriteTransport, transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        now_ms = time.time() * 1000
        self.buffer += data
        *events, self.buffer = self.buffer.split(b"\n\n")
        for event in events:
            if not self.opened.done():
                self.opened.set_result(None)
            version, at = _VERSION.search(event), _UPDATED_AT.search(event)
            if version and at:
                self.received.append((int(version[1]), now_ms - float(at[1])))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"the stream closed: {self.buffer[:300]!r}"))


def run_clients(port: int, path: str, header: str, streams: int, results: Any) -> None:
    """A client process: `streams` streams, until told to stop; then what each received."""
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        request = (
            f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n"
            f"{header}\r\n\r\n"
        ).encode()
        received: list[tuple[int, float]] = []
        opened = []
        for _ in range(streams):
            _, stream = await loop.create_connection(
                lambda: Stream(request, received), "127.0.0.1", port
            )
            opened.append(stream.opened)
        await asyncio.gather(*opened)
        results.put(("open", None))
        # Told to stop by the parent closing our stdin's pipe: a line on a queue.
        await loop.run_in_executor(None, results_stop.get)
        results.put(("received", received))

    results_stop = results.stop
    uvloop.run(main())


class Clients:
    """`CLIENT_PROCESSES` processes sharing the streams."""

    def __init__(self, port: int, path: str, header: str, streams: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.stops = [context.Queue() for _ in range(CLIENT_PROCESSES)]
        self.processes = []
        for index in range(CLIENT_PROCESSES):
            share = streams // CLIENT_PROCESSES + (index < streams % CLIENT_PROCESSES)
            results = _Results(self.queue, self.stops[index])
            process = context.Process(
                target=run_clients, args=(port, path, header, share, results), daemon=True
            )
            process.start()
            self.processes.append(process)
        for _ in self.processes:
            kind, _ = self.queue.get(timeout=120)
            assert kind == "open"

    def stop(self) -> list[list[tuple[int, float]]]:
        """What each stream process received (version, latency ms)."""
        for stop in self.stops:
            stop.put(None)
        received = []
        for _ in self.processes:
            kind, items = self.queue.get(timeout=120)
            assert kind == "received"
            received.append(items)
        for process in self.processes:
            process.join(timeout=30)
        return received


class _Results:
    def __init__(self, queue: Any, stop: Any) -> None:
        self.queue, self.stop = queue, stop

    def put(self, item: Any) -> None:
        self.queue.put(item)


# The changes -----------------------------------------------------------------------------


def change_at(db_url: str, job_id: uuid.UUID, rate: float, seconds: float) -> list[int]:
    """Change the job's progress `rate` times a second for `seconds`; the versions made."""
    versions = []
    with psycopg.connect(db_url, autocommit=True) as conn:
        start = time.monotonic()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            row = conn.execute(
                "UPDATE background_jobs SET progress_percent = %s, progress_message = %s"
                " WHERE id = %s RETURNING version",
                (n % 100, f"step {n}", job_id),
            ).fetchone()
            assert row is not None
            versions.append(int(row[0]))
    return versions


def last_stream_latencies(
    received: list[list[tuple[int, float]]], versions: list[int], streams: int
) -> tuple[list[float], int]:
    """Per change, the latency of the stream that received it last (changes some stream
    never received are left out); and how many deliveries there were."""
    wanted = set(versions)
    by_version: dict[int, list[float]] = defaultdict(list)
    for items in received:
        for version, latency in items:
            if version in wanted:
                by_version[version].append(latency)
    delivered = sum(len(v) for v in by_version.values())
    complete = [max(v) for v in by_version.values() if len(v) == streams]
    return complete, delivered


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30, help="the 1 change/s phase")
    parser.add_argument("--rates", default="10,20,30,40", help="changes a second, in turn")
    parser.add_argument("--step-seconds", type=int, default=10)
    parser.add_argument("--gc-default", action="store_true", help="CPython's collector settings")
    args = parser.parse_args()

    with harness.migrated_database() as db_url:
        user_id = make_user(db_url)
        with psycopg.connect(db_url, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO background_jobs (kind, user_id, args, status)"
                " VALUES ('bench:watched', %s, '{}', 'running') RETURNING id",
                (user_id,),
            ).fetchone()
        assert row is not None
        job_id = row[0]
        env = {
            "DATABASE_URL": db_url,
            "PASSPORT_JWKS": KEY.jwks,
            "PGSTACK_ENV": "test",
            "JOBS_READY_WITHOUT_WORKERS": "true",
            "JOBS_MAX_STREAMS_PER_USER": str(args.streams),
            "BENCH_GC_DEFAULT": "1" if args.gc_default else "0",
        }
        with harness.uvicorn_server("bench.fanout:create_measured_app", env, ready="/healthz") as (
            base,
            server,
        ):
            port = int(base.rpartition(":")[2])
            header = f"authorization: Bearer {KEY.mint(user_id)}"
            clients = Clients(port, f"/v1/jobs/{job_id}/events", header, args.streams)
            process = psutil.Process(server.pid)
            phases: list[tuple[str, float, list[int], float, float]] = []
            for rate in [1.0, *(float(r) for r in args.rates.split(","))]:
                seconds = args.seconds if rate == 1.0 else args.step_seconds
                cpu = sum(process.cpu_times()[:2])
                versions = change_at(db_url, job_id, rate, seconds)
                time.sleep(2)  # the last change's deliveries
                used = sum(process.cpu_times()[:2]) - cpu
                phases.append((f"{rate:g}/s", rate, versions, used, os.getloadavg()[0]))
            pauses = httpx.get(f"{base}/bench/gc", timeout=30).json()
            received = clients.stop()

    print(
        f"\n{args.streams} streams of one job, {CLIENT_PROCESSES} client processes, 1 uvicorn"
        f" worker, {os.cpu_count()} CPUs shared with the clients and Postgres,"
        f" collector: {'CPython defaults' if args.gc_default else 'deploy/services.py'}"
    )
    print(
        f"{'changes':>8}{'events/s':>10}{'delivered':>10}{'last p50 ms':>13}{'last p99 ms':>13}"
        f"{'CPU us/event':>14}{'load':>6}"
    )
    for name, rate, versions, used, load in phases:
        seconds = len(versions) / rate
        last, delivered = last_stream_latencies(received, versions, args.streams)
        expected = len(versions) * args.streams
        print(
            f"{name:>8}{delivered / seconds:>10.0f}{delivered / expected:>10.1%}"
            f"{percentile(last, 0.5):>13.1f}{percentile(last, 0.99):>13.1f}"
            f"{used / max(delivered, 1) * 1e6:>14.1f}{load:>6.1f}"
        )
    full = [seconds for generation, seconds in pauses if generation == 2]
    print(
        f"collections: {len(pauses)}, of which full {len(full)};"
        f" longest {max((s for _, s in pauses), default=0) * 1000:.1f} ms,"
        f" longest full {max(full, default=0) * 1000:.1f} ms,"
        f" total {sum(s for _, s in pauses) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
