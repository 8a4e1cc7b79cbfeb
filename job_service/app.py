"""Builds job_service's FastAPI application."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

# Importing tasks registers jobs:* on the shared queue app, so this process can retry them.
from job_service import access, api, hub, metrics, ops_api, tasks  # noqa: F401
from job_service.config import Settings
from shared.service_app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    """job_service's app. It enqueues and retries the kinds registered in its process: its own
    (`tasks`), and every service's when `pgstack serve jobs` runs it (deploy/tasks.py)."""
    settings = settings or Settings()  # from the environment

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.hub = hub.Hub(
            app.state.listener,
            app.state.engine,
            ttl=settings.sse_watch_seconds,
            reads=max(1, settings.db_pool_size - 2),
        )
        app.state.stream_guard = access.StreamGuard(
            app.state.passport_verifier.revoked, max_per_user=settings.max_streams_per_user
        )
        restore_sigterm = hub.end_streams_on_sigterm(app.state.hub)
        refresher = asyncio.create_task(
            metrics.collector.refresh_forever(app.state.engine, settings.metrics_refresh_seconds)
        )
        try:
            yield
        finally:
            restore_sigterm()
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            await app.state.hub.close()

    return create_service_app(
        name="job",
        title="pgstack job_service",
        settings=settings,
        routers=[api.router, api.internal_router, ops_api.router],
        readiness_checks=[metrics.worker_readiness(settings)],
        lifespan=lifespan,
        verify_passports=True,
        listen=["job_events"],
    )
