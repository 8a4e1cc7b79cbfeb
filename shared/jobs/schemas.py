"""A job as users see it, the one shape job_service serves and demo_service embeds."""

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel

from shared.jobs.lifecycle import JobStatus
from shared.jobs.models import BackgroundJob


class JobLinks(BaseModel):
    self: str
    status: str
    events: str


class JobError(BaseModel):
    type: str
    message: str | None


StepStatus = Literal["running", "succeeded", "failed"]


class JobStep(BaseModel):
    """One step of a job (shared/jobs/steps.py), in the order the task met them."""

    name: str
    status: StepStatus
    attempts: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class JobRead(BaseModel):
    """A job as its owner sees it: job_service serves it, demo_service embeds it."""

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
    steps: list[JobStep]
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
            steps=[JobStep.model_validate(entry) for entry in job.steps or []],
            links=JobLinks(self=path, status=f"{path}/status", events=f"{path}/events"),
        )
