"""demo_service's HTTP routes: parse, call the service layer, render a schema."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from demo_service import reads, service
from demo_service.schemas import DashboardRead, DemoRead, MetricsRead, PlatformRead
from shared.db import SessionDep
from shared.errors import EVERY_ROUTE, problem_responses
from shared.passport import CurrentPassport
from shared.validation import Id

# Every route wants a passport (401).
router = APIRouter(prefix="/v1", tags=["demo"], responses=problem_responses(*EVERY_ROUTE, 401))


@asynccontextmanager
async def read_connection(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection of the read pool (app.state.read_pool), outside any transaction: a read
    made of one statement is consistent on its own, and no BEGIN/COMMIT saves two round trips.

    Used inline, not as a yield dependency: FastAPI's teardown of one costs about 0.2 ms of CPU
    per request, a third of the dashboard's (bench/dashboard.py)."""
    pool: AsyncConnectionPool = request.app.state.read_pool
    async with pool.connection() as connection:
        yield connection


class JSONText(Response):
    """JSON that Postgres has already built: sent as it is, never parsed and re-encoded."""

    media_type = "application/json"


def _operation_answers(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    """An operation's answers besides its 202: 200 already there, 404, 409 the other one runs."""
    return {200: {"model": model, "description": "Already there"}, **problem_responses(404, 409)}


def _accepted_unless(response: Response, status: str, done: str) -> None:
    """202 while the operation's job runs; 200 when the state was already `done`."""
    response.status_code = 200 if status == done else 202


@router.get("/demo", responses=problem_responses(404))
async def get_demo(passport: CurrentPassport, session: SessionDep) -> DemoRead:
    """Demo mode: its status, its current job and the last error."""
    return await service.get_demo(session, user_id=passport.user_id)


@router.post("/demo/enable", status_code=202, responses=_operation_answers(DemoRead))
async def enable_demo(
    passport: CurrentPassport, session: SessionDep, response: Response
) -> DemoRead:
    """Enable demo mode: 202 with the job; 200 if already enabled; 409 while disabling."""
    demo = await service.enable_demo(session, user_id=passport.user_id)
    _accepted_unless(response, demo.status, done="enabled")
    return demo


@router.post("/demo/disable", status_code=202, responses=_operation_answers(DemoRead))
async def disable_demo(
    passport: CurrentPassport, session: SessionDep, response: Response
) -> DemoRead:
    """Disable demo mode: 202 with the job; 200 if already disabled; 409 while enabling."""
    demo = await service.disable_demo(session, user_id=passport.user_id)
    _accepted_unless(response, demo.status, done="disabled")
    return demo


@router.get("/platforms")
async def list_platforms(passport: CurrentPassport, session: SessionDep) -> list[PlatformRead]:
    """My ad platforms with their connection status and current job."""
    return await service.list_platforms(session, user_id=passport.user_id)


@router.post(
    "/platforms/{platform_id}/connect", status_code=202, responses=_operation_answers(PlatformRead)
)
async def connect_platform(
    platform_id: Id, passport: CurrentPassport, session: SessionDep, response: Response
) -> PlatformRead:
    """Connect a platform: 202 with the job; 200 if connected; 409 while disconnecting."""
    platform = await service.connect_platform(
        session, user_id=passport.user_id, platform_id=platform_id
    )
    _accepted_unless(response, platform.connection_status, done="connected")
    return platform


@router.post(
    "/platforms/{platform_id}/disconnect",
    status_code=202,
    responses=_operation_answers(PlatformRead),
)
async def disconnect_platform(
    platform_id: Id, passport: CurrentPassport, session: SessionDep, response: Response
) -> PlatformRead:
    """Disconnect a platform: 202 with the job; 200 if disconnected; 409 while connecting."""
    platform = await service.disconnect_platform(
        session, user_id=passport.user_id, platform_id=platform_id
    )
    _accepted_unless(response, platform.connection_status, done="disconnected")
    return platform


@router.get(
    "/metrics",
    responses={200: {"model": MetricsRead}},
)
async def get_metrics(
    passport: CurrentPassport,
    request: Request,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> JSONText:
    """Metric totals and a daily series over the last `days` days (1 to 365)."""
    async with read_connection(request) as connection:
        body = await reads.get_metrics(connection, user_id=passport.user_id, days=days)
    return JSONText(body)


@router.get(
    "/dashboard",
    responses={200: {"model": DashboardRead}, **problem_responses(404)},
)
async def get_dashboard(passport: CurrentPassport, request: Request) -> JSONText:
    """Everything the dashboard shows, in one call: user, demo, platforms, metrics, jobs."""
    async with read_connection(request) as connection:
        return JSONText(await reads.get_dashboard(connection, user_id=passport.user_id))
