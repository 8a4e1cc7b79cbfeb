"""demo_service's request and response shapes (pydantic v2).

The dashboard and the metrics are built as JSON by Postgres (see service.py); these models
document them in OpenAPI and the tests check the SQL-built JSON against them.
"""

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from shared.jobs import BackgroundJob

DemoStatus = Literal["disabled", "enabling", "enabled", "disabling", "failed"]
ConnectionStatus = Literal["disconnected", "connecting", "connected", "disconnecting", "error"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelling", "cancelled"]


class JobLinks(BaseModel):
    status: str
    events: str


def job_links(job_id: uuid.UUID) -> JobLinks:
    """Where job_service serves the job's small status and its event stream."""
    return JobLinks(status=f"/v1/jobs/{job_id}/status", events=f"/v1/jobs/{job_id}/events")


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    status: JobStatus
    attempts: int
    progress_percent: int
    progress_message: str | None
    error_type: str | None
    error_message: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> JobLinks:
        return job_links(self.id)

    @classmethod
    def of(cls, job: BackgroundJob | None) -> "JobRead | None":
        return None if job is None else cls.model_validate(job)


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
