"""job_service's HTTP routes: parse, call the service layer, render a schema."""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from job_service import service, streams
from job_service.access import Admission
from job_service.config import Settings
from job_service.schemas import JobCreate, JobList, StatusFilter
from shared.db import SessionDep
from shared.errors import EVERY_ROUTE, PROBLEM_JSON, problem_responses
from shared.jobs import JobRead
from shared.passport import CurrentPassport, require_service_passport, service_route

ENQUEUE_SCOPE = "jobs:enqueue"
router = APIRouter(prefix="/v1", tags=["jobs"], responses=problem_responses(*EVERY_ROUTE, 401))
# Internal callers: a service passport granting `jobs:enqueue` (POST /v1/service-token on
# auth_service), checked before the body is read.
internal_router = APIRouter(
    prefix="/internal/v1",
    tags=["internal"],
    route_class=service_route(ENQUEUE_SCOPE),
    responses=problem_responses(*EVERY_ROUTE),
)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_response(events: AsyncIterator[str], admission: Admission) -> StreamingResponse:
    """The stream's response. Its slot is also released after the response: a client gone
    before the body started never runs the stream's own `finally`."""
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers=SSE_HEADERS,
        background=BackgroundTask(admission.release),
    )


@router.get("/jobs")
async def list_jobs(
    session: SessionDep, passport: CurrentPassport, status: StatusFilter | None = None
) -> JobList:
    """My jobs, newest first (at most 100); `status=active` for those not finished."""
    jobs = await service.list_jobs(session, user_id=passport.user_id, status=status)
    return JobList(items=[JobRead.of(job) for job in jobs])


@router.get("/jobs/{job_id}", responses=problem_responses(404))
async def get_job(job_id: uuid.UUID, session: SessionDep, passport: CurrentPassport) -> JobRead:
    """One of my jobs, with its progress, result or error."""
    job = await service.get_job_or_raise(session, job_id=job_id, user_id=passport.user_id)
    return JobRead.of(job)


@router.get(
    "/jobs/{job_id}/status",
    responses={304: {"description": "Not modified"}, **problem_responses(404)},
)
async def get_job_status(
    job_id: uuid.UUID,
    session: SessionDep,
    passport: CurrentPassport,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A job's status for polling: a tiny body, `ETag` from its version, 304 if unchanged."""
    row = await service.get_status_or_raise(session, job_id=job_id, user_id=passport.user_id)
    etag = f'"{row["version"]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match and etag in {
        tag.strip().removeprefix("W/") for tag in if_none_match.split(",")
    }:
        return Response(status_code=304, headers=headers)
    body = json.dumps({**row, "id": str(row["id"])})
    return Response(body, media_type="application/json", headers=headers)


@router.post(
    "/jobs/{job_id}/cancel",
    responses={202: {"description": "Abort requested"}, **problem_responses(404, 409)},
)
async def cancel_job(
    job_id: uuid.UUID, session: SessionDep, passport: CurrentPassport, response: Response
) -> JobRead:
    """Cancel my job: a waiting job is cancelled at once (200), a running one is asked to
    stop (202, `cancelling`, then `cancelled`); a finished one is a 409."""
    job = await service.cancel_job(session, job_id=job_id, user_id=passport.user_id)
    response.status_code = 202 if job.status == "cancelling" else 200
    return JobRead.of(job)


@router.post("/jobs/{job_id}/retry", status_code=202, responses=problem_responses(404, 409))
async def retry_job(job_id: uuid.UUID, session: SessionDep, passport: CurrentPassport) -> JobRead:
    """Run my failed or cancelled job again (409 otherwise)."""
    job = await service.retry_job(session, job_id=job_id, user_id=passport.user_id)
    return JobRead.of(job)


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses=problem_responses(404, 429),
)
async def job_events(
    job_id: uuid.UUID,
    request: Request,
    passport: CurrentPassport,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events of my job: its state, then each change (`id` = version); ends
    after a terminal state or my session's revocation; `Last-Event-ID` resumes; 429 past
    `JOBS_MAX_STREAMS_PER_USER` open streams."""
    settings: Settings = request.app.state.settings
    admission = request.app.state.stream_guard.admit(passport)
    events = await streams.open_job_stream(
        request.app.state.hub,
        request.app.state.sessionmaker,
        admission,
        job_id=job_id,
        user_id=passport.user_id,
        last_event_id=last_event_id,
        heartbeat=settings.sse_heartbeat_seconds,
    )
    return sse_response(events, admission)


@router.get("/events", response_class=StreamingResponse, responses=problem_responses(429))
async def user_events(
    request: Request,
    passport: CurrentPassport,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events of everything of mine: my active jobs, then each change of my jobs
    and of my demo and platforms; ends with my session's revocation; `Last-Event-ID` resumes;
    429 past `JOBS_MAX_STREAMS_PER_USER` open streams."""
    settings: Settings = request.app.state.settings
    admission = request.app.state.stream_guard.admit(passport)
    events = await streams.open_user_stream(
        request.app.state.hub,
        request.app.state.sessionmaker,
        admission,
        user_id=passport.user_id,
        last_event_id=last_event_id,
        heartbeat=settings.sse_heartbeat_seconds,
        slack_seconds=settings.sse_resume_slack_seconds,
        retention_hours=settings.events_retention_hours,
    )
    return sse_response(events, admission)


@internal_router.post(
    "/jobs",
    status_code=202,
    responses={
        401: {"description": "No valid service passport", "content": {PROBLEM_JSON: {}}},
        403: {
            "description": "The service passport does not grant `jobs:enqueue` or this kind",
            "content": {PROBLEM_JSON: {}},
        },
        413: {"description": "The body is over the limit", "content": {PROBLEM_JSON: {}}},
        422: {
            "description": "Invalid body, unknown kind, unknown user, or args naming another user",
            "content": {PROBLEM_JSON: {}},
        },
    },
)
async def enqueue_job(body: JobCreate, session: SessionDep, request: Request) -> JobRead:
    """Enqueue a job of a registered kind for a user (service passport with `jobs:enqueue`
    and the kind among its `kinds`; a repeated idempotency key returns the first job)."""
    caller = await require_service_passport(request, ENQUEUE_SCOPE)
    job = await service.enqueue(
        session,
        kind=body.kind,
        user_id=body.user_id,
        args=body.args,
        idempotency_key=body.idempotency_key,
        allowed_kinds=caller.kinds,
    )
    return JobRead.of(job)
