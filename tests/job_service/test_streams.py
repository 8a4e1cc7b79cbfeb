"""Server-Sent Events: a job's life in order, resumable, on one LISTEN connection."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from deploy import migrate
from deploy.embedded import EmbeddedPostgres
from job_service.app import create_app
from shared import events
from shared.settings import sqlalchemy_url
from tests.job_service.job_helpers import SSEEvent, app_settings, running_worker, sse_events
from tests.kit.jobs import enqueue, status_is
from tests.kit.passports import PassportKey
from tests.kit.servers import over_http
from tests.kit.users import make_user
from tests.kit.waiting import eventually


@pytest.fixture
async def base_url(db_url: str, passport_key: PassportKey) -> AsyncIterator[str]:
    settings = app_settings(db_url, passport_key, sse_heartbeat_seconds=0.3)
    async with over_http(create_app(settings)) as url:
        yield url


@dataclass(frozen=True)
class Streams:
    """job_service served over HTTP on the module's database, and what its tests use with it."""

    base_url: str
    http: httpx.AsyncClient
    db_url: str
    engine: AsyncEngine
    passport_key: PassportKey


@pytest.fixture
def sse(
    base_url: str,
    http: httpx.AsyncClient,
    db_url: str,
    engine: AsyncEngine,
    passport_key: PassportKey,
) -> Streams:
    return Streams(base_url, http, db_url, engine, passport_key)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        yield client


async def collect(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    *,
    stop_after: int | None = None,
) -> list[SSEEvent]:
    """The events of a stream (no comments) until it ends, or the first `stop_after`."""
    received: list[SSEEvent] = []
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        async for event in sse_events(response):
            if "comment" in event:
                continue
            received.append(event)
            if stop_after is not None and len(received) >= stop_after:
                break
    return received


class TestJobStream:
    async def test_i_see_queued_running_with_progress_and_succeeded_in_order_then_the_end(
        self, sse: Streams
    ) -> None:
        user_id = make_user(sse.db_url)
        job = await enqueue(sse.engine, "test:steps", user_id, {"steps": 3, "pause": 0.1})
        url = f"{sse.base_url}/v1/jobs/{job.id}/events"
        reading = asyncio.create_task(collect(sse.http, url, sse.passport_key.headers(user_id)))
        await asyncio.sleep(0.3)  # the stream is open before the job starts
        async with running_worker(sse.db_url):
            received = await asyncio.wait_for(reading, 20)
        data = [e.data for e in received]
        assert [d["status"] for d in data] == [
            "queued",
            "running",
            "running",
            "running",
            "running",
            "succeeded",
        ]
        assert [d["progress"] for d in data] == [0, 0, 25, 50, 75, 100]
        assert [int(e["id"]) for e in received] == [1, 2, 3, 4, 5, 6]
        assert data[-1]["result"] == {"steps": 3}

    async def test_a_reconnect_with_last_event_id_gets_only_what_it_missed(
        self, sse: Streams, tmp_path: Path
    ) -> None:
        user_id = make_user(sse.db_url)
        go = tmp_path / "go"
        job = await enqueue(sse.engine, "test:wait_for_file", user_id, {"path": str(go)})
        url = f"{sse.base_url}/v1/jobs/{job.id}/events"
        headers = sse.passport_key.headers(user_id)
        async with running_worker(sse.db_url):
            await eventually(status_is(sse.db_url, job.id, "running"))
            first = await collect(sse.http, url, headers, stop_after=1)
            # Connected while running: the current state, at its version.
            assert first[0].data["status"] == "running"
            last_id = first[0]["id"]
            go.touch()
            await eventually(status_is(sse.db_url, job.id, "succeeded"))
            rest = await collect(sse.http, url, {**headers, "Last-Event-ID": last_id})
        assert [e.data["status"] for e in rest] == ["succeeded"]
        assert int(rest[0]["id"]) > int(last_id)
        # Up to date already: a finished job's stream ends at once, sending nothing.
        assert await collect(sse.http, url, {**headers, "Last-Event-ID": rest[0]["id"]}) == []

    async def test_an_idle_stream_gets_a_comment_to_keep_proxies_open(self, sse: Streams) -> None:
        user_id = make_user(sse.db_url)
        job = await enqueue(sse.engine, "test:steps", user_id, {})
        url = f"{sse.base_url}/v1/jobs/{job.id}/events"
        async with sse.http.stream(
            "GET", url, headers=sse.passport_key.headers(user_id)
        ) as response:
            kinds = []
            async for event in sse_events(response):
                kinds.append("comment" if "comment" in event else "event")
                if len(kinds) == 3:
                    break
        assert kinds == ["event", "comment", "comment"]


class TestUserStream:
    async def test_i_see_my_jobs_and_my_announcements_but_nobody_elses(self, sse: Streams) -> None:
        user_id, other = make_user(sse.db_url), make_user(sse.db_url)
        waiting = await enqueue(sse.engine, "test:steps", user_id, {"steps": 1})
        reading = asyncio.create_task(
            collect(
                sse.http,
                f"{sse.base_url}/v1/events",
                sse.passport_key.headers(user_id),
                stop_after=5,
            )
        )
        await asyncio.sleep(0.3)
        await enqueue(sse.engine, "test:steps", other, {})
        async with AsyncSession(sse.engine) as session:
            await events.announce(session, user_id=other, type="demo", data={"status": "enabled"})
            await events.announce(
                session, user_id=user_id, type="demo", data={"status": "enabling"}
            )
            await session.commit()
        async with running_worker(sse.db_url, WORKER_CONCURRENCY=1):
            received = await asyncio.wait_for(reading, 20)
        got = [(e["event"], e.data.get("id"), e.data.get("status")) for e in received]
        assert (
            got
            == [
                ("job", str(waiting.id), "queued"),  # the snapshot of my active jobs
                ("demo", None, "enabling"),
                ("job", str(waiting.id), "running"),
                ("job", str(waiting.id), "running"),  # progress 50
                ("job", str(waiting.id), "succeeded"),
            ][: len(got)]
            or got
        )
        assert [g[0] for g in got].count("demo") == 1
        assert all(g[1] in (None, str(waiting.id)) for g in got)

    async def test_a_reconnect_with_last_event_id_gets_each_missed_change_once(
        self, sse: Streams
    ) -> None:
        user_id = make_user(sse.db_url)
        headers = sse.passport_key.headers(user_id)
        first_job = await enqueue(sse.engine, "test:steps", user_id, {"steps": 1})
        first = await collect(sse.http, f"{sse.base_url}/v1/events", headers, stop_after=1)
        assert first[0].data["id"] == str(first_job.id)
        # Missed while away: a new job, and both jobs running to the end.
        second_job = await enqueue(sse.engine, "test:steps", user_id, {"steps": 1})
        async with running_worker(sse.db_url):
            await eventually(status_is(sse.db_url, first_job.id, "succeeded"))
            await eventually(status_is(sse.db_url, second_job.id, "succeeded"))
        resumed = await collect(
            sse.http,
            f"{sse.base_url}/v1/events",
            {**headers, "Last-Event-ID": first[0]["id"]},
            stop_after=2,
        )
        assert sorted((e.data["id"], e.data["status"]) for e in resumed) == sorted(
            [(str(first_job.id), "succeeded"), (str(second_job.id), "succeeded")]
        )
        # And from the last of those, nothing is sent again: the next event is a new change.
        reading = asyncio.create_task(
            collect(
                sse.http,
                f"{sse.base_url}/v1/events",
                {**headers, "Last-Event-ID": resumed[-1]["id"]},
                stop_after=1,
            )
        )
        await asyncio.sleep(0.5)
        third_job = await enqueue(sse.engine, "test:steps", user_id, {})
        (next_event,) = await asyncio.wait_for(reading, 10)
        assert (next_event.data["id"], next_event.data["status"]) == (str(third_job.id), "queued")


class TestOneListenConnection:
    async def test_500_open_streams_share_one_listen_connection_and_all_get_each_change(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        db_url: str,
        passport_key: PassportKey,
    ) -> None:
        users = [make_user(db_url) for _ in range(50)]
        streams: list[asyncio.Task[list[SSEEvent]]] = []
        for i in range(500):
            user_id = users[i % 50]
            streams.append(
                asyncio.create_task(
                    collect(
                        http, f"{base_url}/v1/events", passport_key.headers(user_id), stop_after=1
                    )
                )
            )
        database = db_url.rpartition("/")[2]

        def listeners() -> list[Any]:
            with psycopg.connect(db_url) as conn:
                return conn.execute(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = %s AND query ILIKE 'LISTEN%%'",
                    (database,),
                ).fetchall()

        await asyncio.sleep(3)  # every stream connected and subscribed
        assert len(listeners()) == 1
        with psycopg.connect(db_url, autocommit=True) as conn:
            for user_id in users:
                conn.execute(
                    "SELECT pg_notify('job_events', %s)",
                    (f'{{"type": "platform", "user_id": {user_id}, "id": "{uuid.uuid4()}"}}',),
                )
        received = await asyncio.wait_for(asyncio.gather(*streams), 60)
        assert all(events[0]["event"] == "platform" for events in received)
        assert len(listeners()) == 1


class TestDatabaseRestart:
    async def test_an_open_stream_survives_a_database_restart_and_sees_the_rest(
        self, http: httpx.AsyncClient, passport_key: PassportKey, tmp_path: Path
    ) -> None:
        postgres = EmbeddedPostgres(tmp_path / "pg")
        db_url = await asyncio.to_thread(postgres.start)
        try:
            await asyncio.to_thread(migrate.upgrade, db_url)
            engine = create_async_engine(sqlalchemy_url(db_url))
            user_id = make_user(db_url)
            job = await enqueue(engine, "test:steps", user_id, {"steps": 1})
            await engine.dispose()
            settings = app_settings(db_url, passport_key, sse_heartbeat_seconds=0.3)
            async with over_http(create_app(settings)) as base_url:
                url = f"{base_url}/v1/jobs/{job.id}/events"
                received: list[SSEEvent] = []

                async def read() -> None:
                    headers = passport_key.headers(user_id)
                    async with http.stream("GET", url, headers=headers) as response:
                        async for event in sse_events(response):
                            if "comment" not in event:
                                received.append(event)

                reading = asyncio.create_task(read())
                await eventually(lambda: received)
                await asyncio.to_thread(postgres.restart)
                async with running_worker(db_url):
                    await asyncio.wait_for(reading, 30)
        finally:
            await asyncio.to_thread(postgres.stop)
        statuses = [e.data["status"] for e in received]
        assert statuses[0] == "queued"
        assert statuses[-1] == "succeeded"
        versions = [int(e["id"]) for e in received]
        assert versions == sorted(set(versions))


class TestWatchers:
    async def test_a_change_nobody_watches_is_not_announced_and_a_watched_one_is(
        self, db_url: str, engine: AsyncEngine
    ) -> None:
        user_id = make_user(db_url)
        job = await enqueue(engine, "test:steps", user_id, {})
        received: list[str] = []
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await conn.execute("LISTEN job_events")
            bump = "UPDATE background_jobs SET progress_message = %s WHERE id = %s"
            await conn.execute(bump, ("unwatched", job.id))
            await conn.execute(
                "INSERT INTO job_event_watchers VALUES (%s, %s, now() + interval '1 minute')",
                (user_id, uuid.uuid4()),
            )
            await conn.execute(bump, ("watched", job.id))
            async for notify in conn.notifies(timeout=2):
                received.append(json.loads(notify.payload)["message"])
        assert received == ["watched"]

    async def test_a_stream_opening_during_an_uncommitted_change_still_sees_it(
        self, sse: Streams
    ) -> None:
        user_id = make_user(sse.db_url)
        job = await enqueue(sse.engine, "test:steps", user_id, {})
        with psycopg.connect(sse.db_url) as writer:
            # Unwatched when it runs, so not announced; committed only after the stream opens.
            writer.execute(
                "UPDATE background_jobs SET progress_message = 'in flight' WHERE id = %s",
                (job.id,),
            )
            url = f"{sse.base_url}/v1/jobs/{job.id}/events"
            opening = asyncio.create_task(
                collect(sse.http, url, sse.passport_key.headers(user_id), stop_after=1)
            )
            await asyncio.sleep(1)
            assert not opening.done()  # its registration waits for the change to commit
            writer.commit()
            (first,) = await asyncio.wait_for(opening, 10)
        assert (first.data["message"], first["id"]) == ("in flight", "2")

    async def test_a_lost_registration_is_renewed_and_the_stream_goes_on(
        self,
        http: httpx.AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        passport_key: PassportKey,
    ) -> None:
        user_id = make_user(db_url)
        settings = app_settings(db_url, passport_key, sse_watch_seconds=0.6)
        async with over_http(create_app(settings)) as base_url:
            reading = asyncio.create_task(
                collect(http, f"{base_url}/v1/events", passport_key.headers(user_id), stop_after=1)
            )
            await asyncio.sleep(0.5)
            with psycopg.connect(db_url) as conn:
                conn.execute("DELETE FROM job_event_watchers WHERE user_id = %s", (user_id,))
            await asyncio.sleep(0.6)  # a renewal notices
            job = await enqueue(engine, "test:steps", user_id, {})
            (event,) = await asyncio.wait_for(reading, 10)
        assert (event.data["id"], event.data["status"]) == (str(job.id), "queued")
