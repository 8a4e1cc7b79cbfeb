"""The ops API: operators see every queue, worker and user's job (stuck and failed ones
included) and retry or cancel anyone's job; any other passport finds no such routes."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.app import create_app
from tests.job_service.job_helpers import app_settings, running_worker
from tests.job_service.ops_jobs import OpsJobs, make_ops_jobs, operator_passport
from tests.kit.jobs import enqueue, status_is
from tests.kit.passports import PassportKey
from tests.kit.servers import serving
from tests.kit.users import make_user
from tests.kit.waiting import eventually

ROUTES = [
    ("GET", "/v1/ops/queues"),
    ("GET", "/v1/ops/workers"),
    ("GET", "/v1/ops/jobs"),
    ("GET", "/v1/ops/events"),
    ("POST", "/v1/ops/jobs/00000000-0000-0000-0000-000000000000/retry"),
    ("POST", "/v1/ops/jobs/00000000-0000-0000-0000-000000000000/cancel"),
]


@pytest.fixture(scope="module")
async def ops_jobs(
    db_url: str, engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> OpsJobs:
    return await make_ops_jobs(db_url, engine, str(tmp_path_factory.mktemp("ops")))


@pytest.fixture
async def client(db_url: str, passport_key: PassportKey) -> AsyncIterator[AsyncClient]:
    # A heartbeat older than a second is stale: the killed worker's job is stuck at once.
    settings = app_settings(
        db_url,
        passport_key,
        JOBS_WORKER_HEARTBEAT_FRESH_SECONDS=1,
        JOBS_READY_WITHOUT_WORKERS=True,
    )
    async with serving(create_app(settings)) as client:
        yield client


@pytest.fixture
def operator(db_url: str, passport_key: PassportKey) -> dict[str, str]:
    return operator_passport(passport_key, make_user(db_url))


class TestAccess:
    @pytest.mark.parametrize(("method", "path"), ROUTES)
    async def test_a_user_without_the_operator_role_finds_no_ops_route(
        self, client: AsyncClient, db_url: str, passport_key: PassportKey, method: str, path: str
    ) -> None:
        """Any user's passport gets the 404 problem of a route that does not exist; no
        passport at all is a 401."""
        response = await client.request(
            method, path, headers=passport_key.headers(make_user(db_url))
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert (await client.request(method, path)).status_code == 401

    async def test_roles_of_the_wrong_type_are_a_401(
        self, client: AsyncClient, db_url: str, passport_key: PassportKey
    ) -> None:
        """A signed passport whose `roles` is a string, not a list, is refused, not read."""
        headers = operator_passport(passport_key, make_user(db_url), roles="operator")
        response = await client.get("/v1/ops/queues", headers=headers)
        assert response.status_code == 401

    async def test_the_openapi_documents_the_ops_routes_answers(self, client: AsyncClient) -> None:
        """The ops routes document 401 and 404 (and 409 on retry and cancel)."""
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"401", "404", "200"} <= set(paths["/v1/ops/queues"]["get"]["responses"])
        assert {"202", "404", "409"} <= set(
            paths["/v1/ops/jobs/{job_id}/retry"]["post"]["responses"]
        )


class TestQueuesAndWorkers:
    async def test_the_test_queue_shows_its_waiting_stuck_and_finished_jobs(
        self, client: AsyncClient, ops_jobs: OpsJobs, operator: dict[str, str]
    ) -> None:
        """After the fixture: one job waits, one is stuck on the killed worker, one succeeded
        and one failed in the last hour, and the chart's last bucket counts the two."""
        queues = await eventually(
            lambda: _queue(client, operator, "test", stuck=1), within=10, what="stuck"
        )
        assert queues["waiting"] >= 1
        assert queues["oldest_waiting_seconds"] > 0
        assert queues["running"] >= 1
        assert queues["succeeded_last_hour"] >= 1
        assert queues["failed_last_hour"] >= 1
        assert len(queues["throughput"]) == 12
        assert queues["throughput"][-1] >= 2

    async def test_a_killed_workers_heartbeat_is_stale_and_a_live_one_is_fresh(
        self, client: AsyncClient, db_url: str, ops_jobs: OpsJobs, operator: dict[str, str]
    ) -> None:
        """The killed worker (still registered: nothing has pruned it) is stale with its one
        job; a live worker is fresh."""
        before = (await client.get("/v1/ops/workers", headers=operator)).json()["items"]
        assert [(w["fresh"], w["running"]) for w in before] == [(False, 1)]
        assert before[0]["heartbeat_age_seconds"] > 1
        # Neither recovery nor pruning while it runs: the stuck job stays stuck for the tests
        # below.
        async with running_worker(
            db_url, WORKER_RECOVER_CRON="0 0 1 1 *", WORKER_STALLED_AFTER="3600"
        ):
            workers = await eventually(
                lambda: _workers(client, operator), within=10, what="a fresh worker"
            )
        assert len(workers) == 2


class TestJobs:
    async def test_an_operator_lists_anyones_jobs_by_owner_status_and_kind(
        self, client: AsyncClient, ops_jobs: OpsJobs, operator: dict[str, str]
    ) -> None:
        by_owner = await client.get(
            "/v1/ops/jobs", params={"user": ops_jobs.failed_owner.upper()}, headers=operator
        )
        assert by_owner.status_code == 200
        [failed] = by_owner.json()["items"]
        assert (failed["id"], failed["status"], failed["user_email"]) == (
            str(ops_jobs.failed),
            "failed",
            ops_jobs.failed_owner,
        )
        assert failed["error"]["message"] == "the disk is full (final)"
        stuck = await client.get("/v1/ops/jobs", params={"status": "stuck"}, headers=operator)
        assert [j["id"] for j in stuck.json()["items"]] == [str(ops_jobs.stuck)]
        kinds = await client.get(
            "/v1/ops/jobs", params={"kind": "test:broken", "status": "failed"}, headers=operator
        )
        assert str(ops_jobs.failed) in [j["id"] for j in kinds.json()["items"]]
        assert {j["kind"] for j in kinds.json()["items"]} == {"test:broken"}
        bad = await client.get("/v1/ops/jobs", params={"status": "lost"}, headers=operator)
        assert bad.status_code == 422

    async def test_an_operator_retries_another_users_failed_job_and_it_runs_again(
        self,
        client: AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        operator: dict[str, str],
    ) -> None:
        """A failed job of someone else is 202 `queued`, then fails again under a worker; a
        succeeded one is a 409; a missing one a 404."""
        owner = make_user(db_url)
        job = await enqueue(engine, "test:broken", owner, {"message": "again"})
        async with running_worker(db_url):
            await eventually(status_is(db_url, job.id, "failed"))
            retried = await client.post(f"/v1/ops/jobs/{job.id}/retry", headers=operator)
            assert (retried.status_code, retried.json()["status"]) == (202, "queued")
            assert retried.json()["user_id"] == owner
            row = await eventually(status_is(db_url, job.id, "failed"))
        assert row["attempts"] >= 1
        done = await enqueue(engine, "test:steps", owner, {"steps": 1})
        async with running_worker(db_url):
            await eventually(status_is(db_url, done.id, "succeeded"))
        assert (
            await client.post(f"/v1/ops/jobs/{done.id}/retry", headers=operator)
        ).status_code == 409
        missing = "/v1/ops/jobs/00000000-0000-0000-0000-000000000000/retry"
        assert (await client.post(missing, headers=operator)).status_code == 404

    async def test_an_operator_cancels_another_users_waiting_job(
        self, client: AsyncClient, db_url: str, engine: AsyncEngine, operator: dict[str, str]
    ) -> None:
        job = await enqueue(engine, "test:steps", make_user(db_url), {"steps": 1})
        cancelled = await client.post(f"/v1/ops/jobs/{job.id}/cancel", headers=operator)
        assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
        again = await client.post(f"/v1/ops/jobs/{job.id}/retry", headers=operator)
        assert again.status_code == 202


async def _queue(
    client: AsyncClient, headers: dict[str, str], name: str, *, stuck: int
) -> dict[str, Any] | None:
    response = await client.get("/v1/ops/queues", headers=headers)
    assert response.status_code == 200
    found = [q for q in response.json()["items"] if q["queue"] == name]
    return found[0] if found and found[0]["stuck"] == stuck else None


async def _workers(client: AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]] | None:
    workers: list[dict[str, Any]] = (await client.get("/v1/ops/workers", headers=headers)).json()[
        "items"
    ]
    return workers if any(w["fresh"] for w in workers) else None
