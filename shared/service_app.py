"""The FastAPI application every service is built on: one engine, errors, ids, health, and
what every request passes at the edge (`EdgeMiddleware`)."""

import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI
from opentelemetry import context as otel_context
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import connections, db, metrics, passport, tracing
from shared.errors import install_error_handlers
from shared.health import ReadinessCheck, health_router
from shared.listener import Listener
from shared.logging import configure_logging, request_id_var
from shared.settings import ServiceSettings

# No route takes more than a form's worth of JSON; a larger body is refused before it is read.
MAX_BODY_BYTES = 64 * 1024
# All request headers together (names and values), as Node.js caps them for the web app.
MAX_HEADER_BYTES = 16 * 1024

# On every answer: never sniff a JSON error into HTML; never framed; no referrer from /docs.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]
# Unsafe requests may be judged by these (auth_service's CSRF check): a cache must key on them.
CSRF_VARY = (b"vary", b"Origin, Sec-Fetch-Site")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Opens what a service needs beyond the engine (key sets, listeners) for the app's lifetime.
ExtraLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    *,
    name: str,
    title: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    readiness_checks: Sequence[ReadinessCheck] = (),
    lifespan: ExtraLifespan | None = None,
    verify_passports: bool = False,
    listen: Sequence[str] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
    default_headers: Sequence[tuple[bytes, bytes]] = (),
) -> FastAPI:
    """Build a service. `verify_passports` makes `CurrentPassport` usable in its routes;
    `listen` names the NOTIFY channels its one `Listener` (app.state.listener) follows;
    bodies over `max_body_bytes` are a 413; every answer carries `default_headers` unless
    its route set them."""
    channels = [*listen, *([passport.REVOCATION_CHANNEL] if verify_passports else [])]

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = db.create_sessionmaker(engine)
        await connections.check_headroom(
            engine, name, connections.budget(name, pool_size=settings.db_pool_size)
        )
        app.state.listener = Listener(settings.listen_url)
        try:
            if verify_passports:
                app.state.passport_verifier = await passport.start_verifier(
                    settings, engine, app.state.listener
                )
            if channels:
                await app.state.listener.start(channels)
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            await app.state.listener.stop()
            await engine.dispose()

    configure_logging(settings.log_level)
    app = FastAPI(title=title, lifespan=app_lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    # FastAPI tries routes in order, about 2.5 us each (bench/overhead.py): the service's
    # own, which every page view calls, before the probes and the scrape.
    for router in routers:
        app.include_router(router)
    app.include_router(health_router(*readiness_checks, process=name))
    app.include_router(metrics.router)
    spans = tracing.instrument_app(app, name)
    app.add_middleware(
        EdgeMiddleware,
        service=name,
        max_body_bytes=max_body_bytes,
        default_headers=default_headers,
        continue_traces=not spans and tracing.propagating(),
    )
    return app


class EdgeMiddleware:
    """What every request passes at the service's edge, in one pure ASGI layer (one pass over
    the request's headers, one wrapper of its answer): its id, its limits, the headers every
    answer carries, its duration metric and, when no span is made, its caller's trace.

    One layer rather than one per concern: each layer re-wraps `send` and re-reads the headers,
    and the five the services had cost a constant endpoint a fifth of its throughput
    (bench/overhead.py --layers, README "Benchmarks").

    - Request id: a sane incoming `X-Request-ID` is kept (only short printable ids, so logs
      cannot be forged through it), else a new one; set for the logs and echoed back.
    - Limits. Threat model: a client that sends a 10 MB JSON body (or streams one without a
      length) makes the service buffer and parse it before validation can refuse it; one that
      sends a 1 MB header makes every layer copy it. Here a declared length over the limit is
      a 413 before a byte of the body is read, a streamed body is a 413 as soon as it passes
      the limit, and headers over their limit are a 431, each closing the connection (the rest
      of the body is never read).
    - Headers: `SECURITY_HEADERS`, `CSRF_VARY` on unsafe methods, and the service's defaults;
      what the route set itself stays, a `Vary` is extended.
    - Metrics: the duration of each request by route template and status class.
    - Traces (`continue_traces`): the caller's `traceparent` continued without a span
      (`tracing.continued`); with spans, OpenTelemetry's middleware does it instead.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int = MAX_BODY_BYTES,
        default_headers: Sequence[tuple[bytes, bytes]] = (),
        continue_traces: bool = False,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.continue_traces = continue_traces
        self.durations = metrics.RequestDurations(service)
        self._safe_extra = [*SECURITY_HEADERS, *default_headers]
        self._unsafe_extra = [*self._safe_extra, CSRF_VARY]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = length = traceparent = tracestate = None
        size = 0
        for name, value in scope["headers"]:
            size += len(name) + len(value)
            if name == b"x-request-id":
                request_id = _sane_request_id(value)
            elif name == b"content-length":
                # A malformed length never gets this far: the HTTP server refuses it (400).
                length = int(value) if value.strip().isdigit() else None
            elif name == b"traceparent":
                traceparent = value
            elif name == b"tracestate":
                tracestate = value
        # An id, not a secret: 128 random bits without uuid4's system call per request.
        request_id = request_id or f"{random.getrandbits(128):032x}"
        method = scope["method"]
        extra = [
            (b"x-request-id", request_id.encode()),
            *(self._safe_extra if method in _SAFE_METHODS else self._unsafe_extra),
        ]
        status = 500
        started_answer = responded = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started_answer
            if responded:
                return  # the 413 went out; whatever the app answers after is dropped
            if message["type"] == "http.response.start":
                started_answer = True
                status = message["status"]
                message["headers"] = _merged(list(message.get("headers", ())), extra)
            await send(message)

        received = 0

        async def counted_receive() -> Message:
            nonlocal received, responded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    if not started_answer:
                        await self._refuse(
                            send_with_headers, 413, "Content too large", self._too_large
                        )
                    responded = True
                    # The app sees a client that went away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        id_token = request_id_var.set(request_id)
        trace_token = None
        if self.continue_traces and traceparent is not None:
            continued = tracing.continued(
                traceparent.decode("latin-1"),
                None if tracestate is None else tracestate.decode("latin-1"),
            )
            if continued is not None:
                trace_token = otel_context.attach(continued)
        try:
            if size > MAX_HEADER_BYTES:
                await self._refuse(
                    send_with_headers,
                    431,
                    "Request headers too large",
                    f"The request headers exceed {MAX_HEADER_BYTES} bytes.",
                )
            elif length is not None and length > self.max_body_bytes:
                await self._refuse(send_with_headers, 413, "Content too large", self._too_large)
            else:
                await self.app(scope, counted_receive, send_with_headers)
        finally:
            if trace_token is not None:
                otel_context.detach(trace_token)
            request_id_var.reset(id_token)
            route = getattr(scope.get("route"), "path", "unmatched")
            self.durations.observe(method, route, status, time.perf_counter() - started)

    @property
    def _too_large(self) -> str:
        return f"The request body exceeds {self.max_body_bytes} bytes."

    @staticmethod
    async def _refuse(send: Send, status: int, title: str, detail: str) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": title,
                "status": status,
                "detail": detail,
                "request_id": request_id_var.get(),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _sane_request_id(value: bytes) -> str | None:
    text = value.decode("latin-1")
    if 0 < len(text) <= 64 and text.isprintable() and " " not in text:
        return text
    return None


def _merged(
    headers: list[tuple[bytes, bytes]], extra: Sequence[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The app's headers plus `extra`: what the app set itself stays, a `Vary` is extended."""
    present = {name.lower(): index for index, (name, _) in enumerate(headers)}
    for name, value in extra:
        if name not in present:
            headers.append((name, value))
        elif name == b"vary":
            index = present[name]
            headers[index] = (name, headers[index][1] + b", " + value)
    return headers
