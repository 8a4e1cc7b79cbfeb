"""The two SSE streams: a job's changes, and everything that changes for a user.

A stream subscribes first (`job_service/hub.py`), then reads the current state, then forwards
changes: nothing is lost between the read and the subscription. `Last-Event-ID` resumes
(`job_service/sse.py` has the ids):

- `GET /v1/jobs/{id}/events`: a resumed stream sends the current state only if its version is
  higher than the client's, then the changes after it. It ends after a terminal state.
- `GET /v1/events`: a resumed stream re-reads the user's active jobs and those updated since
  T - slack (T: the cursor's latest `updated_at`) and sends each whose version is higher than
  the cursor's (absent: 0). A change committed after the disconnect has `updated_at` (its
  transaction's start) after T - slack unless its transaction ran longer than the slack
  (default 10 s, far longer than any transaction writing jobs), so nothing is missed and
  nothing is sent twice. Announcements of other services (`demo`, `platform`) are live only:
  they carry the cursor unchanged and are not replayed.

When the hub says a stream may have missed notifications (`RESYNC`), it re-reads as a resumed
stream does.
"""

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from job_service import service, sse
from job_service.hub import RESYNC, Hub, Subscription, patiently
from shared.jobs import TERMINAL_STATUSES, BackgroundJob


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
    sent = sse.version_of(last_event_id)
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
            yield sse.encode(sse.job_data(job), event="job", id=job.version)
            sent = job.version
        if job.status in TERMINAL_STATUSES:
            return
        while True:
            event = await _next(queue, heartbeat)
            if event is None:
                yield sse.KEEP_ALIVE
                continue
            if event is not RESYNC and (
                event.get("type") != "job" or event["id"] != job_id or event["version"] <= sent
            ):
                continue
            if event is RESYNC or event["status"] in TERMINAL_STATUSES:
                # The full row: the result or error comes with the terminal state.
                job = await patiently(partial(_read_job, sessionmaker, job.id, user_id))
                if job.version > sent:
                    yield sse.encode(sse.job_data(job), event="job", id=job.version)
                    sent = job.version
                if job.status in TERMINAL_STATUSES:
                    return
                continue
            yield sse.encode(sse.change_data(event), event="job", id=event["version"])
            sent = event["version"]
    finally:
        subscription.close()


async def _read_job(
    sessionmaker: async_sessionmaker[AsyncSession], job_id: uuid.UUID, user_id: int
) -> BackgroundJob:
    async with sessionmaker() as session:
        return await service.get_job_or_raise(session, job_id=job_id, user_id=user_id)


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
    cursor = sse.Cursor.parse(last_event_id, slack_ms)
    resumed = cursor is not None
    return _user_events(
        subscription, sessionmaker, user_id, cursor or sse.Cursor(slack_ms), resumed, heartbeat
    )


async def _user_events(
    subscription: Subscription,
    sessionmaker: async_sessionmaker[AsyncSession],
    user_id: int,
    cursor: sse.Cursor,
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
                yield sse.KEEP_ALIVE
            elif event is RESYNC:
                for job in await patiently(lambda: _changed_jobs(sessionmaker, user_id, cursor)):
                    yield _user_job_event(cursor, job)
            elif event.get("type") == "job":
                if cursor.is_new(event["id"], event["version"]):
                    cursor.add(event["id"], event["version"], int(event["updated_at"]))
                    yield sse.encode(sse.change_data(event), event="job", id=str(cursor))
            else:
                yield sse.encode(
                    sse.change_data(event), event=str(event.get("type")), id=str(cursor)
                )
    finally:
        subscription.close()


def _user_job_event(cursor: sse.Cursor, job: BackgroundJob) -> str:
    cursor.add(str(job.id), job.version, int(job.updated_at.timestamp() * 1000))
    return sse.encode(sse.job_data(job), event="job", id=str(cursor))


async def _changed_jobs(
    sessionmaker: async_sessionmaker[AsyncSession], user_id: int, cursor: sse.Cursor | None
) -> list[BackgroundJob]:
    """The user's active jobs, and those changed since the cursor's horizon that it has not
    seen at their current version, oldest change first."""
    since = None
    if cursor is not None:
        since = dt.datetime.fromtimestamp(cursor.horizon_ms / 1000, tz=dt.UTC)
    async with sessionmaker() as session:
        jobs = await service.list_changed_jobs(session, user_id=user_id, since=since)
    if cursor is None:
        return jobs
    return [job for job in jobs if cursor.is_new(str(job.id), job.version)]
