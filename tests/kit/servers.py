"""An app under test served in-process (ASGITransport), or over real HTTP by uvicorn for what
ASGITransport cannot carry (SSE streams, JWKS fetched by URL)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.kit.waiting import eventually


@asynccontextmanager
async def serving(
    app: FastAPI, *, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncClient]:
    """Run the app's lifespan and give an HTTP client talking to it in-process."""
    async with (
        app.router.lifespan_context(app),
        AsyncClient(
            transport=ASGITransport(app), base_url="http://testserver", headers=headers
        ) as client,
    ):
        yield client


@asynccontextmanager
async def over_http(app: Any, *, port: int = 0) -> AsyncIterator[str]:
    """Serve `app` on `port` (a free one by default) until the block ends; its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        assert not task.done(), "the server stopped before it started"
        return server.started

    await eventually(started, within=10, every=0.01, what="the server started")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
