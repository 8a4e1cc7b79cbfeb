"""Traces: one W3C `traceparent` from the web app's request through the services, their SQL,
and into the jobs they enqueue (stored with the job, restored by the worker), so one trace
shows click -> enqueue -> task.

The OpenTelemetry SDK always makes the request and job spans (ids to hand on, a few
microseconds each); SQL spans (the psycopg instrumentation) and a job's return to its trace are
made only while spans are exported, because they cost what no one sees otherwise: with them,
a no-op job took 2.5 ms of CPU instead of 1.8 (bench/jobs.py, docs/DESIGN.md). Exporting is
off unless the standard variables ask for it: OTEL_TRACES_EXPORTER=otlp
(or console), or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_SAMPLER and the exporter's own OTEL_EXPORTER_OTLP_* settings apply as usual;
OTEL_SDK_DISABLED=true turns tracing off altogether.
"""

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

logger = logging.getLogger(__name__)

# Probes and scrapes every few seconds would bury the traces worth reading.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"

tracer = trace.get_tracer("pgstack")

_exporting = False


def configure(service: str) -> None:
    """Install the process's tracer provider (once: the first caller names the service, unless
    OTEL_SERVICE_NAME does), exporting where the OTEL_* variables say. Call it before the
    process opens a connection: only connections made after `export_to` have SQL spans."""
    if _disabled() or isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service)})
    trace.set_tracer_provider(TracerProvider(resource=resource))
    if (exporter := _exporter()) is not None:
        export_to(BatchSpanProcessor(exporter))


def export_to(processor: SpanProcessor) -> None:
    """Send the process's spans to `processor` too, with SQL spans from here on."""
    global _exporting
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "tracing.configure() first"
    provider.add_span_processor(processor)
    if not _exporting:
        PsycopgInstrumentor().instrument(skip_dep_check=True)
        _exporting = True


def exporting() -> bool:
    """Whether this process's spans go anywhere."""
    return _exporting


def instrument_app(app: FastAPI, service: str) -> None:
    """A server span per request, continuing the caller's `traceparent`."""
    configure(service)
    if not _disabled():
        FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS)


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
