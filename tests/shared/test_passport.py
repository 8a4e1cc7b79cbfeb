"""Passports between services: auth_service mints them, any other service verifies them
offline and hears of revocations by NOTIFY. Two real apps on one real database."""

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter
from httpx import AsyncClient

from auth_service import keys
from auth_service.app import create_app
from demo_service.app import create_app as create_demo_app
from demo_service.config import Settings as DemoSettings
from job_service.app import create_app as create_job_app
from job_service.config import Settings as JobSettings
from shared.passport import CurrentPassport, service_route
from shared.service_app import create_service_app
from shared.settings import ServiceSettings
from tests.auth_service.kit import (
    SAME_ORIGIN,
    ManualClock,
    bearer,
    client_for,
    make_settings,
    new_user,
    with_cookie,
)
from tests.kit.passports import PassportKey
from tests.kit.processes import free_port
from tests.kit.servers import over_http, serving
from tests.kit.waiting import eventually

probe = APIRouter()


@probe.get("/whoami")
async def whoami(passport: CurrentPassport) -> dict[str, str]:
    return {"user_id": str(passport.user_id), "session_id": str(passport.session_id)}


@asynccontextmanager
async def auth_service(
    db_url: str, clock: ManualClock | None = None, **overrides: object
) -> AsyncIterator[AsyncClient]:
    app = create_app(make_settings(db_url, **overrides), clock=clock)
    async with client_for(app, headers=SAME_ORIGIN) as client:
        yield client


@asynccontextmanager
async def other_service(
    db_url: str, jwks: str | None, audience: str = "pgstack", jwks_url: str = "http://127.0.0.1:9"
) -> AsyncIterator[AsyncClient]:
    """A second service, as demo_service and job_service are built: passports only."""
    settings = ServiceSettings(
        DATABASE_URL=db_url,
        PGSTACK_ENV="test",
        PASSPORT_JWKS=jwks,
        PASSPORT_JWKS_URL=jwks_url,
        PASSPORT_AUDIENCE=audience,
    )
    app = create_service_app(
        name="probe", title="probe", settings=settings, routers=[probe], verify_passports=True
    )
    async with serving(app) as client:
        yield client


async def passport_of(auth: AsyncClient) -> tuple[str, str]:
    """Log a new user in; return (session token, passport)."""
    _, token = await new_user(auth)
    response = await auth.get("/v1/session", headers=with_cookie(token))
    return token, response.json()["passport"]["token"]


async def jwks_of(auth: AsyncClient) -> str:
    return (await auth.get("/.well-known/jwks.json")).text


@pytest.mark.timeout(30)
async def test_a_revoked_sessions_passport_is_refused_by_another_service_within_a_second(
    db_url: str,
) -> None:
    async with auth_service(db_url) as auth, other_service(db_url, await jwks_of(auth)) as other:
        token, passport = await passport_of(auth)
        accepted = await other.get("/whoami", headers=bearer(passport))
        assert accepted.status_code == 200
        assert accepted.json()["session_id"] == token.partition(".")[0]

        assert (await auth.delete("/v1/session", headers=with_cookie(token))).status_code == 204

        async def revoked() -> bool:
            return (await other.get("/whoami", headers=bearer(passport))).status_code != 200

        await eventually(revoked, within=1.0, every=0.01, what="revocation honoured")
        refused = await other.get("/whoami", headers=bearer(passport))
        assert refused.status_code == 401
        assert refused.json()["detail"] == "The session has been revoked."


async def test_a_service_started_after_a_revocation_still_refuses_the_passport(
    db_url: str,
) -> None:
    async with auth_service(db_url) as auth:
        token, passport = await passport_of(auth)
        await auth.delete("/v1/session", headers=with_cookie(token))
        jwks = await jwks_of(auth)
    async with other_service(db_url, jwks) as other:
        assert (await other.get("/whoami", headers=bearer(passport))).status_code == 401


async def test_a_passport_for_another_audience_is_a_401(db_url: str) -> None:
    async with auth_service(db_url, PASSPORT_AUDIENCE="somebody-else") as auth:
        _, passport = await passport_of(auth)
        async with other_service(db_url, await jwks_of(auth), audience="pgstack") as other:
            assert (await other.get("/whoami", headers=bearer(passport))).status_code == 401


async def test_a_passport_with_a_bad_signature_is_a_401(db_url: str) -> None:
    async with auth_service(db_url) as auth:
        _, passport = await passport_of(auth)
        jwks = await jwks_of(auth)
    header = jwt.get_unverified_header(passport)
    claims = jwt.decode(passport, options={"verify_signature": False})
    # Same claims, same key id, signed by a key that is not auth's.
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), "EdDSA", headers=header)
    head, body, signature = passport.split(".")
    flipped = f"{head}.{body}.{('A' if signature[0] != 'A' else 'B') + signature[1:]}"
    async with other_service(db_url, jwks) as other:
        assert (await other.get("/whoami", headers=bearer(passport))).status_code == 200
        for bad in (forged, flipped):
            assert (await other.get("/whoami", headers=bearer(bad))).status_code == 401


async def test_a_passport_past_its_expiry_is_a_401(db_url: str) -> None:
    clock = ManualClock()
    clock.advance(seconds=-61)  # minted 61 s ago: a 60 s passport is now stale
    async with auth_service(db_url, clock) as auth:
        _, passport = await passport_of(auth)
        async with other_service(db_url, await jwks_of(auth)) as other:
            assert (await other.get("/whoami", headers=bearer(passport))).status_code == 401


async def test_a_rotated_out_key_still_verifies_while_it_is_published(db_url: str) -> None:
    old, new = keys.generate_pem(), keys.generate_pem()
    async with auth_service(db_url, passport_private_keys=[old]) as before_rotation:
        _, old_passport = await passport_of(before_rotation)
    async with auth_service(db_url, passport_private_keys=[new, old]) as after_rotation:
        _, new_passport = await passport_of(after_rotation)
        published = await jwks_of(after_rotation)
    assert len(json.loads(published)["keys"]) == 2
    async with other_service(db_url, published) as other:
        for passport in (old_passport, new_passport):
            assert (await other.get("/whoami", headers=bearer(passport))).status_code == 200
    only_new = json.dumps({"keys": json.loads(published)["keys"][:1]})
    async with other_service(db_url, only_new) as other:
        assert (await other.get("/whoami", headers=bearer(old_passport))).status_code == 401


@asynccontextmanager
async def other_service_fetching_keys(db_url: str) -> AsyncIterator[tuple[str, AsyncClient]]:
    """auth_service behind a real uvicorn socket and a service that fetches its JWKS by URL;
    yields a passport of a new user and the other service's client."""
    async with (
        over_http(create_app(make_settings(db_url))) as base,
        AsyncClient(base_url=base, headers=SAME_ORIGIN) as auth,
    ):
        _, passport = await passport_of(auth)
        jwks_url = f"{base}/.well-known/jwks.json"
        async with other_service(db_url, None, jwks_url=jwks_url) as other:
            yield passport, other


@pytest.mark.timeout(60)
async def test_a_key_auth_stops_publishing_is_refused_by_demo_and_jobs_within_the_refresh_interval(
    db_url: str,
) -> None:
    """A rotation K1 -> K2 ends trust in K1: demo and jobs, which accepted a K1 passport,
    refuse it once auth publishes only K2, within their refresh interval (1 s here), and take
    K2's."""
    k1, k2 = keys.generate_pem(), keys.generate_pem()
    port = free_port()
    verifying: dict[str, Any] = {
        "DATABASE_URL": db_url,
        "PGSTACK_ENV": "test",
        "PASSPORT_JWKS_URL": f"http://127.0.0.1:{port}/.well-known/jwks.json",
        "PASSPORT_JWKS_REFRESH_SECONDS": 1,
    }
    routes = {"demo": "/v1/demo", "jobs": "/v1/jobs"}

    @asynccontextmanager
    async def auth_signing_with(pem: str) -> AsyncIterator[AsyncClient]:
        app = create_app(make_settings(db_url, passport_private_keys=[pem]))
        async with (
            over_http(app, port=port) as base,
            AsyncClient(base_url=base, headers=SAME_ORIGIN) as auth,
        ):
            yield auth

    async with (
        serving(create_demo_app(DemoSettings(**verifying))) as demo,
        serving(create_job_app(JobSettings(**verifying))) as jobs,
    ):
        services = {"demo": demo, "jobs": jobs}

        async def codes(passport: str) -> dict[str, int]:
            return {
                name: (await services[name].get(route, headers=bearer(passport))).status_code
                for name, route in routes.items()
            }

        async with auth_signing_with(k1) as auth:
            _, k1_passport = await passport_of(auth)
            assert await codes(k1_passport) == {"demo": 200, "jobs": 200}
        async with auth_signing_with(k2) as auth:
            rotated_at = time.monotonic()
            _, k2_passport = await passport_of(auth)

            async def k1_refused() -> bool:
                return await codes(k1_passport) == {"demo": 401, "jobs": 401}

            await eventually(k1_refused, within=3.0, every=0.05, what="K1 refused")
            assert time.monotonic() - rotated_at < 1.0 + 1.0  # the interval, and some slack
            assert await codes(k2_passport) == {"demo": 200, "jobs": 200}


async def test_keys_are_fetched_from_auths_jwks_url(db_url: str) -> None:
    async with other_service_fetching_keys(db_url) as (passport, other):
        assert (await other.get("/whoami", headers=bearer(passport))).status_code == 200


async def test_keys_that_cannot_be_fetched_are_a_503_not_a_refused_passport(
    db_url: str, passport_key: PassportKey
) -> None:
    """auth_service down: nothing says the passport is bad, so the client is told to retry."""
    port = free_port()  # nothing listens there
    async with other_service(
        db_url, None, jwks_url=f"http://127.0.0.1:{port}/.well-known/jwks.json"
    ) as other:
        response = await other.get("/whoami", headers=passport_key.headers(7))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.headers["content-type"] == "application/problem+json"


async def test_concurrent_first_requests_all_wait_for_the_one_key_fetch(db_url: str) -> None:
    """A page that calls a service several times at once is not refused while keys arrive."""
    async with other_service_fetching_keys(db_url) as (passport, other):
        responses = await asyncio.gather(
            *(other.get("/whoami", headers=bearer(passport)) for _ in range(8))
        )
        assert [r.status_code for r in responses] == [200] * 8


def test_the_key_id_is_the_keys_thumbprint_so_replicas_agree() -> None:
    pem = keys.generate_pem()
    assert keys.load_key(pem).kid == keys.load_key(pem).kid
    assert keys.load_key(pem).kid != keys.load_key(keys.generate_pem()).kid


def test_passports_carry_the_claims_the_verifiers_require() -> None:
    passport_keys = keys.PassportKeys.from_settings([])
    now = dt.datetime.now(dt.UTC)
    session_id = uuid.uuid4()
    token, expires_at = passport_keys.sign(
        user_id=7, session_id=session_id, audience="pgstack", now=now, ttl=dt.timedelta(seconds=60)
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "7"
    assert claims["sid"] == str(session_id)
    assert claims["exp"] - claims["iat"] == 60
    assert expires_at.timestamp() == claims["exp"]
    assert jwt.get_unverified_header(token)["kid"] == passport_keys.signing.kid


# Claims as auth_service signs them, for the tests below to bend one at a time.
def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "7",
        "sid": str(uuid.uuid4()),
        "aud": "pgstack",
        "iat": now,
        "exp": now + 60,
    }
    return {**claims, **overrides}


scoped = APIRouter(route_class=service_route("jobs:enqueue"))


@scoped.post("/enqueue")
async def scoped_enqueue(body: dict[str, int]) -> dict[str, int]:
    return body


@asynccontextmanager
async def service_with_key(db_url: str, key: PassportKey) -> AsyncIterator[AsyncClient]:
    settings = ServiceSettings(DATABASE_URL=db_url, PGSTACK_ENV="test", PASSPORT_JWKS=key.jwks)
    app = create_service_app(
        name="probe",
        title="probe",
        settings=settings,
        routers=[probe, scoped],
        verify_passports=True,
    )
    async with serving(app) as client:
        yield client


def _signed(key: PassportKey, claims: dict[str, object]) -> dict[str, str]:
    token = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    return bearer(token)


class TestLifetime:
    async def test_a_correctly_signed_passport_that_lives_a_year_is_a_401(
        self, db_url: str, passport_key: PassportKey
    ) -> None:
        now = int(time.time())
        async with service_with_key(db_url, passport_key) as service:
            year = await service.get(
                "/whoami", headers=_signed(passport_key, _claims(exp=now + 365 * 86400))
            )
            # Backdated: a minute's lifetime by exp - now would not show it, exp - iat does.
            backdated = await service.get(
                "/whoami",
                headers=_signed(passport_key, _claims(iat=now - 86400, exp=now + 30)),
            )
            minute = await service.get("/whoami", headers=_signed(passport_key, _claims()))
        assert (year.status_code, backdated.status_code, minute.status_code) == (401, 401, 200)
        assert year.json()["detail"] == "The passport claims to live longer than any passport does."

    async def test_a_few_seconds_of_clock_difference_are_allowed(
        self, db_url: str, passport_key: PassportKey
    ) -> None:
        now = int(time.time())
        ahead = _claims(iat=now + 3, exp=now + 63)
        async with service_with_key(db_url, passport_key) as service:
            response = await service.get("/whoami", headers=_signed(passport_key, ahead))
        assert response.status_code == 200


class TestClaimTypes:
    @pytest.mark.parametrize(
        "overrides",
        [
            {"sid": 12345},
            {"sid": {"a": 1}},
            {"sid": "not-a-uuid"},
            {"sid": None},
            {"sub": 7},
            {"sub": ["7"]},
            {"sub": " 7"},
            {"sub": "\u0667"},  # an Arabic-Indic seven: int() reads it
            {"sub": "0"},
            {"sub": str(2**63)},
            {"exp": "9999999999"},
            {"iat": True},
        ],
    )
    async def test_a_signed_passport_with_a_claim_of_the_wrong_type_is_a_401(
        self, db_url: str, passport_key: PassportKey, overrides: dict[str, object]
    ) -> None:
        async with service_with_key(db_url, passport_key) as service:
            response = await service.get(
                "/whoami", headers=_signed(passport_key, _claims(**overrides))
            )
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


class TestServicePassports:
    def service_claims(self, scope: object = ("jobs:enqueue",)) -> dict[str, object]:
        claims = _claims(
            sub="service:demo", scope=list(scope) if isinstance(scope, tuple) else scope
        )
        del claims["sid"]
        return claims

    async def test_a_service_passport_with_the_scope_is_let_through(
        self, db_url: str, passport_key: PassportKey
    ) -> None:
        headers = _signed(passport_key, self.service_claims())
        async with service_with_key(db_url, passport_key) as service:
            response = await service.post("/enqueue", json={"n": 1}, headers=headers)
        assert response.status_code == 200
        assert response.json() == {"n": 1}

    async def test_without_the_scope_it_is_a_403(
        self, db_url: str, passport_key: PassportKey
    ) -> None:
        headers = _signed(passport_key, self.service_claims(("jobs:read",)))
        async with service_with_key(db_url, passport_key) as service:
            response = await service.post("/enqueue", json={"n": 1}, headers=headers)
        assert response.status_code == 403

    @pytest.mark.parametrize("scope", ["jobs:enqueue", None, [1]])
    async def test_a_scope_that_is_not_a_list_of_strings_is_a_401(
        self, db_url: str, passport_key: PassportKey, scope: object
    ) -> None:
        headers = _signed(passport_key, self.service_claims(scope))
        async with service_with_key(db_url, passport_key) as service:
            response = await service.post("/enqueue", json={"n": 1}, headers=headers)
        assert response.status_code == 401

    @pytest.mark.parametrize("kinds", ["demo:enable", [1], None])
    async def test_kinds_that_are_not_a_list_of_strings_are_a_401(
        self, db_url: str, passport_key: PassportKey, kinds: object
    ) -> None:
        claims = {**self.service_claims(), "kinds": kinds}
        async with service_with_key(db_url, passport_key) as service:
            response = await service.post(
                "/enqueue", json={"n": 1}, headers=_signed(passport_key, claims)
            )
        assert response.status_code == 401

    async def test_a_users_passport_is_no_service_passport_and_the_reverse(
        self, db_url: str, passport_key: PassportKey
    ) -> None:
        async with service_with_key(db_url, passport_key) as service:
            user_on_internal = await service.post(
                "/enqueue", json={"n": 1}, headers=_signed(passport_key, _claims())
            )
            service_on_user = await service.get(
                "/whoami", headers=_signed(passport_key, self.service_claims())
            )
        assert (user_on_internal.status_code, service_on_user.status_code) == (401, 401)

    async def test_the_caller_is_checked_before_the_body_is_parsed(
        self, db_url: str, passport_key: PassportKey
    ) -> None:
        """Malformed JSON from an unknown caller is a 401: the body was never parsed."""
        async with service_with_key(db_url, passport_key) as service:
            response = await service.post(
                "/enqueue", content=b"{not json", headers={"content-type": "application/json"}
            )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
