"""The web app's side of tracing: the Next.js server sends a W3C traceparent on its calls to
the services, continuing the browser's trace when its request carries one, and that trace is
the one stored with the job the click enqueued (which the worker then continues:
tests/shared/test_tracing.py)."""

import secrets

import httpx
import psycopg

from tests.kit.stack import PASSWORD, Stack
from tests.kit.waiting import wait_for

SAME_ORIGIN = {"sec-fetch-site": "same-origin"}


def enable_demo_through_the_web(stack: Stack, headers: dict[str, str]) -> str:
    """A new user logs in through the web app and clicks "enable demo"; their email."""
    email = stack.register()
    with httpx.Client(base_url=stack.web, headers=SAME_ORIGIN, timeout=30) as web:
        login = web.post("/api/auth/session", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        enabled = web.post("/api/demo/enable", json={}, headers=headers)
        assert enabled.status_code == 202, enabled.text
    return email


def stored_traceparent(stack: Stack, email: str) -> str | None:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT j.traceparent FROM background_jobs j JOIN users u ON u.id = j.user_id"
            " WHERE u.email = %s AND j.kind = 'demo:enable'",
            (email,),
        ).fetchone()
    return None if row is None else row[0]


def stored_trace_id(stack: Stack, email: str) -> str:
    stored = wait_for(lambda: stored_traceparent(stack, email), within=15, what="the job")
    return stored.split("-")[1]


def test_the_browsers_traceparent_reaches_the_job_through_the_web_server(stack: Stack) -> None:
    """The job's stored traceparent has the trace id the browser sent, with a span of the
    services' own (not the browser's, which is not in this process's trace)."""
    trace_id, browser_span = f"{secrets.randbits(128):032x}", f"{secrets.randbits(64):016x}"
    email = enable_demo_through_the_web(stack, {"traceparent": f"00-{trace_id}-{browser_span}-01"})
    stored = wait_for(lambda: stored_traceparent(stack, email), within=15, what="the job")
    version, stored_trace, stored_span, flags = stored.split("-")
    assert (version, stored_trace, flags) == ("00", trace_id, "01")
    assert stored_span != browser_span


def test_without_a_traceparent_the_web_server_starts_a_trace_for_the_job(stack: Stack) -> None:
    """A browser that sends none (every browser today): the job still has a trace, a new one
    per click."""
    first = enable_demo_through_the_web(stack, {})
    second = enable_demo_through_the_web(stack, {})
    ids = [stored_trace_id(stack, email) for email in (first, second)]
    assert all(len(i) == 32 and int(i, 16) for i in ids)
    assert ids[0] != ids[1]
