"""The one LISTEN connection of a process, fanning notifications out to in-process subscribers.

However many SSE streams or caches want notifications, a process holds exactly one database
connection for LISTEN. It is also the process's lookout for the server going away: a restart
closes it at once, so the process's pools are drained then (`shared.db.drain_pools`), before a
request can meet one of their dead connections. It reconnects with back-off, drains the pools
again and tells every subscriber through `on_reconnect`, so they can re-read state they may
have missed. Whatever fails on the way (the connection, LISTEN, a reconnect handler) is one
more failed attempt: the loop never ends but by `stop()`, and `connected` is set only while
the connection listens and its subscribers are up to date.
"""

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import sql

from shared import db

logger = logging.getLogger(__name__)

Handler = Callable[[str], None]
ReconnectHandler = Callable[[], Awaitable[None] | None]


class Listener:
    def __init__(
        self,
        database_url: str,
        *,
        retry_seconds: float = 0.1,
        max_retry_seconds: float = 2.0,
        connect_seconds: int = 5,
    ) -> None:
        self.database_url = database_url
        # Back-off between attempts: from retry_seconds, doubling, at most max_retry_seconds.
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.connect_seconds = connect_seconds
        self._handlers: dict[str, set[Handler]] = defaultdict(set)
        self._reconnect_handlers: set[ReconnectHandler] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def subscribe(self, channel: str, handler: Handler) -> Callable[[], None]:
        """Call `handler(payload)` for each notification on `channel`; returns unsubscribe.

        Channels are fixed at start (`start(channels)`); handlers come and go freely.
        """
        self._handlers[channel].add(handler)
        return lambda: self._handlers[channel].discard(handler)

    def on_reconnect(self, handler: ReconnectHandler) -> Callable[[], None]:
        self._reconnect_handlers.add(handler)
        return lambda: self._reconnect_handlers.discard(handler)

    async def start(self, channels: list[str]) -> None:
        self._task = asyncio.create_task(self._run(channels), name="listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected.clear()

    async def _run(self, channels: list[str]) -> None:
        first = True
        failures = 0
        while True:
            try:
                async with await connect(self.database_url, self.connect_seconds) as conn:
                    for channel in channels:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    if not first:
                        # Connections opened before this one may have died with the server.
                        await db.drain_pools(self.database_url)
                        await self._reconnected()
                    first = False
                    failures = 0
                    self.connected.set()
                    async for notify in conn.notifies():
                        self._dispatch(notify.channel, notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A restart, a network cut, an admin's pg_terminate_backend, or a reconnect
                # handler meeting the same outage: listen again; subscribers re-read then.
                was_connected = self.connected.is_set()
                self.connected.clear()
                first = False
                failures += 1
                logger.warning(
                    "listener disconnected, retrying: %s",
                    exc.__class__.__name__,
                    exc_info=not isinstance(exc, psycopg.Error | OSError),
                )
                if was_connected:
                    # The server went away: what the pools hold went with it.
                    await db.drain_pools(self.database_url)
                await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        return backoff(failures, first=self.retry_seconds, cap=self.max_retry_seconds)

    def _dispatch(self, channel: str, payload: str) -> None:
        for handler in list(self._handlers.get(channel, ())):
            try:
                handler(payload)
            except Exception:
                # One bad payload or subscriber must not stop the others.
                logger.exception("notification handler failed")

    async def _reconnected(self) -> None:
        for handler in list(self._reconnect_handlers):
            result = handler()
            if result is not None:
                await result


def backoff(failures: int, *, first: float = 0.1, cap: float = 2.0) -> float:
    """Seconds to wait after `failures` failed attempts in a row: doubling from `first`, at
    most `cap`, jittered so that a fleet of processes does not retry in the same instant."""
    return min(cap, first * 2.0 ** max(0, failures - 1)) * random.uniform(0.5, 1.0)


Connection = psycopg.AsyncConnection[tuple[Any, ...]]


async def connect(database_url: str, connect_seconds: int) -> Connection:
    """A connection in autocommit; when connecting fails or is cancelled half-way, its
    socket is closed at once.

    psycopg's frames hold the half-open connection, and an exception's traceback holds the
    frames: kept by a task or a log record, it would keep the socket open until collected,
    and a server restarting meanwhile waits for that client's startup packet (up to its
    `authentication_timeout`) before it can stop. So the exception leaves without them.
    """
    try:
        return await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, connect_timeout=connect_seconds
        )
    except BaseException as exc:
        raise exc.with_traceback(None) from None
