"""job_service's request and response bodies."""

from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.jobs import JobRead
from shared.jobs.lifecycle import JobStatus
from shared.validation import Id, PlainText

# "active": any of the lifecycle's active statuses; else one status.
StatusFilter = Literal["active", JobStatus]


class JobList(BaseModel):
    items: list[JobRead]


class JobCreate(BaseModel):
    """A job enqueued by an internal caller on behalf of a user (or of nobody)."""

    kind: PlainText = Field(min_length=1, max_length=128, examples=["demo:enable"])
    user_id: Id | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: PlainText | None = Field(default=None, min_length=1, max_length=200)
