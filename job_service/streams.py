"""The SSE streams: a job's changes, everything that changes for a user, and for operators a
coalesced notice of every user's job changes.

Every user-visible change of a job is a row of the event log `job_events` (migration 0010),
written in the change's transaction at the job's next offset. A stream subscribes first
(`job_service/hub.py`), then reads, then forwards the live changes the hub hands it:
nothing is lost between the read and the subscription, and offsets drop what the read already
sent. `Last-Event-ID` resumes from the log (`job_service/sse.py` has the ids):

- `GET /v1/jobs/{id}/events`: a new stream sends the job's current state; a resumed one every
  logged change after the client's offset, in order. Live, a change that follows the last one
  sent is forwarded as announced; a gap (missed announcements) or a terminal state (which
  carries the result) is read from the log. It ends after a terminal state.
- `GET /v1/events`: a new stream sends the user's active jobs, then its resume point (an `id:`
  alone, so a stream that gets no event still resumes exactly); a resumed one sends the
  user's logged changes since T - slack (T: the cursor's time) that the cursor has not seen.
  A change committed after the client's last read has `at` (its insert's clock time) after
  T - slack unless its transaction went on for longer than the slack after writing it
  (default 10 s: job transactions take milliseconds), so nothing is missed, and the offsets
  of the jobs changed within the slack, in the cursor, keep anything from being sent twice.
  Measured: a cursor of one user with 20 jobs changing at once is about 700 bytes.
  Announcements of other services (`demo`, `platform`) are live only: they carry the cursor
  unchanged and are not replayed.

A client older than the log's retention (JOBS_EVENTS_RETENTION_HOURS, which the prune task
and job_service both read) gets an event `missed`, then the current state: a job stream knows
from the gap in the offsets, a `/v1/events` stream from a cursor older than the retention.

- `GET /v1/ops/events` (operators): no state, only `changed` events saying which jobs changed
  (`{"jobs": [ids], "all": false}`), at most one per `OPS_EVENTS_INTERVAL`, so an ops page
  re-reads once a second however many jobs change (1,000 a second is 1,000 notifications to
  this process, and one event to the browser). `"all": true` means "re-read everything": the
  first event of a stream (the client's read came before the subscription, and changes in
  flight at the registration may commit unannounced: it comes an interval later, when they
  have committed), after missed notifications, or when more than `OPS_EVENTS_MAX_IDS` jobs
  changed at once. Nothing is replayed: the client re-reads the current state.

When the hub says a stream may have missed notifications (`RESYNC`), it reads the log as a
resumed stream does; when the process shuts down (`CLOSE`), every stream ends with a `retry:`
hint and a proper end of its body.
"""

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from job_service import service, sse
from job_service.hub import CLOSE, EVERY_USER, RESYNC, Hub, Subscription, patiently
from shared.jobs import TERMINAL_STATUSES, BackgroundJob

# The ops stream sends at most one event this often (seconds), with at most this many job ids.
OPS_EVENTS_INTERVAL = 1.0
OPS_EVENTS_MAX_IDS = 100

# Opens a session for a stream's read, when the hub gives the stream its turn (`Hub.reads`).
Reader = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@contextlib.asynccontextmanager
async def _reading(
    hub: Hub, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[AsyncSession]:
    async with hub.reads, sessionmaker() as session:
        yield session


async def _next(queue: asyncio.Queue[sse.Change], heartbeat: float) -> sse.Change | None:
    """The next event, or None when `heartbeat` seconds pass without one."""
    try:
        # Not wait_for, which wraps the get in a task of its own for every event.
        async with asyncio.timeout(heartbeat):
            return await queue.get()
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
    read = partial(_reading, hub, sessionmaker)
    try:
        job = await _read_job(read, job_id, user_id)
    except BaseException:
        subscription.close()
        raise
    sent = sse.version_of(last_event_id)
    return _job_events(subscription, read, job, user_id, sent, heartbeat)


async def _job_events(
    subscription: Subscription,
    read: Reader,
    job: BackgroundJob,
    user_id: int,
    sent: int,
    heartbeat: float,
) -> AsyncIterator[str]:
    job_id = str(job.id)
    queue = subscription.queue
    catch_up = partial(_job_catch_up, read, job.id, user_id)
    try:
        if sent == 0:
            yield sse.encode(sse.job_data(job), event="job", id=job.version)
            sent, ended = job.version, job.status in TERMINAL_STATUSES
        else:
            events, sent, ended = await patiently(partial(catch_up, sent))
            for event_text in events:
                yield event_text
        while not ended:
            event = await _next(queue, heartbeat)
            if event is None:
                yield sse.KEEP_ALIVE
                continue
            if event is CLOSE:
                yield sse.RETRY
                return
            if event is not RESYNC:
                if event.get("type") != "job" or event["id"] != job_id or event["version"] <= sent:
                    continue
                if event["version"] == sent + 1 and event["status"] not in TERMINAL_STATUSES:
                    yield event.job_event
                    sent = event["version"]
                    continue
            events, sent, ended = await patiently(partial(catch_up, sent))
            for event_text in events:
                yield event_text
    finally:
        subscription.close()


async def _job_catch_up(
    read: Reader, job_id: uuid.UUID, user_id: int, sent: int
) -> tuple[list[str], int, bool]:
    """The job's logged changes after offset `sent`: (events, the offset now sent, ended).

    The row is read first: the log, read after, holds every change up to its version unless
    the prune task took some, and then the client gets `missed` and the current state.
    """
    async with read() as session:
        job = await service.get_job_or_raise(session, job_id=job_id, user_id=user_id)
        rows = await service.list_job_events(session, job_id=job_id, after=sent)
    if (rows and rows[0]["job_offset"] != sent + 1) or (not rows and job.version > sent):
        missed = sse.encode(sse.missed_data(id=str(job_id), after=sent), event="missed")
        snapshot = sse.encode(sse.job_data(job), event="job", id=job.version)
        return [missed, snapshot], job.version, job.status in TERMINAL_STATUSES
    if not rows:
        return [], sent, job.status in TERMINAL_STATUSES
    events = [sse.encode(sse.log_data(row), event="job", id=row["job_offset"]) for row in rows]
    last = rows[-1]
    return events, last["job_offset"], last["payload"]["status"] in TERMINAL_STATUSES


async def _read_job(read: Reader, job_id: uuid.UUID, user_id: int) -> BackgroundJob:
    async with read() as session:
        return await service.get_job_or_raise(session, job_id=job_id, user_id=user_id)


async def open_user_stream(
    hub: Hub,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    user_id: int,
    last_event_id: str | None,
    heartbeat: float,
    slack_seconds: float,
    retention_hours: float,
) -> AsyncIterator[str]:
    """Every change of the user's jobs, and the announcements of other services."""
    subscription = await hub.subscribe(user_id)
    slack_ms = int(slack_seconds * 1000)
    cursor = sse.Cursor.parse(last_event_id, slack_ms)
    retention_ms = retention_hours * 3600 * 1000
    read = partial(_reading, hub, sessionmaker)
    return _user_events(subscription, read, user_id, cursor, slack_ms, retention_ms, heartbeat)


async def _user_events(
    subscription: Subscription,
    read: Reader,
    user_id: int,
    resumed: sse.Cursor | None,
    slack_ms: int,
    retention_ms: float,
    heartbeat: float,
) -> AsyncIterator[str]:
    queue = subscription.queue
    cursor = resumed or sse.Cursor(slack_ms)
    catch_up = partial(_user_catch_up, read, user_id, cursor, retention_ms)
    try:
        if resumed is None:
            events = await patiently(partial(_user_start, read, user_id, cursor))
        else:
            events = await patiently(catch_up)
        for event_text in events:
            yield event_text
        yield sse.resume_point(str(cursor))
        while True:
            event = await _next(queue, heartbeat)
            if event is None:
                yield sse.KEEP_ALIVE
            elif event is CLOSE:
                yield sse.RETRY
                return
            elif event is RESYNC:
                for event_text in await patiently(catch_up):
                    yield event_text
                yield sse.resume_point(str(cursor))
            elif event.get("type") == "job":
                for event_text in await _user_job_change(read, cursor, event):
                    yield event_text
            else:
                yield sse.encode(event.data, event=str(event.get("type")), id=str(cursor))
    finally:
        subscription.close()


async def _user_job_change(read: Reader, cursor: sse.Cursor, event: sse.Change) -> list[str]:
    """A live change of one of the user's jobs: forwarded as announced, or, for a terminal
    state (its result) or after a gap (missed announcements), read from the log."""
    job_id, offset = event["id"], event["version"]
    if not cursor.is_new(job_id, offset):
        return []
    seen = cursor.seen.get(job_id)
    gap = seen is not None and offset > seen[0] + 1
    if not gap and event["status"] not in TERMINAL_STATUSES:
        cursor.add(job_id, offset, event["at"])
        return [sse.encode(event.data, event="job", id=str(cursor))]
    after = seen[0] if seen is not None else offset - 1

    async def read_log() -> list[dict[str, Any]]:
        async with read() as session:
            return await service.list_job_events(session, job_id=uuid.UUID(job_id), after=after)

    return [_user_log_event(cursor, row) for row in await patiently(read_log)]


async def _user_start(read: Reader, user_id: int, cursor: sse.Cursor) -> list[str]:
    """A new stream: the user's active jobs as they are now. The jobs changed within the
    slack before now go into the cursor at their versions, sent or not: a resume skips what
    the client already has in the state it was sent."""
    async with read() as session:
        now = await service.get_now(session)
        jobs = await service.list_changed_jobs(
            session, user_id=user_id, since=_datetime(now - cursor.slack_ms)
        )
    cursor.advance(now)
    events = []
    for job in jobs:
        cursor.add(str(job.id), job.version, now)
        if job.status not in TERMINAL_STATUSES:
            events.append(sse.encode(sse.job_data(job), event="job", id=str(cursor)))
    return events


async def _user_catch_up(
    read: Reader,
    user_id: int,
    cursor: sse.Cursor,
    retention_ms: float,
) -> list[str]:
    """A resumed stream: the user's changes the cursor has not seen, from the log; or, when
    the cursor is older than the log's retention (the prune task may have taken some),
    `missed` and the current state of what changed since."""
    async with read() as session:
        now = await service.get_now(session)
        missed = cursor.horizon_ms < now - retention_ms
        if missed:
            jobs = await service.list_changed_jobs(
                session, user_id=user_id, since=_datetime(cursor.horizon_ms)
            )
        else:
            rows = await service.list_user_events(
                session, user_id=user_id, since_ms=cursor.horizon_ms
            )
    if not missed:
        events = [
            _user_log_event(cursor, row)
            for row in rows
            if cursor.is_new(str(row["job_id"]), row["job_offset"])
        ]
        # Every change committed before the read is in it: the cursor moves on to its time.
        cursor.advance(now)
        return events
    events = [sse.encode(sse.missed_data(since=cursor.horizon_ms), event="missed")]
    for job in jobs:
        if cursor.is_new(str(job.id), job.version):
            cursor.add(str(job.id), job.version, now)
            events.append(sse.encode(sse.job_data(job), event="job", id=str(cursor)))
    cursor.advance(now)
    return events


def _user_log_event(cursor: sse.Cursor, row: dict[str, Any]) -> str:
    cursor.add(str(row["job_id"]), row["job_offset"], float(row["at"]))
    return sse.encode(sse.log_data(row), event="job", id=str(cursor))


def _datetime(epoch_ms: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)


async def open_ops_stream(
    hub: Hub, *, heartbeat: float, interval: float = OPS_EVENTS_INTERVAL
) -> AsyncIterator[str]:
    """Every user's job changes, coalesced: `changed` events, at most one per `interval`."""
    subscription = await hub.subscribe(EVERY_USER)
    return _ops_events(subscription, heartbeat, interval)


async def _ops_events(
    subscription: Subscription, heartbeat: float, interval: float
) -> AsyncIterator[str]:
    queue = subscription.queue
    clock = asyncio.get_running_loop().time
    # The ids of the jobs changed since the last event; past OPS_EVENTS_MAX_IDS, `all`.
    changed: set[str] = set()
    # The first event says "re-read everything", an interval after the registration.
    everything, due = True, clock() + interval
    try:
        while True:
            if everything or changed:
                # Sleep out the interval, then take what came meanwhile at once. Measured at
                # 3,000 notifications a second (1,000 jobs/s), in-process: the hub alone
                # 1.3% of a core, 10 ops streams 3.5%; waking up for each notification, 24%.
                # (A shutdown's CLOSE waits too: at most an interval.)
                await asyncio.sleep(due - clock())
                events = _drain(queue)
            else:
                event = await _next(queue, heartbeat)
                if event is None:
                    yield sse.KEEP_ALIVE
                    continue
                events = [event]
            for event in events:
                if event is CLOSE:
                    yield sse.RETRY
                    return
                if event is RESYNC:
                    everything = True
                elif event.get("type") == "job" and not everything:
                    changed.add(event["id"])
                    everything = len(changed) > OPS_EVENTS_MAX_IDS
            if (everything or changed) and clock() >= due:
                data = {"jobs": [] if everything else sorted(changed), "all": everything}
                yield sse.encode(json.dumps(data), event="changed")
                changed.clear()
                everything, due = False, clock() + interval
    finally:
        subscription.close()


def _drain(queue: asyncio.Queue[sse.Change]) -> list[sse.Change]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events
