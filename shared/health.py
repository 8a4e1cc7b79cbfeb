"""`/healthz` (the process is alive) and `/readyz` (the database is usable and migrated)."""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import problem, problem_responses

# The Alembic revision this code is written for. The code states what it needs and deploy's
# migrations provide it (a new revision moves this line; tests/deploy/test_schema.py fails
# until the two agree), so shared never reads deploy.
SCHEMA_HEAD = "0011_job_traceparent"

# A readiness check returns details to report, or raises NotReady.
ReadinessCheck = Callable[[AsyncEngine], Awaitable[dict[str, Any]]]


class NotReady(Exception):
    """The service cannot serve requests yet."""


async def check_schema(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    if current != SCHEMA_HEAD:
        raise NotReady(f"database schema is at {current}, this code needs {SCHEMA_HEAD}")
    return {"schema": current}


def health_router(*extra_checks: ReadinessCheck) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", response_model=None, responses=problem_responses(503))
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
