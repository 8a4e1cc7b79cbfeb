"""Postgres restarted while everything is idle: nothing notices but the next requests, and
those are answered as if nothing had happened."""

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from tests.kit.processes import Answers, Cluster, User, running_stack, users_of
from tests.kit.waiting import eventually

ROUTES = [
    ("GET", "auth", "/v1/session"),
    ("GET", "demo", "/v1/dashboard"),
    ("GET", "demo", "/v1/demo"),
    ("GET", "demo", "/v1/platforms"),
    ("GET", "jobs", "/v1/jobs"),
]
# More parallel requests per route than any pool holds connections: each stale one is met.
PARALLEL = 15


async def every_route(users: list[User], answers: Answers) -> None:
    await asyncio.gather(
        *(
            user.request(answers, method, service, path)
            for method, service, path in ROUTES
            for user in users
            for _ in range(PARALLEL // len(users))
        )
    )


async def stream(user: User, events: list[dict[str, Any]]) -> None:
    """`GET /v1/events`, its events appended to `events` as they come."""
    async with user.http.stream(
        "GET",
        f"{user.stack.url('jobs')}/v1/events",
        headers={"Authorization": f"Bearer {user.passport}"},
        timeout=None,
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))


async def test_after_an_idle_restart_nothing_fails_and_everything_is_live(
    cluster: Cluster, logs: Path
) -> None:
    """After a restart that finds the stack idle: no request fails on a stale pooled
    connection, the same worker processes take the next job, a stream opened before the
    restart gets its live events, and a logout reaches demo and jobs within a second."""
    with running_stack(cluster, logs, workers=2) as stack:
        workers = list(stack.workers)
        async with users_of(stack, 3) as users:
            watcher, leaver, _ = users
            warm = Answers()
            await every_route(users, warm)
            assert set(warm.codes) == {200}, warm.codes
            events: list[dict[str, Any]] = []
            streaming = asyncio.create_task(stream(watcher, events))
            await asyncio.sleep(1)

            await asyncio.to_thread(cluster.restart)
            await asyncio.sleep(3)  # idle: only the listeners may notice

            answers = Answers()
            await every_route(users, answers)
            assert set(answers.codes) == {200}, answers.by_route

            await watcher.check_session()
            started = await watcher.request(None, "POST", "demo", "/v1/demo/enable")
            assert started.status_code == 202, started.text
            job_id = started.json()["job"]["id"]
            await eventually(
                lambda: any(
                    e.get("id") == job_id and e.get("status") == "succeeded" for e in events
                ),
                within=20,
                what="the stream's live events of the new job",
            )
            assert [w.poll() for w in workers] == [None, None], "a worker exited"
            assert len(stack.workers) == 2

            old_passport = leaver.passport
            assert (await leaver.request(None, "DELETE", "auth", "/v1/session")).status_code == 204

            async def refused_everywhere() -> bool:
                headers = {"Authorization": f"Bearer {old_passport}"}
                demo = await leaver.http.get(f"{stack.url('demo')}/v1/demo", headers=headers)
                jobs = await leaver.http.get(f"{stack.url('jobs')}/v1/jobs", headers=headers)
                return demo.status_code == 401 and jobs.status_code == 401

            await eventually(refused_everywhere, within=1, what="the logout reached everyone")
            streaming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await streaming
