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


def schema_check(process: str) -> ReadinessCheck:
    """Ready on any revision this release's `process` runs on (deploy/release.py): from its
    oldest to the newest this code knows, so old and new pods serve side by side."""
    from deploy import release

    async def check_schema(engine: AsyncEngine) -> dict[str, Any]:
        async with engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        window = release.runs_on(process)
        if current not in window:
            raise NotReady(
                f"database schema is at {current}, this code runs on {window[0]} to {window[-1]}"
            )
        return {"schema": current}

    return check_schema


def health_router(*extra_checks: ReadinessCheck, process: str = "") -> APIRouter:
    router = APIRouter(tags=["health"])
    check_schema = schema_check(process)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
    async def readyz(request: Request) -> JSONResponse | dict[str, Any]:
        """The database is reachable and at a schema revision this code runs on; else 503."""
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
