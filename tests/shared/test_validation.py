"""shared.validation: what routes accept, and the 422 for what Postgres refuses anyway."""

import json
from collections.abc import AsyncIterator
from typing import Annotated

import pytest
from fastapi import APIRouter, Header
from httpx import AsyncClient
from pydantic import BaseModel
from sqlalchemy import text

from job_service.config import Settings
from shared.db import SessionDep
from shared.service_app import create_service_app
from shared.validation import INT64_MAX, INT64_MIN, Id, Int64, PlainText, int64
from tests.kit.servers import serving


class Note(BaseModel):
    title: PlainText
    count: Int64 = 0


probe = APIRouter()


@probe.post("/notes/{note_id}")
async def save_note(
    note_id: Id, note: Note, x_version: Annotated[Int64 | None, Header()] = None
) -> Note:
    return note


@probe.post("/unvalidated")
async def store_unvalidated(session: SessionDep, value: str, number: int) -> dict[str, str]:
    """A route without the shared types: Postgres itself refuses what it cannot store."""
    await session.execute(
        text("SELECT CAST(:value AS text), CAST(:number AS bigint)"),
        {
            "value": value,
            "number": number,
        },
    )
    return {"stored": value}


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[AsyncClient]:
    app = create_service_app(
        name="test", title="test", settings=Settings(DATABASE_URL=db_url), routers=[probe]
    )
    async with serving(app) as client:
        yield client


class TestPlainText:
    @pytest.mark.parametrize(
        "text",
        ["Ada Lovelace", "Zoë Ångström", "Łukasz Żółć", "李小龍", "محمد", "🙂 emoji"],
    )
    async def test_text_people_write_is_accepted(self, client: AsyncClient, text: str) -> None:
        response = await client.post("/notes/1", json={"title": text})
        assert response.status_code == 200
        assert response.json()["title"] == text

    @pytest.mark.parametrize(
        "text",
        [
            "nul\x00",
            "tab\t",
            "newline\n",
            "escape\x1b[31m",
            "del\x7f",
            "c1\x85",
            "zero\u200bwidth",
            "bidi\u202eoverride",
            "bom\ufeff",
            "soft\u00adhyphen",
            "lone\ud800surrogate",
        ],
    )
    async def test_control_format_and_surrogate_characters_are_a_422(
        self, client: AsyncClient, text: str
    ) -> None:
        # As JSON escapes (ASCII), so a lone surrogate arrives as a client would send it.
        body = json.dumps({"title": text})
        response = await client.post(
            "/notes/1", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert error["loc"] == ["body", "title"]
        assert "control or format" in error["msg"]


class TestIntegers:
    @pytest.mark.parametrize("count", [INT64_MIN, 0, INT64_MAX])
    async def test_every_bigint_is_accepted(self, client: AsyncClient, count: int) -> None:
        response = await client.post("/notes/1", json={"title": "t", "count": count})
        assert response.status_code == 200
        assert response.json()["count"] == count

    @pytest.mark.parametrize("count", [INT64_MIN - 1, INT64_MAX + 1, 10**30])
    async def test_integers_beyond_bigint_in_a_body_are_a_422(
        self, client: AsyncClient, count: int
    ) -> None:
        response = await client.post("/notes/1", json={"title": "t", "count": count})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "count"]

    @pytest.mark.parametrize("note_id", ["0", "-1", str(2**63), "99999999999999999999999"])
    async def test_an_id_in_a_path_is_a_positive_bigint(
        self, client: AsyncClient, note_id: str
    ) -> None:
        response = await client.post(f"/notes/{note_id}", json={"title": "t"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["path", "note_id"]

    async def test_an_integer_header_beyond_bigint_is_a_422(self, client: AsyncClient) -> None:
        response = await client.post(
            "/notes/1", json={"title": "t"}, headers={"x-version": str(2**64)}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["header", "x-version"]

    def test_int64_reads_text_within_the_range_and_refuses_the_rest(self) -> None:
        assert int64("42") == 42
        assert int64(str(INT64_MIN)) == INT64_MIN
        for text_value in (str(INT64_MAX + 1), "99999999999999999999999", "x"):
            with pytest.raises(ValueError):  # noqa: PT011 - int() and the range say the same
                int64(text_value)


class TestDataErrorsThatSlipThrough:
    async def test_a_nul_postgres_refuses_is_a_422_not_a_500(self, client: AsyncClient) -> None:
        response = await client.post("/unvalidated", params={"value": "a\x00b", "number": 1})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "A value in the request cannot be stored."

    async def test_an_integer_bigint_cannot_hold_is_a_422_not_a_500(
        self, client: AsyncClient
    ) -> None:
        response = await client.post("/unvalidated", params={"value": "a", "number": 2**63})
        assert response.status_code == 422
