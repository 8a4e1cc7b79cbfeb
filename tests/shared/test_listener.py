"""The one LISTEN connection of a process: fan-out to subscribers, and back after a restart."""

import asyncio
from pathlib import Path

import psycopg

from deploy.embedded import EmbeddedPostgres
from shared.listener import Listener
from tests.kit.waiting import eventually


def notify(url: str, channel: str, payload: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


class TestListener:
    async def test_every_subscriber_of_a_channel_gets_each_notification_until_it_leaves(
        self, db_url: str
    ) -> None:
        listener = Listener(db_url)
        first: list[str] = []
        second: list[str] = []
        other: list[str] = []
        listener.subscribe("one", first.append)
        leave = listener.subscribe("one", second.append)
        listener.subscribe("two", other.append)
        await listener.start(["one", "two"])
        try:
            notify(db_url, "one", "a")
            await eventually(lambda: first == ["a"] and second == ["a"])
            leave()
            notify(db_url, "one", "b")
            notify(db_url, "two", "c")
            await eventually(lambda: first == ["a", "b"] and other == ["c"])
            assert second == ["a"]
        finally:
            await listener.stop()

    async def test_it_reconnects_after_a_database_restart_and_says_so(self, tmp_path: Path) -> None:
        postgres = EmbeddedPostgres(tmp_path / "pg")
        url = postgres.start()
        listener = Listener(url, retry_seconds=0.1)
        received: list[str] = []
        reconnected = asyncio.Event()
        listener.subscribe("news", received.append)
        listener.on_reconnect(reconnected.set)
        try:
            await listener.start(["news"])
            notify(url, "news", "before")
            await eventually(lambda: received == ["before"])
            await asyncio.to_thread(postgres.restart)
            await asyncio.wait_for(reconnected.wait(), 30)
            notify(url, "news", "after")
            await eventually(lambda: received == ["before", "after"])
        finally:
            await listener.stop()
            postgres.stop()
