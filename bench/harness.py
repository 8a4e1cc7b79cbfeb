"""What the benchmarks share: the database server, a uvicorn process serving an app, and `wrk`
driving load at it (apt-get install wrk) with its figures parsed."""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import psycopg

from deploy import migrate
from deploy.embedded import EmbeddedPostgres
from shared.settings import plain_database_url
from tests.kit.databases import create_database, database_url, drop_database
from tests.kit.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent


def server_url() -> str:
    """The maintenance database of DATABASE_URL's server, else of the embedded cluster."""
    url = os.environ.get("DATABASE_URL") or EmbeddedPostgres(ROOT / ".pgstack").start()
    return database_url(plain_database_url(url), "postgres")


@contextmanager
def migrated_database() -> Iterator[str]:
    """A throwaway database at the schema's head for one run; its URL."""
    db_url = create_database(server_url(), prefix="bench")
    try:
        migrate.upgrade(db_url)
        yield db_url
    finally:
        drop_database(db_url)


def load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every wrk benchmark."""
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per endpoint")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_wrk(benchmark: str) -> None:
    if shutil.which("wrk") is None:
        sys.exit(f"{benchmark} needs wrk: apt-get install wrk")


def start_uvicorn(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One uvicorn process (1 worker, as `pgstack serve` runs it) serving `factory()`, with
    `env` over this process's environment. Per-request INFO access logs would be a large
    part of a fast endpoint's cost: LOG_LEVEL is WARNING unless `env` says otherwise."""
    code = (
        f"import uvicorn; uvicorn.run({factory!r}, factory=True,"
        f" host='127.0.0.1', port={port}, workers=1, log_config=None)"
    )
    full_env = {**os.environ, "LOG_LEVEL": "WARNING", **env}
    return subprocess.Popen([sys.executable, "-c", code], env=full_env, cwd=ROOT)


@contextmanager
def uvicorn_server(
    factory: str, env: dict[str, str], *, ready: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`start_uvicorn` on a free port until the block ends, once `ready` (a path) answers
    200; its base URL and process."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_uvicorn(factory, port, env)
    try:
        wait_ready(base + ready, server)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=15)


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    """Until `url` answers 200 (RuntimeError if the server exits first)."""

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    # Generous: on a busy 2-core machine the imports alone can take tens of seconds.
    wait_for(ready, within=90, every=0.1, what=f"{url} ready")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, *, header: str, duration: int, connections: int) -> dict[str, float]:
    """Requests/s and p50/p99 latency (ms) of `wrk` on `url`, each request sending `header`;
    RuntimeError if any request failed."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-H", header, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"errors under load:\n{output}")

    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        assert match, output
        return float(match[1]) * _UNITS[match[2]]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rps, output
    return {"rps": float(rps[1]), "p50_ms": latency("50"), "p99_ms": latency("99")}


def cpu_seconds(db_url: str, processes: list[subprocess.Popen[bytes]]) -> dict[int, float]:
    """CPU time used so far by the worker processes and by every Postgres backend serving
    this database, by pid: the cost of the drain, whatever else the machine is doing."""
    database = db_url.rpartition("/")[2]
    with psycopg.connect(db_url) as conn:
        pids = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
        ]
    used = {}
    for pid in [*pids, *(p.pid for p in processes)]:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[pid] = times.user + times.system
    return used


class Collector:
    """A trace collector on loopback that takes OTLP/HTTP exports and counts their spans."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._spans = 0
        self._lock = threading.Lock()

    def received(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest.FromString(body)
        count = sum(
            len(scope.spans)
            for resource in request.resource_spans
            for scope in resource.scope_spans
        )
        with self._lock:
            self._spans += count

    def spans(self) -> int:
        with self._lock:
            return self._spans


@contextmanager
def otlp_collector() -> Iterator[Collector]:
    """A `Collector` on a free port until the block ends (OTEL_EXPORTER_OTLP_ENDPOINT: its url)."""
    port = free_port()
    collector = Collector(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            collector.received(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per export would drown the report

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
