"""The worker's probes: `/healthz` (the event loop answers) and `/readyz` (the database
answers through the worker's own pool), on WORKER_HEALTH_PORT when it is set.

A worker serves no HTTP otherwise, so this is a few lines of asyncio rather than a web
framework: one short GET per probe, answered and closed.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import procrastinate

READY_TIMEOUT_SECONDS = 2.0


async def _status(path: str, app: procrastinate.App) -> tuple[int, dict[str, str]]:
    if path == "/healthz":
        return 200, {"status": "ok"}
    if path == "/readyz":
        try:
            await asyncio.wait_for(
                app.connector.execute_query_one_async("SELECT 1 AS one"), READY_TIMEOUT_SECONDS
            )
        except Exception as exc:  # any failure to reach the database means "not ready"
            return 503, {"status": "not ready", "detail": exc.__class__.__name__}
        return 200, {"status": "ready"}
    return 404, {"status": "not found"}


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _handler(app: procrastinate.App) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, path, *_ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            status, body = await _status(path if method == "GET" else "", app)
            payload = json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass  # a probe that went away or sent garbage gets nothing
        finally:
            writer.close()

    return handle


@contextlib.asynccontextmanager
async def serving(host: str, port: int, app: procrastinate.App) -> AsyncIterator[None]:
    """Serve the probes for the duration of the block; port 0 serves nothing."""
    if not port:
        yield
        return
    server = await asyncio.start_server(_handler(app), host, port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
