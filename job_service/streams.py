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
resumed stream does, a page (`REPLAY_PAGE` rows) at a time; when the process shuts down or the
stream's session is revoked (`CLOSE`; job_service/access.py), the stream ends with a `retry:`
hint and a proper end of its body. A `Last-Event-ID` we never wrote starts a stream afresh.
"""

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from job_service import service, sse
from job_service.access import Admission
from job_service.hub import CLOSE, EVERY_USER, RESYNC, Hub, Subscription, patiently
from shared.jobs import TERMINAL_STATUSES, BackgroundJob

# A replay reads the event log this many rows at a time.
REPLAY_PAGE = 500
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
    admission: Admission,
    *,
    job_id: uuid.UUID,
    user_id: int,
    last_event_id: str | None,
    heartbeat: float,
) -> AsyncIterator[str]:
    """The events of one job; raises JobNotFound before streaming anything. The stream
    releases `admission` when it ends (and so does a failure to open it)."""
    try:
        subscription = admission.hold(await hub.subscribe(user_id))
        read = partial(_reading, hub, sessionmaker)
        job = await _read_job(read, job_id, user_id)
    except BaseException:
        admission.release()
        raise
    sent = sse.version_of(last_event_id)
    if not 0 <= sent <= job.version:
        sent = 0  # an offset this job never had: start afresh, with its state
    return _job_events(subscription, admission, read, job, user_id, sent, heartbeat)


async def _job_events(
    subscription: Subscription,
    admission: Admission,
    read: Reader,
    job: BackgroundJob,
    user_id: int,
    sent: int,
    heartbeat: float,
) -> AsyncIterator[str]:
    job_id = str(job.id)
    queue = subscription.queue
    position = _Position(sent)
    try:
        if sent == 0:
            yield sse.encode(sse.job_data(job), event="job", id=job.version)
            position = _Position(job.version, job.status in TERMINAL_STATUSES)
        else:
            async for event_text in _job_replay(read, job.id, user_id, position):
                yield event_text
        while not position.ended:
            event = await _next(queue, heartbeat)
            if event is None:
                yield sse.KEEP_ALIVE
                continue
            if event is CLOSE:
                yield sse.RETRY
                return
            if event is not RESYNC:
                sent = position.sent
                if event.get("type") != "job" or event["id"] != job_id or event["version"] <= sent:
                    continue
                if event["version"] == sent + 1 and event["status"] not in TERMINAL_STATUSES:
                    yield event.job_event
                    position.sent = event["version"]
                    continue
            async for event_text in _job_replay(read, job.id, user_id, position):
                yield event_text
    finally:
        admission.release()


@dataclass
class _Position:
    """Where a job stream is: the offset sent, and whether the job has ended."""

    sent: int
    ended: bool = False


async def _job_replay(
    read: Reader, job_id: uuid.UUID, user_id: int, position: _Position
) -> AsyncIterator[str]:
    """The job's logged changes after `position`, read a page at a time (a client far behind
    costs one page of memory, not the whole log); `position` follows what is yielded."""
    while True:
        events, sent, ended, full = await patiently(
            partial(_job_catch_up, read, job_id, user_id, position.sent)
        )
        position.sent, position.ended = sent, ended
        for event_text in events:
            yield event_text
        if not full:
            return


async def _job_catch_up(
    read: Reader, job_id: uuid.UUID, user_id: int, sent: int
) -> tuple[list[str], int, bool, bool]:
    """A page of the job's logged changes after offset `sent`: (events, the offset now sent,
    ended, whether the page was full: more may follow).

    The row is read first: the log, read after, holds every change up to its version unless
    the prune task took some, and then the client gets `missed` and the current state.
    """
    async with read() as session:
        job = await service.get_job_or_raise(session, job_id=job_id, user_id=user_id)
        rows = await service.list_job_events(session, job_id=job_id, after=sent, limit=REPLAY_PAGE)
    if (rows and rows[0]["job_offset"] != sent + 1) or (not rows and job.version > sent):
        missed = sse.encode(sse.missed_data(id=str(job_id), after=sent), event="missed")
        snapshot = sse.encode(sse.job_data(job), event="job", id=job.version)
        return [missed, snapshot], job.version, job.status in TERMINAL_STATUSES, False
    if not rows:
        return [], sent, job.status in TERMINAL_STATUSES, False
    events = [sse.encode(sse.log_data(row), event="job", id=row["job_offset"]) for row in rows]
    last = rows[-1]
    ended = last["payload"]["status"] in TERMINAL_STATUSES
    return events, last["job_offset"], ended, len(rows) == REPLAY_PAGE


async def _read_job(read: Reader, job_id: uuid.UUID, user_id: int) -> BackgroundJob:
    async with read() as session:
        return await service.get_job_or_raise(session, job_id=job_id, user_id=user_id)


async def open_user_stream(
    hub: Hub,
    sessionmaker: async_sessionmaker[AsyncSession],
    admission: Admission,
    *,
    user_id: int,
    last_event_id: str | None,
    heartbeat: float,
    slack_seconds: float,
    retention_hours: float,
) -> AsyncIterator[str]:
    """Every change of the user's jobs, and the announcements of other services; releases
    `admission` when it ends."""
    try:
        subscription = admission.hold(await hub.subscribe(user_id))
    except BaseException:
        admission.release()
        raise
    slack_ms = int(slack_seconds * 1000)
    cursor = sse.Cursor.parse(last_event_id, slack_ms)
    retention_ms = retention_hours * 3600 * 1000
    read = partial(_reading, hub, sessionmaker)
    return _user_events(
        subscription, admission, read, user_id, cursor, slack_ms, retention_ms, heartbeat
    )


async def _user_events(
    subscription: Subscription,
    admission: Admission,
    read: Reader,
    user_id: int,
    resumed: sse.Cursor | None,
    slack_ms: int,
    retention_ms: float,
    heartbeat: float,
) -> AsyncIterator[str]:
    queue = subscription.queue
    cursor = resumed or sse.Cursor(slack_ms)
    replay = partial(_user_replay, read, user_id, cursor, retention_ms)
    try:
        if resumed is None:
            for event_text in await patiently(partial(_user_start, read, user_id, cursor)):
                yield event_text
        else:
            async for event_text in replay():
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
                async for event_text in replay():
                    yield event_text
                yield sse.resume_point(str(cursor))
            elif event.get("type") == "job":
                async for event_text in _user_job_change(read, cursor, event):
                    yield event_text
            else:
                yield sse.encode(event.data, event=str(event.get("type")), id=str(cursor))
    finally:
        admission.release()


async def _user_job_change(
    read: Reader, cursor: sse.Cursor, event: sse.Change
) -> AsyncIterator[str]:
    """A live change of one of the user's jobs: forwarded as announced, or, for a terminal
    state (its result) or after a gap (missed announcements), read from the log, a page at
    a time."""
    job_id, offset = event["id"], event["version"]
    if not cursor.is_new(job_id, offset):
        return
    seen = cursor.seen.get(job_id)
    gap = seen is not None and offset > seen[0] + 1
    if not gap and event["status"] not in TERMINAL_STATUSES:
        cursor.add(job_id, offset, event["at"])
        yield sse.encode(event.data, event="job", id=str(cursor))
        return
    after = seen[0] if seen is not None else offset - 1

    async def read_log() -> list[dict[str, Any]]:
        async with read() as session:
            return await service.list_job_events(
                session, job_id=uuid.UUID(job_id), after=after, limit=REPLAY_PAGE
            )

    while True:
        rows = await patiently(read_log)
        for row in rows:
            yield _user_log_event(cursor, row)
        if len(rows) < REPLAY_PAGE:
            return
        after = rows[-1]["job_offset"]


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


async def _user_replay(
    read: Reader, user_id: int, cursor: sse.Cursor, retention_ms: float
) -> AsyncIterator[str]:
    """A resumed stream's catch-up (`_user_catch_up`), a page at a time; a cursor we never
    wrote (a time to come, or before 1970) starts the stream afresh instead."""
    since: float | None = None
    after_id = 0
    while True:
        page = await patiently(
            partial(_user_catch_up, read, user_id, cursor, retention_ms, since, after_id)
        )
        if page is None:
            cursor.at, cursor.seen = 0, {}
            for event_text in await patiently(partial(_user_start, read, user_id, cursor)):
                yield event_text
            return
        events, since, next_id = page
        for event_text in events:
            yield event_text
        if next_id is None:
            return
        after_id = next_id


async def _user_catch_up(
    read: Reader,
    user_id: int,
    cursor: sse.Cursor,
    retention_ms: float,
    since: float | None,
    after_id: int,
) -> tuple[list[str], float, int | None] | None:
    """A page of a resumed stream's catch-up: the user's changes the cursor has not seen,
    from the log (written since `since`, the cursor's horizon when the replay began, and
    after the log's row `after_id`); or, when the cursor is older than the log's retention
    (the prune task may have taken some), `missed` and the current state of what changed
    since. (events, since, the row to go on after or None at the end); None for a cursor
    out of range."""
    async with read() as session:
        now = await service.get_now(session)
        missed = False
        if since is None:
            if not 0 <= cursor.at <= now:
                return None
            since = cursor.horizon_ms
            missed = since < now - retention_ms
        if missed:
            jobs = await service.list_changed_jobs(session, user_id=user_id, since=_datetime(since))
        else:
            rows = await service.list_user_events(
                session, user_id=user_id, since_ms=since, after_id=after_id, limit=REPLAY_PAGE
            )
    if not missed:
        events = [
            _user_log_event(cursor, row)
            for row in rows
            if cursor.is_new(str(row["job_id"]), row["job_offset"])
        ]
        if len(rows) == REPLAY_PAGE:
            return events, since, int(rows[-1]["id"])
        # Every change committed before the read is in it: the cursor moves on to its time.
        cursor.advance(now)
        return events, since, None
    events = [sse.encode(sse.missed_data(since=since), event="missed")]
    for job in jobs:
        if cursor.is_new(str(job.id), job.version):
            cursor.add(str(job.id), job.version, now)
            events.append(sse.encode(sse.job_data(job), event="job", id=str(cursor)))
    cursor.advance(now)
    return events, since, None


def _user_log_event(cursor: sse.Cursor, row: dict[str, Any]) -> str:
    cursor.add(str(row["job_id"]), row["job_offset"], float(row["at"]))
    return sse.encode(sse.log_data(row), event="job", id=str(cursor))


def _datetime(epoch_ms: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)


async def open_ops_stream(
    hub: Hub, admission: Admission, *, heartbeat: float, interval: float = OPS_EVENTS_INTERVAL
) -> AsyncIterator[str]:
    """Every user's job changes, coalesced: `changed` events, at most one per `interval`;
    releases `admission` when it ends."""
    try:
        subscription = admission.hold(await hub.subscribe(EVERY_USER))
    except BaseException:
        admission.release()
        raise
    return _ops_events(subscription, admission, heartbeat, interval)


async def _ops_events(
    subscription: Subscription, admission: Admission, heartbeat: float, interval: float
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
        admission.release()


def _drain(queue: asyncio.Queue[sse.Change]) -> list[sse.Change]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events
