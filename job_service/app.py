"""Builds job_service's FastAPI application."""

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from job_service import api, hub, metrics
from job_service.config import Settings
from shared.service_app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # from the environment
    # The kinds this service may enqueue or retry, with their queue, lock and retry policy.
    for module in filter(None, (m.strip() for m in settings.task_modules.split(","))):
        importlib.import_module(module)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.hub = hub.Hub(
            app.state.listener, app.state.engine, ttl=settings.sse_watch_seconds
        )
        refresher = asyncio.create_task(
            metrics.collector.refresh_forever(app.state.engine, settings.metrics_refresh_seconds)
        )
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            await app.state.hub.close()

    return create_service_app(
        name="job",
        title="pgstack job_service",
        settings=settings,
        routers=[api.router, api.internal_router],
        readiness_checks=[metrics.worker_heartbeat],
        lifespan=lifespan,
        verify_passports=True,
        listen=["job_events"],
    )
