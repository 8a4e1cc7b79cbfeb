"""demo_service's test kit: passports signed by a test key, users and platforms made with
SQL (registration is auth_service's), waiting for the worker."""

import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from psycopg import pq

KEY = Ed25519PrivateKey.generate()
KID = "demo-tests"


def jwks() -> str:
    """The test key's public half, as the JWKS auth_service would publish."""
    jwk = json.loads(OKPAlgorithm.to_jwk(KEY.public_key()))
    jwk.update(kid=KID, alg="EdDSA", use="sig")
    return json.dumps({"keys": [jwk]})


def mint_passport(user_id: int, *, ttl: int = 60) -> str:
    """A passport as auth_service mints it: sub, sid, aud, iat, exp (<= 60 s), jti."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "sid": str(uuid.uuid4()),
        "aud": "pgstack",
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": KID})


class PassportAuth(httpx.Auth):
    """A fresh passport on each request: tests that wait on a worker outlive one."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {mint_passport(self.user_id)}"
        yield request


async def create_user(db_url: str, *, name: str = "Ada Lovelace") -> int:
    """A user row as auth_service would write it (registration is auth's, not ours)."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "INSERT INTO users (email, hashed_password, full_name) VALUES (%s, 'x', %s)"
            " RETURNING id",
            (f"user-{uuid.uuid4().hex[:10]}@example.com", name),
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def create_platform(
    db_url: str, user_id: int, *, kind: str = "google_ads", status: str = "disconnected"
) -> int:
    """A platform the user added themselves (not demo data)."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "INSERT INTO platforms (user_id, kind, name, connection_status)"
            " VALUES (%s, %s, 'My own account', %s) RETURNING id",
            (user_id, kind, status),
        )
        row = await cursor.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO daily_metrics (platform_id, day, impressions, clicks, spend, conversions)"
            " VALUES (%s, current_date, 1000, 10, 5.00, 1)",
            (row[0],),
        )
    return int(row[0])


async def query(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cursor = await conn.execute(sql, params)
        return await cursor.fetchall() if cursor.description else []


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 30, every: float = 0.05
) -> None:
    """Wait until `check()` holds; fail the test if it never does within `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(every)


async def demo_status(db_url: str, user_id: int) -> str:
    rows = await query(db_url, "SELECT demo_mode_status FROM users WHERE id = %s", user_id)
    return str(rows[0][0])


async def workspace(db_url: str, user_id: int) -> tuple[int, int]:
    """(demo platforms, their metric rows) of the user."""
    rows = await query(
        db_url,
        "SELECT count(DISTINCT p.id), count(m.id) FROM platforms p"
        " LEFT JOIN daily_metrics m ON m.platform_id = p.id"
        " WHERE p.user_id = %s AND p.is_demo",
        user_id,
    )
    return int(rows[0][0]), int(rows[0][1])


class TracedReadPool:
    """The app's read pool, recording what each checked-out connection sends (libpq's
    protocol trace): every Sync or simple Query is one round trip to Postgres."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.sent: list[str] = []

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        async with self.pool.connection() as conn:
            with tempfile.TemporaryFile("w+") as sink:
                conn.pgconn.trace(sink.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                try:
                    yield conn
                finally:
                    conn.pgconn.untrace()  # flushes the trace
                    sink.seek(0)
                    lines = sink.read().splitlines()
        self.sent += [line.split("\t")[2].split()[0] for line in lines if line.startswith("F")]

    def count(self, *messages: str) -> int:
        return sum(1 for message in self.sent if message in messages)
