"""Postgres restarted (`pg_ctl restart -m fast`) under a steady load of logins, dashboards,
enables and status polls, with SSE clients following the jobs."""

import asyncio
import json
import time
from pathlib import Path

import httpx

from tests.kit.processes import (
    TERMINAL,
    Answers,
    Cluster,
    User,
    demo_states,
    running_stack,
    unfinished_jobs,
    users_of,
)
from tests.kit.waiting import eventually

USERS = 6


async def follow(user: User, job_id: str, seen: dict[str, str]) -> None:
    """An SSE client of one job: reconnects with Last-Event-ID whenever the stream breaks,
    until it sees a terminal state (recorded in `seen`)."""
    last_id: str | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            async with user.http.stream(
                "GET",
                f"{user.stack.url('jobs')}/v1/jobs/{job_id}/events",
                headers={**headers, "Authorization": f"Bearer {user.passport}"},
            ) as response:
                if response.status_code != 200:
                    await asyncio.sleep(0.5)
                    continue
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        last_id = line.removeprefix("id: ")
                    elif line.startswith("data: "):
                        status = json.loads(line.removeprefix("data: ")).get("status")
                        if status in TERMINAL:
                            seen[job_id] = status
                            return
        except httpx.HTTPError:
            await asyncio.sleep(0.5)


async def use(
    user: User,
    answers: Answers,
    stop: asyncio.Event,
    followers: list[asyncio.Task[None]],
    seen: dict[str, str],
) -> None:
    """One person: pages (session check, dashboard), enable/disable, status polls, and now
    and then a fresh login."""
    rounds = 0
    while not stop.is_set():
        rounds += 1
        try:
            if rounds % 5 == 0:
                await user.log_in(answers)
            await user.check_session(answers)
            await user.request(answers, "GET", "demo", "/v1/dashboard")
            demo = await user.request(answers, "GET", "demo", "/v1/demo")
            if demo.status_code == 200:
                status = demo.json()["status"]
                action = {"disabled": "enable", "enabled": "disable", "failed": "enable"}
                if status in action:
                    started = await user.request(
                        answers, "POST", "demo", f"/v1/demo/{action[status]}"
                    )
                    if started.status_code == 202:
                        job_id = started.json()["job"]["id"]
                        followers.append(asyncio.create_task(follow(user, job_id, seen)))
                job = demo.json().get("job")
                if job:
                    await user.request(answers, "GET", "jobs", f"/v1/jobs/{job['id']}/status")
        except httpx.HTTPError as exc:
            answers.bad.append(f"{exc.__class__.__name__}: {exc}")
        await asyncio.sleep(0.05)


async def test_a_restart_under_load_answers_only_503_and_loses_no_job(
    cluster: Cluster, logs: Path
) -> None:
    """During the outage only 503 with Retry-After; within 10 s of the restart every service
    and worker serves again by itself (the same processes); every job ends, once, and every
    SSE client that reconnects with Last-Event-ID sees its job's terminal state."""
    with running_stack(cluster, logs, workers=2, DEMO_STEP_DELAY="0.3") as stack:
        workers = list(stack.workers)
        async with users_of(stack, USERS) as users:
            answers, stop = Answers(), asyncio.Event()
            followers: list[asyncio.Task[None]] = []
            seen: dict[str, str] = {}
            load = [
                asyncio.create_task(use(user, answers, stop, followers, seen)) for user in users
            ]
            await asyncio.sleep(3)
            await asyncio.to_thread(cluster.restart)
            restarted = time.monotonic()

            async def serving_again() -> bool:
                # A job started now, taken by a worker, and every service answering.
                canary = users[0]
                session = await canary.check_session()
                dashboard = await canary.request(None, "GET", "demo", "/v1/dashboard")
                ready = await canary.http.get(f"{stack.url('jobs')}/readyz")
                recent = cluster.query(
                    "SELECT 1 FROM background_jobs WHERE started_at > now() - interval '2 s'"
                )
                return all(r.status_code == 200 for r in (session, dashboard, ready)) and bool(
                    recent
                )

            try:
                await eventually(serving_again, within=10, every=0.2, what="serving again")
            except AssertionError as exc:
                exits = {"workers": [w.poll() for w in workers]} | {
                    name: p.poll() for name, p in stack.services.items()
                }
                raise AssertionError(f"not back within 10 s; exit codes {exits}") from exc
            back_after = time.monotonic() - restarted
            await asyncio.sleep(3)
            stop.set()
            await asyncio.gather(*load)

            assert [w.poll() for w in workers] == [None, None], "a worker exited"
            assert all(p.poll() is None for p in stack.services.values()), "a service exited"
            assert not answers.bad, answers.bad[:10]
            assert answers.codes[503] > 0, "the outage was not seen: the test proves nothing"
            await eventually(lambda: not unfinished_jobs(cluster), within=30, what="jobs ended")
            states = demo_states(cluster, [user.id for user in users])
            assert set(states) <= {"enabled", "disabled"}, states
            statuses = cluster.query("SELECT status FROM background_jobs")
            assert {row["status"] for row in statuses} == {"succeeded"}
            await asyncio.wait_for(asyncio.gather(*followers), timeout=30)
            assert len(seen) == len(followers)
            assert set(seen.values()) == {"succeeded"}
            print(f"back after {back_after:.1f} s; answers {dict(answers.codes)}")
