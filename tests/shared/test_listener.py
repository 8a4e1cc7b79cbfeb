"""The one LISTEN connection of a process: fan-out to subscribers, and back after a restart."""

import asyncio
from pathlib import Path

import psycopg

from deploy.embedded import EmbeddedPostgres
from shared.listener import Listener


def notify(url: str, channel: str, payload: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


async def until(check: object, within: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def restart_on_the_same_port(postgres: EmbeddedPostgres) -> None:
    """Crash the server and start it again where clients expect it. (`start()` would move to
    another port: its free-port check fails while the old connections are in TIME_WAIT.)"""
    postgres.kill()
    postgres._pg_ctl(
        "start",
        "-w",
        "-l",
        str(postgres.root / "postgres.log"),
        "-o",
        f"-p {postgres.port} -k {postgres.root} -c listen_addresses=127.0.0.1",
    )


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
            await until(lambda: first == ["a"] and second == ["a"])
            leave()
            notify(db_url, "one", "b")
            notify(db_url, "two", "c")
            await until(lambda: first == ["a", "b"] and other == ["c"])
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
            await until(lambda: received == ["before"])
            await asyncio.to_thread(restart_on_the_same_port, postgres)
            await asyncio.wait_for(reconnected.wait(), 30)
            notify(url, "news", "after")
            await until(lambda: received == ["before", "after"])
        finally:
            await listener.stop()
            postgres.stop()
