"""The real stack for browser tests: `pgstack dev` on a fresh database, driven by Chromium.

One `pgstack dev` per test session (the three services as uvicorn processes, a worker, and the
Next.js production build under `node server.mjs`, built only when web/ changed), on a copy of the
migrated template database and on ports of its own. Chromium is Debian's (/usr/bin/chromium),
launched by Playwright; nothing is downloaded.
"""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.job_service import job_test_tasks
from tests.kit.databases import create_database, drop_database
from tests.kit.stack import Stack, launch, running_stack

# The demo task waits this long before each of its first 5 steps (of 6): enabling takes about
# 2.5 s, long enough to watch progress move and to reload or close the browser in the middle.
STEP_DELAY = "0.5"


@pytest.fixture(scope="session")
def stack(
    server_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    database_url = create_database(server_url, template=template_db, prefix="e2e")
    log_path = tmp_path_factory.mktemp("e2e") / "stack.log"
    try:
        # Bearer logins on: the legacy-bridge test makes the old client's token the old way.
        # The test tasks (test:broken, test:wait_for_file...) for the ops page's jobs: the
        # worker runs them, job_service retries them. Every test registers its own users from
        # this one address: more than the 20 an hour a real address may.
        with running_stack(
            database_url,
            log_path,
            DEMO_STEP_DELAY=STEP_DELAY,
            AUTH_BEARER_LOGINS="1",
            AUTH_REGISTRATIONS_PER_IP="1000",
            WORKER_IMPORT_PATHS=job_test_tasks.__name__,
        ) as stack:
            yield stack
    finally:
        drop_database(database_url)


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
