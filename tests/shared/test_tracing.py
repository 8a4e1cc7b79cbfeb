"""Traces: a request's W3C `traceparent` (as the web app sends it) continues through the
service, its SQL and the job it enqueues, into the worker's run of that job: one trace id from
the click to the task. Spans go to an in-memory exporter of this process."""

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from demo_service.app import create_app
from demo_service.config import Settings
from job_service.app import create_app as create_job_service
from shared import tracing
from tests.job_service.job_helpers import app_settings
from tests.kit.passports import PassportAuth, PassportKey
from tests.kit.servers import over_http, serving
from tests.kit.users import make_user
from tests.kit.waiting import eventually
from tests.kit.workers import running_worker


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Every span this process ends while the test runs."""
    monkeypatch.setenv("PGSTACK_ENV", "test")
    monkeypatch.setenv("DEMO_STEP_DELAY", "0")
    tracing.configure("test")
    exporter = InMemorySpanExporter()
    tracing.export_to(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # a shut exporter drops what later tests' spans would add


def stored_traceparent(db_url: str, user_id: int) -> str | None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT traceparent FROM background_jobs WHERE user_id = %s AND status = 'succeeded'",
            (user_id,),
        ).fetchone()
    return None if row is None else row[0]


def finished_job_span(exporter: InMemorySpanExporter, trace_id: int) -> ReadableSpan | None:
    for span in exporter.get_finished_spans():
        if span.name == "job demo:enable" and span.context.trace_id == trace_id:
            return span
    return None


async def test_one_trace_runs_from_the_web_request_to_the_task(
    db_url: str, passport_key: PassportKey, spans: InMemorySpanExporter
) -> None:
    """POST /v1/demo/enable with the traceparent the web app sent: the service's server
    span, its SQL and the demo:enable job's run are all in that trace, the job's run a
    descendant of the request's span, and the job's row holds the trace."""
    trace_id, web_span = secrets.randbits(128), secrets.randbits(64)
    traceparent = f"00-{trace_id:032x}-{web_span:016x}-01"
    user_id = make_user(db_url)
    app = create_app(Settings(DATABASE_URL=db_url, PASSPORT_JWKS=passport_key.jwks))
    async with (
        serving(app) as client,
        running_worker(db_url, WORKER_POLL_SECONDS=0.2, WORKER_SHUTDOWN_GRACE=1),
    ):
        client.auth = PassportAuth(passport_key, user_id)
        response = await client.post("/v1/demo/enable", headers={"traceparent": traceparent})
        assert response.status_code == 202, response.text
        job_span = await eventually(lambda: finished_job_span(spans, trace_id), within=30)
    stored = stored_traceparent(db_url, user_id)
    assert stored is not None
    assert stored.split("-")[1] == f"{trace_id:032x}"

    in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace}
    server = [s for s in in_trace if s.kind == trace.SpanKind.SERVER]
    assert [s.parent.span_id for s in server if s.parent] == [web_span]
    assert any(s.attributes and s.attributes.get("db.system") == "postgresql" for s in in_trace)
    # Up the job span's parents: the request's server span, then the web app's.
    ancestry, span = [], job_span
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        ancestry.append(span.kind)
    assert trace.SpanKind.SERVER in ancestry
    assert span.parent is not None
    assert span.parent.span_id == web_span


async def test_a_request_without_a_traceparent_starts_a_trace_its_job_continues(
    db_url: str, passport_key: PassportKey, spans: InMemorySpanExporter
) -> None:
    """No traceparent (a client other than the web app): the service's span starts a trace,
    and the job's run is in it too."""
    user_id = make_user(db_url)
    app = create_app(Settings(DATABASE_URL=db_url, PASSPORT_JWKS=passport_key.jwks))
    async with (
        serving(app) as client,
        running_worker(db_url, WORKER_POLL_SECONDS=0.2, WORKER_SHUTDOWN_GRACE=1),
    ):
        client.auth = PassportAuth(passport_key, user_id)
        assert (await client.post("/v1/demo/enable")).status_code == 202
        stored = await eventually(lambda: stored_traceparent(db_url, user_id), within=30)
        trace_id = int(stored.split("-")[1], 16)
        await eventually(lambda: finished_job_span(spans, trace_id), within=30)
    [server] = [
        s
        for s in spans.get_finished_spans()
        if s.kind == trace.SpanKind.SERVER and s.context.trace_id == trace_id
    ]
    assert server.parent is None


SPAN_IN_A_PROCESS = """
from opentelemetry import trace
from shared import tracing
tracing.configure("exporting")
with tracing.job_span("test:export", "00-{trace_id}-00f067aa0ba902b7-01"):
    pass
provider = trace.get_tracer_provider()
getattr(provider, "shutdown", lambda: None)()  # flushes the batch (disabled: no SDK, no batch)
"""


@pytest.mark.parametrize(
    ("env", "exported"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_spans_are_exported_only_when_the_otel_variables_ask(
    env: dict[str, str], exported: bool
) -> None:
    """By default nothing leaves the process; OTEL_TRACES_EXPORTER=console prints the span of
    the trace it continued; OTEL_SDK_DISABLED=true turns tracing off."""
    trace_id = f"{secrets.randbits(128):032x}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", SPAN_IN_A_PROCESS.format(trace_id=trace_id)],
        env={**base, **env},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert (f"0x{trace_id}" in done.stdout) is exported, done.stdout + done.stderr


A_REQUEST_IN_A_PROCESS = """
import asyncio, json
from fastapi import APIRouter
from opentelemetry import trace
from shared import tracing
from shared.service_app import create_service_app
from shared.settings import ServiceSettings
from tests.kit.servers import serving

router = APIRouter()

@router.get("/trace")
async def current() -> dict[str, object]:
    return {{
        "recording": trace.get_current_span().is_recording(),
        "traceparent": tracing.current_traceparent(),
    }}

async def main() -> None:
    app = create_service_app(
        name="probe", title="probe", settings=ServiceSettings(DATABASE_URL={db_url!r}),
        routers=[router],
    )
    async with serving(app) as client:
        with_parent = await client.get("/trace", headers={{"traceparent": {traceparent!r}}})
        without = await client.get("/trace")
    print("SEEN", json.dumps([with_parent.json(), without.json()]), flush=True)

asyncio.run(main())
"""


def run_a_request(db_url: str, traceparent: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """What a route sees of its trace, in a process of its own (the tracer provider is one
    per process), for a request with `traceparent` and one without."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = A_REQUEST_IN_A_PROCESS.format(db_url=db_url, traceparent=traceparent)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "PGSTACK_ENV": "test", "LOG_LEVEL": "WARNING", **env},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("SEEN ")]
    seen: list[dict[str, Any]] = json.loads(line.removeprefix("SEEN "))
    return seen


def test_without_an_exporter_a_request_makes_no_span_yet_hands_the_trace_on(db_url: str) -> None:
    """No exporter configured: the request records nothing (no SDK span), yet what it hands on
    to a job or a call (`current_traceparent`) continues the caller's trace, flags kept, under
    a span id of the service's own; a request without a traceparent hands none on."""
    trace_id, caller_span = f"{secrets.randbits(128):032x}", f"{secrets.randbits(64):016x}"
    with_parent, without = run_a_request(db_url, f"00-{trace_id}-{caller_span}-01", {})
    assert with_parent["recording"] is False
    version, handed_trace, handed_span, flags = with_parent["traceparent"].split("-")
    assert (version, handed_trace, flags) == ("00", trace_id, "01")
    assert handed_span != caller_span
    assert without == {"recording": False, "traceparent": None}


def test_with_an_exporter_traces_are_sampled_by_ratio_unless_the_caller_decided(
    db_url: str,
) -> None:
    """OTEL_TRACES_SAMPLER_ARG is the ratio of new traces recorded (here none); a caller's
    sampled traceparent is recorded whatever the ratio (parent-based)."""
    trace_id = f"{secrets.randbits(128):032x}"
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER_ARG": "0"}
    with_parent, without = run_a_request(db_url, f"00-{trace_id}-00f067aa0ba902b7-01", env)
    assert with_parent["recording"] is True
    assert with_parent["traceparent"].split("-")[1] == trace_id
    assert without["recording"] is False


async def test_a_stream_is_one_span_however_many_chunks_it_sends(
    db_url: str, passport_key: PassportKey, spans: InMemorySpanExporter
) -> None:
    """An SSE stream that sent a dozen chunks (keep-alive comments here) is one server span:
    no span per chunk sent or per message received."""
    trace_id = secrets.randbits(128)
    user_id = make_user(db_url)
    settings = app_settings(db_url, passport_key, sse_heartbeat_seconds=0.05)
    headers = {**passport_key.headers(user_id), "traceparent": f"00-{trace_id:032x}-{1:016x}-01"}
    async with over_http(create_job_service(settings)) as base, httpx.AsyncClient() as http:
        async with http.stream("GET", f"{base}/v1/events", headers=headers) as response:
            assert response.status_code == 200
            chunks = 0
            async for _ in response.aiter_raw():
                chunks += 1
                if chunks == 12:
                    break

        def stream_spans() -> list[ReadableSpan]:
            in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
            ended = any(s.kind == trace.SpanKind.SERVER for s in in_trace)
            return [s for s in in_trace if s.name.startswith("GET /v1/events")] if ended else []

        stream = await eventually(stream_spans, within=10)
    assert [s.kind for s in stream] == [trace.SpanKind.SERVER]
