"""job_service's request and response bodies."""

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.jobs import BackgroundJob

StatusFilter = Literal[
    "active", "queued", "running", "succeeded", "failed", "cancelling", "cancelled"
]


class JobError(BaseModel):
    type: str
    message: str | None


class JobLinks(BaseModel):
    self: str
    status: str
    events: str


class JobRead(BaseModel):
    """A job as its owner sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    status: str
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
    def of(cls, job: BackgroundJob) -> "JobRead":
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


class JobList(BaseModel):
    items: list[JobRead]


class JobCreate(BaseModel):
    """A job enqueued by an internal caller on behalf of a user (or of nobody)."""

    kind: str = Field(min_length=1, max_length=128, examples=["demo:enable"])
    user_id: int | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
