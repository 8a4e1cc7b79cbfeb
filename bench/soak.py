"""`make soak`: the stack as processes under a steady load, then its figures (not in CI).

A private cluster, the three services (`pgstack serve`) and two workers (`pgstack worker`),
as the fault tests run them (tests/kit/processes.py). 20 virtual users for 60 s, each in a loop
of sessions: log in, then rounds of page views (session check, dashboard, demo status), an
enable or disable, status polls of its job and now and then a short SSE stream, then log out.

Prints: requests and 5xx (goal 0), p50/p99 per route, the database's connections sampled every
2 s (bounded by the pools' budget), auth's RSS every 30 s (it should level off), each
process's RSS at start and end, and whether every job ended within 30 s after the load. The
users all log in from one address (127.0.0.1), as an office behind one proxy does.

    python bench/soak.py [--users 20] [--seconds 60]
"""

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.kit.processes import (
    ROOT,
    Cluster,
    Processes,
    User,
    running_stack,
    unfinished_jobs,
    users_of,
)
from tests.kit.waiting import eventually

ROUNDS_PER_SESSION = 10


class Figures:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.codes: Counter[int] = Counter()
        self.errors: list[str] = []
        # Answers other than success and the expected 409 (busy), by route: 429s, 503s.
        self.refusals: Counter[tuple[str, int]] = Counter()


async def request(
    figures: Figures, user: User, route: str, method: str, service: str, path: str
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        if route == "POST /v1/session":
            response = await user.log_in()
        elif route == "GET /v1/session":
            response = await user.check_session()
        else:
            response = await user.request(None, method, service, path)
    except httpx.HTTPError as exc:
        figures.errors.append(f"{route}: {exc.__class__.__name__}")
        return None
    figures.latency[route].append(time.perf_counter() - started)
    figures.codes[response.status_code] += 1
    if response.status_code >= 400 and response.status_code not in (404, 409):
        figures.refusals[route, response.status_code] += 1
    if response.status_code >= 500:
        figures.errors.append(f"{route}: {response.status_code} {response.text[:120]}")
    return response


async def short_stream(figures: Figures, user: User, seconds: float = 1.0) -> None:
    """`GET /v1/events` for a second: first byte time is its latency."""
    started = time.perf_counter()
    try:
        async with user.http.stream(
            "GET",
            f"{user.stack.url('jobs')}/v1/events",
            headers={"Authorization": f"Bearer {user.passport}"},
        ) as response:
            figures.codes[response.status_code] += 1
            figures.latency["GET /v1/events (headers)"].append(time.perf_counter() - started)
            if response.status_code >= 500:
                figures.errors.append(f"GET /v1/events: {response.status_code}")
                return
            with_deadline = asyncio.timeout(seconds)
            try:
                async with with_deadline:
                    async for _ in response.aiter_bytes():
                        pass
            except TimeoutError:
                pass
    except httpx.HTTPError as exc:
        figures.errors.append(f"GET /v1/events: {exc.__class__.__name__}")


async def virtual_user(figures: Figures, user: User, stop: asyncio.Event) -> None:
    rounds = 0
    while not stop.is_set():
        login = await request(figures, user, "POST /v1/session", "POST", "auth", "/v1/session")
        if login is None or login.status_code != 200:
            # Throttled (429) or unavailable (503): wait as told, as a person's browser would.
            await asyncio.sleep(float(login.headers.get("retry-after", 1)) if login else 1)
            continue
        for _ in range(ROUNDS_PER_SESSION):
            if stop.is_set():
                break
            rounds += 1
            await request(figures, user, "GET /v1/session", "GET", "auth", "/v1/session")
            await request(figures, user, "GET /v1/dashboard", "GET", "demo", "/v1/dashboard")
            demo = await request(figures, user, "GET /v1/demo", "GET", "demo", "/v1/demo")
            if demo is not None and demo.status_code == 200:
                status = demo.json()["status"]
                action = {"disabled": "enable", "enabled": "disable", "failed": "enable"}
                if status in action:
                    route = f"POST /v1/demo/{action[status]}"
                    await request(figures, user, route, "POST", "demo", route.split(" ")[1])
                if job := demo.json().get("job"):
                    path = f"/v1/jobs/{job['id']}/status"
                    await request(figures, user, "GET /v1/jobs/{id}/status", "GET", "jobs", path)
            if rounds % 5 == 0:
                await short_stream(figures, user)
            await asyncio.sleep(0.1)
        await request(figures, user, "DELETE /v1/session", "DELETE", "auth", "/v1/session")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def process_rss(stack: Processes) -> dict[str, int]:
    named = {**stack.services, **{f"worker-{i}": w for i, w in enumerate(stack.workers)}}
    return {name: rss_kib(process.pid) for name, process in named.items()}


async def sample_connections(
    stack: Processes, stop: asyncio.Event, samples: list[int], auth_rss: list[int]
) -> None:
    """The database's connections and auth's RSS (KiB), every 2 s."""
    while not stop.is_set():
        rows = await asyncio.to_thread(
            stack.cluster.query,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()",
        )
        samples.append(int(rows[0]["n"]))
        auth_rss.append(rss_kib(stack.services["auth"].pid))
        await asyncio.sleep(2)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def soak(users: int, seconds: float) -> int:
    root = ROOT / ".pgstack" / "soak" / uuid.uuid4().hex[:12]
    logs = Path(tempfile.mkdtemp(prefix="soak-logs-"))
    cluster = Cluster(root)
    try:
        with running_stack(cluster, logs, workers=2, DEMO_STEP_DELAY="0.1") as stack:
            async with users_of(stack, users) as people:
                await asyncio.sleep(2)  # settle: pools opened, first heartbeats
                rss_start = process_rss(stack)
                figures, stop = Figures(), asyncio.Event()
                connections: list[int] = []
                auth_rss: list[int] = []
                sampler = asyncio.create_task(
                    sample_connections(stack, stop, connections, auth_rss)
                )
                load = [asyncio.create_task(virtual_user(figures, u, stop)) for u in people]
                await asyncio.sleep(seconds)
                stop.set()
                await asyncio.gather(*load, sampler)
                load_ended = time.monotonic()
                with contextlib.suppress(AssertionError):
                    await eventually(lambda: not unfinished_jobs(cluster), within=30, every=0.5)
                drained_after = time.monotonic() - load_ended
                left = unfinished_jobs(cluster)
                rss_end = process_rss(stack)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

    total = sum(figures.codes.values())
    five_xx = sum(n for code, n in figures.codes.items() if code >= 500)
    print(f"soak: {users} users, {seconds:g} s")
    print(
        f"requests  {total}  ({total / seconds:.0f}/s)  5xx {five_xx}  errors {len(figures.errors)}"
    )
    print(f"statuses  {dict(sorted(figures.codes.items()))}")
    for (route, code), n in sorted(figures.refusals.items()):
        print(f"  {code} x{n} on {route}")
    print(f"{'route':<28} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for route, values in sorted(figures.latency.items()):
        p50, p99 = statistics.median(values) * 1000, percentile(values, 0.99) * 1000
        print(f"{route:<28} {len(values):>6} {p50:>8.1f} {p99:>8.1f}")
    print(f"postgres connections every 2 s: {connections} (max {max(connections)})")
    # Every 30 s: whether auth's memory levels off (it grew by a hash's memory per thread
    # that had ever hashed, see auth_service/passwords.py).
    print(f"auth RSS MiB every 30 s: {[round(kib / 1024) for kib in auth_rss[::15]]}")
    print(f"{'process':<10} {'RSS start MiB':>14} {'RSS end MiB':>12}")
    for name in rss_start:
        print(f"{name:<10} {rss_start[name] / 1024:>14.1f} {rss_end[name] / 1024:>12.1f}")
    if left:
        print(f"jobs: {len(left)} not ended 30 s after the load: {left[:5]}")
    else:
        print(f"jobs: every job ended, {drained_after:.1f} s after the load")
    for error in figures.errors[:10]:
        print(f"  {error}")
    print(f"logs: {logs}")
    return 1 if five_xx or left else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    sys.exit(asyncio.run(soak(args.users, args.seconds)))


if __name__ == "__main__":
    main()
