"""The FastAPI application every service is built on: one engine, errors, ids, health."""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI

from shared import connections, db, metrics, passport
from shared.errors import install_error_handlers
from shared.health import ReadinessCheck, health_router
from shared.listener import Listener
from shared.logging import RequestIdMiddleware, configure_logging
from shared.settings import ServiceSettings

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
) -> FastAPI:
    """Build a service. `verify_passports` makes `CurrentPassport` usable in its routes;
    `listen` names the NOTIFY channels its one `Listener` (app.state.listener) follows."""
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
    app.include_router(health_router(*readiness_checks, process=name))
    app.include_router(metrics.router)
    for router in routers:
        app.include_router(router)
    app.add_middleware(metrics.MetricsMiddleware, service=name)
    app.add_middleware(RequestIdMiddleware)
    return app
