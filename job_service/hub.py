"""The watcher hub: one LISTEN on `job_events` per process, fanned out to the streams of each user.

One `Hub` per process subscribes once to the process's one LISTEN connection and routes each
notification to the streams of its user, so 500 open streams cost one database connection and
one JSON parse per notification. Job changes are announced only for users someone watches: the
Hub registers the users it streams in `job_event_watchers` (migration 0004). A stream of
`EVERY_USER` (0: the operators' `/v1/ops/events`) is registered as migration 0004's watcher of
every user, and gets every user's notifications.

When the LISTEN connection comes back after a database restart, every stream is told to
re-read (`RESYNC`), as a resumed stream does. On SIGTERM every stream is told to end
(`CLOSE`, `end_streams_on_sigterm`), before uvicorn waits for open connections to finish:
otherwise it cuts them after its graceful timeout, mid-body.
"""

import asyncio
import contextlib
import json
import logging
import signal
import threading
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from types import FrameType
from typing import TypeVar

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.sse import Change
from shared import db, sql
from shared.events import CHANNEL
from shared.jobs import WATCH_LOCK
from shared.listener import Listener

logger = logging.getLogger(__name__)
T = TypeVar("T")

QUERIES = sql.load(__file__)

# Put in a stream's queue when it may have missed notifications: re-read the state.
RESYNC = Change(type="resync")
# Put in every stream's queue when the process shuts down: end the stream.
CLOSE = Change(type="close")
QUEUE_LIMIT = 1000
# Subscribed as a user, gets every user's notifications (and registers as migration 0004's
# watcher of everyone, which makes every job change announced while it streams).
EVERY_USER = 0


class Hub:
    """Routes `job_events` notifications from the one Listener to the streams of each user.

    Job changes are announced only for watched users (migration 0004): the first stream of a
    user registers this process as a watcher of that user before it reads anything, and the
    registration is renewed while the user has streams here (it lapses `ttl` seconds after).
    """

    def __init__(
        self, listener: Listener, engine: AsyncEngine, *, ttl: float = 60, reads: int = 5
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        # Streams read the database through at most `reads` connections at once (job_service
        # leaves two of its pool to the rest): hundreds opening together (a deploy, a
        # reconnect storm) take turns instead of queueing at the pool ahead of registrations
        # and other requests (with all 500 streams of tests/job_service/test_streams.py
        # queued there, registrations waited past the pool's 5 s timeout: a 503).
        self.reads = asyncio.Semaphore(reads)
        self.watcher = uuid.uuid4()
        self._queues: dict[int, set[asyncio.Queue[Change]]] = defaultdict(set)
        self._registrations: dict[int, asyncio.Future[None]] = {}
        self._unsubscribe = [
            listener.subscribe(CHANNEL, self._notified),
            listener.on_reconnect(self._reconnected),
        ]
        self._renewal = asyncio.create_task(self._renew_forever(), name="watch renewal")
        self.closing = False

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewal

    def end_streams(self) -> None:
        """Tell every stream, and every one opened from now on, to end."""
        self.closing = True
        for queues in self._queues.values():
            for queue in queues:
                _put(queue, CLOSE)

    async def subscribe(self, user_id: int) -> "Subscription":
        """Start queueing the user's notifications; `close()` the subscription when done."""
        queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_LIMIT)
        if self.closing:
            queue.put_nowait(CLOSE)
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

    def _unsubscribe_queue(self, user_id: int, queue: asyncio.Queue[Change]) -> None:
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
                await db.execute(
                    conn, QUERIES["lock_watched_user"], {"lock": WATCH_LOCK, "user_id": user_id}
                )
            await db.execute(
                conn,
                QUERIES["watch"],
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
            cursor = await db.execute(
                conn,
                QUERIES["renew"],
                {"ttl": self.ttl, "watcher": self.watcher, "user_ids": users},
            )
            lost = set(users) - {row["user_id"] for row in await cursor.fetchall()}
            await db.execute(conn, QUERIES["forget_expired"], {"ttl": self.ttl})
        # Registrations gone (a database crash, renewals failing past their expiry): their
        # changes may have gone unannounced, so register again and re-read.
        await self._rewatch(lost)

    async def _rewatch(self, user_ids: Iterable[int]) -> None:
        # One user per transaction: several exclusive locks in one could deadlock with a
        # change holding the shared locks of two users.
        for user_id in user_ids:
            if user_id in self._queues:
                await patiently(partial(self._watch, [user_id]))
            for queue in self._queues.get(user_id, ()):
                _put(queue, RESYNC)

    def _notified(self, payload: str) -> None:
        if self.closing:
            return
        event = decode(payload)
        for user_id in {event.get("user_id", EVERY_USER), EVERY_USER}:
            for queue in self._queues.get(user_id, ()):
                _put(queue, event)

    async def _reconnected(self) -> None:
        # Notifications were lost while disconnected, and a crash empties the (unlogged)
        # registrations: register again, then every stream re-reads.
        await self._rewatch(list(self._queues))


class Subscription:
    def __init__(self, queue: asyncio.Queue[Change], close: Callable[[], None]) -> None:
        self.queue = queue
        self.close = close

    def end(self) -> None:
        """Tell this stream to end, as a shutdown does (its session was revoked)."""
        _put(self.queue, CLOSE)


def end_streams_on_sigterm(hub: Hub) -> Callable[[], None]:
    """Make SIGTERM end the hub's streams, then do what it did before (uvicorn's graceful
    shutdown, which then waits for no stream); returns the function that undoes it.

    Only the main thread can handle signals: elsewhere (an app served by a test's thread)
    this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)

    def handle(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(hub.end_streams)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handle)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def decode(payload: str) -> Change:
    """A `job_events` notification (shared/events.py), decoded once for all its streams."""
    return Change(json.loads(payload))


def _put(queue: asyncio.Queue[Change], event: Change) -> None:
    if event is CLOSE:
        while not queue.empty():  # nothing else matters any more
            queue.get_nowait()
    elif queue.full():
        # A client this far behind gets the current state instead of every change.
        while not queue.empty():
            queue.get_nowait()
        event = RESYNC
    queue.put_nowait(event)


async def patiently(read: Callable[[], Awaitable[T]], every: float = 0.5) -> T:
    """Read again until the database answers: an open stream outlives a database restart
    (the first attempts may meet connections the restart broke, or no server at all) and a
    pool kept busy by hundreds of streams opening at once (its wait times out)."""
    while True:
        try:
            return await read()
        except (DBAPIError, psycopg.OperationalError, PoolTimeout) as exc:
            logger.info("stream read failed, retrying: %s", exc.__class__.__name__)
            await asyncio.sleep(every)
