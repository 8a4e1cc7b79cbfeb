"""The demo banner's job steps in Chromium: rendered on the server when the page is reloaded
mid-enable, then followed live to the last one, also across a cut stream."""

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Route

from tests.kit.stack import Stack, log_in
from tests.kit.waiting import wait_for

pytestmark = pytest.mark.timeout(300)

BANNER = "[data-testid=demo-banner]"
SUCCEEDED = "[data-testid=demo-step][data-step-status=succeeded]"

# Records each step the banner shows, whenever it first appears or changes status, from the
# first byte of the document on (an init script runs before the page's own): every state the
# page rendered, however briefly, not only those a poll from Python happens to catch.
RECORD_STEPS = """
window.__steps = [];
window.__sameDocument = true;
const shownAs = {};
new MutationObserver(() => {
  for (const li of document.querySelectorAll('[data-testid=demo-step]')) {
    const { stepName: name, stepStatus: status } = li.dataset;
    if (shownAs[name] !== status) {
      shownAs[name] = status;
      window.__steps.push([name, status]);
    }
  }
}).observe(document, { subtree: true, childList: true, attributes: true });
"""

# Records the id (the job's offset in the event log) of every `job` event the page receives.
RECORD_EVENT_IDS = """
window.__eventIds = [];
window.EventSource = class extends window.EventSource {
  constructor(...args) {
    super(...args);
    this.addEventListener('job', (event) => window.__eventIds.push(event.lastEventId));
  }
};
"""

STEP_ITEM = re.compile(r"<li\b[^>]*\bdata-testid=\"demo-step\"[^>]*>")


def html_steps(html: str) -> list[tuple[str, str]]:
    """The (name, status) of each step the server rendered into `html`, in order."""
    steps = []
    for item in STEP_ITEM.findall(html):
        name = re.search(r'data-step-name="([^"]+)"', item)
        status = re.search(r'data-step-status="([^"]+)"', item)
        assert name is not None, item
        assert status is not None, item
        steps.append((name.group(1), status.group(1)))
    return steps


def demo_state(stack: Stack, passport: str) -> dict[str, Any]:
    """Demo mode's status and its job (steps included), as demo_service has them."""
    response = httpx.get(f"{stack.demo}/v1/demo", headers={"authorization": f"Bearer {passport}"})
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def last_status_of_each(record: list[list[str]]) -> dict[str, str]:
    shown: dict[str, str] = {}
    for name, status in record:
        shown[name] = status
    return shown


def first_appearances(record: list[list[str]]) -> list[str]:
    return list(dict.fromkeys(name for name, _ in record))


def start_enabling(page: Page) -> None:
    """Click "Enable" and wait until the banner shows the first step done, the rest to come."""
    page.wait_for_selector("html[data-hydrated=true]")
    page.click("[data-testid=demo-enable]")
    # Polled from Python: the app's CSP refuses wait_for_function's string eval.
    wait_for(lambda: page.locator(SUCCEEDED).count() >= 1, what="a step shown succeeded")


def test_a_reload_mid_enable_renders_the_steps_done_then_shows_every_remaining_step(
    stack: Stack, page: Page
) -> None:
    """Reloaded mid-enable, the page's first HTML lists the steps done as succeeded; without
    another reload it then shows every remaining step, in the job's order, each ending
    succeeded, and demo mode ends enabled."""
    email = stack.register()
    passport = stack.passport(email)
    log_in(page, email)
    start_enabling(page)

    page.add_init_script(RECORD_STEPS)
    response = page.reload()
    assert response is not None
    html = response.text()
    rendered = html_steps(html)
    assert 'data-status="enabling"' in html
    done = [name for name, status in rendered if status == "succeeded"]
    assert done, rendered
    # The steps done come first; at most the one under way follows them.
    assert rendered[: len(done)] == [(name, "succeeded") for name in done], rendered
    assert [status for _, status in rendered[len(done) :]] in ([], ["running"]), rendered
    assert "demo-progress" in html  # the job's progress too, not a spinner

    page.wait_for_selector(f"{BANNER}[data-status=enabled]", timeout=30_000)
    state = demo_state(stack, passport)
    assert state["status"] == "enabled"
    steps = state["job"]["steps"]
    names = [step["name"] for step in steps]
    assert len(names) >= 5, names
    assert all(step["status"] == "succeeded" for step in steps), steps
    record = page.evaluate("window.__steps")
    assert page.evaluate("window.__sameDocument") is True
    # The page showed the server's steps first (from its HTML), then every other one.
    assert [tuple(entry) for entry in record[: len(rendered)]] == rendered, record
    assert names[: len(done)] == done
    remaining = names[len(done) :]
    assert len(remaining) >= 2, names
    assert first_appearances(record) == names, record
    shown = last_status_of_each(record)
    assert {name: shown[name] for name in remaining} == dict.fromkeys(remaining, "succeeded")
    assert page.locator("[data-testid=demo-status]").inner_text() == "enabled"


def test_a_stream_cut_mid_enable_resumes_and_still_ends_showing_every_step_succeeded(
    stack: Stack, context: BrowserContext, page: Page
) -> None:
    """The page's event stream cut after the first step's end: the browser reconnects (with
    Last-Event-ID), gets every change after the cut exactly once, in order, and (polling
    blocked: nothing else brings them) shows every step, in order, each ending succeeded,
    then enabled, in the same document."""
    email = stack.register()
    passport = stack.passport(email)
    log_in(page, email)
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
    streams: list[str] = []

    def cut_the_first_stream(route: Route) -> None:
        streams.append(route.request.url)
        if len(streams) > 1:
            route.continue_()
            return
        # The page's own stream, through the web app, until a step has succeeded; then it
        # ends, as a dropped connection would, with a short reconnection delay.
        route.fulfill(
            status=200,
            headers={"content-type": "text/event-stream", "cache-control": "no-store"},
            body=first_events_until_a_step_succeeded(route.request.url, cookie) + "retry: 200\n\n",
        )

    context.route("**/api/jobs/*/events", cut_the_first_stream)
    context.route("**/api/jobs/*/status", lambda route: route.abort())
    page.add_init_script(RECORD_STEPS + RECORD_EVENT_IDS)
    page.reload()
    page.wait_for_selector("html[data-hydrated=true]")
    page.click("[data-testid=demo-enable]")

    page.wait_for_selector(f"{BANNER}[data-status=enabled]", timeout=30_000)
    state = demo_state(stack, passport)
    assert state["status"] == "enabled"
    assert len(streams) >= 2, streams
    # Offsets: those of the cut stream, then every later one, each once, to the last. A fresh
    # stream (no Last-Event-ID; Playwright does not show that header) would start with the
    # job's current state instead: its offset again, or a gap.
    ids = [int(i) for i in page.evaluate("window.__eventIds")]
    assert ids == list(range(ids[0], state["job"]["version"] + 1)), ids
    names = [step["name"] for step in state["job"]["steps"]]
    assert len(names) >= 5, names
    record = page.evaluate("window.__steps")
    assert page.evaluate("window.__sameDocument") is True
    assert first_appearances(record) == names, record
    assert last_status_of_each(record) == dict.fromkeys(names, "succeeded"), record


def test_with_the_event_stream_refused_the_polled_job_still_shows_its_steps(
    stack: Stack, context: BrowserContext, page: Page
) -> None:
    """With every event stream refused, the banner polls, and the polls (the job's status,
    then the full job when it changed) still show every step, in order, ending succeeded."""
    email = stack.register()
    passport = stack.passport(email)
    log_in(page, email)
    context.route("**/api/jobs/*/events", lambda route: route.abort())
    page.add_init_script(RECORD_STEPS)
    page.reload()
    page.wait_for_selector("html[data-hydrated=true]")
    page.click("[data-testid=demo-enable]")

    page.wait_for_selector(f"{BANNER}[data-status=enabled]", timeout=30_000)
    state = demo_state(stack, passport)
    assert state["status"] == "enabled"
    names = [step["name"] for step in state["job"]["steps"]]
    assert len(names) >= 5, names
    record = page.evaluate("window.__steps")
    assert first_appearances(record) == names, record
    assert last_status_of_each(record) == dict.fromkeys(names, "succeeded"), record


def first_events_until_a_step_succeeded(url: str, cookie: str) -> str:
    """The SSE text of a job's stream, from its start to the first event in which a step
    succeeded."""
    headers = {"cookie": cookie, "sec-fetch-site": "same-origin"}
    text, event, done = "", "", False
    with httpx.Client(headers=headers, timeout=30) as client, client.stream("GET", url) as stream:
        assert stream.status_code == 200, stream.read()
        for line in stream.iter_lines():
            event += line + "\n"
            if line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                done = any(step["status"] == "succeeded" for step in data.get("steps", []))
            if line == "":
                if done:
                    return text + event
                text, event = text + event, ""
    raise AssertionError(f"the stream ended before a step succeeded: {text}")
