"""Helpers of the job tests: the app's settings, the worker with the test tasks, notifications
and SSE events as a client receives them. Users, passports, waiting and jobs: `tests.kit`."""

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.config import Settings
from tests.job_service import job_test_tasks  # registers the test:* tasks for enqueueing
from tests.kit import workers
from tests.kit.jobs import enqueue, status_is
from tests.kit.passports import PassportKey
from tests.kit.users import make_user
from tests.kit.waiting import eventually

# The worker of the job tests: the test tasks, recovery in seconds, time to finish on stop.
JOB_WORKER: dict[str, Any] = {
    "WORKER_IMPORT_PATHS": job_test_tasks.__name__,
    **workers.FAST_RECOVERY,
    "WORKER_SHUTDOWN_GRACE": 10,
}


def running_worker(db_url: str, **extra: Any) -> AbstractAsyncContextManager[None]:
    """The real worker with the test tasks, in this process, until the block ends."""
    return workers.running_worker(db_url, **{**JOB_WORKER, **extra})


async def run_to(
    db_url: str, engine: AsyncEngine, kind: str, args: dict[str, Any], status: str
) -> dict[str, Any]:
    """A job of a new user run by the worker until it is `status`; its row then."""
    user_id = make_user(db_url)
    async with running_worker(db_url):
        job = await enqueue(engine, kind, user_id, args)
        row: dict[str, Any] = await eventually(status_is(db_url, job.id, status))
    return row


def app_settings(db_url: str, key: PassportKey, **extra: Any) -> Settings:
    return Settings(
        DATABASE_URL=db_url,
        PGSTACK_ENV="test",
        PASSPORT_JWKS=key.jwks,
        **extra,
    )


class Notifications:
    """Every `job_events` notification, as a LISTEN connection of the test receives them."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def of(self, job_id: uuid.UUID | str) -> list[dict[str, Any]]:
        return [n for n in self.received if n.get("id") == str(job_id)]


@asynccontextmanager
async def listening(db_url: str) -> AsyncIterator[Notifications]:
    notifications = Notifications()
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute("LISTEN job_events")
        # Job changes are announced only to watchers: watch everyone's (user 0).
        watcher = uuid.uuid4()
        await conn.execute(
            "INSERT INTO job_event_watchers (user_id, watcher, expires_at)"
            " VALUES (0, %s, now() + interval '1 hour')",
            (watcher,),
        )

        async def collect() -> None:
            async for notify in conn.notifies():
                notifications.received.append(json.loads(notify.payload))

        task = asyncio.create_task(collect())
        try:
            yield notifications
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await conn.execute("DELETE FROM job_event_watchers WHERE watcher = %s", (watcher,))


class SSEEvent(dict[str, str]):
    @property
    def data(self) -> dict[str, Any]:
        return dict(json.loads(self["data"]))


async def sse_events(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """The events of an SSE response (comments included, as {"comment": text})."""
    event = SSEEvent()
    async for line in response.aiter_lines():
        if line == "":
            if event:
                yield event
            event = SSEEvent()
        elif line.startswith(":"):
            yield SSEEvent(comment=line[1:].strip())
        else:
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")
