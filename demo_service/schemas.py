"""demo_service's request and response shapes (pydantic v2).

The dashboard and the metrics are built as JSON by Postgres (see reads.sql); these models
document them in OpenAPI and the tests check the SQL-built JSON against them.
"""

import datetime as dt

from pydantic import BaseModel

from demo_service.states import ConnectionStatus, DemoStatus
from shared.jobs import JobRead


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
