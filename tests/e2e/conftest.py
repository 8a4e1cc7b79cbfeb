"""The real stack for browser tests: `pgstack dev` on a fresh database, driven by Chromium.

One `pgstack dev` per test session (the three services as uvicorn processes, a worker, and the
Next.js production build under `next start`, built only when web/ changed), on a copy of the
migrated template database and on ports of its own. Chromium is Debian's (/usr/bin/chromium),
launched by Playwright; nothing is downloaded.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from shared.testing import create_database, drop_database
from tests.e2e.kit import ROOT, STEP_DELAY, Stack, launch

START_TIMEOUT = 240.0


def _free_offset() -> int:
    # The same spread as tests/deploy/test_dev.py; ports 3000/8001-8003 shifted together.
    return random.randrange(1000, 20000, 10) + random.randrange(0, 10)


@pytest.fixture(scope="session")
def stack(
    server_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    database_url = create_database(server_url, template=template_db, prefix="e2e")
    offset = _free_offset()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PGSTACK_PORT_OFFSET": str(offset),
        "PGSTACK_WEB": "1",
        "DEMO_STEP_DELAY": STEP_DELAY,
        "LOG_LEVEL": "WARNING",
    }
    log_path = tmp_path_factory.mktemp("e2e") / "stack.log"
    dev = subprocess.Popen(
        [sys.executable, "-m", "deploy", "dev"],
        cwd=ROOT,
        env=env,
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
        # Keep reading, or the children block on a full pipe; the log helps when a test fails.
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
        drop_database(database_url)


def _printed_login(lines: list[str]) -> tuple[str, str]:
    [line] = [line for line in lines if line.startswith("login ")]
    email, _, password = line.removeprefix("login ").strip().partition(" / ")
    return email, password


def _drain(stream: object, path: Path) -> None:
    with path.open("w") as log:
        for line in stream:  # type: ignore[attr-defined]
            log.write(line)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, stack: Stack) -> Iterator[BrowserContext]:
    """A fresh browser profile: no cookies, empty localStorage."""
    context = browser.new_context(base_url=stack.web)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
