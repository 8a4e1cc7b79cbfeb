"""The one LISTEN connection of a process: fan-out to subscribers, and back after a restart."""

import asyncio
import contextlib
import socket
from pathlib import Path

import psycopg
from sqlalchemy import text

from deploy.embedded import EmbeddedPostgres
from shared import db
from shared.listener import Listener
from shared.settings import ServiceSettings
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


def terminate_listeners(url: str) -> int:
    """Cut the LISTEN connections to this database, as a network cut or an admin would."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def terminate_others(url: str) -> None:
    """Cut every other connection to this database: pooled ones too, as a restart does."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


class TestReconnecting:
    async def test_a_reconnect_handler_meeting_the_outage_is_retried_until_it_succeeds(
        self, db_url: str
    ) -> None:
        """The handler that reloads state runs on a pool of the same database; when the cut
        also killed the pooled connection it would fail: the pools are drained first, and
        any failure of the handler is one more attempt, never the end of the listener."""
        engine = db.create_engine(ServiceSettings(DATABASE_URL=db_url))
        listener = Listener(db_url)
        reloads: list[int] = []
        failures = [psycopg.OperationalError("the database is still starting")]

        async def reload() -> None:
            if failures:
                raise failures.pop()
            async with engine.connect() as conn:
                reloads.append(await conn.scalar(text("SELECT 1")))

        received: list[str] = []
        listener.subscribe("news", received.append)
        listener.on_reconnect(reload)
        try:
            await listener.start(["news"])
            async with engine.connect() as conn:  # a pooled connection, idle from now on
                await conn.scalar(text("SELECT 1"))
            terminate_others(db_url)
            await eventually(lambda: reloads == [1], within=10, what="reloaded")
            assert listener.connected.is_set()
            notify(db_url, "news", "after")
            await eventually(lambda: received == ["after"])
        finally:
            await listener.stop()
            await engine.dispose()

    async def test_connected_is_clear_while_the_connection_is_down(self, db_url: str) -> None:
        listener = Listener(db_url, retry_seconds=1, max_retry_seconds=1)
        try:
            await listener.start(["news"])
            assert listener.connected.is_set()
            assert terminate_listeners(db_url) == 1
            await eventually(lambda: not listener.connected.is_set(), what="disconnected")
            await eventually(listener.connected.is_set, within=10, what="connected again")
        finally:
            await listener.stop()
        assert not listener.connected.is_set()

    async def test_a_listener_stopped_while_connecting_leaves_no_connection_open(self) -> None:
        """A process stopping while its listener connects must not leave the half-open
        connection to a server, which would wait for its startup packet."""
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            port = server.getsockname()[1]
            url = f"postgresql://x@127.0.0.1:{port}/x?sslmode=disable&gssencmode=disable"
            listener = Listener(url, connect_seconds=1)
            starting = asyncio.create_task(listener.start(["news"]))
            accepted, _ = await asyncio.to_thread(server.accept)
            with accepted:
                await asyncio.sleep(0.1)
                await listener.stop()
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
                accepted.settimeout(5)
                # The startup packet, then end of file: the client closed its side.
                received = b""
                while chunk := await asyncio.to_thread(accepted.recv, 1024):
                    received += chunk
            assert b"user\x00x" in received
