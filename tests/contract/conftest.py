"""The three services as `pgstack dev` runs them (uvicorn processes, a worker, one database of
their own), with a signing key and a service client the tests know, so they can forge what an
attacker with a key would send and call the internal endpoints as a service does."""

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from jwt.algorithms import OKPAlgorithm

from auth_service import service_tokens
from tests.kit.databases import create_database, drop_database
from tests.kit.passports import PassportKey
from tests.kit.stack import PASSWORD, Stack, running_stack

SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
SERVICE_CLIENT = "contract-tests"
SERVICE_SECRET = secrets.token_urlsafe(32)


class Services:
    """The running services, the key auth_service signs with, and ways in."""

    def __init__(self, stack: Stack, key: PassportKey) -> None:
        self.stack = stack
        self.key = key
        self.auth, self.demo, self.jobs = stack.auth, stack.demo, stack.jobs

    def signed(self, claims: dict[str, Any]) -> str:
        """A passport with these claims, signed with auth_service's own key."""
        return jwt.encode(
            claims, self.key.private, algorithm="EdDSA", headers={"kid": self.key.kid}
        )

    def service_passport(self, secret: str = SERVICE_SECRET) -> httpx.Response:
        return httpx.post(
            f"{self.auth}/v1/service-token",
            json={"client_id": SERVICE_CLIENT, "client_secret": secret},
        )

    def service_headers(self) -> dict[str, str]:
        response = self.service_passport()
        assert response.status_code == 200, response.text
        return {"authorization": f"Bearer {response.json()['token']}"}


class User:
    """A registered user, logged in on auth_service (its cookie), with fresh passports."""

    def __init__(self, services: Services) -> None:
        self.email = services.stack.register()
        self.auth = httpx.Client(base_url=services.auth, headers=SAME_ORIGIN)
        self.id = 0
        self.log_in()

    def log_in(self) -> None:
        """A new session (after a test signed this one out)."""
        self.auth.cookies.clear()
        login = self.auth.post(
            "/v1/session",
            json={"email": self.email, "password": PASSWORD},
            # From an address of its own (auth_service trusts the stack's loopback as a
            # proxy), so no other test's failed logins throttle it.
            headers={"x-forwarded-for": f"192.0.2.{secrets.randbelow(250) + 1}"},
        )
        assert login.status_code == 200, login.text
        self.id = login.json()["user"]["id"]
        self._passport = ""
        self._fetched = 0.0

    def signed_in(self) -> bool:
        return self.auth.get("/v1/session").status_code == 200

    @property
    def cookie(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.auth.cookies.items())

    def passport(self) -> str:
        """A passport from GET /v1/session, renewed when half its minute has gone."""
        if time.monotonic() - self._fetched > 30:
            response = self.auth.get("/v1/session")
            assert response.status_code == 200, response.text
            self._passport = response.json()["passport"]["token"]
            self._fetched = time.monotonic()
        return self._passport

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.passport()}"}


@pytest.fixture(scope="session")
def services(
    server_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    key = PassportKey()
    private_jwk = {**OKPAlgorithm.to_jwk(key.private, as_dict=True), "kid": key.kid}
    client = {
        "client_id": SERVICE_CLIENT,
        "secret_sha256": service_tokens.digest(SERVICE_SECRET),
        "scopes": ["jobs:enqueue"],
        "kinds": ["demo:enable"],
    }
    database_url = create_database(server_url, template=template_db, prefix="contract")
    log_path = tmp_path_factory.mktemp("contract") / "stack.log"
    try:
        with running_stack(
            database_url,
            log_path,
            PGSTACK_WEB="0",
            AUTH_PASSPORT_PRIVATE_KEYS=json.dumps([private_jwk]),
            AUTH_SERVICE_CLIENTS=json.dumps([client]),
            JOBS_SSE_HEARTBEAT_SECONDS="0.2",
            DEMO_STEP_DELAY="0",
        ) as stack:
            yield Services(stack, key)
    finally:
        drop_database(database_url)


@pytest.fixture(scope="session")
def user(services: Services) -> Iterator[User]:
    user = User(services)
    yield user
    user.auth.close()
