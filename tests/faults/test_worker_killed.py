"""A worker SIGKILLed with 50 jobs running: another worker finishes every job, each once, and
no job's work is done twice."""

import asyncio
import signal
from pathlib import Path

import httpx

from tests.kit.passports import PassportKey
from tests.kit.processes import (
    Cluster,
    User,
    demo_states,
    running_stack,
    unfinished_jobs,
    users_of,
)
from tests.kit.waiting import eventually

JOBS = 50


async def enable(user: User) -> httpx.Response:
    """Enable demo mode as a browser would: a 503 (50 at once may find the pool busy on a
    loaded machine) is retried after its Retry-After."""
    while True:
        response = await user.request(None, "POST", "demo", "/v1/demo/enable")
        if response.status_code != 503:
            return response
        await asyncio.sleep(float(response.headers["retry-after"]))


async def test_every_job_of_a_killed_worker_ends_once_without_duplicate_side_effects(
    cluster: Cluster, logs: Path
) -> None:
    """50 users enable demo mode; the worker running all 50 jobs is killed; a second worker
    recovers them: each job succeeds with exactly one terminal event, each user has exactly
    one demo workspace (4 platforms, 90 days of metrics each)."""
    with running_stack(
        cluster,
        logs,
        workers=0,
        passport_key=PassportKey(),
        DEMO_STEP_DELAY="1",
        WORKER_CONCURRENCY=str(JOBS),
    ) as stack:
        doomed = stack.start_worker()
        stack.start_services()
        async with users_of(stack, JOBS) as users:
            responses = await asyncio.gather(*(enable(user) for user in users))
            assert [r.status_code for r in responses] == [202] * JOBS
            await eventually(
                lambda: (
                    len(cluster.query("SELECT FROM background_jobs WHERE status = 'running'"))
                    == JOBS
                ),
                within=60,
                what="all jobs running",
            )
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            stack.start_worker()

            await eventually(lambda: not unfinished_jobs(cluster), within=90, what="jobs ended")
            ids = [user.id for user in users]
            jobs = cluster.query(
                "SELECT status, attempts FROM background_jobs WHERE kind = 'demo:enable'"
            )
            assert [job["status"] for job in jobs] == ["succeeded"] * JOBS
            assert all(job["attempts"] >= 2 for job in jobs), "the killed runs were not counted"
            assert demo_states(cluster, ids) == {"enabled": JOBS}
            ends = cluster.query(
                "SELECT job_id, count(*) AS ends FROM procrastinate_events"
                " WHERE type IN ('succeeded', 'failed', 'cancelled', 'aborted') AND job_id IN"
                " (SELECT procrastinate_job_id FROM background_jobs WHERE kind = 'demo:enable')"
                " GROUP BY job_id"
            )
            assert len(ends) == JOBS
            assert {row["ends"] for row in ends} == {1}
            workspaces = cluster.query(
                "SELECT p.user_id, count(DISTINCT p.id) AS platforms, count(m.id) AS metrics"
                " FROM platforms p LEFT JOIN daily_metrics m ON m.platform_id = p.id"
                " WHERE p.is_demo GROUP BY p.user_id"
            )
            assert len(workspaces) == JOBS
            assert {(row["platforms"], row["metrics"]) for row in workspaces} == {(4, 4 * 90)}
