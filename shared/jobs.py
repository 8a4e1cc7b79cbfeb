"""`background_jobs`, the user-facing record of every job, and enqueueing inside a transaction."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

TIMESTAMPTZ = TIMESTAMP(timezone=True)
NOW = text("now()")

ACTIVE_STATUSES = ("queued", "running", "cancelling")


class BackgroundJob(Base):
    __tablename__ = "background_jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelling', 'cancelled')",
            name="background_jobs_status_check",
        ),
        CheckConstraint(
            "progress_percent BETWEEN 0 AND 100", name="background_jobs_progress_check"
        ),
        UniqueConstraint("user_id", "idempotency_key", name="background_jobs_idempotency_key"),
        Index("background_jobs_user_created_idx", "user_id", text("created_at DESC")),
        Index(
            "background_jobs_active_idx",
            "user_id",
            postgresql_where=text("status IN ('queued', 'running', 'cancelling')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID, primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(Text)
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    procrastinate_job_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(Text, server_default=text("'queued'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    progress_percent: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    progress_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any | None] = mapped_column(JSONB)
    error_type: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    started_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMPTZ)
    finished_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMPTZ)
