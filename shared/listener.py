"""The one LISTEN connection of a process, fanning notifications out to in-process subscribers.

However many SSE streams or caches want notifications, a process holds exactly one database
connection for LISTEN. When the connection breaks (a database restart), it reconnects and
tells every subscriber through `on_reconnect`, so they can re-read state they may have missed.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

Handler = Callable[[str], None]
ReconnectHandler = Callable[[], Awaitable[None] | None]


class Listener:
    def __init__(self, database_url: str, *, retry_seconds: float = 0.5) -> None:
        self.database_url = database_url
        self.retry_seconds = retry_seconds
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

    async def _run(self, channels: list[str]) -> None:
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.database_url, autocommit=True
                ) as conn:
                    for channel in channels:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self.connected.set()
                    if not first:
                        await self._reconnected()
                    first = False
                    async for notify in conn.notifies():
                        for handler in list(self._handlers.get(notify.channel, ())):
                            try:
                                handler(notify.payload)
                            except Exception:
                                # One bad payload or subscriber must not stop the others.
                                logger.exception("notification handler failed")
            except (psycopg.Error, OSError) as exc:
                # Whatever broke the connection (a restart, a network cut, an admin's
                # pg_terminate_backend), listen again; subscribers re-read on reconnect.
                self.connected.clear()
                first = False  # whenever it connects now, subscribers may have missed things
                logger.warning("listener disconnected, retrying: %s", exc.__class__.__name__)
                await asyncio.sleep(self.retry_seconds)

    async def _reconnected(self) -> None:
        for handler in list(self._reconnect_handlers):
            result = handler()
            if result is not None:
                await result
