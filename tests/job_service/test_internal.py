"""job_service's internal enqueue (`POST /internal/v1/jobs`): service passports only, the
caller checked before the body is read."""

import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import psycopg
import pytest
from httpx import AsyncClient
from psycopg.rows import dict_row

from auth_service import service_tokens
from auth_service.app import create_app as create_auth_app
from job_service.app import create_app
from job_service.config import Settings
from tests.auth_service.kit import make_settings
from tests.job_service.job_helpers import app_settings
from tests.kit.jobs import job_row
from tests.kit.passports import PassportKey
from tests.kit.processes import free_port
from tests.kit.servers import over_http, serving
from tests.kit.users import make_user


def service_passport(
    key: PassportKey, scope: list[str] | None = None, kinds: list[str] | None = None
) -> dict[str, str]:
    """A service passport as auth_service's POST /v1/service-token mints it."""
    now = int(time.time())
    claims = {
        "sub": "service:demo",
        "scope": ["jobs:enqueue"] if scope is None else scope,
        "kinds": ["test:steps", "jobs:noop"] if kinds is None else kinds,
        "aud": "pgstack",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    return {"Authorization": f"Bearer {token}"}


def jobs_of(db_url: str, user_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT kind, args FROM background_jobs WHERE user_id = %s", (user_id,)
        ).fetchall()


def job_count(db_url: str, kind: str) -> int:
    """Jobs of this kind in the queue and in background_jobs."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM procrastinate_jobs WHERE task_name = %(kind)s)"
            " + (SELECT count(*) FROM background_jobs WHERE kind = %(kind)s)",
            {"kind": kind},
        ).fetchone()
    assert row is not None
    return int(row[0])


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
        """A kind the client may enqueue but no process registers (a typo in its entry)."""
        response = await client.post(
            "/internal/v1/jobs",
            json={"kind": "nope:nothing"},
            headers=service_passport(passport_key, kinds=["nope:nothing"]),
        )
        assert response.status_code == 422
        assert response.json()["title"] == "Unknown job kind"


class TestWhatAClientMayEnqueue:
    async def test_a_kind_its_client_may_not_enqueue_is_a_403(
        self, client: AsyncClient, db_url: str, passport_key: PassportKey
    ) -> None:
        user_id = make_user(db_url)
        response = await client.post(
            "/internal/v1/jobs",
            json={"kind": "jobs:noop", "user_id": user_id},
            headers=service_passport(passport_key, kinds=["test:steps"]),
        )
        assert response.status_code == 403
        assert response.json()["detail"] == (
            "This service client may not enqueue jobs of this kind."
        )
        assert jobs_of(db_url, user_id) == []

    @pytest.mark.parametrize(
        "kind",
        [
            "builtin:procrastinate.builtin_tasks.remove_old_jobs",
            "procrastinate.builtin_tasks.remove_old_jobs",
        ],
    )
    async def test_procrastinates_builtin_tasks_are_never_enqueued_even_when_listed(
        self, client: AsyncClient, db_url: str, passport_key: PassportKey, kind: str
    ) -> None:
        """remove_old_jobs with max_hours=0 would delete every finished queue row."""
        response = await client.post(
            "/internal/v1/jobs",
            json={"kind": kind, "args": {"max_hours": 0}},
            headers=service_passport(passport_key, kinds=[kind]),
        )
        assert response.status_code == 403
        assert job_count(db_url, kind) == 0

    @pytest.mark.parametrize("named", ["other", "as text", True, None])
    async def test_args_naming_another_user_than_the_jobs_are_a_422(
        self, client: AsyncClient, db_url: str, passport_key: PassportKey, named: object
    ) -> None:
        """The job would be listed as one user's and act on another's (tasks read
        args.user_id)."""
        owner, other = make_user(db_url), make_user(db_url)
        user_id = {"other": other, "as text": str(owner)}.get(str(named), named)
        response = await client.post(
            "/internal/v1/jobs",
            json={"kind": "test:steps", "user_id": owner, "args": {"user_id": user_id}},
            headers=service_passport(passport_key),
        )
        assert response.status_code == 422
        assert response.json()["detail"] == "The job's args name another user than the job's."
        assert jobs_of(db_url, owner) == []

    async def test_args_naming_the_jobs_own_user_are_taken(
        self, client: AsyncClient, db_url: str, passport_key: PassportKey
    ) -> None:
        owner = make_user(db_url)
        response = await client.post(
            "/internal/v1/jobs",
            json={"kind": "test:steps", "user_id": owner, "args": {"user_id": owner}},
            headers=service_passport(passport_key),
        )
        assert response.status_code == 202
        assert len(jobs_of(db_url, owner)) == 1


@pytest.mark.timeout(60)
async def test_auths_client_entry_decides_the_kinds_over_http(
    db_url: str,
) -> None:
    """The kinds of an AUTH_SERVICE_CLIENTS entry travel in the service passport auth mints:
    job_service takes the listed kind and refuses another, both served over real HTTP."""
    secret = secrets.token_urlsafe(32)
    client_entry = {
        "client_id": "billing",
        "secret_sha256": service_tokens.digest(secret),
        "scopes": ["jobs:enqueue"],
        "kinds": ["test:steps"],
    }
    auth_port = free_port()
    auth_app = create_auth_app(make_settings(db_url, service_clients=[client_entry]))
    jobs_app = create_app(
        Settings(
            DATABASE_URL=db_url,
            PGSTACK_ENV="test",
            PASSPORT_JWKS_URL=f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        )
    )
    user_id = make_user(db_url)
    async with over_http(auth_app, port=auth_port) as auth:
        async with over_http(jobs_app) as jobs, AsyncClient() as http:
            minted = await http.post(
                f"{auth}/v1/service-token", json={"client_id": "billing", "client_secret": secret}
            )
            assert minted.status_code == 200, minted.text
            headers = {"Authorization": f"Bearer {minted.json()['token']}"}
            answers = [
                (
                    await http.post(
                        f"{jobs}/internal/v1/jobs",
                        json={"kind": kind, "user_id": user_id},
                        headers=headers,
                    )
                ).status_code
                for kind in ("test:steps", "jobs:noop")
            ]
    assert answers == [202, 403]
    assert [job["kind"] for job in jobs_of(db_url, user_id)] == ["test:steps"]
