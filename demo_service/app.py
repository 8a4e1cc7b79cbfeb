"""Builds demo_service's FastAPI application."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

# Importing tasks registers demo:* on the shared queue app, so this process can enqueue them.
from demo_service import api, tasks  # noqa: F401
from demo_service.config import Settings
from shared.db import create_autocommit_pool
from shared.service_app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # from the environment

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The hot one-statement reads (dashboard, metrics) skip the ORM: one round trip each.
        pool = create_autocommit_pool(
            settings.database_url,
            max_size=settings.db_pool_size,
            name="demo-reads",
            prepared_statements=settings.db_prepared_statements,
        )
        await pool.open(wait=False)  # a database still starting is a 503, not a crash
        app.state.read_pool = pool
        try:
            yield
        finally:
            await pool.close()

    return create_service_app(
        name="demo",
        title="pgstack demo_service",
        settings=settings,
        routers=[api.router],
        lifespan=lifespan,
        verify_passports=True,
    )
