"""Background jobs: the `background_jobs` record, enqueueing, and the kit tasks are written with.

    from shared import jobs

    job = await jobs.enqueue(session, "demo:enable", user_id, {"user_id": user_id})

One module per concept: `lifecycle` (the statuses and the moves between them), `models` (the
tables), `enqueue` (the row and the queue job in the caller's transaction, a retry), `errors`,
`kit` (registering a task, retrying it, its session and progress), `middleware` (the worker's
timeout, result and error recording), `schemas` (`JobRead`, the one shape users see), `steps`
(durable steps), `fairness` (the cap on a user's running jobs).

The event log (`job_events`, migration 0010, replayed by job_service's streams) needs no call:
the trigger on `background_jobs` writes one row for every change of status, progress or
`steps` (a step's start and end: kind 'step', with the steps that changed, results left out),
at the job's new version, in the change's transaction. A step written through the row is
logged; a new user-visible column must be added to that trigger's comparison.
"""

from shared.jobs.enqueue import defer, deferrer_for, enqueue, enqueue_many, retry
from shared.jobs.errors import JobAlreadyQueued, UnknownJobKind
from shared.jobs.kit import (
    Backoff,
    NotRetried,
    is_final_attempt,
    report_progress,
    session,
    task,
)
from shared.jobs.lifecycle import ACTIVE_STATUSES, RETRYABLE_STATUSES, TERMINAL_STATUSES
from shared.jobs.middleware import job_middleware
from shared.jobs.models import WATCH_LOCK, BackgroundJob, JobEventWatcher
from shared.jobs.schemas import JobRead
from shared.jobs.steps import DuplicateStep, StepsChanged, step

__all__ = [
    "ACTIVE_STATUSES",
    "RETRYABLE_STATUSES",
    "TERMINAL_STATUSES",
    "WATCH_LOCK",
    "BackgroundJob",
    "Backoff",
    "DuplicateStep",
    "JobAlreadyQueued",
    "JobEventWatcher",
    "JobRead",
    "NotRetried",
    "StepsChanged",
    "UnknownJobKind",
    "defer",
    "deferrer_for",
    "enqueue",
    "enqueue_many",
    "is_final_attempt",
    "job_middleware",
    "report_progress",
    "retry",
    "session",
    "step",
    "task",
]
