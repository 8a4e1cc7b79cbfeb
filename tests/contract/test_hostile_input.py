"""Hostile and careless input against the running services (real HTTP, real processes, one
real database): each is a clear 4xx problem, never a 500, and never reaches Postgres."""

import json
import socket
import time
import uuid

import httpx
import jwt
import pytest

from tests.contract.conftest import SAME_ORIGIN, SERVICE_CLIENT, Services, User
from tests.kit.stack import PASSWORD

TOO_BIG_FOR_BIGINT = 2**63


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


class TestControlCharacters:
    @pytest.mark.parametrize("char", ["\x00", "\x1b", "\u200b", "\u202e", "\ud800"])
    def test_registration_refuses_hidden_characters_in_the_email(
        self, services: Services, char: str
    ) -> None:
        email = f"ada{char}-{uuid.uuid4().hex[:6]}@example.com"
        # As JSON escapes (ASCII), so a lone surrogate arrives as a client would send it.
        response = httpx.post(
            f"{services.auth}/v1/users",
            content=json.dumps({"email": email, "password": PASSWORD}),
            headers={**SAME_ORIGIN, "content-type": "application/json"},
        )
        assert_problem(response, 422)
        assert response.json()["errors"][0]["loc"] == ["body", "email"]

    @pytest.mark.parametrize("char", ["\x00", "\x07", "\u2066"])
    def test_registration_refuses_hidden_characters_in_the_full_name(
        self, services: Services, char: str
    ) -> None:
        response = httpx.post(
            f"{services.auth}/v1/users",
            json={
                "email": f"ada-{uuid.uuid4().hex[:6]}@example.com",
                "password": PASSWORD,
                "full_name": f"Ada{char}Lovelace",
            },
            headers=SAME_ORIGIN,
        )
        assert_problem(response, 422)
        assert response.json()["errors"][0]["loc"] == ["body", "full_name"]

    def test_a_login_with_a_nul_in_the_email_is_a_422(self, services: Services) -> None:
        response = httpx.post(
            f"{services.auth}/v1/session",
            json={"email": "ada\x00@example.com", "password": PASSWORD},
            headers=SAME_ORIGIN,
        )
        assert_problem(response, 422)


class TestIntegers:
    @pytest.mark.parametrize("action", ["connect", "disconnect"])
    def test_a_platform_id_beyond_bigint_is_a_422(
        self, services: Services, user: User, action: str
    ) -> None:
        response = httpx.post(
            f"{services.demo}/v1/platforms/{TOO_BIG_FOR_BIGINT}/{action}", headers=user.headers()
        )
        assert_problem(response, 422)

    def test_an_enqueue_for_a_user_id_beyond_bigint_is_a_422(self, services: Services) -> None:
        response = httpx.post(
            f"{services.jobs}/internal/v1/jobs",
            json={"kind": "demo:enable", "user_id": 10**30},
            headers=services.service_headers(),
        )
        assert_problem(response, 422)
        assert response.json()["errors"][0]["loc"] == ["body", "user_id"]

    @pytest.mark.parametrize(
        "last_event_id", ["99999999999999999999999", "1~" + "0" * 32 + ".99999999999999999999"]
    )
    def test_a_last_event_id_beyond_bigint_starts_the_stream_afresh(
        self, services: Services, user: User, last_event_id: str
    ) -> None:
        """The stream stays open (its keep-alives keep coming) instead of aborting after its
        200, as an unreadable cursor does."""
        headers = {**user.headers(), "last-event-id": last_event_id}
        with httpx.stream("GET", f"{services.jobs}/v1/events", headers=headers) as response:
            assert response.status_code == 200
            keep_alives = 0
            for line in response.iter_lines():
                keep_alives += line.startswith(":")
                if keep_alives == 3:
                    break
        assert keep_alives == 3


class TestPassportClaims:
    def claims(self, user: User, **overrides: object) -> dict[str, object]:
        now = int(time.time())
        claims: dict[str, object] = {
            "sub": str(user.id),
            "sid": str(uuid.uuid4()),
            "aud": "pgstack",
            "iat": now,
            "exp": now + 60,
        }
        return {**claims, **overrides}

    @pytest.mark.parametrize(
        "overrides",
        [
            {"sid": 12345},
            {"sid": ["a"]},
            {"sid": None},
            {"sub": 7},
            {"sub": str(TOO_BIG_FOR_BIGINT)},
            {"sub": "٣"},
            {"exp": str(int(time.time()) + 60)},
        ],
        ids=[
            "sid-int",
            "sid-list",
            "sid-null",
            "sub-int",
            "sub-huge",
            "sub-arabic-digit",
            "exp-str",
        ],
    )
    def test_a_signed_passport_with_claims_of_the_wrong_type_is_a_401(
        self, services: Services, user: User, overrides: dict[str, object]
    ) -> None:
        token = services.signed(self.claims(user, **overrides))
        for base in (services.demo, services.jobs):
            path = "/v1/demo" if base == services.demo else "/v1/jobs"
            response = httpx.get(f"{base}{path}", headers={"authorization": f"Bearer {token}"})
            assert_problem(response, 401)

    def test_a_signed_passport_that_lives_a_year_is_refused(
        self, services: Services, user: User
    ) -> None:
        """Signed by auth_service's own key, yet no passport auth_service mints lives longer
        than a minute: a year-long one can only be a forgery with a leaked key."""
        now = int(time.time())
        year = self.claims(user, iat=now, exp=now + 365 * 86400)
        backdated = self.claims(user, iat=now - 365 * 86400 + 30, exp=now + 365 * 86400)
        for claims in (year, backdated):
            token = services.signed(claims)
            response = httpx.get(
                f"{services.demo}/v1/demo", headers={"authorization": f"Bearer {token}"}
            )
            assert_problem(response, 401)
            assert "longer" in response.json()["detail"]
        fine = services.signed(self.claims(user))
        response = httpx.get(
            f"{services.demo}/v1/demo", headers={"authorization": f"Bearer {fine}"}
        )
        assert response.status_code == 200


class TestServicePassports:
    def test_client_credentials_buy_a_minute_long_service_passport(
        self, services: Services
    ) -> None:
        response = services.service_passport()
        assert response.status_code == 200, response.text
        body = response.json()
        claims = jwt.decode(body["token"], options={"verify_signature": False})
        assert claims["sub"] == f"service:{SERVICE_CLIENT}"
        assert claims["scope"] == body["scope"] == ["jobs:enqueue"]
        assert 0 < claims["exp"] - claims["iat"] <= 60

    @pytest.mark.parametrize(
        "credentials",
        [
            {"client_id": SERVICE_CLIENT, "client_secret": "wrong"},
            {"client_id": "someone-else", "client_secret": "x" * 43},
        ],
    )
    def test_wrong_client_credentials_are_a_401(
        self, services: Services, credentials: dict[str, str]
    ) -> None:
        response = httpx.post(f"{services.auth}/v1/service-token", json=credentials)
        assert_problem(response, 401)

    def test_a_service_passport_enqueues_a_job_for_a_user(
        self, services: Services, user: User
    ) -> None:
        response = httpx.post(
            f"{services.jobs}/internal/v1/jobs",
            json={"kind": "demo:enable", "user_id": user.id, "idempotency_key": uuid.uuid4().hex},
            headers=services.service_headers(),
        )
        assert response.status_code == 202, response.text
        # The user's job: they see it with their own passport.
        job = httpx.get(f"{services.jobs}/v1/jobs/{response.json()['id']}", headers=user.headers())
        assert job.status_code == 200
        assert job.json()["kind"] == "demo:enable"

    def test_a_users_passport_cannot_enqueue(self, services: Services, user: User) -> None:
        response = httpx.post(
            f"{services.jobs}/internal/v1/jobs",
            json={"kind": "demo:enable", "user_id": user.id},
            headers=user.headers(),
        )
        assert_problem(response, 401)

    def test_a_service_passport_is_not_a_users(self, services: Services) -> None:
        response = httpx.get(f"{services.jobs}/v1/jobs", headers=services.service_headers())
        assert_problem(response, 401)

    def test_a_service_passport_without_the_scope_is_a_403(
        self, services: Services, user: User
    ) -> None:
        now = int(time.time())
        token = services.signed(
            {
                "sub": "service:other",
                "scope": ["jobs:read"],
                "aud": "pgstack",
                "iat": now,
                "exp": now + 60,
            }
        )
        response = httpx.post(
            f"{services.jobs}/internal/v1/jobs",
            json={"kind": "demo:enable", "user_id": user.id},
            headers={"authorization": f"Bearer {token}"},
        )
        assert_problem(response, 403)

    def test_malformed_json_without_a_passport_is_a_401(self, services: Services) -> None:
        response = httpx.post(
            f"{services.jobs}/internal/v1/jobs",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert_problem(response, 401)

    def test_the_caller_is_refused_before_its_body_is_read(self, services: Services) -> None:
        """Headers and the first byte of a 60 KB body: the 401 comes back while the client
        still holds the rest."""
        status = _status_before_the_body(
            services.jobs,
            b"POST /internal/v1/jobs HTTP/1.1\r\nhost: jobs\r\ncontent-type: application/json\r\n"
            b"content-length: 60000\r\n\r\n{",
        )
        assert status == 401


class TestSizes:
    def test_a_10_mb_body_is_a_413_before_it_is_sent(self, services: Services) -> None:
        for base, path in ((services.auth, "/v1/users"), (services.jobs, "/internal/v1/jobs")):
            request = (
                f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                f"sec-fetch-site: same-origin\r\ncontent-length: {10 * 2**20}\r\n\r\n"
            )
            assert _status_before_the_body(base, request.encode()) == 413

    def test_a_megabyte_header_is_a_431(self, services: Services, user: User) -> None:
        request = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-padding: " + b"p" * 2**20 + b"\r\n\r\n"
        for base in (services.auth, services.demo, services.jobs):
            assert _status_before_the_body(base, request) == 431


class TestHeaders:
    def test_every_service_says_nosniff_on_every_answer(
        self, services: Services, user: User
    ) -> None:
        answers = [
            httpx.get(f"{services.auth}/v1/session", headers={"cookie": user.cookie}),
            httpx.get(f"{services.auth}/v1/session"),
            httpx.get(f"{services.demo}/v1/dashboard", headers=user.headers()),
            httpx.get(f"{services.demo}/v1/dashboard"),
            httpx.get(f"{services.jobs}/v1/jobs", headers=user.headers()),
            httpx.get(f"{services.jobs}/docs"),
        ]
        assert [a.status_code for a in answers] == [200, 401, 200, 401, 200, 200]
        for answer in answers:
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]

    def test_auths_csrf_answers_vary_on_origin_and_fetch_site(self, services: Services) -> None:
        refused = httpx.post(
            f"{services.auth}/v1/session", json={"email": "a@example.com", "password": "x"}
        )
        assert refused.status_code == 403
        vary = {v.strip().lower() for v in refused.headers["vary"].split(",")}
        assert {"origin", "sec-fetch-site"} <= vary


def _status_before_the_body(base_url: str, request: bytes) -> int:
    """Send `request` (headers and at most the start of a body) and read the status line
    without sending more: the server answered without waiting for the rest."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        with sock.makefile("rb") as answer:
            status_line = answer.readline()
    return int(status_line.split()[1])
