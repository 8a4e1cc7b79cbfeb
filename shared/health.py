"""`/healthz` (the process is alive) and `/readyz` (the database is usable and migrated)."""

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import problem

MIGRATIONS_DIR = "deploy/migrations"

# A readiness check returns details to report, or raises NotReady.
ReadinessCheck = Callable[[AsyncEngine], Awaitable[dict[str, Any]]]


class NotReady(Exception):
    """The service cannot serve requests yet."""


@cache
def migration_head() -> str:
    """The Alembic head revision of the code that is running."""
    from deploy.migrate import alembic_config

    config: Config = alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


async def check_schema(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    head = migration_head()
    if current != head:
        raise NotReady(f"database schema is at {current}, this code needs {head}")
    return {"schema": current}


def health_router(*extra_checks: ReadinessCheck) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
    async def readyz(request: Request) -> JSONResponse | dict[str, Any]:
        """The database is reachable and migrated to this code's head; 503 otherwise."""
        engine: AsyncEngine = request.app.state.engine
        report: dict[str, Any] = {"status": "ready"}
        try:
            for check in (check_schema, *extra_checks):
                report.update(await check(engine))
        except NotReady as exc:
            return problem(503, "Not ready", str(exc), headers={"Retry-After": "5"})
        except Exception as exc:  # any failure to reach the database means "not ready"
            return problem(
                503,
                "Not ready",
                f"database unreachable: {exc.__class__.__name__}",
                headers={"Retry-After": "5"},
            )
        return report

    return router
