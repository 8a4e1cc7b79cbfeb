"""The stack as it runs in production, for the fault tests and the soak: a private PostgreSQL
cluster of the caller's own, the three services as `pgstack serve` processes and workers as `pgstack
worker` processes, and users who log in over HTTP.

Every process writes its output to a log file beside the cluster, so a failing test can say
what the process said.
"""

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from auth_service.passwords import hash_password
from deploy import migrate
from deploy.embedded import EmbeddedPostgres
from tests.kit.passports import PassportKey
from tests.kit.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "demo", "jobs")
ORIGIN = "http://faults.test"
PASSWORD = "correct horse battery staple"
# Heartbeats, recovery and polling in fractions of seconds rather than tens of seconds.
FAST_WORKER = {
    "WORKER_HEARTBEAT": "0.5",
    "WORKER_STALLED_AFTER": "3",
    "WORKER_RECOVER_CRON": "* * * * * *",
    "WORKER_POLL_SECONDS": "0.5",
}
TERMINAL = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Cluster:
    """A PostgreSQL cluster of the test's own, restarted as an operator would."""

    def __init__(self, root: Path) -> None:
        self.postgres = EmbeddedPostgres(root)
        self.url = self.postgres.start()
        migrate.upgrade(self.url)

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is closed, the server comes back."""
        self.postgres._pg_ctl(
            "restart", "-w", "-m", "fast", "-l", str(self.postgres.root / "postgres.log")
        )

    def stop(self) -> None:
        self.postgres.stop("immediate")

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, row_factory=dict_row, autocommit=True) as conn:
            return conn.execute(sql.encode(), params).fetchall()

    def make_user(self, password_hash: str) -> tuple[int, str]:
        email = f"fault-{uuid.uuid4().hex[:12]}@example.com"
        [row] = self.query(
            "INSERT INTO users (email, hashed_password, full_name) VALUES (%s, %s, 'Fault')"
            " RETURNING id",
            email,
            password_hash,
        )
        return int(row["id"]), email


class Processes:
    """The services and workers, each a real process with its own log file."""

    def __init__(
        self, cluster: Cluster, logs: Path, passport_key: PassportKey | None = None, **env: str
    ) -> None:
        self.cluster = cluster
        # With a key of the test's own, demo and jobs trust the passports it mints: no logins
        # (each costs an argon2 hash), for tests that are not about sessions.
        self.passport_key = passport_key
        self.logs = logs
        self.ports = {name: free_port() for name in SERVICES}
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": cluster.url,
            "PGSTACK_ENV": "development",
            "LOG_LEVEL": "WARNING",
            "AUTH_COOKIE_SECURE": "false",
            "AUTH_ALLOWED_ORIGINS": ORIGIN,
            "PASSPORT_JWKS_URL": f"http://127.0.0.1:{self.ports['auth']}/.well-known/jwks.json",
            "DEMO_STEP_DELAY": "0.05",
            **FAST_WORKER,
            **({"PASSPORT_JWKS": passport_key.jwks} if passport_key else {}),
            **env,
        }
        self.services: dict[str, subprocess.Popen[bytes]] = {}
        self.workers: list[subprocess.Popen[bytes]] = []

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        # The child keeps its own copy of the file descriptor.
        with (self.logs / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "deploy", *args],
                cwd=ROOT,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start_services(self) -> None:
        for name in SERVICES:
            self.services[name] = self._spawn(
                name, ["serve", name, "--port", str(self.ports[name])], {}
            )
            if name == "auth":  # demo and jobs fetch its public keys as they start
                self.wait_ready("auth")
        self.wait_ready(*SERVICES)

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        worker = self._spawn(f"worker-{len(self.workers)}", ["worker"], env)
        self.workers.append(worker)
        return worker

    def wait_ready(self, *names: str, within: float = 180) -> None:
        # Generous: on a busy CI machine a service takes tens of seconds to import and start.
        def ready() -> bool:
            for name in names:
                process = self.services[name]
                assert process.poll() is None, f"{name} exited: {self.log(name)}"
                try:
                    if httpx.get(f"{self.url(name)}/readyz", timeout=2).status_code != 200:
                        return False
                except httpx.HTTPError:
                    return False
            return True

        wait_for(ready, within=within, every=0.1, what=f"{names} ready")

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        everything = [*self.services.values(), *self.workers]
        for process in everything:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in everything:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def running_stack(
    cluster: Cluster,
    logs: Path,
    *,
    workers: int = 1,
    passport_key: PassportKey | None = None,
    **env: str,
) -> Iterator[Processes]:
    """The services and `workers` workers (started first: job_service is ready only when a
    worker is alive), stopped at the end of the block."""
    processes = Processes(cluster, logs, passport_key, **env)
    try:
        for _ in range(workers):
            processes.start_worker()
        if workers:
            processes.start_services()
        yield processes
    finally:
        processes.stop()


@dataclasses.dataclass
class Answers:
    """Every status code the clients got, and the 5xx that came without Retry-After."""

    codes: Counter[int] = dataclasses.field(default_factory=Counter)
    by_route: Counter[tuple[str, int]] = dataclasses.field(default_factory=Counter)
    bad: list[str] = dataclasses.field(default_factory=list)

    def record(self, route: str, response: httpx.Response) -> None:
        self.codes[response.status_code] += 1
        self.by_route[route, response.status_code] += 1
        if response.status_code >= 500 and not (
            response.status_code == 503 and response.headers.get("retry-after")
        ):
            self.bad.append(f"{route}: {response.status_code} {response.text[:200]}")


class User:
    """A person using the stack over HTTP: a cookie session, and the passport it carries."""

    def __init__(self, stack: Processes, user_id: int, email: str) -> None:
        self.stack = stack
        self.id = user_id
        self.email = email
        self.http = httpx.AsyncClient(
            timeout=30,
            headers={"Origin": ORIGIN},
            # Idle connections dropped before uvicorn's keep-alive (5 s) closes them: reusing
            # one the server is closing would be the client's own error, not the stack's.
            limits=httpx.Limits(keepalive_expiry=2),
        )
        self.passport = ""

    async def close(self) -> None:
        await self.http.aclose()

    async def request(
        self, answers: Answers | None, method: str, service: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if service != "auth":
            key = self.stack.passport_key
            passport = key.mint(self.id) if key else self.passport
            headers["Authorization"] = f"Bearer {passport}"
        response = await self.http.request(
            method, f"{self.stack.url(service)}{path}", headers=headers, **kwargs
        )
        if answers is not None:
            answers.record(f"{method} {service}{path}", response)
        return response

    async def log_in(self, answers: Answers | None = None) -> httpx.Response:
        response = await self.request(
            answers, "POST", "auth", "/v1/session", json={"email": self.email, "password": PASSWORD}
        )
        if response.status_code == 200:
            self.passport = response.json()["passport"]["token"]
        return response

    async def check_session(self, answers: Answers | None = None) -> httpx.Response:
        """`GET /v1/session`, as every page view does; it also renews the passport."""
        response = await self.request(answers, "GET", "auth", "/v1/session")
        if response.status_code == 200:
            self.passport = response.json()["passport"]["token"]
        return response


async def make_users(stack: Processes, count: int) -> list[User]:
    """`count` users with a password, logged in over HTTP (unless the test mints passports)."""
    password_hash = await hash_password(PASSWORD)
    users = [User(stack, *stack.cluster.make_user(password_hash)) for _ in range(count)]
    if stack.passport_key is None:
        for user in users:
            response = await user.log_in()
            assert response.status_code == 200, response.text
    return users


@contextlib.asynccontextmanager
async def users_of(stack: Processes, count: int) -> AsyncIterator[list[User]]:
    users = await make_users(stack, count)
    try:
        yield users
    finally:
        await asyncio.gather(*(user.close() for user in users))


def unfinished_jobs(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.query(
        "SELECT id, kind, status FROM background_jobs WHERE status <> ALL(%s)", list(TERMINAL)
    )


def demo_states(cluster: Cluster, user_ids: list[int]) -> Counter[str]:
    rows = cluster.query("SELECT demo_mode_status FROM users WHERE id = ANY(%s)", user_ids)
    return Counter(row["demo_mode_status"] for row in rows)
