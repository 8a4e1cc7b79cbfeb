"""A database outage is a 503 problem with Retry-After, and the service recovers by itself."""

import pytest
from fastapi import APIRouter
from sqlalchemy import text

from deploy.embedded import EmbeddedPostgres
from job_service.config import Settings
from shared.db import SessionDep
from shared.service_app import create_service_app
from tests.kit.servers import serving

router = APIRouter()


@router.get("/count")
async def count_users(session: SessionDep) -> dict[str, int]:
    return {"users": await session.scalar(text("SELECT count(*) FROM users")) or 0}


@pytest.mark.timeout(60)
async def test_outage_is_503_and_the_service_recovers(private_cluster: EmbeddedPostgres) -> None:
    app = create_service_app(
        name="test",
        title="test",
        settings=Settings(DATABASE_URL=private_cluster.url()),
        routers=[router],
    )
    async with serving(app) as client:
        assert (await client.get("/count")).json() == {"users": 0}

        private_cluster.kill()
        response = await client.get("/count")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "2"
        assert (await client.get("/readyz")).status_code == 503

        private_cluster.start()
        # The first request after the restart may still meet a dead pooled connection.
        statuses = [(await client.get("/count")).status_code for _ in range(3)]
        assert statuses[-1] == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.json()
