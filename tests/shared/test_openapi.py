"""Each service's OpenAPI documents the status codes its routes answer, so that a client's
generated types and a fuzzer (tests/contract) can hold every answer to the schema: 413, 422
and 503 on every API route, 401 where a passport or a session is needed, 403 and 415 where
auth_service's CSRF check runs, 429 where logins and registrations are throttled, 200 and 202
on the operations, 404 on a job, 409 where a state can refuse."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.app import create_app as create_auth_app
from auth_service.config import Settings as AuthSettings
from demo_service.app import create_app as create_demo_app
from demo_service.config import Settings as DemoSettings
from job_service.app import create_app as create_job_app
from job_service.config import Settings as JobSettings
from shared.errors import PROBLEM_JSON
from tests.kit.passports import PassportKey

# Not the API's routes: liveness, readiness (checked on its own) and the key set and service
# token, which read no database and no passport.
OUTSIDE_THE_API = {"/healthz", "/readyz", "/.well-known/jwks.json", "/v1/service-token"}
UNSAFE = {"post", "put", "patch", "delete"}

Operations = dict[tuple[str, str], set[int]]


async def documented(app: FastAPI) -> tuple[Operations, dict[str, Any]]:
    """The service's /openapi.json, fetched over its HTTP interface: the status codes each
    (method, path) documents, and the document itself."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://testserver"
    ) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    operations = {
        (method, path): {int(code) for code in operation["responses"]}
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    return operations, spec


@pytest.fixture(scope="module")
def services(db_url: str, passport_key: PassportKey) -> dict[str, FastAPI]:
    return {
        "auth": create_auth_app(AuthSettings(DATABASE_URL=db_url, PGSTACK_ENV="test")),
        "demo": create_demo_app(DemoSettings(DATABASE_URL=db_url, PASSPORT_JWKS=passport_key.jwks)),
        "jobs": create_job_app(JobSettings(DATABASE_URL=db_url, PASSPORT_JWKS=passport_key.jwks)),
    }


def api(operations: Operations) -> Operations:
    return {key: codes for key, codes in operations.items() if key[1] not in OUTSIDE_THE_API}


@pytest.mark.parametrize("name", ["auth", "demo", "jobs"])
async def test_every_api_route_documents_413_422_and_503_and_readiness_its_503(
    services: dict[str, FastAPI], name: str
) -> None:
    operations, _ = await documented(services[name])

    missing = {key: {413, 422, 503} - codes for key, codes in api(operations).items()}

    assert api(operations), "no API routes found"
    assert {key: codes for key, codes in missing.items() if codes} == {}
    assert 503 in operations[("get", "/readyz")]


@pytest.mark.parametrize("name", ["auth", "demo", "jobs"])
async def test_every_documented_problem_is_problem_json(
    services: dict[str, FastAPI], name: str
) -> None:
    """A generated client parses a problem, not a guess: every error, 422 included, is
    rendered as problem+json (shared/errors.py), never FastAPI's own validation shape."""
    _, spec = await documented(services[name])
    wrong = [
        (method, path, code)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        for code, answer in operation["responses"].items()
        if int(code) >= 400 and PROBLEM_JSON not in answer.get("content", {})
    ]
    assert wrong == []


@pytest.mark.parametrize("name", ["demo", "jobs"])
async def test_every_route_behind_a_passport_documents_401(
    services: dict[str, FastAPI], name: str
) -> None:
    operations, _ = await documented(services[name])
    assert {key for key, codes in api(operations).items() if 401 not in codes} == set()
    if name == "jobs":  # a service passport: missing (401) or without the scope (403)
        assert {401, 403} <= operations[("post", "/internal/v1/jobs")]


async def test_the_operations_document_200_already_there_202_started_404_and_409(
    services: dict[str, FastAPI],
) -> None:
    operations, _ = await documented(services["demo"])
    for path in (
        "/v1/demo/enable",
        "/v1/demo/disable",
        "/v1/platforms/{platform_id}/connect",
        "/v1/platforms/{platform_id}/disconnect",
    ):
        assert {200, 202, 404, 409} <= operations[("post", path)], path


async def test_every_job_route_documents_404_and_cancel_and_retry_409(
    services: dict[str, FastAPI],
) -> None:
    operations, _ = await documented(services["jobs"])
    job_routes = {key: codes for key, codes in operations.items() if "{job_id}" in key[1]}
    # The user's five, and the operators' (/v1/ops/jobs/...) beside them.
    assert len([key for key in job_routes if key[1].startswith("/v1/jobs/")]) == 5
    assert {key for key, codes in job_routes.items() if 404 not in codes} == set()
    assert 409 in operations[("post", "/v1/jobs/{job_id}/cancel")]
    assert 409 in operations[("post", "/v1/jobs/{job_id}/retry")]


async def test_auth_documents_its_session_csrf_and_throttle_answers(
    services: dict[str, FastAPI],
) -> None:
    """401 wherever a session (or a password) is checked, 403 and 415 on every unsafe route
    (csrf.protect), 429 where logins and registrations back off."""
    operations = api((await documented(services["auth"]))[0])
    without_session = {("post", "/v1/users"), ("delete", "/v1/session")}

    assert {
        k for k, codes in operations.items() if k not in without_session and 401 not in codes
    } == set()
    assert {
        k for k, codes in operations.items() if k[0] in UNSAFE and not {403, 415} <= codes
    } == set()
    assert 429 in operations[("post", "/v1/session")]
    assert 429 in operations[("post", "/v1/users")]
