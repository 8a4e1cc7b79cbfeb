"""The job lifecycle, written once: a job's statuses and the moves between them.

    queued ──> running ──> succeeded
      │  ^        │ │
      │  │        │ └──> cancelling ──> cancelled / succeeded
      │  └────────┴── (a retry, a recovered worker)
      v           v
    cancelled   failed ──> queued (retried by its user or an operator)

Everything else derives from this module: the model's CHECK and partial indexes
(shared/jobs/models.py), the API's status types (shared/jobs/schemas.py, job_service) and from
them the web app's generated types, the CLI's filters (deploy/ops_cli.py), and what a retry may
start from. The database enforces the same table for every writer: the CHECK constraint holds
the statuses and trigger `background_jobs_status_transition` (migration 0013_engine) the moves.
tests/shared/test_lifecycle.py tries every pair against the database and compares; it also
holds the status lists spelled in SQL (which must stay literals, for the partial indexes'
predicates to match) to the sets below.

A new status (issue 21's `waiting`) is a word in `JobStatus`, its moves here, and a migration
that replaces the CHECK and the transition trigger; the test then says what else disagrees.
"""

from typing import Literal, get_args

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelling", "cancelled"]

STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
INITIAL: JobStatus = "queued"

MOVES: frozenset[tuple[JobStatus, JobStatus]] = frozenset(
    {
        ("queued", "running"),  # a worker took it
        ("queued", "cancelled"),  # cancelled (or superseded) before it started
        ("running", "succeeded"),
        ("running", "failed"),  # its last attempt failed, or a shutdown aborted it
        ("running", "queued"),  # an attempt failed and it waits for its retry; a worker died
        ("running", "cancelling"),  # asked to abort: it runs until the task notices
        ("cancelling", "cancelled"),  # it stopped (aborted, or failed) after the request
        ("cancelling", "succeeded"),  # it finished before noticing the request
        ("failed", "queued"),  # retried by its user or an operator
        ("cancelled", "queued"),  # retried by its user or an operator
    }
)

# A job in one of these never moves again by itself (only a retry requeues it).
TERMINAL_STATUSES: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
# A job in one of these will still run, or runs: it counts in its user's turn.
ACTIVE_STATUSES: tuple[JobStatus, ...] = tuple(s for s in STATUSES if s not in TERMINAL_STATUSES)
# A job in one of these holds a worker slot, and counts against its user's and kind's caps.
RUNNING_STATUSES: tuple[JobStatus, ...] = ("running", "cancelling")
# What a user or an operator may retry: the terminal statuses that may move back to the start.
RETRYABLE_STATUSES: tuple[JobStatus, ...] = tuple(
    s for s in TERMINAL_STATUSES if (s, INITIAL) in MOVES
)


def allows(start: str, end: str) -> bool:
    """Whether a job may move from `start` to `end` (a status to itself is no move)."""
    return (start, end) in MOVES
