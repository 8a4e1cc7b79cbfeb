"""`users`: identity columns written by auth_service, the demo state by demo_service."""

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Index, Text, text
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

TIMESTAMPTZ = TIMESTAMP(timezone=True)
NOW = text("now()")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "demo_mode_status IN ('disabled', 'enabling', 'enabled', 'disabling', 'failed')",
            name="users_demo_mode_status_check",
        ),
        Index("users_email_lower_key", text("lower(email)"), unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(Text, unique=True)
    hashed_password: Mapped[str] = mapped_column(Text)
    full_name: Mapped[str] = mapped_column(Text, server_default=text("''"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    # Written by demo_service only; mapped here so the table has one full definition.
    demo_mode_status: Mapped[str] = mapped_column(Text, server_default=text("'disabled'"))
    demo_job_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    demo_error: Mapped[str | None] = mapped_column(Text)
