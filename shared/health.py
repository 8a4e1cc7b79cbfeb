"""`/healthz` (the process is alive) and `/readyz` (the database is usable and migrated)."""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import problem, problem_responses

# The Alembic revisions this code knows, oldest first. The code states what it runs on and
# deploy's migrations provide it (a new revision adds a line here; tests/deploy/test_schema.py
# fails until the two agree), so shared never reads deploy.
SCHEMA_REVISIONS = (
    "0001_legacy_baseline",
    "0002_expand_statuses",
    "0003_sessions",
    "0004_jobs",
    "0005_contract",
    "0006_demo",
    "0007_accounts",
    "0008_leftovers",
    "0009_durable_steps",
    "0010_event_log",
    "0011_job_traceparent",
    "0012_fair_fetch",
    "0013_job_lifecycle",
    "0014_login_in_flight",
    "0015_worker_claim",
)
SCHEMA_HEAD = SCHEMA_REVISIONS[-1]

# The oldest revision each process kind of this release runs on (rolling deploys, see
# deploy/release.py); any kind not listed needs the head. auth reads the accounts of 0007 (roles,
# folded emails, registration attempts) and writes 0014's pending login attempts; jobs, demo
# and the worker write steps, the event log, the trace and the kind caps of 0009 to 0012. All
# of them come after the contract (0005), so this release's pods wait unready while the
# previous app still runs, and serve from `migrate --to head` on; a later release that adds
# only expand revisions lists this head here, and old and new pods serve side by side.
OLDEST_SCHEMA = {"auth": "0014_login_in_flight"}

# A readiness check returns details to report, or raises NotReady.
ReadinessCheck = Callable[[AsyncEngine], Awaitable[dict[str, Any]]]


class NotReady(Exception):
    """The service cannot serve requests yet."""


def schema_check(process: str) -> ReadinessCheck:
    """Ready on any revision this release's `process` runs on: from its oldest to the newest
    this code knows, so old and new pods serve side by side between expand and contract."""
    window = SCHEMA_REVISIONS[SCHEMA_REVISIONS.index(OLDEST_SCHEMA.get(process, SCHEMA_HEAD)) :]

    async def check_schema(engine: AsyncEngine) -> dict[str, Any]:
        async with engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
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

    @router.get("/readyz", response_model=None, responses=problem_responses(503))
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
