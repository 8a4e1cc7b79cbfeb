"""The ops API's response bodies: queues, workers and anyone's jobs, as operators see them."""

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from shared.jobs import BackgroundJob, JobRead
from shared.jobs.lifecycle import JobStatus

# "stuck": running longer than the workers' timeout (job_service/ops.py).
OpsStatusFilter = Literal["active", "stuck", JobStatus]


class QueueRead(BaseModel):
    """One Procrastinate queue now, and over the last hour."""

    queue: str
    waiting: int
    oldest_waiting_seconds: float
    running: int
    # Running on a worker without a fresh heartbeat, or for longer than the timeout.
    stuck: int
    succeeded_last_hour: int
    failed_last_hour: int
    # Jobs finished per five minutes over the last hour, oldest first (12 numbers).
    throughput: list[int]


class QueueList(BaseModel):
    items: list[QueueRead]


class WorkerRead(BaseModel):
    id: int
    last_heartbeat: dt.datetime
    heartbeat_age_seconds: float
    # The heartbeat is younger than JOBS_WORKER_HEARTBEAT_FRESH_SECONDS.
    fresh: bool
    running: int


class WorkerList(BaseModel):
    items: list[WorkerRead]


class OpsJobRead(JobRead):
    """A job with its owner, for operators."""

    user_id: int | None
    user_email: str | None

    @classmethod
    def of_owned(cls, job: BackgroundJob, email: str | None) -> "OpsJobRead":
        return cls(**JobRead.of(job).model_dump(), user_id=job.user_id, user_email=email)


class OpsJobList(BaseModel):
    items: list[OpsJobRead]
