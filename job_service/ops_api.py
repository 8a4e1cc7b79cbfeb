"""The ops API: queues, workers and anyone's jobs, for operators only (a passport with the
`operator` role). Any other user's passport gets 404, as if the routes did not exist."""

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from job_service import ops, streams
from job_service.api import sse_response
from job_service.config import Settings
from job_service.ops_schemas import OpsJobList, OpsJobRead, OpsStatusFilter, QueueList, WorkerList
from shared.db import SessionDep
from shared.errors import EVERY_ROUTE, NotFound, problem_responses
from shared.passport import CurrentPassport, Passport
from shared.validation import PlainText

OPERATOR = "operator"


async def require_operator(passport: CurrentPassport) -> Passport:
    """The caller's passport if it carries the operator role; 404 otherwise."""
    if OPERATOR not in passport.roles:
        raise NotFound()
    return passport


router = APIRouter(
    prefix="/v1/ops",
    tags=["ops"],
    dependencies=[Depends(require_operator)],
    # 404: the passport is not an operator's (or there is no such job).
    responses=problem_responses(*EVERY_ROUTE, 401, 404),
)


def health_of(request: Request) -> ops.Health:
    settings: Settings = request.app.state.settings
    return ops.Health(
        fresh_seconds=settings.worker_heartbeat_fresh_seconds,
        timeout_seconds=settings.stuck_after_seconds,
    )


HealthDep = Annotated[ops.Health, Depends(health_of)]


@router.get("/queues")
async def list_queues(session: SessionDep, health: HealthDep) -> QueueList:
    """Each queue: waiting jobs and the oldest one's age, running, stuck, and the last hour's
    throughput."""
    return QueueList(items=await ops.list_queues(session, health=health))


@router.get("/workers")
async def list_workers(session: SessionDep, health: HealthDep) -> WorkerList:
    """The registered workers and their heartbeats."""
    return WorkerList(items=await ops.list_workers(session, health=health))


@router.get("/events", response_class=StreamingResponse, responses=problem_responses(429))
async def ops_events(
    request: Request, passport: Annotated[Passport, Depends(require_operator)]
) -> StreamingResponse:
    """Server-Sent Events for an ops page: `changed` (which jobs of anyone's changed, or
    `all`), at most one a second; the first one an interval after the stream opens. It ends
    when the session is revoked (taking the operator role away revokes them)."""
    settings: Settings = request.app.state.settings
    admission = request.app.state.stream_guard.admit(passport)
    events = await streams.open_ops_stream(
        request.app.state.hub, admission, heartbeat=settings.sse_heartbeat_seconds
    )
    return sse_response(events, admission)


@router.get("/jobs")
async def list_jobs(
    session: SessionDep,
    health: HealthDep,
    status: OpsStatusFilter | None = None,
    kind: PlainText | None = None,
    user: PlainText | None = None,
    since: dt.datetime | None = None,
) -> OpsJobList:
    """Anyone's jobs, newest first (at most 100), by status (`active`, `stuck`), kind, owner's
    email (`user`) and creation time (`since`)."""
    found = await ops.list_jobs(
        session, health=health, status=status, kind=kind, user_email=user, since=since
    )
    return OpsJobList(items=[OpsJobRead.of_owned(job, email) for job, email in found])


@router.get("/jobs/{job_id}")
async def get_job(job_id: uuid.UUID, session: SessionDep) -> OpsJobRead:
    """Anyone's job, with its owner."""
    job, email = await ops.get_job_or_raise(session, job_id=job_id)
    return OpsJobRead.of_owned(job, email)


@router.post("/jobs/{job_id}/retry", status_code=202, responses=problem_responses(409))
async def retry_job(job_id: uuid.UUID, session: SessionDep) -> OpsJobRead:
    """Run anyone's failed or cancelled job again (409 otherwise)."""
    await ops.retry_job(session, job_id=job_id)
    job, email = await ops.get_job_or_raise(session, job_id=job_id)
    return OpsJobRead.of_owned(job, email)


@router.post(
    "/jobs/{job_id}/cancel",
    responses={202: {"description": "Abort requested"}, **problem_responses(409)},
)
async def cancel_job(job_id: uuid.UUID, session: SessionDep, response: Response) -> OpsJobRead:
    """Cancel anyone's job: a waiting one at once (200), a running one is asked to stop (202);
    a finished one is a 409."""
    await ops.cancel_job(session, job_id=job_id)
    job, email = await ops.get_job_or_raise(session, job_id=job_id)
    response.status_code = 202 if job.status == "cancelling" else 200
    return OpsJobRead.of_owned(job, email)
