"""Many requests for one thing at once: one job, a legal final state, no 5xx."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.passports import PassportKey
from tests.kit.processes import (
    Answers,
    Cluster,
    Processes,
    demo_states,
    running_stack,
    unfinished_jobs,
    users_of,
)
from tests.kit.waiting import eventually

PARALLEL = 100


@pytest.fixture(scope="module")
def stack(cluster: Cluster, logs: Path) -> Iterator[Processes]:
    with running_stack(cluster, logs, workers=2, passport_key=PassportKey()) as stack:
        yield stack


def jobs_of(cluster: Cluster, kind: str, user_id: int) -> list[dict[str, object]]:
    return cluster.query(
        "SELECT id, status FROM background_jobs WHERE kind = %s AND user_id = %s", kind, user_id
    )


async def test_a_hundred_parallel_enables_start_one_job(stack: Processes, cluster: Cluster) -> None:
    """100 clicks on "enable" at once: every answer is the one job (202), the done state
    (200) or, on a machine too busy to serve them all in time, 503 with Retry-After; the user
    gets one job and one workspace."""
    answers = Answers()
    async with users_of(stack, 1) as [user]:
        responses = await asyncio.gather(
            *(user.request(answers, "POST", "demo", "/v1/demo/enable") for _ in range(PARALLEL))
        )
        assert not answers.bad
        assert set(answers.codes) <= {200, 202, 503}, answers.codes
        [job] = jobs_of(cluster, "demo:enable", user.id)
        answered = {r.json()["job"]["id"] for r in responses if r.status_code in (200, 202)}
        assert answered == {str(job["id"])}
        await eventually(lambda: not unfinished_jobs(cluster), what="jobs ended")
        assert demo_states(cluster, [user.id]) == {"enabled": 1}


async def test_a_hundred_parallel_connects_of_one_platform_start_one_job(
    stack: Processes, cluster: Cluster
) -> None:
    """100 clicks on "connect" of one disconnected platform at once: one connect job."""
    answers = Answers()
    async with users_of(stack, 1) as [user]:
        await user.request(answers, "POST", "demo", "/v1/demo/enable")
        await eventually(lambda: demo_states(cluster, [user.id]) == {"enabled": 1})
        platform = (await user.request(answers, "GET", "demo", "/v1/platforms")).json()[0]
        path = f"/v1/platforms/{platform['id']}"
        assert (await user.request(answers, "POST", "demo", f"{path}/disconnect")).is_success
        await eventually(lambda: not unfinished_jobs(cluster), what="disconnected")

        await asyncio.gather(
            *(user.request(answers, "POST", "demo", f"{path}/connect") for _ in range(PARALLEL))
        )
        assert not answers.bad
        assert set(answers.codes) <= {200, 202, 503}, answers.codes
        connects = cluster.query(
            "SELECT id FROM background_jobs WHERE kind = 'demo:connect_platform'"
            " AND (args->>'platform_id')::bigint = %s",
            platform["id"],
        )
        assert len(connects) == 1
        await eventually(lambda: not unfinished_jobs(cluster), what="jobs ended")
        [row] = cluster.query(
            "SELECT connection_status FROM platforms WHERE id = %s", platform["id"]
        )
        assert row["connection_status"] == "connected"


async def test_fifty_enables_and_fifty_disables_interleaved_end_in_a_legal_state(
    stack: Processes, cluster: Cluster
) -> None:
    """Enable and disable clicked alternately, 100 times at once: only 200, 202, 409 (busy)
    or 503 with Retry-After (overloaded), and once the jobs end the user is enabled with a
    workspace or disabled without."""
    answers = Answers()
    async with users_of(stack, 1) as [user]:
        await asyncio.gather(
            *(
                user.request(answers, "POST", "demo", f"/v1/demo/{action}")
                for _ in range(PARALLEL // 2)
                for action in ("enable", "disable")
            )
        )
        assert not answers.bad
        assert set(answers.codes) <= {200, 202, 409, 503}, answers.codes
        await eventually(lambda: not unfinished_jobs(cluster), what="jobs ended")
        [state] = demo_states(cluster, [user.id])
        platforms = cluster.query(
            "SELECT count(*) AS n FROM platforms WHERE user_id = %s AND is_demo", user.id
        )[0]["n"]
        assert (state, platforms) in {("enabled", 4), ("disabled", 0)}
        statuses = cluster.query(
            "SELECT DISTINCT status FROM background_jobs WHERE user_id = %s", user.id
        )
        assert statuses == [{"status": "succeeded"}]
