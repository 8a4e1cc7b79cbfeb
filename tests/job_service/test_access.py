"""Streams end when access ends: a revoked session's streams close within a second, a user
holds at most `JOBS_MAX_STREAMS_PER_USER` of them, and a `Last-Event-ID` we never wrote starts
a stream afresh. auth_service and job_service over real HTTP, on one real database."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service import operators
from auth_service.app import create_app as create_auth_app
from job_service import streams
from job_service.app import create_app
from job_service.config import Settings
from tests.auth_service.kit import (
    PASSWORD,
    SAME_ORIGIN,
    login,
    make_settings,
    new_user,
    with_cookie,
)
from tests.job_service.job_helpers import SSEEvent, app_settings, sse_events
from tests.kit.jobs import enqueue
from tests.kit.passports import PassportKey
from tests.kit.processes import free_port
from tests.kit.servers import over_http
from tests.kit.users import make_user


@dataclass(frozen=True)
class Stack:
    auth: httpx.AsyncClient  # auth_service, same-origin, over HTTP
    jobs: str  # job_service's base URL
    http: httpx.AsyncClient
    db_url: str


@pytest.fixture
async def stack(db_url: str) -> AsyncIterator[Stack]:
    """auth_service and a job_service that fetches its keys, both over HTTP."""
    port = free_port()
    jobs_app = create_app(
        Settings(
            DATABASE_URL=db_url,
            PGSTACK_ENV="test",
            PASSPORT_JWKS_URL=f"http://127.0.0.1:{port}/.well-known/jwks.json",
            sse_heartbeat_seconds=0.3,
        )
    )
    async with (
        over_http(create_auth_app(make_settings(db_url)), port=port) as auth_base,
        over_http(jobs_app) as jobs_base,
        httpx.AsyncClient(base_url=auth_base, headers=SAME_ORIGIN) as auth,
        httpx.AsyncClient(timeout=30) as http,
    ):
        yield Stack(auth, jobs_base, http, db_url)


async def passport_of(auth: httpx.AsyncClient, token: str) -> str:
    response = await auth.get("/v1/session", headers=with_cookie(token))
    assert response.status_code == 200, response.text
    return str(response.json()["passport"]["token"])


class OpenStream:
    """A stream read in the background until the server ends it."""

    def __init__(self, http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self.opened = asyncio.Event()
        self.ended_at: float | None = None
        self.status: int | None = None
        self.events: list[SSEEvent] = []
        self._task = asyncio.create_task(self._read(http, url, headers))

    async def _read(self, http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        async with http.stream("GET", url, headers=headers) as response:
            self.status = response.status_code
            async for event in sse_events(response):
                self.events.append(event)
                self.opened.set()
        self.ended_at = time.monotonic()

    async def wait_open(self) -> None:
        await asyncio.wait_for(self.opened.wait(), 10)
        assert self.status == 200

    async def ended_within(self, seconds: float) -> float:
        """How long after now the server ended the stream (fails past `seconds`)."""
        start = time.monotonic()
        await asyncio.wait_for(asyncio.shield(self._task), seconds)
        assert self.ended_at is not None
        return self.ended_at - start

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def open_streams(
    http: httpx.AsyncClient, urls: list[str], headers: dict[str, str]
) -> AsyncIterator[list[OpenStream]]:
    opened = [OpenStream(http, url, headers) for url in urls]
    try:
        for stream in opened:
            await stream.wait_open()
        yield opened
    finally:
        for stream in opened:
            await stream.close()


def user_id_of(passport: str) -> int:
    return int(jwt.decode(passport, options={"verify_signature": False})["sub"])


class TestRevokedSessions:
    @pytest.mark.parametrize("revocation", ["logout", "password change"])
    async def test_my_job_stream_and_my_event_stream_end_within_a_second_of_it(
        self, stack: Stack, engine: AsyncEngine, revocation: str
    ) -> None:
        _, token = await new_user(stack.auth)
        passport = await passport_of(stack.auth, token)
        job = await enqueue(engine, "test:steps", user_id_of(passport), {"steps": 1})
        urls = [f"{stack.jobs}/v1/events", f"{stack.jobs}/v1/jobs/{job.id}/events"]
        async with open_streams(stack.http, urls, {"authorization": f"Bearer {passport}"}) as (
            events,
            job_events,
        ):
            if revocation == "logout":
                response = await stack.auth.delete("/v1/session", headers=with_cookie(token))
                assert response.status_code == 204
            else:
                response = await stack.auth.put(
                    "/v1/users/me/password",
                    json={"current_password": PASSWORD, "new_password": "a new passphrase"},
                    headers=with_cookie(token),
                )
                assert response.status_code == 200, response.text
            for stream in (events, job_events):
                assert await stream.ended_within(1.0) < 1.0

    async def test_an_operators_stream_ends_within_a_second_of_the_role_being_taken_away(
        self, stack: Stack, db_url: str
    ) -> None:
        settings = make_settings(db_url)
        email, token = await new_user(stack.auth)
        await operators.run("grant-operator", email, settings=settings)
        passport = await passport_of(stack.auth, token)
        headers = {"authorization": f"Bearer {passport}"}
        async with open_streams(stack.http, [f"{stack.jobs}/v1/ops/events"], headers) as [ops]:
            await operators.run("revoke-operator", email, settings=settings)
            assert await ops.ended_within(1.0) < 1.0

    async def test_a_session_revoked_elsewhere_leaves_my_other_sessions_streams_open(
        self, stack: Stack
    ) -> None:
        email, first = await new_user(stack.auth)
        second = await login(stack.auth, email)
        headers = {"authorization": f"Bearer {await passport_of(stack.auth, second)}"}
        async with open_streams(stack.http, [f"{stack.jobs}/v1/events"], headers) as [kept]:
            await stack.auth.delete("/v1/session", headers=with_cookie(first))
            with pytest.raises(TimeoutError):
                await kept.ended_within(1.5)


class TestStreamsPerUser:
    async def test_past_the_limit_a_stream_is_a_429_with_retry_after_until_one_closes(
        self, db_url: str, passport_key: PassportKey
    ) -> None:
        settings = app_settings(
            db_url, passport_key, sse_heartbeat_seconds=0.2, max_streams_per_user=3
        )
        me, someone_else = make_user(db_url), make_user(db_url)
        async with (
            over_http(create_app(settings)) as base,
            httpx.AsyncClient(timeout=30) as http,
        ):
            url = f"{base}/v1/events"
            async with open_streams(http, [url] * 3, passport_key.headers(me)) as mine:
                refused = await http.get(url, headers=passport_key.headers(me))
                assert refused.status_code == 429
                assert refused.headers["content-type"] == "application/problem+json"
                assert int(refused.headers["retry-after"]) > 0
                async with open_streams(http, [url], passport_key.headers(someone_else)):
                    pass
                await mine[0].close()

                async def opens_again() -> bool:
                    async with http.stream("GET", url, headers=passport_key.headers(me)) as r:
                        return r.status_code == 200

                deadline = time.monotonic() + 5
                while not await opens_again():
                    assert time.monotonic() < deadline, "a closed stream's slot never came back"
                    await asyncio.sleep(0.1)

    def test_the_default_limit_is_20(self, db_url: str) -> None:
        assert Settings(DATABASE_URL=db_url).max_streams_per_user == 20


async def first_events(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], count: int
) -> list[SSEEvent]:
    """The first `count` events (keep-alives left out), within 10 s."""
    received: list[SSEEvent] = []

    async def read() -> None:
        async with http.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            async for event in sse_events(response):
                if "comment" not in event:
                    received.append(event)
                    if len(received) == count:
                        return

    await asyncio.wait_for(read(), 10)
    return received


@pytest.fixture
async def jobs_base(db_url: str, passport_key: PassportKey) -> AsyncIterator[str]:
    settings = app_settings(db_url, passport_key, sse_heartbeat_seconds=0.3)
    async with over_http(create_app(settings)) as base:
        yield base


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def change_progress(db_url: str, job_id: Any, times: int) -> None:
    """`times` changes of the job's progress, each logged (a version each)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for percent in range(1, times + 1):
            conn.execute(
                "UPDATE background_jobs SET progress_percent = %s WHERE id = %s",
                (percent, job_id),
            )


class TestLastEventId:
    @pytest.mark.parametrize("last_event_id", ["999999", "-3"])
    async def test_an_offset_the_job_never_had_starts_its_stream_afresh_with_its_state(
        self,
        jobs_base: str,
        http: httpx.AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        passport_key: PassportKey,
        last_event_id: str,
    ) -> None:
        user_id = make_user(db_url)
        job = await enqueue(engine, "test:steps", user_id, {"steps": 1})
        headers = {**passport_key.headers(user_id), "last-event-id": last_event_id}
        [first] = await first_events(http, f"{jobs_base}/v1/jobs/{job.id}/events", headers, 1)
        assert (first["event"], first["id"]) == ("job", "1")
        assert first.data["status"] == "queued"

    @pytest.mark.parametrize("cursor", ["-9223372036854775808~", "9223372036854775807~", "-1~"])
    async def test_a_cursor_out_of_range_starts_my_event_stream_afresh(
        self,
        jobs_base: str,
        http: httpx.AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        passport_key: PassportKey,
        cursor: str,
    ) -> None:
        """Before 1970 or after now: not a cursor we wrote. The stream sends my active jobs
        and a fresh resume point, instead of ending after its 200 with a traceback."""
        user_id = make_user(db_url)
        job = await enqueue(engine, "test:steps", user_id, {"steps": 1})
        headers = {**passport_key.headers(user_id), "last-event-id": cursor}
        job_event, resume_point = await first_events(http, f"{jobs_base}/v1/events", headers, 2)
        assert job_event.data["id"] == str(job.id)
        at = int(resume_point["id"].partition("~")[0])
        assert abs(at - time.time() * 1000) < 60_000


class TestReplayByPages:
    async def test_a_job_stream_far_behind_gets_every_change_in_order_across_pages(
        self,
        jobs_base: str,
        http: httpx.AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        passport_key: PassportKey,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(streams, "REPLAY_PAGE", 2)
        user_id = make_user(db_url)
        job = await enqueue(engine, "test:steps", user_id, {"steps": 1})
        change_progress(db_url, job.id, 7)
        headers = {**passport_key.headers(user_id), "last-event-id": "1"}
        events = await first_events(http, f"{jobs_base}/v1/jobs/{job.id}/events", headers, 7)
        assert [int(e["id"]) for e in events] == list(range(2, 9))
        assert [e.data["progress"] for e in events] == list(range(1, 8))

    async def test_my_event_stream_resumed_gets_every_change_once_across_pages(
        self,
        jobs_base: str,
        http: httpx.AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        passport_key: PassportKey,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(streams, "REPLAY_PAGE", 2)
        user_id = make_user(db_url)
        job = await enqueue(engine, "test:steps", user_id, {"steps": 1})
        url, headers = f"{jobs_base}/v1/events", passport_key.headers(user_id)
        _, resume_point = await first_events(http, url, headers, 2)
        change_progress(db_url, job.id, 7)
        resumed = {**headers, "last-event-id": resume_point["id"]}
        events = await first_events(http, url, resumed, 8)
        changes = [e.data["progress"] for e in events if "data" in e]
        assert changes == list(range(1, 8))
