"""Benchmark: GET /v1/session (cookie -> session read -> Ed25519 passport) against a
constant-JSON endpoint served by the same process, with the same settings and middleware.

One uvicorn process (1 worker, as `pgstack serve` runs it) on a fresh migrated database;
the load comes from `wrk` in another process (apt-get install wrk), 50 connections.

    .venv/bin/python bench/session.py [--duration 10] [--connections 50] [--rounds 2]

Prints median and p99 latency and throughput for both endpoints and the ratio session/constant.
`--no-cache` measures the session check without the in-memory session rows (one indexed
read per check) instead of with them (no query between revocations).
"""

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

EMAIL = "bench@example.com"
PASSWORD = "benchmark password"
CONSTANT = "/bench/constant"  # bench/overhead.py adds it to auth_service, tried first
SESSION = "/v1/session"


def log_in(base: str) -> str:
    headers = {"sec-fetch-site": "same-origin"}
    with httpx.Client(base_url=base, headers=headers) as client:
        client.post("/v1/users", json={"email": EMAIL, "password": PASSWORD})
        response = client.post("/v1/session", json={"email": EMAIL, "password": PASSWORD})
        response.raise_for_status()
        cookie = response.headers["set-cookie"].partition(";")[0]
        check = client.get(SESSION, headers={"cookie": cookie})
        check.raise_for_status()
        return cookie


def _installed(module: str) -> str:
    # uvicorn's defaults (loop="auto", http="auto") use them whenever they are importable.
    return "yes" if importlib.util.find_spec(module) else "no"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.load_arguments(parser)
    parser.add_argument(
        "--no-cache", action="store_true", help="AUTH_SESSION_CACHE_TTL=0: read every session"
    )
    args = parser.parse_args()
    harness.require_wrk("bench/session.py")
    env = {
        "PGSTACK_ENV": "test",
        # 0 turns the in-memory session rows off: every check is then one indexed read.
        "AUTH_SESSION_CACHE_TTL": "0" if args.no_cache else "60",
    }

    with (
        harness.migrated_database() as db_url,
        harness.uvicorn_server(
            "bench.overhead:create_auth_app", {**env, "DATABASE_URL": db_url}, ready="/healthz"
        ) as (base, _),
    ):
        header = f"cookie: {log_in(base)}"
        for path in (CONSTANT, SESSION):  # warm-up: connections, caches, JIT-free but fair
            harness.wrk(base + path, header=header, duration=3, connections=args.connections)
        results: dict[str, list[dict[str, float]]] = {CONSTANT: [], SESSION: []}
        for _ in range(args.rounds):
            for path in (CONSTANT, SESSION):
                results[path].append(
                    harness.wrk(
                        base + path,
                        header=header,
                        duration=args.duration,
                        connections=args.connections,
                    )
                )

    print(
        f"\n{args.connections} connections, {args.duration} s x {args.rounds} rounds,"
        f" 1 uvicorn worker, {os.cpu_count()} CPUs (shared with wrk and Postgres),"
        f" session cache {'off' if args.no_cache else 'on'},"
        f" uvloop {_installed('uvloop')}, httptools {_installed('httptools')}"
    )
    print(f"{'endpoint':<18}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    best = {}
    for path, runs in results.items():
        best[path] = max(runs, key=lambda run: run["rps"])
        for run in runs:
            print(f"{path:<18}{run['rps']:>10.0f}{run['p50_ms']:>10.2f}{run['p99_ms']:>10.2f}")
    ratio = best[SESSION]["rps"] / best[CONSTANT]["rps"]
    print(f"session / constant throughput (best runs): {ratio:.2f}")


if __name__ == "__main__":
    main()
