"""/ops in a real Chromium against the real stack: an operator sees queues, workers and failed
jobs with their errors in the first HTML, retries and cancels jobs after confirming, and sees
the page follow the jobs live; anyone else gets a 404."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import sqlalchemy_url
from tests.kit.jobs import enqueue
from tests.kit.stack import Stack, log_in
from tests.kit.waiting import wait_for

pytestmark = pytest.mark.timeout(300)

# Records each status that a job's rows on the page show, in order, and marks the document
# (a reload would lose the mark).
WATCH_JOB = """
jobId => {
  window.__sameDocument = true;
  const seen = [];
  window.__statuses = seen;
  const look = () => {
    const row = document.querySelector(`[data-testid=ops-recent] [data-job-id="${jobId}"]`);
    const status = row?.dataset.status;
    if (status && seen.at(-1) !== status) seen.push(status);
  };
  look();
  new MutationObserver(look).observe(document.body, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
}
"""


def grant_operator(stack: Stack, email: str) -> None:
    """`pgstack users grant-operator EMAIL`, as an operator runs it beside the stack."""
    result = subprocess.run(
        [sys.executable, "-m", "deploy", "users", "grant-operator", email],
        env={**os.environ, "DATABASE_URL": stack.database_url, "PGSTACK_ENV": "test"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def user_id_of(stack: Stack, email: str) -> int:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()
    assert row is not None
    return int(row[0])


def enqueue_job(stack: Stack, kind: str, email: str, args: dict[str, Any]) -> str:
    """A job for the user of `email`, enqueued (and committed) as a service does; its id.
    In a thread of its own: Playwright's sync API keeps this thread's event loop busy."""

    async def run() -> str:
        engine = create_async_engine(sqlalchemy_url(stack.database_url))
        try:
            job = await enqueue(engine, kind, user_id_of(stack, email), args)
        finally:
            await engine.dispose()
        return str(job.id)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def job_row(stack: Stack, job_id: str) -> dict[str, Any]:
    with psycopg.connect(stack.database_url, row_factory=dict_row) as conn:
        found = conn.execute(
            "SELECT status, attempts, version FROM background_jobs WHERE id = %s", (job_id,)
        ).fetchone()
    assert found is not None
    return found


def job_status(stack: Stack, job_id: str) -> str:
    return str(job_row(stack, job_id)["status"])


def wait_for_status(stack: Stack, job_id: str, status: str) -> None:
    wait_for(lambda: job_status(stack, job_id) == status, within=60, what=f"job {status}")


def row(section: str, job_id: str) -> str:
    return f'[data-testid={section}] [data-job-id="{job_id}"]'


def attribute(page: Page, selector: str, name: str) -> str | None:
    """An attribute of the first element matching, read now (None if there is none)."""
    value: str | None = page.evaluate(
        "([selector, name]) => document.querySelector(selector)?.getAttribute(name) ?? null",
        [selector, name],
    )
    return value


def wait_for_attribute(page: Page, selector: str, name: str, value: str) -> None:
    wait_for(
        lambda: attribute(page, selector, name) == value,
        within=30,
        what=f"{selector} {name}={value}",
    )


def open_ops(page: Page) -> None:
    """/ops, its stream connected (registered with job_service: changes from now on reach it)."""
    response = page.goto("/ops")
    assert response is not None
    assert response.status == 200
    wait_for_attribute(page, "[data-testid=ops-live]", "data-mode", "live")


@pytest.fixture(scope="module")
def operator(stack: Stack) -> str:
    email = stack.register()
    grant_operator(stack, email)
    return email


@pytest.fixture
def ops_page(page: Page, operator: str) -> Page:
    log_in(page, operator)
    return page


@pytest.fixture
def never(tmp_path: Path) -> Iterator[Path]:
    """A file a test:wait_for_file job waits for; created at the end, so no job outlives the
    test."""
    path = tmp_path / "go"
    yield path
    path.touch()


def test_a_signed_out_visitor_is_sent_to_login(page: Page) -> None:
    page.goto("/ops")
    assert page.url.endswith("/login")


def test_a_user_who_is_not_an_operator_gets_a_404_and_no_link_to_ops(
    stack: Stack, page: Page, context: BrowserContext
) -> None:
    """The page is a 404 like any missing page, the dashboard has no link to it, and the ops
    routes of the web app answer 404 too (job_service refuses the passport)."""
    email = stack.register()
    log_in(page, email)
    assert page.locator("a[href='/ops']").count() == 0
    response = page.goto("/ops")
    assert response is not None
    assert response.status == 404
    assert "could not be found" in page.content()
    assert page.locator("[data-testid=ops-queues]").count() == 0
    events = context.request.get("/api/ops/events")
    assert events.status == 404
    assert events.headers["content-type"] == "application/problem+json"
    job_id = enqueue_job(stack, "test:steps", email, {"steps": 1})
    cancel = context.request.post(
        f"/api/ops/jobs/{job_id}/cancel",
        data="{}",
        headers={"content-type": "application/json", "origin": stack.web},
    )
    assert cancel.status == 404
    assert job_status(stack, job_id) != "cancelled"


def test_the_first_html_has_queues_workers_and_a_failed_jobs_error_message(
    stack: Stack, ops_page: Page, operator: str
) -> None:
    """Rendered on the server: the `test` queue with its last hour's chart, a live worker with
    its heartbeat, and a job that failed for real with its error message; the dashboard
    links to /ops."""
    message = f"the disk is full {uuid.uuid4().hex[:6]}"
    failed = enqueue_job(stack, "test:broken", operator, {"message": message})
    wait_for_status(stack, failed, "failed")

    assert ops_page.locator("a[href='/ops']").count() == 1
    response = ops_page.goto("/ops")
    assert response is not None
    assert response.status == 200
    html = response.text()
    assert 'data-queue="test"' in html
    assert 'data-testid="worker"' in html
    assert 'data-fresh="true"' in html
    assert f"ValueError: {message} (final)" in html
    assert "aria-busy" not in html

    queue = ops_page.locator("[data-testid=queue][data-queue=test]")
    counts = queue.locator("[data-testid=queue-throughput]").get_attribute("data-counts")
    assert counts is not None
    assert len(counts.split(",")) == 12
    assert int(counts.split(",")[-1]) >= 1  # this failure, in the last five minutes
    assert int(queue.locator("[data-testid=queue-failed]").inner_text().replace(",", "")) >= 1
    failure = ops_page.locator(row("ops-failures", failed))
    assert failure.locator("[data-testid=job-error]").inner_text() == (
        f"ValueError: {message} (final)"
    )
    assert operator in failure.inner_text()
    age = ops_page.locator("[data-testid=worker-heartbeat-age]").first.inner_text()
    assert age.endswith(" s")


def test_an_operator_retries_a_failed_job_after_confirming_and_sees_it_run_again_live(
    stack: Stack, ops_page: Page, operator: str
) -> None:
    """The first click only asks; the confirmation retries the job (job_service's answer is
    shown), and the page follows it to its new failure, more attempts on, in one document."""
    failed = enqueue_job(stack, "test:broken", operator, {"message": "no space left"})
    wait_for_status(stack, failed, "failed")
    before = job_row(stack, failed)
    open_ops(ops_page)
    ops_page.evaluate(WATCH_JOB, failed)

    failure = ops_page.locator(row("ops-failures", failed))
    assert failure.locator("[data-testid=job-attempts]").inner_text() == str(before["attempts"])
    failure.locator("[data-testid=job-retry]").click()
    confirm = failure.locator("[data-testid=job-confirm]")
    assert confirm.inner_text() == "Confirm retry"
    assert job_row(stack, failed) == before  # nothing happens before the confirmation
    confirm.click()

    answer = ops_page.locator(f"{row('ops-recent', failed)} [data-testid=job-action-message]")
    answer.wait_for()
    assert answer.inner_text().strip() == "Retried: queued"
    after = wait_for(
        lambda: (
            (r := job_row(stack, failed))["status"] == "failed"
            and r["attempts"] > before["attempts"]
            and r
        ),
        within=60,
        what="the retried job failed again",
    )
    # Live: the page reaches the job's latest version without a reload.
    wait_for_attribute(ops_page, row("ops-recent", failed), "data-version", str(after["version"]))
    again = ops_page.locator(row("ops-failures", failed))
    assert again.locator("[data-testid=job-attempts]").inner_text() == str(after["attempts"])
    assert (
        again.locator("[data-testid=job-error]").inner_text() == "ValueError: no space left (final)"
    )
    statuses = ops_page.evaluate("window.__statuses")
    assert statuses[0] == "failed"
    assert statuses[-1] == "failed"
    assert ops_page.evaluate("window.__sameDocument") is True


def test_an_operator_cancels_a_running_job_after_confirming(
    stack: Stack, ops_page: Page, operator: str, never: Path
) -> None:
    """ "Back" leaves the job alone; Cancel then Confirm stops it, and the page shows it
    cancelled without a reload."""
    running = enqueue_job(stack, "test:wait_for_file", operator, {"path": str(never)})
    wait_for_status(stack, running, "running")
    open_ops(ops_page)
    ops_page.evaluate(WATCH_JOB, running)
    job = ops_page.locator(row("ops-recent", running))
    assert job.get_attribute("data-status") == "running"

    job.locator("[data-testid=job-cancel]").click()
    job.locator("[data-testid=job-keep]").click()
    assert job.locator("[data-testid=job-confirm]").count() == 0
    assert job_status(stack, running) == "running"

    job.locator("[data-testid=job-cancel]").click()
    job.locator("[data-testid=job-confirm]").click()
    wait_for_status(stack, running, "cancelled")
    wait_for_attribute(ops_page, row("ops-recent", running), "data-status", "cancelled")
    assert "Cancel requested: cancelling" in job.inner_text()
    assert job.locator("[data-testid=job-retry]").count() == 1  # a cancelled job can be retried
    assert ops_page.evaluate("window.__sameDocument") is True


def test_a_job_that_ended_before_the_confirmation_shows_job_services_409(
    stack: Stack, ops_page: Page, operator: str, never: Path
) -> None:
    """The job finishes between the first click and the confirmation: the page, updated live,
    shows it succeeded, and confirming shows job_service's problem detail."""
    running = enqueue_job(stack, "test:wait_for_file", operator, {"path": str(never)})
    wait_for_status(stack, running, "running")
    open_ops(ops_page)
    job = ops_page.locator(row("ops-recent", running))
    job.locator("[data-testid=job-cancel]").click()

    never.touch()
    wait_for_status(stack, running, "succeeded")
    wait_for_attribute(ops_page, row("ops-recent", running), "data-status", "succeeded")
    job.locator("[data-testid=job-confirm]").click()
    message = job.locator("[data-testid=job-action-message]")
    message.wait_for()
    assert message.get_attribute("role") == "alert"
    assert message.inner_text().strip() == "The job has already finished."
    assert job_status(stack, running) == "succeeded"


def test_the_page_shows_a_new_job_and_its_end_live(
    stack: Stack, ops_page: Page, operator: str
) -> None:
    """With /ops open, a job enqueued for another user appears, runs and ends on the page,
    in the same document, carried by the stream (not the polling fallback)."""
    open_ops(ops_page)
    rendered_at = ops_page.locator("[data-testid=ops-rendered-at]").inner_text()
    owner = stack.register()
    job_id = enqueue_job(stack, "test:steps", owner, {"steps": 2, "pause": 0.5})
    ops_page.evaluate(WATCH_JOB, job_id)

    wait_for(lambda: attribute(ops_page, row("ops-recent", job_id), "data-status"), what="row")
    wait_for_attribute(ops_page, row("ops-recent", job_id), "data-status", "succeeded")
    assert owner in ops_page.locator(row("ops-recent", job_id)).inner_text()
    assert ops_page.evaluate("window.__sameDocument") is True
    assert ops_page.locator("[data-testid=ops-rendered-at]").inner_text() != rendered_at
    assert attribute(ops_page, "[data-testid=ops-live]", "data-mode") == "live"


def test_when_the_stream_fails_the_page_polls_and_still_follows_the_jobs(
    stack: Stack, ops_page: Page, operator: str
) -> None:
    """With the events route unreachable (every attempt cut), the page says it polls, and a
    new job still appears and ends on it, in the same document."""
    ops_page.route("**/api/ops/events", lambda route: route.abort())
    response = ops_page.goto("/ops")
    assert response is not None
    wait_for_attribute(ops_page, "[data-testid=ops-live]", "data-mode", "polling")
    ops_page.evaluate("() => { window.__sameDocument = true; }")
    job_id = enqueue_job(stack, "test:steps", operator, {"steps": 1})
    wait_for_status(stack, job_id, "succeeded")
    wait_for_attribute(ops_page, row("ops-recent", job_id), "data-status", "succeeded")
    assert attribute(ops_page, "[data-testid=ops-live]", "data-mode") == "polling"
    assert ops_page.evaluate("window.__sameDocument") is True
