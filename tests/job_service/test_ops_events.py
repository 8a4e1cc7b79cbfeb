"""The operators' event stream, `GET /v1/ops/events`, from a real job_service over HTTP: every
user's job changes, coalesced to at most one small event a second however many jobs change;
any other passport finds no such route."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from job_service.app import create_app
from job_service.streams import OPS_EVENTS_INTERVAL, OPS_EVENTS_MAX_IDS
from shared import jobs
from shared.jobs import BackgroundJob
from tests.job_service.job_helpers import app_settings, running_worker, sse_events
from tests.job_service.ops_jobs import operator_passport
from tests.kit.jobs import enqueue, job_row, status_is
from tests.kit.passports import PassportKey
from tests.kit.servers import over_http
from tests.kit.users import make_user
from tests.kit.waiting import eventually

# Events of one stream are this far apart at least (the interval, less the clock's jitter).
SPACING = OPS_EVENTS_INTERVAL * 0.9


@dataclass
class Received:
    """A `changed` event and when it arrived (the event loop's clock)."""

    at: float
    jobs: list[str]
    all: bool
    size: int


@dataclass
class OpsStream:
    """What a client of the ops stream has received so far."""

    events: list[Received] = field(default_factory=list)
    comments: int = 0

    def naming(self, job_id: object) -> list[Received]:
        return [e for e in self.events if str(job_id) in e.jobs]


@pytest.fixture
async def base_url(db_url: str, passport_key: PassportKey) -> AsyncIterator[str]:
    # Renewals every 0.2 s: a lost registration is noticed at once.
    settings = app_settings(db_url, passport_key, sse_heartbeat_seconds=0.3, sse_watch_seconds=0.6)
    async with over_http(create_app(settings)) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def operator(db_url: str, passport_key: PassportKey) -> dict[str, str]:
    return operator_passport(passport_key, make_user(db_url))


@contextlib.asynccontextmanager
async def streaming(
    http: httpx.AsyncClient,
    base_url: str,
    headers: dict[str, str],
    on_event: Callable[[Received], Awaitable[None]] | None = None,
) -> AsyncIterator[OpsStream]:
    """The ops stream read in the background until the block ends (`on_event` awaited on
    each event, as a client reacts to it); enters once its first event (`all`: the stream is
    registered) has arrived."""
    stream = OpsStream()
    clock = asyncio.get_running_loop().time

    async def read() -> None:
        async with http.stream("GET", f"{base_url}/v1/ops/events", headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            async for event in sse_events(response):
                if "comment" in event:
                    stream.comments += 1
                    continue
                assert event["event"] == "changed"
                data = event.data
                received = Received(clock(), data["jobs"], data["all"], len(event["data"]))
                stream.events.append(received)
                if on_event is not None:
                    await on_event(received)

    task = asyncio.create_task(read())
    try:
        await eventually(lambda: task.done() or stream.events, within=10, what="first event")
        if task.done():
            task.result()  # raises what went wrong
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def enqueue_many(engine: AsyncEngine, user_ids: list[int], n: int) -> list[str]:
    """`n` jobs for these users in one transaction (one commit: their announcements arrive
    together); their ids."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        created = [
            await jobs.enqueue(session, "test:steps", user_ids[i % len(user_ids)], {}, None)
            for i in range(n)
        ]
        await session.commit()
    return [str(job.id) for job in created]


class TestAccess:
    async def test_a_user_without_the_operator_role_gets_a_404_and_no_stream(
        self, base_url: str, http: httpx.AsyncClient, db_url: str, passport_key: PassportKey
    ) -> None:
        """Any user's passport gets the 404 problem of a route that does not exist; no
        passport at all is a 401."""
        url = f"{base_url}/v1/ops/events"
        response = await http.get(url, headers=passport_key.headers(make_user(db_url)))
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert (await http.get(url)).status_code == 401


class TestChanges:
    async def test_the_first_event_asks_for_a_full_read_then_events_name_anyones_jobs(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        operator: dict[str, str],
    ) -> None:
        """An operator's stream starts with `all` (what changed between the page's read and
        the stream is unknown), then names the new jobs of two other users."""
        async with streaming(http, base_url, operator) as stream:
            assert [(e.jobs, e.all) for e in stream.events] == [([], True)]
            first = await enqueue(engine, "test:steps", make_user(db_url), {})
            second = await enqueue(engine, "test:steps", make_user(db_url), {})
            await eventually(
                lambda: stream.naming(first.id) and stream.naming(second.id),
                within=10,
                what="both jobs named",
            )
        assert not any(e.all for e in stream.events[1:])

    async def test_a_client_that_rereads_on_each_event_ends_with_a_workers_last_change(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        operator: dict[str, str],
    ) -> None:
        """A job run by a real worker for a few intervals: re-reading it on each event naming
        it (as the ops page does) sees it running, and, since changes inside an interval
        wait for its end rather than being dropped, ends on `succeeded`."""
        job: BackgroundJob | None = None
        seen: list[str] = []

        async def reread(event: Received) -> None:
            if job is not None and str(job.id) in event.jobs:
                seen.append(job_row(db_url, job.id)["status"])

        async with streaming(http, base_url, operator, reread):
            job = await enqueue(engine, "test:steps", make_user(db_url), {"steps": 4, "pause": 0.5})
            async with running_worker(db_url):
                await eventually(status_is(db_url, job.id, "succeeded"))
                await eventually(lambda: seen and seen[-1] == "succeeded", what="a re-read")
        assert "running" in seen

    async def test_a_burst_of_a_thousand_changes_makes_at_most_one_small_event_a_second(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        operator: dict[str, str],
    ) -> None:
        """1,000 new jobs of 10 users, in commits of 50 as fast as they go: the events are an
        interval apart, each under 8 kB, and every job is named by one, or covered by an
        `all` (more than OPS_EVENTS_MAX_IDS jobs at once) that came after it."""
        users = [make_user(db_url) for _ in range(10)]
        clock = asyncio.get_running_loop().time
        async with streaming(http, base_url, operator) as stream:
            committed: dict[str, float] = {}
            started = clock()
            for _ in range(20):
                for job_id in await enqueue_many(engine, users, 50):
                    committed[job_id] = clock()
            elapsed = clock() - started

            def covered() -> bool:
                named = {j for e in stream.events for j in e.jobs}
                last_all = max((e.at for e in stream.events if e.all), default=0.0)
                return all(j in named or last_all > at for j, at in committed.items())

            await eventually(covered, within=15, what="every job named or covered")
        later = stream.events[1:]
        assert later, "no event after the first"
        assert len(later) <= elapsed / OPS_EVENTS_INTERVAL + 2, (len(later), elapsed)
        gaps = [b.at - a.at for a, b in zip(stream.events, stream.events[1:], strict=False)]
        assert min(gaps) >= SPACING, gaps
        assert max(e.size for e in stream.events) < 8000
        assert all(len(e.jobs) <= OPS_EVENTS_MAX_IDS for e in stream.events)

    async def test_a_change_just_after_an_event_comes_in_the_next_one(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        db_url: str,
        engine: AsyncEngine,
        operator: dict[str, str],
    ) -> None:
        """A change inside the interval after an event is held back to the interval's end,
        not dropped and not sent on its own at once."""
        user = make_user(db_url)
        async with streaming(http, base_url, operator) as stream:
            [first] = await enqueue_many(engine, [user], 1)
            sent = await eventually(lambda: stream.naming(first), within=10, what="first")
            [second] = await enqueue_many(engine, [user], 1)
            [carrying] = await eventually(lambda: stream.naming(second), within=10, what="2nd")
        assert carrying.at - sent[0].at >= SPACING
        assert first not in carrying.jobs


class TestResync:
    async def test_a_lost_registration_makes_the_stream_ask_for_a_full_read(
        self, base_url: str, http: httpx.AsyncClient, db_url: str, operator: dict[str, str]
    ) -> None:
        """The watchers' table is emptied (as a database crash empties it, UNLOGGED): the
        stream registers again and says `all`, since changes went unannounced meanwhile."""
        async with streaming(http, base_url, operator) as stream:
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute("DELETE FROM job_event_watchers WHERE user_id = 0")
            await eventually(
                lambda: any(e.all for e in stream.events[1:]), within=10, what="all again"
            )
            with psycopg.connect(db_url) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM job_event_watchers WHERE user_id = 0"
                ).fetchone()
        assert row is not None
        assert row[0] == 1

    async def test_an_idle_stream_gets_comments_to_keep_proxies_open(
        self, base_url: str, http: httpx.AsyncClient, operator: dict[str, str]
    ) -> None:
        async with streaming(http, base_url, operator) as stream:
            await eventually(lambda: stream.comments >= 2, within=10, what="two comments")
