"""job_service's request and response bodies."""

from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.job_schemas import JobRead

StatusFilter = Literal[
    "active", "queued", "running", "succeeded", "failed", "cancelling", "cancelled"
]


class JobList(BaseModel):
    items: list[JobRead]


class JobCreate(BaseModel):
    """A job enqueued by an internal caller on behalf of a user (or of nobody)."""

    kind: str = Field(min_length=1, max_length=128, examples=["demo:enable"])
    user_id: int | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
