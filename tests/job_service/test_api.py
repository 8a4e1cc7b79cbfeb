"""job_service over HTTP: reading, polling, cancelling and retrying my jobs, and only mine."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.app import create_app
from tests.job_service.job_helpers import app_settings, running_worker
from tests.kit.jobs import enqueue, job_row, status_is
from tests.kit.passports import PassportKey
from tests.kit.servers import serving
from tests.kit.users import make_user
from tests.kit.waiting import eventually


@pytest.fixture
async def client(db_url: str, passport_key: PassportKey) -> AsyncIterator[AsyncClient]:
    settings = app_settings(db_url, passport_key)
    async with serving(create_app(settings)) as client:
        yield client


class TestReadJobs:
    async def test_i_read_my_job_with_its_links(
        self, client: AsyncClient, db_url: str, engine: AsyncEngine, passport_key: PassportKey
    ) -> None:
        user_id = make_user(db_url)
        job = await enqueue(engine, "test:steps", user_id, {"steps": 1})
        response = await client.get(f"/v1/jobs/{job.id}", headers=passport_key.headers(user_id))
        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["kind"], body["status"], body["version"]) == (
            str(job.id),
            "test:steps",
            "queued",
            1,
        )
        assert body["links"]["events"] == f"/v1/jobs/{job.id}/events"

    async def test_i_list_my_jobs_filtered_by_status(
        self, client: AsyncClient, db_url: str, engine: AsyncEngine, passport_key: PassportKey
    ) -> None:
        user_id = make_user(db_url)
        other = make_user(db_url)
        mine = [await enqueue(engine, "test:steps", user_id, {}) for _ in range(3)]
        await enqueue(engine, "test:steps", other, {})
        headers = passport_key.headers(user_id)
        listed = (await client.get("/v1/jobs?status=active", headers=headers)).json()["items"]
        assert [j["id"] for j in listed] == [str(j.id) for j in reversed(mine)]
        assert (await client.get("/v1/jobs?status=failed", headers=headers)).json()["items"] == []
        bad = await client.get("/v1/jobs?status=lost", headers=headers)
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"


class TestPolling:
    async def test_status_is_304_while_unchanged_and_its_version_rises_with_each_change(
        self, client: AsyncClient, db_url: str, engine: AsyncEngine, passport_key: PassportKey
    ) -> None:
        user_id = make_user(db_url)
        headers = passport_key.headers(user_id)
        job = await enqueue(engine, "test:steps", user_id, {"steps": 2})
        first = await client.get(f"/v1/jobs/{job.id}/status", headers=headers)
        assert first.status_code == 200
        assert first.json() == {
            "id": str(job.id),
            "status": "queued",
            "progress": 0,
            "message": None,
            "version": 1,
        }
        etag = first.headers["etag"]
        again = await client.get(
            f"/v1/jobs/{job.id}/status", headers={**headers, "If-None-Match": etag}
        )
        assert (again.status_code, again.content) == (304, b"")
        async with running_worker(db_url):
            await eventually(status_is(db_url, job.id, "succeeded"))
        changed = await client.get(
            f"/v1/jobs/{job.id}/status", headers={**headers, "If-None-Match": etag}
        )
        assert changed.status_code == 200
        assert changed.json()["status"] == "succeeded"
        # queued 1, running 2, two progress reports 3 and 4, succeeded 5.
        assert changed.json()["version"] == 5
        assert changed.headers["etag"] == '"5"'


class TestCancelAndRetry:
    async def test_cancelling_a_waiting_job_cancels_it_at_once(
        self, client: AsyncClient, db_url: str, engine: AsyncEngine, passport_key: PassportKey
    ) -> None:
        user_id = make_user(db_url)
        job = await enqueue(engine, "test:steps", user_id, {})
        response = await client.post(
            f"/v1/jobs/{job.id}/cancel", headers=passport_key.headers(user_id)
        )
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        assert job_row(db_url, job.id)["status"] == "cancelled"

    async def test_cancelling_a_running_job_interrupts_it(
        self,
        client: AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        passport_key: PassportKey,
        tmp_path: Path,
    ) -> None:
        user_id = make_user(db_url)
        async with running_worker(db_url):
            job = await enqueue(
                engine, "test:wait_for_file", user_id, {"path": str(tmp_path / "never")}
            )
            await eventually(status_is(db_url, job.id, "running"))
            response = await client.post(
                f"/v1/jobs/{job.id}/cancel", headers=passport_key.headers(user_id)
            )
            assert response.status_code == 202
            assert response.json()["status"] == "cancelling"
            await eventually(status_is(db_url, job.id, "cancelled"))

    async def test_a_finished_job_cannot_be_cancelled(
        self, client: AsyncClient, db_url: str, engine: AsyncEngine, passport_key: PassportKey
    ) -> None:
        user_id = make_user(db_url)
        async with running_worker(db_url):
            job = await enqueue(engine, "test:steps", user_id, {"steps": 1})
            await eventually(status_is(db_url, job.id, "succeeded"))
        response = await client.post(
            f"/v1/jobs/{job.id}/cancel", headers=passport_key.headers(user_id)
        )
        assert response.status_code == 409
        retry = await client.post(f"/v1/jobs/{job.id}/retry", headers=passport_key.headers(user_id))
        assert retry.status_code == 409

    async def test_retrying_a_failed_job_runs_it_again(
        self, client: AsyncClient, db_url: str, engine: AsyncEngine, passport_key: PassportKey
    ) -> None:
        user_id = make_user(db_url)
        job = await enqueue(engine, "test:steps", user_id, {"steps": 1})
        headers = passport_key.headers(user_id)
        await client.post(f"/v1/jobs/{job.id}/cancel", headers=headers)
        response = await client.post(f"/v1/jobs/{job.id}/retry", headers=headers)
        assert response.status_code == 202
        assert response.json()["status"] == "queued"
        assert job_row(db_url, job.id)["procrastinate_job_id"] != job.procrastinate_job_id
        async with running_worker(db_url):
            row = await eventually(status_is(db_url, job.id, "succeeded"))
        assert row["result"] == {"steps": 1}


class TestAuthorization:
    ROUTES = (
        ("GET", "/v1/jobs/{id}"),
        ("GET", "/v1/jobs/{id}/status"),
        ("GET", "/v1/jobs/{id}/events"),
        ("POST", "/v1/jobs/{id}/cancel"),
        ("POST", "/v1/jobs/{id}/retry"),
    )

    @pytest.mark.parametrize(("method", "path"), ROUTES)
    async def test_someone_elses_job_is_a_404(
        self,
        client: AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        passport_key: PassportKey,
        method: str,
        path: str,
    ) -> None:
        owner, stranger = make_user(db_url), make_user(db_url)
        job = await enqueue(engine, "test:steps", owner, {})
        url = path.format(id=job.id)
        response = await client.request(method, url, headers=passport_key.headers(stranger))
        assert response.status_code == 404
        assert response.json()["title"] == "Not found"
        missing = await client.request(
            method, path.format(id=uuid.uuid4()), headers=passport_key.headers(stranger)
        )
        assert missing.status_code == 404
        assert job_row(db_url, job.id)["status"] == "queued"

    @pytest.mark.parametrize(
        ("method", "path"), [*ROUTES, ("GET", "/v1/jobs"), ("GET", "/v1/events")]
    )
    async def test_no_passport_is_a_401(self, client: AsyncClient, method: str, path: str) -> None:
        response = await client.request(method, path.format(id=uuid.uuid4()))
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_a_passport_signed_by_another_key_is_a_401(
        self, client: AsyncClient, db_url: str
    ) -> None:
        forged = PassportKey().mint(make_user(db_url))
        response = await client.get("/v1/jobs", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401


class TestOperations:
    async def test_readyz_reports_the_freshest_worker_heartbeat(
        self, client: AsyncClient, db_url: str
    ) -> None:
        async with running_worker(db_url):
            body = (await client.get("/readyz")).json()
        assert body["workers"] >= 1
        assert 0 <= body["worker_heartbeat_age_seconds"] < 5

    async def test_metrics_show_jobs_by_kind_and_status_and_the_queue(
        self, db_url: str, engine: AsyncEngine, passport_key: PassportKey
    ) -> None:
        user_id = make_user(db_url)
        await enqueue(engine, "test:steps", user_id, {})
        settings = app_settings(db_url, passport_key, metrics_refresh_seconds=0.1)
        async with serving(create_app(settings)) as client:
            text = await eventually(lambda: _metrics_with_queue(client))
        assert 'pgstack_jobs{kind="test:steps",status="queued"}' in text
        assert 'pgstack_job_queue_depth{queue="test"}' in text
        assert 'pgstack_job_oldest_waiting_seconds{queue="test"}' in text


async def _metrics_with_queue(client: AsyncClient) -> str | None:
    text = (await client.get("/metrics")).text
    return text if 'pgstack_job_queue_depth{queue="test"}' in text else None
