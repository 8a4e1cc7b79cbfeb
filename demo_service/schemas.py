"""demo_service's request and response shapes (pydantic v2).

The dashboard and the metrics are built as JSON by Postgres (see service.py); these models
document them in OpenAPI and the tests check the SQL-built JSON against them.
"""

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel

from shared.jobs import BackgroundJob

DemoStatus = Literal["disabled", "enabling", "enabled", "disabling", "failed"]
ConnectionStatus = Literal["disconnected", "connecting", "connected", "disconnecting", "error"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelling", "cancelled"]


class JobLinks(BaseModel):
    self: str
    status: str
    events: str


class JobError(BaseModel):
    type: str
    message: str | None


class JobRead(BaseModel):
    """A job as job_service serves it (`GET /v1/jobs/{id}`), embedded: one shape everywhere."""

    id: uuid.UUID
    kind: str
    status: JobStatus
    progress: int
    message: str | None
    attempts: int
    result: Any | None
    error: JobError | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    links: JobLinks

    @classmethod
    def of(cls, job: BackgroundJob | None) -> "JobRead | None":
        if job is None:
            return None
        path = f"/v1/jobs/{job.id}"
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            progress=job.progress_percent,
            message=job.progress_message,
            attempts=job.attempts,
            result=job.result,
            error=JobError(type=job.error_type, message=job.error_message)
            if job.error_type
            else None,
            version=job.version,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            links=JobLinks(self=path, status=f"{path}/status", events=f"{path}/events"),
        )


class DemoRead(BaseModel):
    status: DemoStatus
    error: str | None
    job: JobRead | None


class PlatformRead(BaseModel):
    id: int
    kind: str
    name: str
    connection_status: ConnectionStatus
    connection_error: str | None
    is_demo: bool
    job: JobRead | None


class MetricTotals(BaseModel):
    impressions: int
    clicks: int
    spend: float
    conversions: int


class MetricDay(MetricTotals):
    day: dt.date


class MetricsRead(BaseModel):
    days: int
    totals: MetricTotals
    daily: list[MetricDay]


class DashboardUser(BaseModel):
    id: int
    email: str
    name: str


class DashboardMetrics(MetricTotals):
    days: int


class DashboardRead(BaseModel):
    user: DashboardUser
    demo: DemoRead
    platforms: list[PlatformRead]
    metrics: DashboardMetrics
    active_jobs: list[JobRead]
