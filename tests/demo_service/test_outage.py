"""The hot reads' pool when the database fails: a 503 problem fast, then recovery."""

import time

import pytest
from fastapi import FastAPI

from demo_service.app import create_app
from demo_service.config import Settings
from deploy.embedded import EmbeddedPostgres
from tests.demo_service.conftest import ClientFor
from tests.demo_service.kit import query
from tests.kit.passports import PassportKey
from tests.kit.servers import serving
from tests.kit.users import make_user
from tests.kit.waiting import eventually


@pytest.mark.timeout(60)
async def test_with_the_database_down_the_dashboard_is_a_503_problem_within_seconds(
    private_cluster: EmbeddedPostgres, passport_key: PassportKey
) -> None:
    url = private_cluster.url()
    user_id = make_user(url)
    app = create_app(Settings(DATABASE_URL=url, PASSPORT_JWKS=passport_key.jwks))
    headers = passport_key.headers(user_id)
    async with serving(app, headers=headers) as client:
        assert (await client.get("/v1/dashboard")).status_code == 200

        private_cluster.kill()
        started = time.monotonic()
        responses = [await client.get(path) for path in ("/v1/dashboard", "/v1/metrics")]

        assert time.monotonic() - started < 20  # generous: the pool gives up after 5 s
        for response in responses:
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert "retry-after" in response.headers


@pytest.mark.timeout(60)
async def test_after_its_connections_are_cut_the_dashboard_recovers_by_itself(
    app: FastAPI, db_url: str, client_for: ClientFor
) -> None:
    """As after a database restart: every pooled connection is dead, no service restart."""
    client = client_for(make_user(db_url))
    assert (await client.get("/v1/dashboard")).status_code == 200

    await query(
        db_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )

    async def recovered() -> bool:
        return (await client.get("/v1/dashboard")).status_code == 200

    await eventually(recovered, within=30, every=0.2)
    statuses = [(await client.get("/v1/dashboard")).status_code for _ in range(20)]
    assert statuses == [200] * 20
