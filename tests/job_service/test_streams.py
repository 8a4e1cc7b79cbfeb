"""Server-Sent Events: a job's life in order, resumable from the event log exactly (every
missed change once, in order), on one LISTEN connection."""

import asyncio
import contextlib
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
from job_service import tasks
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
    resume_points: list[str] | None = None,
) -> list[SSEEvent]:
    """The events of a stream until it ends, or the first `stop_after`; comments are left out,
    and so are resume points (an `id:` alone), which go to `resume_points` if given."""
    received: list[SSEEvent] = []
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, (response.status_code, await response.aread())
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        async for event in sse_events(response):
            if "comment" in event:
                continue
            if "data" not in event:
                if resume_points is not None:
                    resume_points.append(event["id"])
                continue
            received.append(event)
            if stop_after is not None and len(received) >= stop_after:
                break
    return received


def logged_changes(db_url: str, job_id: uuid.UUID | str) -> list[tuple[int, str]]:
    """The job's changes as the event log holds them: (offset, status), in order."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT job_offset, payload->>'status' FROM job_events WHERE job_id = %s"
            " ORDER BY job_offset",
            (job_id,),
        ).fetchall()
    return [(int(offset), str(status)) for offset, status in rows]


def age_the_log(db_url: str, hours: float) -> int:
    """Make every logged change `hours` older (as if the client had been away that long),
    then run the prune task's query with the default retention (24 h); the rows it deleted."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE job_events SET at = at - make_interval(secs => %s)", (hours * 3600,))
        return conn.execute(tasks.QUERIES["prune_events"], {"hours": 24}).rowcount


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

    async def test_a_reconnect_with_last_event_id_gets_each_change_it_missed_then_the_end(
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
        logged = logged_changes(sse.db_url, job.id)
        assert [int(e["id"]) for e in rest] == [o for o, _ in logged if o > int(last_id)]
        assert [e.data["status"] for e in rest] == [s for o, s in logged if o > int(last_id)]
        assert rest[-1].data["status"] == "succeeded"
        assert rest[-1].data["result"] == "done"
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


class TestJobStreamResume:
    async def test_a_stream_cut_after_any_event_resumes_with_each_later_change_once_in_order(
        self, sse: Streams
    ) -> None:
        """Cut after event k (for every k), the stream resumed with that event's id sends
        events k+1..n of the job's log exactly, then ends at the terminal state."""
        user_id = make_user(sse.db_url)
        job = await enqueue(sse.engine, "test:steps", user_id, {"steps": 4, "pause": 0.02})
        async with running_worker(sse.db_url):
            await eventually(status_is(sse.db_url, job.id, "succeeded"))
        logged = logged_changes(sse.db_url, job.id)
        n = len(logged)
        assert [o for o, _ in logged] == list(range(1, n + 1))  # dense offsets 1..n
        url = f"{sse.base_url}/v1/jobs/{job.id}/events"
        headers = sse.passport_key.headers(user_id)
        for k in range(1, n):
            rest = await collect(sse.http, url, {**headers, "Last-Event-ID": str(k)})
            assert [int(e["id"]) for e in rest] == list(range(k + 1, n + 1))
            assert [(e.data["version"], e.data["status"]) for e in rest] == logged[k:]
            assert [e.data["progress"] for e in rest][-1] == 100
        assert rest[-1].data["result"] == {"steps": 4}

    async def test_a_client_behind_the_retention_gets_missed_then_the_current_state(
        self, sse: Streams
    ) -> None:
        user_id = make_user(sse.db_url)
        job = await enqueue(sse.engine, "test:steps", user_id, {"steps": 2, "pause": 0.02})
        async with running_worker(sse.db_url):
            await eventually(status_is(sse.db_url, job.id, "succeeded"))
        n = len(logged_changes(sse.db_url, job.id))
        assert age_the_log(sse.db_url, hours=25) >= n
        url = f"{sse.base_url}/v1/jobs/{job.id}/events"
        got = await collect(
            sse.http, url, {**sse.passport_key.headers(user_id), "Last-Event-ID": "1"}
        )
        assert [e["event"] for e in got] == ["missed", "job"]
        assert got[0].data["after"] == 1
        assert (got[1]["id"], got[1].data["status"]) == (str(n), "succeeded")
        assert got[1].data["result"] == {"steps": 2}

    async def test_a_step_starting_and_ending_is_logged_and_streamed_without_its_result(
        self, sse: Streams
    ) -> None:
        """A change of the job's `steps` (as jobs.step writes them) is one logged change of
        kind `step` at the next offset, carrying only the steps that changed, results left out;
        a stream resumed before it gets it."""
        user_id = make_user(sse.db_url)
        job = await enqueue(sse.engine, "test:steps", user_id, {})
        started = {"name": "fetch", "status": "running", "attempts": 1}
        ended = {**started, "status": "succeeded", "result": {"secret": 1}}
        with psycopg.connect(sse.db_url, autocommit=True) as conn:
            for steps in ([started], [ended, {**started, "name": "store"}]):
                conn.execute(
                    "UPDATE background_jobs SET steps = %s::jsonb WHERE id = %s",
                    (json.dumps(steps), job.id),
                )
        url = f"{sse.base_url}/v1/jobs/{job.id}/events"
        headers = {**sse.passport_key.headers(user_id), "Last-Event-ID": "1"}
        got = await collect(sse.http, url, headers, stop_after=2)
        assert [(e["id"], e.data["event"]) for e in got] == [("2", "step"), ("3", "step")]
        assert got[0].data["steps"] == [started]
        assert got[1].data["steps"] == [
            {**started, "status": "succeeded"},
            {**started, "name": "store"},
        ]


class TestUserStreamResume:
    async def test_a_stream_cut_after_any_event_resumes_with_each_later_change_of_many_jobs_once(
        self, sse: Streams
    ) -> None:
        """One stream sees 4 jobs from their creation to their end (every logged change);
        cut after its event k, for several k, a stream resumed with that event's id gets
        exactly the changes after it: each once, each job's in order."""
        user_id = make_user(sse.db_url)
        headers = sse.passport_key.headers(user_id)
        url = f"{sse.base_url}/v1/events"
        whole: list[SSEEvent] = []

        async def read_all() -> None:
            async with sse.http.stream("GET", url, headers=headers) as response:
                async for event in sse_events(response):
                    if "data" in event:
                        whole.append(event)

        reading = asyncio.create_task(read_all())
        await asyncio.sleep(0.5)
        job_ids = [
            (await enqueue(sse.engine, "test:steps", user_id, {"steps": 3, "pause": 0.02})).id
            for _ in range(4)
        ]
        async with running_worker(sse.db_url, WORKER_CONCURRENCY=4):
            for job_id in job_ids:
                await eventually(status_is(sse.db_url, job_id, "succeeded"))
        expected = {(str(j), o) for j in job_ids for o, _ in logged_changes(sse.db_url, j)}
        await eventually(lambda: len(whole) >= len(expected), what="every change streamed")
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading

        def changes(events: list[SSEEvent]) -> list[tuple[str, int]]:
            return [(e.data["id"], e.data["version"]) for e in events]

        assert sorted(changes(whole)) == sorted(expected)  # all of them, once each
        for k in (1, 3, len(whole) // 2, len(whole) - 1):
            rest = await collect(
                sse.http,
                url,
                {**headers, "Last-Event-ID": whole[k - 1]["id"]},
                stop_after=len(whole) - k,
            )
            assert sorted(changes(rest)) == sorted(changes(whole[k:]))
            for job_id in job_ids:
                versions = [v for j, v in changes(rest) if j == str(job_id)]
                assert versions == sorted(versions)
        # And nothing more: after the last of them, the next event is a new change.
        waiting = asyncio.create_task(
            collect(sse.http, url, {**headers, "Last-Event-ID": rest[-1]["id"]}, stop_after=1)
        )
        await asyncio.sleep(0.3)
        new_job = await enqueue(sse.engine, "test:steps", user_id, {})
        (next_event,) = await asyncio.wait_for(waiting, 10)
        assert (next_event.data["id"], next_event.data["version"]) == (str(new_job.id), 1)

    async def test_a_stream_that_got_no_event_resumes_exactly_from_its_first_moment(
        self, sse: Streams
    ) -> None:
        """A new stream of a user with no job gives a resume point at once; resumed with it
        after jobs ran meanwhile, it gets every change of theirs (issue 11, item 6)."""
        user_id = make_user(sse.db_url)
        headers = sse.passport_key.headers(user_id)
        url = f"{sse.base_url}/v1/events"
        points: list[str] = []
        reading = asyncio.create_task(collect(sse.http, url, headers, resume_points=points))
        await eventually(lambda: points, what="the resume point")
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        job_ids = [
            (await enqueue(sse.engine, "test:steps", user_id, {"steps": 1})).id for _ in range(3)
        ]
        async with running_worker(sse.db_url):
            for job_id in job_ids:
                await eventually(status_is(sse.db_url, job_id, "succeeded"))
        expected = [(str(j), o) for j in job_ids for o, _ in logged_changes(sse.db_url, j)]
        rest = await collect(
            sse.http, url, {**headers, "Last-Event-ID": points[0]}, stop_after=len(expected)
        )
        assert sorted((e.data["id"], e.data["version"]) for e in rest) == sorted(expected)
        assert {e.data["status"] for e in rest if e.data["version"] == 4} <= {"succeeded"}

    async def test_a_cursor_behind_the_retention_gets_missed_then_the_current_state(
        self, sse: Streams
    ) -> None:
        user_id = make_user(sse.db_url)
        headers = sse.passport_key.headers(user_id)
        url = f"{sse.base_url}/v1/events"
        points: list[str] = []
        reading = asyncio.create_task(collect(sse.http, url, headers, resume_points=points))
        await eventually(lambda: points, what="the resume point")
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        job = await enqueue(sse.engine, "test:steps", user_id, {"steps": 1})
        async with running_worker(sse.db_url):
            await eventually(status_is(sse.db_url, job.id, "succeeded"))
        assert age_the_log(sse.db_url, hours=25) > 0
        at, _, seen = points[0].partition("~")
        old_cursor = f"{int(at) - 25 * 3600 * 1000}~{seen}"
        got = await collect(sse.http, url, {**headers, "Last-Event-ID": old_cursor}, stop_after=2)
        assert [e["event"] for e in got] == ["missed", "job"]
        assert (got[1].data["id"], got[1].data["status"]) == (str(job.id), "succeeded")


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
        missed = [
            (str(job.id), offset, status)
            for job in (first_job, second_job)
            for offset, status in logged_changes(sse.db_url, job.id)
            if job is second_job or offset > first[0].data["version"]
        ]
        resumed = await collect(
            sse.http,
            f"{sse.base_url}/v1/events",
            {**headers, "Last-Event-ID": first[0]["id"]},
            stop_after=len(missed),
        )
        got = [(e.data["id"], e.data["version"], e.data["status"]) for e in resumed]
        assert sorted(got) == sorted(missed)
        assert [g for g in got if g[0] == str(first_job.id)][-1][2] == "succeeded"
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
        http: httpx.AsyncClient,
        db_url: str,
        passport_key: PassportKey,
    ) -> None:
        # Keep-alives at their default pace: 500 streams commenting every 0.3 s would keep
        # this process's one event loop (server and clients) too busy to open the rest.
        async with over_http(create_app(app_settings(db_url, passport_key))) as base_url:
            await self._check_500_streams(http, base_url, db_url, passport_key)

    async def _check_500_streams(
        self, http: httpx.AsyncClient, base_url: str, db_url: str, passport_key: PassportKey
    ) -> None:
        users = [make_user(db_url) for _ in range(50)]
        streams: list[asyncio.Task[list[SSEEvent]]] = []
        # A stream's resume point comes after its subscription: once each has one, each
        # gets every notification from then on.
        points: list[list[str]] = [[] for _ in range(500)]
        for i in range(500):
            user_id = users[i % 50]
            streams.append(
                asyncio.create_task(
                    collect(
                        http,
                        f"{base_url}/v1/events",
                        passport_key.headers(user_id),
                        stop_after=1,
                        resume_points=points[i],
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

        await eventually(lambda: all(points), within=120, what="every stream subscribed")
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
