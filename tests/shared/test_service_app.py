"""What every service gets from `shared`: health, problem+json errors, request ids."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from fastapi import APIRouter
from httpx import AsyncClient
from pydantic import BaseModel, Field

from auth_service.app import create_app as create_auth_app
from auth_service.config import Settings as AuthSettings
from deploy import migrate
from job_service.app import create_app
from job_service.config import Settings
from shared.health import OLDEST_SCHEMA, SCHEMA_HEAD, SCHEMA_REVISIONS
from shared.service_app import MAX_BODY_BYTES, create_service_app
from tests.kit.servers import over_http, serving


class Widget(BaseModel):
    name: str = Field(min_length=1)
    size: int


widgets = APIRouter()


@widgets.post("/widgets")
async def create_widget(widget: Widget) -> Widget:
    return widget


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[AsyncClient]:
    settings = Settings(DATABASE_URL=db_url, ready_without_workers=True)
    async with serving(create_app(settings)) as client:
        yield client


class TestHealth:
    async def test_healthz_answers_while_alive(self, client: AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_readyz_reports_the_schema_at_head(self, client: AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["schema"] == SCHEMA_HEAD

    async def test_readyz_is_503_when_the_schema_is_behind(self, empty_db_url: str) -> None:
        # job_service runs on the head only (shared.health.OLDEST_SCHEMA).
        migrate.upgrade(empty_db_url, "0003_sessions")
        settings = Settings(DATABASE_URL=empty_db_url, ready_without_workers=True)
        async with serving(create_app(settings)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "0003_sessions" in response.json()["detail"]

    async def test_readyz_is_200_on_any_revision_of_the_process_window(
        self, empty_db_url: str
    ) -> None:
        """auth runs on every revision from its OLDEST_SCHEMA to the head (a rolling deploy's
        window), and is not ready just below it."""
        settings = AuthSettings(DATABASE_URL=empty_db_url, PGSTACK_ENV="test")
        below = SCHEMA_REVISIONS[SCHEMA_REVISIONS.index(OLDEST_SCHEMA["auth"]) - 1]
        migrate.upgrade(empty_db_url, below)
        async with serving(create_auth_app(settings)) as client:
            assert (await client.get("/readyz")).status_code == 503
        migrate.upgrade(empty_db_url, OLDEST_SCHEMA["auth"])
        async with serving(create_auth_app(settings)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["schema"] == OLDEST_SCHEMA["auth"]

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


class TestLimits:
    """Over real HTTP (uvicorn, as `pgstack serve` runs it): what ASGITransport cannot show,
    a body refused before the client has even sent it."""

    @pytest.fixture
    async def base_url(self, db_url: str) -> AsyncIterator[str]:
        app = create_service_app(
            name="test",
            title="test",
            settings=Settings(DATABASE_URL=db_url),
            routers=[widgets],
        )
        async with over_http(app) as url:
            yield url

    async def test_a_declared_body_over_the_limit_is_a_413_before_it_is_sent(
        self, base_url: str
    ) -> None:
        """A 10 MB Content-Length is refused on its headers alone: the answer arrives while
        the client has not sent a byte of the body."""
        status, headers, body = await _raw_exchange(
            base_url,
            b"POST /widgets HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
            b"content-length: 10485760\r\n\r\n",
        )
        assert status == 413
        assert headers["content-type"] == "application/problem+json"
        assert headers["connection"] == "close"
        assert json.loads(body)["detail"] == f"The request body exceeds {MAX_BODY_BYTES} bytes."

    async def test_a_streamed_body_is_refused_once_it_passes_the_limit(self, base_url: str) -> None:
        """Without a length, the body is counted as it arrives: 413 after the limit, while the
        client still holds most of its 10 MB."""
        chunk = b"x" * (MAX_BODY_BYTES + 1)
        status, _, body = await _raw_exchange(
            base_url,
            b"POST /widgets HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
            + f"{len(chunk):x}\r\n".encode()
            + chunk
            + b"\r\n",
        )
        assert status == 413
        assert json.loads(body)["status"] == 413

    async def test_a_body_within_the_limit_is_served(self, base_url: str) -> None:
        name = "w" * (MAX_BODY_BYTES - 100)
        async with AsyncClient(base_url=base_url) as client:
            response = await client.post("/widgets", json={"name": name, "size": 1})
        assert response.status_code == 200
        assert response.json()["name"] == name

    async def test_a_megabyte_header_is_a_431(self, base_url: str) -> None:
        async with AsyncClient(base_url=base_url) as client:
            response = await client.get("/healthz", headers={"x-padding": "p" * 1_000_000})
        assert response.status_code == 431
        assert response.headers["content-type"] == "application/problem+json"

    async def test_every_answer_says_nosniff_and_never_framed(self, base_url: str) -> None:
        async with AsyncClient(base_url=base_url) as client:
            answers = [
                await client.get("/healthz"),
                await client.get("/nowhere"),
                await client.post("/widgets", json={}),
                await client.get("/docs"),
            ]
        assert [a.status_code for a in answers] == [200, 404, 422, 200]
        for answer in answers:
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"
            assert answer.headers["referrer-policy"] == "no-referrer"

    async def test_unsafe_answers_vary_on_what_a_csrf_check_reads(self, base_url: str) -> None:
        async with AsyncClient(base_url=base_url) as client:
            unsafe = await client.post("/widgets", json={"name": "a", "size": 1})
            safe = await client.get("/healthz")
        assert unsafe.headers["vary"] == "Origin, Sec-Fetch-Site"
        assert "vary" not in safe.headers


async def _raw_exchange(base_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as bytes and read the answer without sending anything more."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        status_line, *lines = head.decode().split("\r\n")
        headers = {
            name.lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines if line)
        }
        body = await reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), headers, body
    finally:
        writer.close()


class TestUndecodableBodies:
    async def test_a_json_body_that_is_not_utf8_is_a_422_problem(self, db_url: str) -> None:
        """Found by schemathesis (tests/contract): FastAPI answered an undocumented 400."""
        app = create_service_app(
            name="test", title="test", settings=Settings(DATABASE_URL=db_url), routers=[widgets]
        )
        async with serving(app) as client:
            response = await client.post(
                "/widgets",
                content=b"\\\xe3\x98\xbc\xff\x6b\xfe",
                headers={"content-type": "application/json"},
            )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "The body is not UTF-8 JSON."
