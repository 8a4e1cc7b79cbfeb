"""job_service's internal enqueue (`POST /internal/v1/jobs`): service passports only, the
caller checked before the body is read."""

import time
import uuid
from collections.abc import AsyncIterator

import jwt
import pytest
from httpx import AsyncClient

from job_service.app import create_app
from tests.job_service.job_helpers import app_settings
from tests.kit.jobs import job_row
from tests.kit.passports import PassportKey
from tests.kit.servers import serving
from tests.kit.users import make_user


def service_passport(key: PassportKey, scope: list[str] | None = None) -> dict[str, str]:
    """A service passport as auth_service's POST /v1/service-token mints it."""
    now = int(time.time())
    claims = {
        "sub": "service:demo",
        "scope": ["jobs:enqueue"] if scope is None else scope,
        "aud": "pgstack",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client(db_url: str, passport_key: PassportKey) -> AsyncIterator[AsyncClient]:
    async with serving(create_app(app_settings(db_url, passport_key))) as client:
        yield client


class TestInternalEnqueue:
    async def test_a_service_passport_enqueues_a_job_once_per_idempotency_key(
        self, client: AsyncClient, db_url: str, passport_key: PassportKey
    ) -> None:
        user_id = make_user(db_url)
        body = {
            "kind": "test:steps",
            "user_id": user_id,
            "args": {"steps": 1},
            "idempotency_key": "k1",
        }
        first = await client.post(
            "/internal/v1/jobs", json=body, headers=service_passport(passport_key)
        )
        second = await client.post(
            "/internal/v1/jobs", json=body, headers=service_passport(passport_key)
        )
        assert (first.status_code, second.status_code) == (202, 202)
        assert first.json()["id"] == second.json()["id"]
        assert job_row(db_url, first.json()["id"])["user_id"] == user_id

    async def test_without_a_service_passport_it_is_a_401(
        self, client: AsyncClient, db_url: str, passport_key: PassportKey
    ) -> None:
        users = passport_key.headers(make_user(db_url))
        forged = service_passport(PassportKey())
        for headers in ({}, {"Authorization": "Bearer wrong"}, users, forged):
            response = await client.post(
                "/internal/v1/jobs", json={"kind": "test:steps"}, headers=headers
            )
            assert response.status_code == 401

    async def test_a_service_passport_without_the_scope_is_a_403(
        self, client: AsyncClient, passport_key: PassportKey
    ) -> None:
        response = await client.post(
            "/internal/v1/jobs",
            json={"kind": "test:steps"},
            headers=service_passport(passport_key, ["jobs:read"]),
        )
        assert response.status_code == 403

    async def test_malformed_json_without_a_passport_is_a_401(self, client: AsyncClient) -> None:
        response = await client.post(
            "/internal/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert response.status_code == 401

    async def test_an_unknown_user_is_a_422(
        self, client: AsyncClient, passport_key: PassportKey
    ) -> None:
        response = await client.post(
            "/internal/v1/jobs",
            json={"kind": "test:steps", "user_id": 999_999_999},
            headers=service_passport(passport_key),
        )
        assert response.status_code == 422
        assert response.json()["title"] == "Unknown user"

    @pytest.mark.parametrize("user_id", [10**30, 2**63, 0, -1])
    async def test_a_user_id_no_bigint_holds_is_a_422(
        self, client: AsyncClient, passport_key: PassportKey, user_id: int
    ) -> None:
        response = await client.post(
            "/internal/v1/jobs",
            json={"kind": "test:steps", "user_id": user_id},
            headers=service_passport(passport_key),
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "user_id"]

    async def test_an_unknown_kind_is_a_422(
        self, client: AsyncClient, passport_key: PassportKey
    ) -> None:
        response = await client.post(
            "/internal/v1/jobs",
            json={"kind": "nope:nothing"},
            headers=service_passport(passport_key),
        )
        assert response.status_code == 422
        assert response.json()["title"] == "Unknown job kind"
