"""The real stack for browser tests and the browser benchmark: `pgstack dev` (the three
services as uvicorn processes, a worker, the Next.js production build under `node server.mjs`)
on a database and ports of its own, its API shortcuts, and Debian's Chromium
(/usr/bin/chromium) launched by Playwright, nothing downloaded."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from playwright.sync_api import Browser, Page, Playwright

from tests.kit.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium phones home, which this closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
START_TIMEOUT = 240.0


@dataclass(frozen=True)
class Stack:
    web: str  # what the browser opens: http://localhost:<port>
    auth: str
    demo: str
    jobs: str
    database_url: str
    demo_login: tuple[str, str]  # as `pgstack dev` printed it

    def register(self) -> str:
        """A new account (through auth_service's API); returns its email."""
        email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
        response = httpx.post(
            f"{self.auth}/v1/users",
            json={"email": email, "password": PASSWORD, "full_name": "E2E Tester"},
            headers={"origin": self.web},
        )
        assert response.status_code == 201, response.text
        return email

    def passport(self, email: str) -> str:
        """A passport for `email`, as the Next.js server gets one (log in, GET /v1/session)."""
        with httpx.Client(base_url=self.auth, headers={"origin": self.web}) as client:
            login = client.post("/v1/session", json={"email": email, "password": PASSWORD})
            assert login.status_code == 200, login.text
            token: str = client.get("/v1/session").json()["passport"]["token"]
            return token

    def demo_state(self, email: str) -> dict[str, object]:
        response = httpx.get(
            f"{self.demo}/v1/demo", headers={"authorization": f"Bearer {self.passport(email)}"}
        )
        assert response.status_code == 200, response.text
        state: dict[str, object] = response.json()
        return state

    def wait_for_demo(self, email: str, status: str, timeout: float = 30) -> None:
        wait_for(
            lambda: self.demo_state(email)["status"] == status,
            within=timeout,
            every=0.2,
            what=f"demo mode {status}",
        )

    def enable_demo(self, email: str) -> None:
        """Demo mode on, through demo_service's API, waiting for its job to finish."""
        response = httpx.post(
            f"{self.demo}/v1/demo/enable",
            headers={"authorization": f"Bearer {self.passport(email)}"},
        )
        assert response.status_code in (200, 202), response.text
        self.wait_for_demo(email, "enabled")


def free_port_offset() -> int:
    """A shift for ports 3000 and 8001-8003 together, unlikely to meet another stack's."""
    return random.randrange(1000, 20000, 10) + random.randrange(0, 10)


@contextmanager
def running_stack(database_url: str, log_path: Path, **env: str) -> Iterator[Stack]:
    """`pgstack dev` with the web app on `database_url` until the block ends; its output
    after "ready" goes to `log_path` (it helps when a test fails)."""
    offset = free_port_offset()
    dev = subprocess.Popen(
        [sys.executable, "-m", "deploy", "dev"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "PGSTACK_PORT_OFFSET": str(offset),
            "PGSTACK_WEB": "1",
            "LOG_LEVEL": "WARNING",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert dev.stdout is not None
    lines: list[str] = []
    drain: threading.Thread | None = None
    deadline = time.monotonic() + START_TIMEOUT
    try:
        for line in dev.stdout:
            lines.append(line)
            if line.startswith("ready") or time.monotonic() > deadline:
                break
        assert lines, "pgstack dev printed nothing"
        assert lines[-1].startswith("ready"), "".join(lines[-40:])
        # Keep reading, or the children block on a full pipe.
        drain = threading.Thread(target=_drain, args=(dev.stdout, log_path), daemon=True)
        drain.start()
        yield Stack(
            web=f"http://localhost:{3000 + offset}",
            auth=f"http://127.0.0.1:{8001 + offset}",
            demo=f"http://127.0.0.1:{8002 + offset}",
            jobs=f"http://127.0.0.1:{8003 + offset}",
            database_url=database_url,
            demo_login=_printed_login(lines),
        )
    finally:
        dev.send_signal(signal.SIGTERM)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dev.kill()
            dev.wait()
        if drain is not None:
            drain.join(timeout=5)
        dev.stdout.close()


def _printed_login(lines: list[str]) -> tuple[str, str]:
    [line] = [line for line in lines if line.startswith("login ")]
    email, _, password = line.removeprefix("login ").strip().partition(" / ")
    return email, password


def _drain(stream: IO[str], path: Path) -> None:
    with path.open("w") as log:
        for line in stream:
            log.write(line)


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person would, and land on the dashboard."""
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
