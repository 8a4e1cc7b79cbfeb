"""Traces: one W3C `traceparent` from the web app's request through the services, their SQL,
and into the jobs they enqueue (stored with the job, restored by the worker), so one trace
shows click -> enqueue -> task.

Spans are made only while they are exported. Exporting is off unless the standard variables ask
for it: OTEL_TRACES_EXPORTER=otlp (or console), or an OTLP endpoint
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Then the OpenTelemetry SDK
makes a span per request (none per chunk of a streamed answer), per SQL statement and per job,
sampled parent-based: a caller's decision stands, a new trace is recorded with the probability
OTEL_TRACES_SAMPLER_ARG (default 1; OTEL_TRACES_SAMPLER picks another sampler).

Without an exporter no SDK span is made, as each costs a request more than the rest of the
service's stack (bench/overhead.py, README "Benchmarks"); the caller's `traceparent` still
travels: a request continues it under a span id of its own (`continued`, applied by
shared/service_app.py), and what it hands on (a job's stored traceparent) names that trace.
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and the exporter's own OTEL_EXPORTER_OTLP_*
settings apply as usual; OTEL_SDK_DISABLED=true turns tracing off altogether.
"""

import logging
import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

logger = logging.getLogger(__name__)

# Probes and scrapes every few seconds would bury the traces worth reading.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"

tracer = trace.get_tracer("pgstack")

_W3C = TraceContextTextMapPropagator()
_exporting = False
_service: str | None = None


def configure(service: str) -> None:
    """Export the process's spans where the OTEL_* variables say, if they say so (the first
    caller names the service, unless OTEL_SERVICE_NAME does). Call it before the process
    opens a connection: only connections made after `export_to` have SQL spans."""
    global _service
    if _service is None:
        _service = os.environ.get("OTEL_SERVICE_NAME", service)
    if _disabled() or _exporting:
        return
    if (exporter := _exporter()) is not None:
        export_to(BatchSpanProcessor(exporter))


def export_to(processor: SpanProcessor) -> None:
    """Make spans from here on (installing the SDK's tracer provider), sent to `processor`
    too, with SQL spans."""
    global _exporting
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        resource = Resource.create({SERVICE_NAME: _service or "pgstack"})
        provider = TracerProvider(resource=resource, sampler=_sampler())
        trace.set_tracer_provider(provider)
    provider.add_span_processor(processor)
    if not _exporting:
        PsycopgInstrumentor().instrument(skip_dep_check=True)
        _exporting = True


def exporting() -> bool:
    """Whether this process makes spans (and sends them somewhere)."""
    return _exporting


def instrument_app(app: FastAPI, service: str) -> bool:
    """While exporting, a server span per request, continuing the caller's `traceparent`.
    Whether it did: otherwise the app continues traces by `continued`, unless tracing is off."""
    configure(service)
    if not _exporting:
        return False
    # A span per message sent or received would be one per chunk of an SSE stream: about half
    # of job_service's CPU with 1,000 streams (issue 19).
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"]
    )
    return True


def propagating() -> bool:
    """Whether requests served without spans still hand their caller's trace on."""
    return not _disabled()


def continued(traceparent: str, tracestate: str | None) -> Context | None:
    """A request's context when no span is made: the caller's trace (flags and state kept)
    under a span id of this service's own, as a span would have it; None when the header is
    not a valid W3C traceparent."""
    carrier = {"traceparent": traceparent}
    if tracestate is not None:
        carrier["tracestate"] = tracestate
    parent = trace.get_current_span(_W3C.extract(carrier)).get_span_context()
    if not parent.is_valid:
        return None
    own = trace.SpanContext(
        parent.trace_id,
        random.getrandbits(64) or 1,  # as the SDK draws span ids; 0 is invalid
        is_remote=False,
        trace_flags=parent.trace_flags,
        trace_state=parent.trace_state,
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(own))


def current_traceparent() -> str | None:
    """The current span's W3C `traceparent`, to store with a job (None outside a trace)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def job_span(kind: str, traceparent: str | None) -> Iterator[trace.Span]:
    """The span of a job's run, a child of the request that enqueued it."""
    parent = propagate.extract(_carrier(traceparent))
    with tracer.start_as_current_span(
        f"job {kind}", context=parent, kind=trace.SpanKind.CONSUMER, attributes={"job.kind": kind}
    ) as span:
        yield span


def _carrier(traceparent: str | None) -> Mapping[str, str]:
    return {} if traceparent is None else {"traceparent": traceparent}


def _disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _sampler() -> Sampler | None:
    """Parent-based, new traces recorded at the ratio OTEL_TRACES_SAMPLER_ARG; None when
    OTEL_TRACES_SAMPLER names a sampler (the SDK then reads both variables itself)."""
    if os.environ.get("OTEL_TRACES_SAMPLER", "").strip():
        return None
    text = os.environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip() or "1"
    try:
        ratio = min(max(float(text), 0.0), 1.0)
    except ValueError:
        logger.warning("OTEL_TRACES_SAMPLER_ARG=%s is not a ratio; recording every trace", text)
        ratio = 1.0
    return ParentBased(TraceIdRatioBased(ratio))


def _exporter() -> SpanExporter | None:
    """The exporter the OTEL_* variables ask for; None (no export) by default."""
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if chosen == "console":
        return ConsoleSpanExporter()
    if chosen == "otlp" or (not chosen and endpoint):
        # Imported only when used: the exporter pulls in protobuf.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if chosen not in ("", "none"):
        logger.warning("OTEL_TRACES_EXPORTER=%s is not supported; not exporting", chosen)
    return None
