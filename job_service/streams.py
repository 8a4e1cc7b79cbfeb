"""Server-Sent Events: a job's changes, and everything that changes for a user.

One `Hub` per process subscribes once to the process's one LISTEN connection (`job_events`)
and routes each notification to the streams of its user, so 500 open streams cost one
database connection and one JSON parse per notification. Job changes are announced only for
users someone watches: the Hub registers the users it streams in `job_event_watchers`.

A stream subscribes first, then reads the current state, then forwards changes: nothing is
lost between the read and the subscription. Events carry `id:` so `Last-Event-ID` resumes:

- `GET /v1/jobs/{id}/events`: the id is the job's version. A resumed stream sends the current
  state only if its version is higher, then the changes after it. It ends after a terminal state.
- `GET /v1/events`: the id is a cursor `<T>~<job>.<version>,...`: T (epoch ms) the latest
  `updated_at` sent, then the versions sent of the jobs updated in the `slack` before T. A
  resumed stream re-reads the user's active jobs and those updated since T - slack and sends
  each whose version is higher than the cursor's (absent: 0). A change committed after the
  disconnect has `updated_at` (its transaction's start) after T - slack unless its transaction
  ran longer than the slack (default 10 s, far longer than any transaction writing jobs), so
  nothing is missed and nothing is sent twice. Announcements of other services (`demo`,
  `platform`) are live only: they carry the cursor unchanged and are not replayed.

When the LISTEN connection comes back after a database restart, every stream re-reads as a
resumed stream does.
"""

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from functools import partial
from typing import Any, TypeVar

import psycopg
from sqlalchemy import ColumnElement, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from job_service.errors import JobNotFound
from shared.events import CHANNEL
from shared.jobs import JobRead
from shared.jobs import ACTIVE_STATUSES, TERMINAL_STATUSES, WATCH_LOCK, BackgroundJob
from shared.listener import Listener

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Put in a stream's queue when it may have missed notifications: re-read the state.
RESYNC: dict[str, Any] = {"type": "resync"}
QUEUE_LIMIT = 1000


class Hub:
    """Routes `job_events` notifications from the one Listener to the streams of each user.

    Job changes are announced only for watched users (migration 0004): the first stream of a
    user registers this process as a watcher of that user before it reads anything, and the
    registration is renewed while the user has streams here (it lapses `ttl` seconds after).
    """

    def __init__(self, listener: Listener, engine: AsyncEngine, *, ttl: float = 60) -> None:
        self.engine = engine
        self.ttl = ttl
        self.watcher = uuid.uuid4()
        self._queues: dict[int, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._registrations: dict[int, asyncio.Future[None]] = {}
        self._unsubscribe = [
            listener.subscribe(CHANNEL, self._notified),
            listener.on_reconnect(self._reconnected),
        ]
        self._renewal = asyncio.create_task(self._renew_forever(), name="watch renewal")

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewal

    @property
    def stream_count(self) -> int:
        return sum(len(queues) for queues in self._queues.values())

    async def subscribe(self, user_id: int) -> "Subscription":
        """Start queueing the user's notifications; `close()` the subscription when done."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._queues[user_id].add(queue)
        subscription = Subscription(queue, lambda: self._unsubscribe_queue(user_id, queue))
        # Every stream waits for the user's registration, the first one's or a retry.
        registration = self._registrations.get(user_id)
        if registration is None or (registration.done() and registration.exception()):
            registration = asyncio.ensure_future(self._watch([user_id]))
            self._registrations[user_id] = registration
        try:
            await asyncio.shield(registration)
        except BaseException:
            subscription.close()
            raise
        return subscription

    def _unsubscribe_queue(self, user_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        queues = self._queues.get(user_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                # The registration is left to lapse: deleting it could race a new stream's.
                del self._queues[user_id]
                self._registrations.pop(user_id, None)

    async def _watch(self, user_ids: list[int]) -> None:
        """Register (or renew) this process as a watcher of these users' job changes.

        The exclusive lock waits for every change of theirs in flight (each holds the shared
        lock until it commits): those are visible to the reads that follow, later ones see
        the registration and are announced.
        """
        async with self.engine.begin() as conn:
            for user_id in sorted(user_ids):
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:lock, hashint8(:user_id))"),
                    {"lock": WATCH_LOCK, "user_id": user_id},
                )
            await conn.execute(
                text(
                    "INSERT INTO job_event_watchers (user_id, watcher, expires_at)"
                    " SELECT unnest(CAST(:user_ids AS bigint[])), :watcher,"
                    " now() + make_interval(secs => :ttl)"
                    " ON CONFLICT (user_id, watcher) DO UPDATE SET expires_at = EXCLUDED.expires_at"
                ),
                {"user_ids": user_ids, "watcher": self.watcher, "ttl": self.ttl},
            )

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self._renew()
            except (DBAPIError, psycopg.OperationalError) as exc:
                logger.warning("watch renewal failed: %s", exc.__class__.__name__)

    async def _renew(self) -> None:
        users = list(self._queues)
        async with self.engine.begin() as conn:
            renewed = await conn.scalars(
                text(
                    "UPDATE job_event_watchers"
                    " SET expires_at = now() + make_interval(secs => :ttl)"
                    " WHERE watcher = :watcher AND user_id = ANY(CAST(:user_ids AS bigint[]))"
                    " RETURNING user_id"
                ),
                {"ttl": self.ttl, "watcher": self.watcher, "user_ids": users},
            )
            lost = set(users) - set(renewed)
            await conn.execute(
                text(
                    "DELETE FROM job_event_watchers"
                    " WHERE expires_at < now() - make_interval(secs => :ttl)"
                ),
                {"ttl": self.ttl},
            )
        # Registrations gone (a database crash, renewals failing past their expiry): their
        # changes may have gone unannounced, so register again and re-read.
        await self._rewatch(lost)

    async def _rewatch(self, user_ids: Iterable[int]) -> None:
        # One user per transaction: several exclusive locks in one could deadlock with a
        # change holding the shared locks of two users.
        for user_id in user_ids:
            if user_id in self._queues:
                await _patiently(partial(self._watch, [user_id]))
            for queue in self._queues.get(user_id, ()):
                _put(queue, RESYNC)

    def _notified(self, payload: str) -> None:
        event = json.loads(payload)
        for queue in self._queues.get(event.get("user_id"), ()):
            _put(queue, event)

    async def _reconnected(self) -> None:
        # Notifications were lost while disconnected, and a crash empties the (unlogged)
        # registrations: register again, then every stream re-reads.
        await self._rewatch(list(self._queues))


class Subscription:
    def __init__(self, queue: asyncio.Queue[dict[str, Any]], close: Callable[[], None]) -> None:
        self.queue = queue
        self.close = close


def _put(queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
    if queue.full():
        # A client this far behind gets the current state instead of every change.
        while not queue.empty():
            queue.get_nowait()
        event = RESYNC
    queue.put_nowait(event)


def sse(data: str, *, event: str, id: str | int | None = None) -> str:
    lines = [f"event: {event}"]
    if id is not None:
        lines.append(f"id: {id}")
    lines.append(f"data: {data}")
    return "\n".join(lines) + "\n\n"


def _job_json(job: BackgroundJob) -> str:
    return JobRead.of(job).model_dump_json()


def _change_json(event: dict[str, Any]) -> str:
    """A notification as a client sees it (the user id and channel bookkeeping removed)."""
    return json.dumps({k: v for k, v in event.items() if k not in ("user_id", "type")})


async def _next(queue: asyncio.Queue[dict[str, Any]], heartbeat: float) -> dict[str, Any] | None:
    """The next event, or None when `heartbeat` seconds pass without one."""
    try:
        return await asyncio.wait_for(queue.get(), heartbeat)
    except TimeoutError:
        return None


async def open_job_stream(
    hub: Hub,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    job_id: uuid.UUID,
    user_id: int,
    last_event_id: str | None,
    heartbeat: float,
) -> AsyncIterator[str]:
    """The events of one job; raises JobNotFound before streaming anything."""
    subscription = await hub.subscribe(user_id)
    try:
        job = await _read_job(sessionmaker, job_id, user_id)
    except BaseException:
        subscription.close()
        raise
    sent = _int_or_zero(last_event_id)
    return _job_events(subscription, sessionmaker, job, user_id, sent, heartbeat)


async def _job_events(
    subscription: Subscription,
    sessionmaker: async_sessionmaker[AsyncSession],
    job: BackgroundJob,
    user_id: int,
    sent: int,
    heartbeat: float,
) -> AsyncIterator[str]:
    job_id = str(job.id)
    queue = subscription.queue
    try:
        if job.version > sent:
            yield sse(_job_json(job), event="job", id=job.version)
            sent = job.version
        if job.status in TERMINAL_STATUSES:
            return
        while True:
            event = await _next(queue, heartbeat)
            if event is None:
                yield ": keep-alive\n\n"
                continue
            if event is not RESYNC and (
                event.get("type") != "job" or event["id"] != job_id or event["version"] <= sent
            ):
                continue
            if event is RESYNC or event["status"] in TERMINAL_STATUSES:
                # The full row: the result or error comes with the terminal state.
                job = await _patiently(partial(_read_job, sessionmaker, job.id, user_id))
                if job.version > sent:
                    yield sse(_job_json(job), event="job", id=job.version)
                    sent = job.version
                if job.status in TERMINAL_STATUSES:
                    return
                continue
            yield sse(_change_json(event), event="job", id=event["version"])
            sent = event["version"]
    finally:
        subscription.close()


async def _patiently(read: Callable[[], Awaitable[T]], every: float = 0.5) -> T:
    """Read again until the database answers: an open stream outlives a database restart
    (the first attempts may meet connections the restart broke, or no server at all)."""
    while True:
        try:
            return await read()
        except (DBAPIError, psycopg.OperationalError) as exc:
            logger.info("stream read failed, retrying: %s", exc.__class__.__name__)
            await asyncio.sleep(every)


async def _read_job(
    sessionmaker: async_sessionmaker[AsyncSession], job_id: uuid.UUID, user_id: int
) -> BackgroundJob:
    async with sessionmaker() as session:
        job = await session.scalar(
            select(BackgroundJob).where(
                BackgroundJob.id == job_id, BackgroundJob.user_id == user_id
            )
        )
    if job is None:
        raise JobNotFound()
    return job


def _int_or_zero(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


class Cursor:
    """What a `/v1/events` client has seen: the latest `updated_at` (epoch ms) and the
    versions of the jobs updated within `slack` before it."""

    def __init__(self, slack_ms: int, at: int = 0, versions: dict[str, int] | None = None):
        self.slack_ms = slack_ms
        self.at = at
        # job id -> (version, updated_at ms)
        self.seen: dict[str, tuple[int, int]] = {
            job: (version, at) for job, version in (versions or {}).items()
        }

    @classmethod
    def parse(cls, value: str | None, slack_ms: int) -> "Cursor | None":
        if not value:
            return None
        try:
            at_text, _, pairs = value.partition("~")
            versions = {}
            for pair in filter(None, pairs.split(",")):
                job, _, version = pair.partition(".")
                versions[str(uuid.UUID(hex=job))] = int(version)
            return cls(slack_ms, int(at_text), versions)
        except ValueError:
            return None  # an id we did not write: start afresh

    def is_new(self, job_id: str, version: int) -> bool:
        seen = self.seen.get(job_id)
        return seen is None or version > seen[0]

    def add(self, job_id: str, version: int, updated_at: int) -> None:
        self.seen[job_id] = (version, updated_at)
        self.at = max(self.at, updated_at)
        horizon = self.at - self.slack_ms
        if len(self.seen) > 64:
            self.seen = {j: s for j, s in self.seen.items() if s[1] >= horizon}

    def __str__(self) -> str:
        horizon = self.at - self.slack_ms
        recent = ",".join(
            f"{uuid.UUID(job).hex}.{version}"
            for job, (version, updated_at) in self.seen.items()
            if updated_at >= horizon
        )
        return f"{self.at}~{recent}"


async def open_user_stream(
    hub: Hub,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    user_id: int,
    last_event_id: str | None,
    heartbeat: float,
    slack_seconds: float,
) -> AsyncIterator[str]:
    """Every change of the user's jobs, and the announcements of other services."""
    subscription = await hub.subscribe(user_id)
    slack_ms = int(slack_seconds * 1000)
    cursor = Cursor.parse(last_event_id, slack_ms)
    resumed = cursor is not None
    return _user_events(
        subscription, sessionmaker, user_id, cursor or Cursor(slack_ms), resumed, heartbeat
    )


async def _user_events(
    subscription: Subscription,
    sessionmaker: async_sessionmaker[AsyncSession],
    user_id: int,
    cursor: Cursor,
    resumed: bool,
    heartbeat: float,
) -> AsyncIterator[str]:
    queue = subscription.queue
    try:
        for job in await _changed_jobs(sessionmaker, user_id, cursor if resumed else None):
            yield _user_job_event(cursor, job)
        while True:
            event = await _next(queue, heartbeat)
            if event is None:
                yield ": keep-alive\n\n"
            elif event is RESYNC:
                for job in await _patiently(lambda: _changed_jobs(sessionmaker, user_id, cursor)):
                    yield _user_job_event(cursor, job)
            elif event.get("type") == "job":
                if cursor.is_new(event["id"], event["version"]):
                    cursor.add(event["id"], event["version"], int(event["updated_at"]))
                    yield sse(_change_json(event), event="job", id=str(cursor))
            else:
                yield sse(_change_json(event), event=str(event.get("type")), id=str(cursor))
    finally:
        subscription.close()


def _user_job_event(cursor: Cursor, job: BackgroundJob) -> str:
    cursor.add(str(job.id), job.version, int(job.updated_at.timestamp() * 1000))
    return sse(_job_json(job), event="job", id=str(cursor))


async def _changed_jobs(
    sessionmaker: async_sessionmaker[AsyncSession], user_id: int, cursor: Cursor | None
) -> list[BackgroundJob]:
    """The user's active jobs, and those changed since the cursor's horizon that it has not
    seen at their current version, oldest change first."""
    condition: ColumnElement[bool] = BackgroundJob.status.in_(ACTIVE_STATUSES)
    if cursor is not None:
        since = (cursor.at - cursor.slack_ms) / 1000
        condition = or_(condition, BackgroundJob.updated_at >= _timestamp(since))
    async with sessionmaker() as session:
        result = await session.scalars(
            select(BackgroundJob)
            .where(BackgroundJob.user_id == user_id, condition)
            .order_by(BackgroundJob.updated_at, BackgroundJob.id)
        )
        jobs = list(result)
    if cursor is None:
        return jobs
    return [job for job in jobs if cursor.is_new(str(job.id), job.version)]


def _timestamp(epoch_seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC)
