"""Tables demo_service owns: platforms and their daily metrics (and, in users, the demo state)."""

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    Text,
    UniqueConstraint,
    column,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from demo_service import states
from shared.db import Base
from shared.users import User

TIMESTAMPTZ = TIMESTAMP(timezone=True)
NOW = text("now()")


class Platform(Base):
    __tablename__ = "platforms"
    __table_args__ = (
        CheckConstraint(
            column("connection_status").in_(states.CONNECTION.states),
            name="platforms_connection_status_check",
        ),
        Index(
            "platforms_demo_kind_key",
            "user_id",
            "kind",
            unique=True,
            postgresql_where=text("is_demo"),
        ),
        Index("platforms_user_id_idx", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(User.id, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    connection_status: Mapped[str] = mapped_column(Text, server_default=text("'disconnected'"))
    connection_error: Mapped[str | None] = mapped_column(Text)
    is_demo: Mapped[bool] = mapped_column(server_default=text("false"))
    # The current connect or disconnect job, as users.demo_job_id is the demo's.
    connection_job_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)


class DailyMetric(Base):
    __tablename__ = "daily_metrics"
    __table_args__ = (UniqueConstraint("platform_id", "day"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("platforms.id", ondelete="CASCADE")
    )
    day: Mapped[dt.date] = mapped_column(Date)
    impressions: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    clicks: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    spend: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default=text("0"))
    conversions: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
