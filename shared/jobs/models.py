"""`background_jobs`, the user-facing record of every job, and `job_event_watchers`.

A row's status is kept by the database (triggers on Procrastinate's events, migration 0004),
along the lifecycle of shared/jobs/lifecycle.py (its statuses and moves, enforced by the CHECK
and migration 0013's trigger): whoever enqueues writes the row, the worker writes only its
progress, result and error.
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base
from shared.jobs.lifecycle import ACTIVE_STATUSES, INITIAL, RUNNING_STATUSES, STATUSES
from shared.users import User

TIMESTAMPTZ = TIMESTAMP(timezone=True)
NOW = text("now()")

WATCH_LOCK = 7001  # the advisory lock class of watcher registrations (see migration 0004)


def _listed(statuses: tuple[str, ...]) -> str:
    """Statuses as SQL literals, for the CHECK and the partial indexes' predicates."""
    return ", ".join(f"'{status}'" for status in statuses)


class BackgroundJob(Base):
    __tablename__ = "background_jobs"
    __table_args__ = (
        CheckConstraint(
            f"status IN ({_listed(STATUSES)})",
            name="background_jobs_status_check",
        ),
        CheckConstraint(
            "progress_percent BETWEEN 0 AND 100", name="background_jobs_progress_check"
        ),
        # NULLS NOT DISTINCT: a key is unique among jobs without a user too (migration 0008).
        Index(
            "background_jobs_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_nulls_not_distinct=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("background_jobs_user_created_idx", "user_id", text("created_at DESC")),
        Index(
            "background_jobs_active_idx",
            "user_id",
            postgresql_where=text(f"status IN ({_listed(ACTIVE_STATUSES)})"),
        ),
        Index(
            "background_jobs_running_user_idx",
            "user_id",
            postgresql_where=text(f"status IN ({_listed(RUNNING_STATUSES)})"),
        ),
        # Jobs finished since a time: job_service's metrics reading (0011).
        Index("background_jobs_finished_idx", "finished_at"),
        CheckConstraint("max_active_per_user > 0", name="background_jobs_max_active_check"),
        CheckConstraint("max_active_per_kind > 0", name="background_jobs_max_active_kind_check"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID, primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey(User.id, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    procrastinate_job_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(Text, server_default=text(f"'{INITIAL}'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    progress_percent: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    progress_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any | None] = mapped_column(JSONB)
    error_type: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    # The W3C traceparent of the request that enqueued it (shared/tracing.py), or None.
    traceparent: Mapped[str | None] = mapped_column(Text)
    # The task's steps in order (shared/jobs/steps.py); a change is user-visible (0009).
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'"))
    # JOBS_MAX_ACTIVE_PER_USER when it was enqueued (shared/jobs/fairness.py); None: no cap.
    max_active_per_user: Mapped[int | None] = mapped_column()
    # JOBS_MAX_ACTIVE_PER_KIND's cap for its kind when it was enqueued (0012); None: none.
    max_active_per_kind: Mapped[int | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    started_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMPTZ)
    finished_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMPTZ)


class JobEventWatcher(Base):
    """A process streaming `user_id`'s job changes (0: everyone's) until `expires_at`: only
    watched changes are announced on `job_events` (migration 0004)."""

    __tablename__ = "job_event_watchers"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    watcher: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ)


class JobEvent(Base):
    """One user-visible change of a job (status, progress, a step), written by the job's own
    trigger in the same transaction (migration 0010); `job_offset` is the job's version after
    the change, so a job stream's SSE ids are dense and a resume replays exactly what it missed."""

    __tablename__ = "job_events"
    __table_args__ = (
        CheckConstraint("kind IN ('status', 'progress', 'step')", name="job_events_kind_check"),
        UniqueConstraint("job_id", "job_offset", name="job_events_job_offset_key"),
        Index("job_events_user_at_idx", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(UUID)
    job_offset: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=text("clock_timestamp()"))
    kind: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
