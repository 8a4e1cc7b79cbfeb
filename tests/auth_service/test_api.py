"""auth_service over real HTTP (in-process ASGI) on a real, migrated PostgreSQL."""

import asyncio
import base64
import uuid

import bcrypt
import jwt
import psycopg
import pytest
from httpx import AsyncClient, Response

from auth_service import tokens
from tests.auth_service.kit import (
    COOKIE,
    PASSWORD,
    ManualClock,
    ServeFactory,
    bearer,
    login,
    new_user,
    register,
    session_cookie,
    unique_email,
    with_cookie,
)
from tests.kit.waiting import eventually


def count(db_url: str, query: str, *params: object) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query.encode(), params).fetchone()
    assert row is not None
    return int(row[0])


async def send_as_is(
    client: AsyncClient, method: str, url: str, headers: dict[str, str]
) -> Response:
    """Send exactly `headers`: without the client's default same-origin header."""
    request = client.build_request(method, url)
    del request.headers["sec-fetch-site"]
    request.headers.update(headers)
    return await client.send(request)


async def waiting_on_locks(conn: psycopg.AsyncConnection[object]) -> int:
    """How many backends of this database wait for a lock (all queued behind `conn`'s)."""
    # Outside the blocker's transaction: pg_stat_activity is a per-transaction snapshot.
    async with await psycopg.AsyncConnection.connect(conn.info.dsn, autocommit=True) as watcher:
        cursor = await watcher.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def without_request_id(body: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in body.items() if key != "request_id"}


class TestRegister:
    async def test_email_is_normalised_and_unique_whatever_its_case(
        self, client: AsyncClient
    ) -> None:
        email = unique_email()
        response = await client.post(
            "/v1/users", json={"email": f"  {email.upper()} ", "password": PASSWORD}
        )
        assert response.status_code == 201
        assert response.json()["email"] == email
        again = await client.post(
            "/v1/users", json={"email": email.title(), "password": "another passphrase"}
        )
        # The same answer as for a new email (registering says nothing of who has an
        # account), and no second account: only the first password logs in.
        assert again.status_code == 201
        assert again.json() == response.json()
        await login(client, email)
        wrong = await client.post(
            "/v1/session", json={"email": email, "password": "another passphrase"}
        )
        assert wrong.status_code == 401

    @pytest.mark.parametrize("length", [7, 1025])
    async def test_password_outside_8_to_1024_characters_is_a_422(
        self, client: AsyncClient, length: int
    ) -> None:
        response = await client.post(
            "/v1/users", json={"email": unique_email(), "password": "p" * length}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "password"]

    async def test_a_long_password_is_never_truncated(self, client: AsyncClient) -> None:
        password = "x" * 100 + "tail"
        email = await register(client, password="x" * 100 + "tail")
        await login(client, email, password)
        # bcrypt would have ignored everything after byte 72.
        response = await client.post(
            "/v1/session", json={"email": email, "password": "x" * 100 + "other"}
        )
        assert response.status_code == 401

    async def test_a_malformed_email_is_a_422(self, client: AsyncClient) -> None:
        response = await client.post("/v1/users", json={"email": "nobody", "password": PASSWORD})
        assert response.status_code == 422


class TestLogin:
    async def test_sets_the_exact_host_only_cookie_with_no_store(self, client: AsyncClient) -> None:
        email = await register(client)
        response = await client.post("/v1/session", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200
        (cookie,) = response.headers.get_list("set-cookie")
        name_value, *attributes = cookie.split("; ")
        assert name_value.startswith(f"{COOKIE}=")
        assert attributes == [
            f"Max-Age={30 * 24 * 3600}",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
        ]
        assert "domain" not in cookie.lower()
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["user"]["email"] == email
        assert "token" not in response.json()

    async def test_development_setting_gives_a_plain_cookie_without_secure(
        self, serve: ServeFactory
    ) -> None:
        async with serve(cookie_secure=False) as client:
            email = await register(client)
            response = await client.post("/v1/session", json={"email": email, "password": PASSWORD})
            token = session_cookie(response, "session")
            assert "Secure" not in response.headers["set-cookie"]
            me = await client.get("/v1/session", headers=with_cookie(token, "session"))
            assert me.status_code == 200

    async def test_unknown_email_and_wrong_password_answer_identically(
        self, client: AsyncClient
    ) -> None:
        email = await register(client)
        wrong = await client.post("/v1/session", json={"email": email, "password": "wrong pass"})
        unknown = await client.post(
            "/v1/session", json={"email": unique_email(), "password": "wrong pass"}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert without_request_id(wrong.json()) == without_request_id(unknown.json())
        assert wrong.headers.get("set-cookie") is None

    async def test_every_login_opens_a_new_session(self, client: AsyncClient) -> None:
        email = await register(client)
        first, second = await login(client, email), await login(client, email)
        assert first.partition(".")[0] != second.partition(".")[0]

    async def test_legacy_bcrypt_user_logs_in_and_is_rehashed_to_argon2id(
        self, client: AsyncClient, db_url: str
    ) -> None:
        email = unique_email()
        legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "INSERT INTO users (email, hashed_password) VALUES (%s, %s)", (email, legacy)
            )
        await login(client, email)
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT hashed_password FROM users WHERE email = %s", (email,)
            ).fetchone()
        assert row is not None
        assert row[0].startswith("$argon2id$")
        await login(client, email)  # and the new hash verifies

    async def test_a_legacy_password_over_72_bytes_logs_in_as_the_old_app_checked_it(
        self, client: AsyncClient, db_url: str
    ) -> None:
        email, password = unique_email(), "é" * 50  # 100 bytes: the old bcrypt used 72
        legacy = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "INSERT INTO users (email, hashed_password) VALUES (%s, %s)", (email, legacy)
            )
        await login(client, email, password)
        # Rehashed whole: from now on every character counts.
        response = await client.post(
            "/v1/session", json={"email": email, "password": "é" * 36 + "x" * 14}
        )
        assert response.status_code == 401

    async def test_a_disabled_account_cannot_log_in(self, client: AsyncClient, db_url: str) -> None:
        email = await register(client)
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE users SET is_active = false WHERE email = %s", (email,))
        response = await client.post("/v1/session", json={"email": email, "password": PASSWORD})
        assert response.status_code == 403


class TestSessionToken:
    async def test_answers_user_session_and_a_signed_passport(self, client: AsyncClient) -> None:
        email, token = await new_user(client)
        response = await client.get("/v1/session", headers=with_cookie(token))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["user"]["email"] == email
        assert body["session"]["id"] == token.partition(".")[0]
        assert body["session"]["presented_by"] == "cookie"
        assert body["session"]["auth_method"] == "password"
        jwks = (await client.get("/.well-known/jwks.json")).json()
        passport = body["passport"]["token"]
        kid = jwt.get_unverified_header(passport)["kid"]
        (key,) = [k for k in jwks["keys"] if k["kid"] == kid]
        claims = jwt.decode(passport, jwt.PyJWK(key), algorithms=["EdDSA"], audience="pgstack")
        assert claims["sub"] == str(body["user"]["id"])
        assert claims["sid"] == body["session"]["id"]
        assert 0 < claims["exp"] - claims["iat"] <= 60
        assert claims["jti"]

    async def test_checks_within_a_quarter_of_its_life_hand_out_the_same_passport(
        self, client: AsyncClient, clock: ManualClock
    ) -> None:
        """The check runs on every page view: a session's passport is signed again only once a
        quarter of its 60 s has passed, and each session has its own."""
        _, token = await new_user(client)
        _, other = await new_user(client)

        async def passport(session: str) -> dict[str, str]:
            response = await client.get("/v1/session", headers=with_cookie(session))
            assert response.status_code == 200
            return dict(response.json()["passport"])

        first = await passport(token)
        clock.advance(seconds=14)
        assert await passport(token) == first
        assert (await passport(other))["token"] != first["token"]
        clock.advance(seconds=1)
        renewed = await passport(token)
        assert renewed["token"] != first["token"]
        assert renewed["expires_at"] > first["expires_at"]

    async def test_jwks_publishes_public_keys_only(self, client: AsyncClient) -> None:
        response = await client.get("/.well-known/jwks.json")
        (key,) = response.json()["keys"]
        assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
        assert "d" not in key

    async def test_a_token_rebuilt_from_a_table_dump_cannot_log_in(
        self, client: AsyncClient, db_url: str
    ) -> None:
        _, token = await new_user(client)
        session_id = token.partition(".")[0]
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT secret_hash FROM user_sessions WHERE id = %s", (session_id,)
            ).fetchone()
        assert row is not None
        dumped = base64.urlsafe_b64encode(bytes(row[0])).rstrip(b"=").decode()
        assert dumped not in token
        response = await client.get("/v1/session", headers=with_cookie(f"{session_id}.{dumped}"))
        assert response.status_code == 401

    async def test_a_tampered_secret_with_a_valid_id_is_a_401(self, client: AsyncClient) -> None:
        _, token = await new_user(client)
        session_id, _, secret = token.partition(".")
        flipped = ("A" if secret[0] != "A" else "B") + secret[1:]
        response = await client.get("/v1/session", headers=with_cookie(f"{session_id}.{flipped}"))
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_a_well_formed_unknown_id_is_a_401_and_creates_nothing(
        self, client: AsyncClient, db_url: str
    ) -> None:
        before = count(db_url, "SELECT count(*) FROM user_sessions")
        forged = str(tokens.Token(session_id=uuid.uuid4(), secret=b"\x01" * 32))
        response = await client.get("/v1/session", headers=with_cookie(forged))
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
        assert count(db_url, "SELECT count(*) FROM user_sessions") == before

    @pytest.mark.parametrize("value", ["", "garbage", "a.b", "x" * 5000])
    async def test_a_malformed_cookie_is_a_401(self, client: AsyncClient, value: str) -> None:
        response = await client.get("/v1/session", headers=with_cookie(value))
        assert response.status_code == 401

    async def test_no_cookie_is_a_401_with_no_store(self, client: AsyncClient) -> None:
        response = await client.get("/v1/session")
        assert response.status_code == 401
        assert response.headers["cache-control"] == "no-store"


class TestExpiry:
    async def test_a_session_unused_for_the_idle_timeout_is_over(
        self, client: AsyncClient, clock: ManualClock
    ) -> None:
        _, token = await new_user(client)
        clock.advance(days=6, hours=23)
        assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 200
        clock.advance(days=6, hours=23)  # used 6d23h ago: still alive, the use renewed it
        assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 200
        clock.advance(days=7, seconds=1)
        response = await client.get("/v1/session", headers=with_cookie(token))
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]

    async def test_a_session_used_every_day_still_ends_at_the_absolute_timeout(
        self, client: AsyncClient, clock: ManualClock
    ) -> None:
        _, token = await new_user(client)
        for _ in range(29):
            clock.advance(days=1)
            assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 200
        clock.advance(days=1)
        assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 401

    async def test_validation_within_the_hour_writes_nothing(
        self, client: AsyncClient, clock: ManualClock, db_url: str
    ) -> None:
        _, token = await new_user(client)
        session_id = token.partition(".")[0]
        clock.advance(minutes=59)
        response = await client.get("/v1/session", headers=with_cookie(token))
        assert response.status_code == 200
        last_seen = count(
            db_url,
            "SELECT extract(epoch FROM created_at - last_seen_at) FROM user_sessions WHERE id = %s",
            session_id,
        )
        assert last_seen == 0

    async def test_twenty_parallel_validations_at_renewal_all_succeed_and_write_once(
        self, serve: ServeFactory, clock: ManualClock, db_url: str
    ) -> None:
        # A pool of 20, so all 20 checks hold a connection at once and truly race.
        async with serve(DB_POOL_SIZE=20) as client:
            await self.race_twenty(client, clock, db_url)

    async def race_twenty(self, client: AsyncClient, clock: ManualClock, db_url: str) -> None:
        _, token = await new_user(client)
        with psycopg.connect(db_url) as conn:
            # A test-only trigger counts the writes of last_seen_at, as Postgres sees them.
            conn.execute(
                """
                CREATE TABLE IF NOT EXISTS last_seen_writes (session_id uuid);
                CREATE OR REPLACE FUNCTION count_last_seen() RETURNS trigger AS $$
                BEGIN INSERT INTO last_seen_writes VALUES (NEW.id); RETURN NEW; END
                $$ LANGUAGE plpgsql;
                CREATE OR REPLACE TRIGGER count_last_seen AFTER UPDATE OF last_seen_at
                    ON user_sessions FOR EACH ROW EXECUTE FUNCTION count_last_seen();
                """
            )
        clock.advance(hours=1, seconds=1)
        session_id = token.partition(".")[0]
        async with await psycopg.AsyncConnection.connect(db_url) as blocker:
            # Hold the row so that all 20 requests read the stale last-seen and queue on the
            # update together: the race is certain, not left to scheduling.
            await blocker.execute(
                "SELECT 1 FROM user_sessions WHERE id = %s FOR UPDATE", (session_id,)
            )
            requests = asyncio.gather(
                *(client.get("/v1/session", headers=with_cookie(token)) for _ in range(20))
            )

            async def all_queued() -> bool:
                return await waiting_on_locks(blocker) >= 20

            await eventually(all_queued, within=20, every=0.02, what="20 requests queued")
            assert await waiting_on_locks(blocker) == 20
            await blocker.rollback()
            responses = await requests
        assert [r.status_code for r in responses] == [200] * 20
        writes = count(
            db_url, "SELECT count(*) FROM last_seen_writes WHERE session_id = %s", session_id
        )
        assert writes == 1


class TestLogout:
    async def test_logout_clears_the_cookie_and_the_old_cookie_is_a_401(
        self, client: AsyncClient
    ) -> None:
        _, token = await new_user(client)
        response = await client.delete("/v1/session", headers=with_cookie(token))
        assert response.status_code == 204
        assert response.headers["set-cookie"] == (
            f"{COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
        )
        assert response.headers["cache-control"] == "no-store"
        assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 401

    async def test_logout_without_a_session_still_clears_the_cookie(
        self, client: AsyncClient
    ) -> None:
        response = await client.delete("/v1/session")
        assert response.status_code == 204
        assert response.headers["set-cookie"].startswith(f"{COOKIE}=;")

    async def test_log_out_everywhere_else_leaves_only_this_session(
        self, client: AsyncClient
    ) -> None:
        email, laptop = await new_user(client)
        phone = await login(client, email, **{"user-agent": "Mozilla/5.0 (iPhone)"})
        tablet = await login(client, email)
        response = await client.delete("/v1/sessions", headers=with_cookie(laptop))
        assert response.status_code == 200
        assert response.json() == {"revoked": 2}
        for gone in (phone, tablet):
            assert (await client.get("/v1/session", headers=with_cookie(gone))).status_code == 401
        devices = (await client.get("/v1/sessions", headers=with_cookie(laptop))).json()
        assert [(d["id"], d["current"]) for d in devices] == [(laptop.partition(".")[0], True)]

    async def test_the_device_list_shows_browser_address_and_which_is_current(
        self, serve: ServeFactory
    ) -> None:
        firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
        async with serve(ip="203.0.113.9") as client:
            email, token = await new_user(client)
            await login(client, email, **{"user-agent": firefox})
            devices = (await client.get("/v1/sessions", headers=with_cookie(token))).json()
        assert len(devices) == 2
        assert {d["device"] for d in devices} >= {"Firefox on Linux"}
        assert {d["ip"] for d in devices} == {"203.0.113.9"}
        assert sum(d["current"] for d in devices) == 1

    async def test_revoking_one_device_ends_it_and_another_users_is_a_404(
        self, client: AsyncClient
    ) -> None:
        email, mine = await new_user(client)
        other = await login(client, email)
        _, strangers = await new_user(client)
        other_id = other.partition(".")[0]
        response = await client.delete(f"/v1/sessions/{other_id}", headers=with_cookie(mine))
        assert response.status_code == 204
        assert (await client.get("/v1/session", headers=with_cookie(other))).status_code == 401
        foreign = await client.delete(
            f"/v1/sessions/{strangers.partition('.')[0]}", headers=with_cookie(mine)
        )
        assert foreign.status_code == 404
        assert (await client.get("/v1/session", headers=with_cookie(strangers))).status_code == 200

    async def test_revoking_other_sessions_needs_a_login_under_an_hour_old(
        self, client: AsyncClient, clock: ManualClock
    ) -> None:
        email, old = await new_user(client)
        other = await login(client, email)
        clock.advance(hours=1, seconds=1)
        response = await client.delete("/v1/sessions", headers=with_cookie(old))
        assert response.status_code == 403
        assert response.json()["title"] == "Recent login required"
        one = await client.delete(
            f"/v1/sessions/{other.partition('.')[0]}", headers=with_cookie(old)
        )
        assert one.status_code == 403
        fresh = await login(client, email)
        assert (await client.delete("/v1/sessions", headers=with_cookie(fresh))).status_code == 200


class TestLegacyBearer:
    async def bearer_login(self, client: AsyncClient, email: str) -> str:
        response = await client.post(
            "/v1/session", json={"email": email, "password": PASSWORD, "transport": "bearer"}
        )
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
        token: str = response.json()["token"]
        return token

    async def test_a_bearer_session_token_works_and_is_counted(self, serve: ServeFactory) -> None:
        async with serve(bearer_logins=True) as client:
            email = await register(client)
            token = await self.bearer_login(client, email)

            async def counted() -> float:
                metrics = (await client.get("/metrics")).text
                for line in metrics.splitlines():
                    if line.startswith('pgstack_auth_legacy_bearer_total{route="/v1/session"}'):
                        return float(line.rpartition(" ")[2])
                return 0.0

            before = await counted()
            response = await client.get("/v1/session", headers=bearer(token))
            assert response.status_code == 200
            assert response.json()["session"]["presented_by"] == "bearer"
            assert await counted() == before + 1

    async def test_with_a_bearer_header_the_cookie_is_ignored(self, client: AsyncClient) -> None:
        _, token = await new_user(client)
        response = await client.get(
            "/v1/session", headers={**with_cookie(token), **bearer("not-a-token")}
        )
        assert response.status_code == 401

    async def test_exchange_turns_the_bearer_into_a_cookie_and_revokes_the_bearer(
        self, serve: ServeFactory
    ) -> None:
        async with serve(bearer_logins=True) as client:
            email = await register(client)
            old = await self.bearer_login(client, email)
            # No browser headers at all: the old client's bearer requests are CSRF-exempt.
            response = await send_as_is(client, "POST", "/v1/session/exchange", bearer(old))
            assert response.status_code == 200
            assert response.json()["session"]["auth_method"] == "exchange"
            new = session_cookie(response)
            assert (await client.get("/v1/session", headers=bearer(old))).status_code == 401
            assert (await client.get("/v1/session", headers=with_cookie(new))).status_code == 200

    async def test_exchange_needs_a_bearer_token(self, client: AsyncClient) -> None:
        _, token = await new_user(client)
        response = await client.post("/v1/session/exchange", headers=with_cookie(token))
        assert response.status_code == 401

    async def test_with_the_legacy_setting_off_bearer_tokens_are_a_401(
        self, serve: ServeFactory
    ) -> None:
        async with serve(bearer_logins=True) as client:
            email = await register(client)
            token = await self.bearer_login(client, email)
        async with serve(legacy_bearer=False) as client:
            assert (await client.get("/v1/session", headers=bearer(token))).status_code == 401
            refused = await client.post(
                "/v1/session", json={"email": email, "password": PASSWORD, "transport": "bearer"}
            )
            assert refused.status_code == 401
            # The same session still works as a cookie.
            assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 200


class TestCsrf:
    @pytest.mark.parametrize(
        "headers",
        [
            {"sec-fetch-site": "cross-site"},
            {"sec-fetch-site": "same-site"},
            {},
            {"origin": "https://app.example.com.evil.example"},
            {"origin": "https://evil-app.example.com"},
            {"origin": "null"},
        ],
        ids=["cross-site", "same-site", "no-headers", "look-alike", "prefix", "null-origin"],
    )
    async def test_cookie_requests_from_elsewhere_are_refused(
        self, serve: ServeFactory, headers: dict[str, str]
    ) -> None:
        async with serve(allowed_origins=["https://app.example.com"]) as client:
            email, token = await new_user(client)
            other = await login(client, email)
            response = await send_as_is(
                client, "DELETE", "/v1/sessions", headers={**with_cookie(token), **headers}
            )
            assert response.status_code == 403
            assert response.json()["detail"] == "Cross-site requests are not allowed."
            assert (await client.get("/v1/session", headers=with_cookie(other))).status_code == 200

    async def test_an_allowed_origin_passes_without_fetch_metadata(
        self, serve: ServeFactory
    ) -> None:
        async with serve(allowed_origins=["https://app.example.com"]) as client:
            _, token = await new_user(client)
            response = await send_as_is(
                client,
                "DELETE",
                "/v1/sessions",
                headers={**with_cookie(token), "origin": "https://app.example.com"},
            )
            assert response.status_code == 200

    async def test_a_body_that_is_not_json_is_a_415(self, client: AsyncClient) -> None:
        response = await client.post(
            "/v1/session",
            content=b'{"email": "a@example.com", "password": "whatever1"}',
            headers={"content-type": "text/plain"},
        )
        assert response.status_code == 415

    async def test_login_from_another_site_is_refused(self, serve: ServeFactory) -> None:
        async with serve() as client:
            email = await register(client)
            response = await client.post(
                "/v1/session",
                json={"email": email, "password": PASSWORD},
                headers={"sec-fetch-site": "cross-site"},
            )
            assert response.status_code == 403

    async def test_bearer_requests_are_exempt(self, serve: ServeFactory) -> None:
        async with serve(bearer_logins=True) as client:
            email = await register(client)
            response = await client.post(
                "/v1/session", json={"email": email, "password": PASSWORD, "transport": "bearer"}
            )
            token = response.json()["token"]
            other = await login(client, email)
        async with serve(headers={}) as client:
            response = await client.delete(
                f"/v1/sessions/{other.partition('.')[0]}",
                headers={**bearer(token), "sec-fetch-site": "cross-site"},
            )
            assert response.status_code == 204


class TestThrottle:
    async def test_the_eleventh_failure_from_one_address_is_a_429_with_retry_after(
        self, serve: ServeFactory
    ) -> None:
        async with serve(ip="192.0.2.11") as client:
            for _ in range(10):
                response = await client.post(
                    "/v1/session", json={"email": unique_email(), "password": "wrong pass"}
                )
                assert response.status_code == 401
            response = await client.post(
                "/v1/session", json={"email": unique_email(), "password": "wrong pass"}
            )
            assert response.status_code == 429
            assert 0 < int(response.headers["retry-after"]) <= 30
            assert response.headers["content-type"] == "application/problem+json"

    async def test_failures_spread_over_many_addresses_trip_the_account_limit(
        self, serve: ServeFactory
    ) -> None:
        async with serve(ip="10.9.0.1", trusted_proxies=["10.9.0.0/16"]) as client:
            email = await register(client)
            for i in range(10):
                response = await client.post(
                    "/v1/session",
                    json={"email": email, "password": "wrong pass"},
                    headers={"x-forwarded-for": f"203.0.113.{i + 1}"},
                )
                assert response.status_code == 401
            response = await client.post(
                "/v1/session",
                json={"email": email, "password": PASSWORD},  # even the right password waits
                headers={"x-forwarded-for": "203.0.113.200"},
            )
            assert response.status_code == 429
            assert "retry-after" in response.headers

    async def test_the_right_password_works_once_the_back_off_has_expired(
        self, serve: ServeFactory, clock: ManualClock
    ) -> None:
        async with serve() as client:
            email = await register(client)
            for _ in range(10):
                await client.post("/v1/session", json={"email": email, "password": "wrong pass"})
            throttled = await client.post(
                "/v1/session", json={"email": email, "password": PASSWORD}
            )
            assert throttled.status_code == 429
            clock.advance(seconds=int(throttled.headers["retry-after"]))
            await login(client, email)

    async def test_the_back_off_doubles_with_each_further_failure(
        self, serve: ServeFactory, clock: ManualClock
    ) -> None:
        async with serve() as client:
            email = await register(client)
            for _ in range(10):
                await client.post("/v1/session", json={"email": email, "password": "wrong pass"})
            clock.advance(seconds=30)
            await client.post("/v1/session", json={"email": email, "password": "wrong pass"})
            response = await client.post(
                "/v1/session", json={"email": email, "password": "wrong pass"}
            )
            assert response.status_code == 429
            assert int(response.headers["retry-after"]) == 60

    async def test_addresses_of_one_ipv6_slash_64_count_as_one(self, serve: ServeFactory) -> None:
        async with serve(ip="10.9.0.1", trusted_proxies=["10.9.0.0/16"]) as client:
            for i in range(10):
                response = await client.post(
                    "/v1/session",
                    json={"email": unique_email(), "password": "wrong pass"},
                    headers={"x-forwarded-for": f"2001:db8:1:2::{i + 1:x}"},
                )
                assert response.status_code == 401
            response = await client.post(
                "/v1/session",
                json={"email": unique_email(), "password": "wrong pass"},
                headers={"x-forwarded-for": "2001:db8:1:2:ffff::1"},
            )
            assert response.status_code == 429

    async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(
        self, serve: ServeFactory
    ) -> None:
        async with serve(ip="192.0.2.77") as client:
            for i in range(10):
                await client.post(
                    "/v1/session",
                    json={"email": unique_email(), "password": "wrong pass"},
                    headers={"x-forwarded-for": f"203.0.113.{i + 1}"},
                )
            response = await client.post(
                "/v1/session",
                json={"email": unique_email(), "password": "wrong pass"},
                headers={"x-forwarded-for": "203.0.113.99"},
            )
            assert response.status_code == 429


class TestSessionCache:
    """Session rows are cached between revocations; revocations still win everywhere."""

    async def test_a_logout_on_one_replica_is_honoured_by_another_within_a_second(
        self, serve: ServeFactory
    ) -> None:
        async with serve() as replica_a, serve() as replica_b:
            _, token = await new_user(replica_a)
            assert (
                await replica_b.get("/v1/session", headers=with_cookie(token))
            ).status_code == 200
            assert (
                await replica_a.delete("/v1/session", headers=with_cookie(token))
            ).status_code == 204

            async def refused() -> bool:
                response = await replica_b.get("/v1/session", headers=with_cookie(token))
                return response.status_code != 200

            await eventually(refused, within=1.0, every=0.01, what="revocation honoured")

    async def test_a_change_made_without_a_notification_shows_after_the_cache_ttl(
        self, serve: ServeFactory, db_url: str
    ) -> None:
        async with serve(session_cache_ttl=0.3) as client:
            _, token = await new_user(client)
            assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 200
            with psycopg.connect(db_url) as conn:  # a hand-written revocation: no NOTIFY
                conn.execute(
                    "UPDATE user_sessions SET revoked_at = now() WHERE id = %s",
                    (token.partition(".")[0],),
                )
            await asyncio.sleep(0.4)
            assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 401

    async def test_the_cache_is_emptied_when_the_listen_connection_comes_back(
        self, serve: ServeFactory, db_url: str
    ) -> None:
        async with serve() as client:
            _, token = await new_user(client)
            assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 200
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute(
                    "UPDATE user_sessions SET revoked_at = now() WHERE id = %s",
                    (token.partition(".")[0],),
                )
                # Kill the listener's backend: notifications sent meanwhile would be lost.
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
                )

            async def refused() -> bool:
                response = await client.get("/v1/session", headers=with_cookie(token))
                return response.status_code != 200

            await eventually(refused, within=10, what="the cache emptied after a reconnect")


async def test_openapi_documents_every_route_and_the_session_shape(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert {
        "/v1/users",
        "/v1/session",
        "/v1/session/exchange",
        "/v1/sessions",
        "/v1/sessions/{session_id}",
        "/.well-known/jwks.json",
    } <= set(schema["paths"])
    read = schema["paths"]["/v1/session"]["get"]["responses"]["200"]["content"]
    assert read["application/json"]["schema"]["$ref"].endswith("/SessionRead")
