"""Benchmark: correct logins while 200 concurrent clients send wrong passwords for one account,
each from addresses of its own, against idle correct logins, in the same run.

One uvicorn process (1 worker, as `pgstack serve auth` runs it) on a fresh migrated database,
trusting 127.0.0.1 as its proxy so each flood client names its own address (X-Forwarded-For).
The correct logins (other users, `--logins` of them, `--concurrency` at a time) are measured
first idle, then during the flood; the flood runs for the whole second measurement.

    .venv/bin/python bench/login_flood.py [--logins 200] [--concurrency 4] [--flood 200]

Prints p50/p99 of the correct logins idle and during the flood, their ratios, the flood's
answers by status, the count of 5xx (goal: none) and whether every 401 was recorded.
"""

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

PASSWORD = "benchmark passphrase"
VICTIM = "victim@example.com"
HEADERS = {"sec-fetch-site": "same-origin"}


def percentile(samples: list[float], percent: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(percent) - 1]


async def register(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/v1/users", json={"email": email, "password": PASSWORD})
    response.raise_for_status()


async def correct_logins(
    client: httpx.AsyncClient, users: list[str], *, logins: int, concurrency: int
) -> tuple[list[float], Counter[int | str]]:
    """`logins` correct logins, `concurrency` at a time; their latencies (ms) and statuses
    (a transport error by its name: a connection reused as the server closed it)."""
    latencies: list[float] = []
    statuses: Counter[int | str] = Counter()
    queue = list(range(logins))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            try:
                response = await client.post(
                    "/v1/session",
                    json={"email": users[i % len(users)], "password": PASSWORD},
                    headers={"x-forwarded-for": f"198.51.100.{i % 250 + 1}"},
                )
            except httpx.TransportError as exc:  # reported, never hidden
                statuses[type(exc).__name__] += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


async def flood(
    client: httpx.AsyncClient, clients: int, stop: asyncio.Event, statuses: Counter[int | str]
) -> None:
    """`clients` concurrent senders of wrong passwords for VICTIM, each from its own
    addresses (a new one per request), until `stop`."""

    async def sender(n: int) -> None:
        sent = 0
        while not stop.is_set():
            address = f"10.{n // 250}.{n % 250}.{sent % 250 + 1}"
            try:
                response = await client.post(
                    "/v1/session",
                    json={"email": VICTIM, "password": f"guess {n} {sent}"},
                    headers={"x-forwarded-for": address},
                )
                statuses[response.status_code] += 1
            except httpx.TransportError as exc:
                statuses[type(exc).__name__] += 1
            sent += 1

    await asyncio.gather(*(sender(n) for n in range(clients)))


def failures_recorded(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM login_failures WHERE email = %s", (VICTIM,))
        (count,) = row.fetchone() or (0,)
    return int(count)


async def run(base: str, db_url: str, args: argparse.Namespace) -> None:
    users = [f"user{i}@example.com" for i in range(20)]
    # Idle connections are dropped well before uvicorn's 5 s keep-alive closes them (a loaded
    # machine's timers lag), which would reset a request sent on one.
    limits = httpx.Limits(
        max_connections=args.flood + 10, max_keepalive_connections=args.flood, keepalive_expiry=2
    )
    async with (
        httpx.AsyncClient(
            base_url=base, headers=HEADERS, timeout=60, limits=httpx.Limits(keepalive_expiry=2)
        ) as client,
        httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=60, limits=limits) as flooder,
    ):
        for email in [VICTIM, *users]:
            await register(client, email)
        await correct_logins(client, users, logins=20, concurrency=args.concurrency)  # warm-up
        idle, idle_statuses = await correct_logins(
            client, users, logins=args.logins, concurrency=args.concurrency
        )
        stop = asyncio.Event()
        flood_statuses: Counter[int | str] = Counter()
        flooding = asyncio.create_task(flood(flooder, args.flood, stop, flood_statuses))
        await asyncio.sleep(1)  # the flood at full strength before measuring
        during, during_statuses = await correct_logins(
            client, users, logins=args.logins, concurrency=args.concurrency
        )
        stop.set()
        await flooding

    def show(name: str, samples: list[float]) -> None:
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        print(f"{name:<14} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")

    show("idle", idle)
    show("during flood", during)
    print(
        f"ratio          p50 {percentile(during, 50) / percentile(idle, 50):.2f}x"
        f"   p99 {percentile(during, 99) / percentile(idle, 99):.2f}x"
    )
    print(f"correct logins idle {dict(idle_statuses)}, during the flood {dict(during_statuses)}")
    print(f"flood answers  {dict(sorted(flood_statuses.items(), key=str))}")
    all_statuses: Counter[int | str] = Counter(flood_statuses)
    all_statuses.update(idle_statuses)
    all_statuses.update(during_statuses)
    fivexx = sum(
        n for status, n in all_statuses.items() if isinstance(status, int) and status >= 500
    )
    print(f"5xx            {fivexx}")
    print(f"401s recorded  {failures_recorded(db_url)} of {flood_statuses[401]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--logins", type=int, default=200, help="correct logins per phase")
    parser.add_argument("--concurrency", type=int, default=4, help="correct logins at a time")
    parser.add_argument("--flood", type=int, default=200, help="concurrent wrong-password clients")
    args = parser.parse_args()
    with harness.migrated_database() as db_url:
        env = {
            "DATABASE_URL": db_url,
            "PGSTACK_ENV": "development",
            "AUTH_COOKIE_SECURE": "false",
            "AUTH_TRUSTED_PROXIES": "127.0.0.1/32",
            "AUTH_REGISTRATIONS_PER_IP": "1000",
        }
        with harness.uvicorn_server("auth_service.app:create_app", env, ready="/healthz") as (
            base,
            _,
        ):
            asyncio.run(run(base, db_url, args))


if __name__ == "__main__":
    main()
