"""Helpers of the job tests: users, passports minted with a test key, the worker in-process,
notifications, an HTTP server for SSE, and a way to wait for the database to reach a state."""

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import job_test_tasks
import jwt
import psycopg
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from deploy.embedded import EmbeddedPostgres
from deploy.worker import WorkerSettings, run_worker
from job_service.config import Settings
from shared import jobs
from shared.jobs import BackgroundJob

T = TypeVar("T")


class PassportKey:
    """An Ed25519 key standing in for auth_service's: mints passports, publishes a JWKS."""

    def __init__(self) -> None:
        self.kid = f"test-{uuid.uuid4().hex[:8]}"
        self.private = Ed25519PrivateKey.generate()
        public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = json.dumps({"keys": [{**public, "kid": self.kid, "alg": "EdDSA"}]})

    def mint(self, user_id: int, *, expires_in: int = 60, audience: str = "pgstack") -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "sid": str(uuid.uuid4()),
            "aud": audience,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})

    def headers(self, user_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(user_id)}"}


def app_settings(db_url: str, key: PassportKey, **extra: Any) -> Settings:
    return Settings(
        DATABASE_URL=db_url,
        PGSTACK_ENV="test",
        PASSPORT_JWKS=key.jwks,
        **extra,
    )


def make_user(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO users (email, hashed_password) VALUES (%s, 'x') RETURNING id",
            (f"{uuid.uuid4().hex}@example.com",),
        ).fetchone()
    assert row is not None
    return int(row[0])


def job_row(db_url: str, job_id: uuid.UUID | str) -> dict[str, Any]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM background_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


async def eventually(
    check: Callable[[], T | None] | Callable[[], Awaitable[T | None]],
    *,
    within: float = 20,
    every: float = 0.05,
) -> T:
    """Wait until `check()` returns something truthy; return it (fail after `within` s)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(every)


def status_is(db_url: str, job_id: uuid.UUID | str, *statuses: str) -> Callable[[], Any]:
    def check() -> dict[str, Any] | None:
        row = job_row(db_url, job_id)
        return row if row["status"] in statuses else None

    return check


def worker_settings(db_url: str, **extra: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "DATABASE_URL": db_url,
        "WORKER_IMPORT_PATHS": job_test_tasks.__name__,
        "WORKER_HEARTBEAT": 0.5,
        "WORKER_STALLED_AFTER": 2,
        "WORKER_RECOVER_CRON": "* * * * * *",
        "WORKER_POLL_SECONDS": 0.5,
        "WORKER_SHUTDOWN_GRACE": 10,
    }
    values.update(extra)
    return WorkerSettings(**values)


@asynccontextmanager
async def running_worker(db_url: str, **extra: Any) -> AsyncIterator[None]:
    """The real worker, in this process, until the block ends."""
    task = asyncio.create_task(
        run_worker(worker_settings(db_url, **extra), install_signal_handlers=False)
    )
    try:
        await asyncio.sleep(0.2)
        assert not task.done(), task.exception() if task.done() else None
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def enqueue(
    engine: AsyncEngine,
    kind: str,
    user_id: int | None,
    args: dict[str, Any],
    idempotency_key: str | None = None,
) -> BackgroundJob:
    """Enqueue as a service does, and commit."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        job = await jobs.enqueue(session, kind, user_id, args, idempotency_key)
        await session.commit()
    return job


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


@asynccontextmanager
async def http_server(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free local port (real HTTP: SSE streams); its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, within=10, every=0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


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
