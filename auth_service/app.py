"""Builds auth_service's FastAPI application."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from auth_service import api, passwords, service, throttle
from auth_service.config import Settings
from auth_service.keys import PassportKeys
from auth_service.session_cache import SessionCache
from shared.db import create_autocommit_pool
from shared.listener import Listener
from shared.passport import REVOCATION_CHANNEL
from shared.service_app import create_service_app


@asynccontextmanager
async def _warm_up(app: FastAPI) -> AsyncIterator[None]:
    # The dummy hash makes unknown-email logins as slow as real ones; compute it before the
    # first request, so that first request is not the odd one out.
    await asyncio.to_thread(passwords.warm_up)
    settings: Settings = app.state.settings
    # GET /v1/session (every page view) runs on a pool of its own: plain psycopg, autocommit,
    # one round trip per check instead of BEGIN, SELECT, COMMIT through SQLAlchemy.
    pool = create_autocommit_pool(
        settings.database_url,
        max_size=settings.db_pool_size,
        name="auth-sessions",
        prepared_statements=settings.db_prepared_statements,
    )
    await pool.open(wait=False)
    app.state.session_pool = pool
    listener: Listener = app.state.listener
    cache: SessionCache[service.SessionRow] = SessionCache(
        ttl_seconds=settings.session_cache_ttl.total_seconds(), live=listener.connected.is_set
    )
    listener.subscribe(REVOCATION_CHANNEL, cache.on_notification)
    listener.on_reconnect(cache.clear)  # notifications may have been missed meanwhile
    app.state.session_cache = cache
    try:
        yield
    finally:
        await pool.close()


def create_app(settings: Settings | None = None, *, clock: service.Clock | None = None) -> FastAPI:
    """`clock` lets tests move time (expiry, back-off) without patching anything."""
    settings = settings or Settings()  # from the environment
    app = create_service_app(
        name="auth",
        title="pgstack auth_service",
        settings=settings,
        routers=[api.session_check, api.router, api.well_known],
        lifespan=_warm_up,
        listen=[REVOCATION_CHANNEL],
        # Nothing auth answers may be cached by a browser or proxy (sessions, passports,
        # errors about them), unless the route says otherwise (the JWKS).
        default_headers=[(b"cache-control", b"no-store")],
    )
    # Parsed once: signing a passport is then one Ed25519 signature.
    app.state.passport_keys = PassportKeys.from_settings(settings.passport_private_keys)
    app.state.clock = clock or service.utc_now
    app.state.backing_off = throttle.BackingOff()
    return app
