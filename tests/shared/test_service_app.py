"""What every service gets from `shared`: health, problem+json errors, request ids."""

from collections.abc import AsyncIterator

import pytest
from fastapi import APIRouter
from httpx import AsyncClient
from pydantic import BaseModel, Field

from deploy import migrate
from job_service.app import create_app
from job_service.config import Settings
from shared.health import migration_head
from shared.service_app import create_service_app
from shared.testing import serving


class Widget(BaseModel):
    name: str = Field(min_length=1)
    size: int


widgets = APIRouter()


@widgets.post("/widgets")
async def create_widget(widget: Widget) -> Widget:
    return widget


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[AsyncClient]:
    async with serving(create_app(Settings(DATABASE_URL=db_url))) as client:
        yield client


class TestHealth:
    async def test_healthz_answers_while_alive(self, client: AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_readyz_reports_the_schema_at_head(self, client: AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["schema"] == migration_head()

    async def test_readyz_is_503_when_the_schema_is_behind(self, empty_db_url: str) -> None:
        # Before the queue (0004), the oldest revision job_service runs on (deploy/release.py).
        migrate.upgrade(empty_db_url, "0003_sessions")
        async with serving(create_app(Settings(DATABASE_URL=empty_db_url))) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "0003_sessions" in response.json()["detail"]

    async def test_readyz_is_503_when_the_database_is_unreachable(self, db_url: str) -> None:
        url = db_url.rpartition("/")[0] + "/no_such_database"
        async with serving(create_app(Settings(DATABASE_URL=url))) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["title"] == "Not ready"


class TestErrors:
    @pytest.fixture
    async def widget_client(self, db_url: str) -> AsyncIterator[AsyncClient]:
        app = create_service_app(
            name="test",
            title="test",
            settings=Settings(DATABASE_URL=db_url),
            routers=[widgets],
        )
        async with serving(app) as client:
            yield client

    async def test_malformed_body_is_a_422_problem_with_field_errors(
        self, widget_client: AsyncClient
    ) -> None:
        response = await widget_client.post("/widgets", json={"name": "", "size": "big"})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 422
        assert body["request_id"] == response.headers["x-request-id"]
        assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "name"), ("body", "size")}

    async def test_body_that_is_not_json_is_a_422_problem(self, widget_client: AsyncClient) -> None:
        response = await widget_client.post(
            "/widgets", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_unknown_path_is_a_404_problem(self, widget_client: AsyncClient) -> None:
        response = await widget_client.get("/nowhere")
        assert response.status_code == 404
        assert response.json()["title"] == "Not found"

    async def test_a_sane_incoming_request_id_is_kept(self, widget_client: AsyncClient) -> None:
        response = await widget_client.get("/healthz", headers={"x-request-id": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"
