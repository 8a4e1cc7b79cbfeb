"""Behind PgBouncer in transaction mode: the services' request paths and the worker go through
the pooler (DATABASE_URL, DB_PREPARED_STATEMENTS=false), every LISTEN straight to Postgres
(DATABASE_LISTEN_URL). Real processes, a real PgBouncer, the test's own database."""

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from shared import db
from tests.deploy.pgbouncer import pgbouncer
from tests.deploy.processes import Processes, base_env, wait_for_status

SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
PASSWORD = "a long and boring password 42"


@pytest.fixture
def pooled_url(db_url: str) -> Iterator[str]:
    """The module's database through a PgBouncer of 4 server connections."""
    with pgbouncer(db_url, pool_size=4) as url:
        yield url


@pytest.fixture
def processes(pooled_url: str) -> Iterator[Processes]:
    """Processes stopped before the PgBouncer they use."""
    started = Processes()
    yield started
    started.stop()


class EventReader(threading.Thread):
    """Reads a Server-Sent Events stream into `events` until told to stop."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.events: list[dict[str, Any]] = []
        self.opened = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        headers = {"authorization": f"Bearer {self.token}"}
        with (
            httpx.Client(timeout=httpx.Timeout(5, read=60)) as client,
            client.stream("GET", self.url, headers=headers) as response,
        ):
            assert response.status_code == 200
            self.opened.set()
            for line in response.iter_lines():
                if self.done.is_set():
                    return
                if line.startswith("data: "):
                    self.events.append(json.loads(line.removeprefix("data: ")))


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def listening_backends(direct_url: str) -> int:
    with psycopg.connect(direct_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.timeout(300)
def test_sessions_dashboard_enqueue_and_live_events_work_through_pgbouncer(
    db_url: str, pooled_url: str, processes: Processes
) -> None:
    """Login, session checks, 120 concurrent reads (past psycopg's prepare threshold), an
    enable whose job a worker runs, its live events on an open stream, and a logout that
    reaches demo_service's passport check at once: all through a 4-connection PgBouncer."""
    env = base_env(
        pooled_url,
        DATABASE_LISTEN_URL=db_url,
        DB_PREPARED_STATEMENTS="false",
        DB_POOL_SIZE="3",
        DEMO_STEP_DELAY="0",
        WORKER_POLL_SECONDS="0.5",
        # A comment a second on idle streams, so the test's reader notices it should stop.
        JOBS_SSE_HEARTBEAT_SECONDS="1",
    )
    auth = processes.serve("auth", env)
    env["PASSPORT_JWKS_URL"] = f"{auth}/.well-known/jwks.json"
    demo = processes.serve("demo", env)
    jobs = processes.serve("jobs", env)
    processes.start("worker", env=env)
    for url in (auth, demo, jobs):
        wait_for_status(f"{url}/readyz", 200, processes)

    with httpx.Client(headers=SAME_ORIGIN, timeout=10) as browser:
        email = "pooled@example.com"
        registered = browser.post(f"{auth}/v1/users", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        login = browser.post(f"{auth}/v1/session", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        for _ in range(12):
            check = browser.get(f"{auth}/v1/session")
            assert check.status_code == 200, check.text
        token = check.json()["passport"]["token"]
        api = {"authorization": f"Bearer {token}"}

        # Many reads at once from three services: their pooled connections take turns on the
        # four server connections, so a statement prepared on one is soon missing on another.
        reads = [f"{demo}/v1/dashboard", f"{demo}/v1/demo", f"{jobs}/v1/jobs"] * 40
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(lambda url: httpx.get(url, headers=api).status_code, reads))
        assert statuses == [200] * len(reads)

        stream = EventReader(f"{jobs}/v1/events", token)
        stream.start()
        assert stream.opened.wait(10)
        enabled = browser.post(f"{demo}/v1/demo/enable", headers=api)
        assert enabled.status_code == 202, enabled.text
        job_id = enabled.json()["job"]["id"]
        wait_until(
            lambda: browser.get(f"{demo}/v1/demo", headers=api).json()["status"] == "enabled",
            "demo mode never became enabled",
        )
        # The stream saw the job end live: NOTIFY through the pooler, LISTEN direct.
        wait_until(
            lambda: any(
                e.get("id") == job_id and e.get("status") == "succeeded" for e in stream.events
            ),
            f"no live event of job {job_id}'s success; got {stream.events}",
        )
        stream.done.set()
        stream.join(timeout=10)
        assert not stream.is_alive()

        # Every LISTEN is on Postgres itself: auth, demo and jobs (one each) and the
        # worker's; none could live behind transaction pooling.
        assert listening_backends(db_url) >= 4

        assert browser.delete(f"{auth}/v1/session").status_code == 204
        # The revocation reaches demo_service's passport check by NOTIFY, not by expiry.
        wait_until(
            lambda: browser.get(f"{demo}/v1/demo", headers=api).status_code == 401,
            "a logged-out session's passport was still accepted",
            timeout=3,
        )
    processes.check_alive()


def interleaved_failures(url: str, prepared_statements: bool) -> int:
    """Two clients taking turns on one server connection, each repeating one statement past
    psycopg's prepare threshold; how many of their statements failed."""
    settings = db.prepare_args(prepared_statements)
    failures = 0
    with (
        psycopg.connect(url, autocommit=True, **settings) as first,
        psycopg.connect(url, autocommit=True, **settings) as second,
    ):
        for i in range(10):
            for conn in (first, second):
                try:
                    conn.execute("SELECT %s::int", (i,)).fetchone()
                except psycopg.errors.DuplicatePreparedStatement:
                    failures += 1
                except psycopg.errors.InvalidSqlStatementName:
                    failures += 1
    return failures


def test_db_prepared_statements_false_is_what_transaction_pooling_needs(db_url: str) -> None:
    """psycopg's prepared statements break once two clients share a server connection (the
    second prepares a name the first already holds); with DB_PREPARED_STATEMENTS=false, as
    the services' engine and pools connect, nothing is prepared and nothing fails."""
    with pgbouncer(db_url, pool_size=1) as url:
        assert interleaved_failures(url, prepared_statements=True) > 0
        assert interleaved_failures(url, prepared_statements=False) == 0
