"""Tables auth_service owns: sessions, login failures, registration attempts and roles
(`users` is in `shared.users`)."""

import datetime as dt
import uuid
from ipaddress import IPv4Address, IPv6Address

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import INET, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base
from shared.users import User

TIMESTAMPTZ = TIMESTAMP(timezone=True)
NOW = text("now()")


class UserSession(Base):
    __tablename__ = "user_sessions"
    __table_args__ = (
        CheckConstraint(
            "auth_method IN ('password', 'exchange')", name="user_sessions_auth_method_check"
        ),
        CheckConstraint("transport IN ('cookie', 'bearer')", name="user_sessions_transport_check"),
        Index(
            "user_sessions_revoked_at_idx",
            "revoked_at",
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
        Index("user_sessions_user_id_idx", "user_id"),
        Index("user_sessions_absolute_expires_at_idx", "absolute_expires_at"),
        Index("user_sessions_last_seen_at_idx", "last_seen_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID, primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(User.id, ondelete="CASCADE"))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    auth_method: Mapped[str] = mapped_column(Text)
    transport: Mapped[str] = mapped_column(Text, server_default=text("'cookie'"))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    last_seen_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    absolute_expires_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMPTZ)
    user_agent: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[IPv4Address | IPv6Address | None] = mapped_column(INET)


class LoginFailure(Base):
    __tablename__ = "login_failures"
    __table_args__ = (
        Index("login_failures_email_idx", "email", "failed_at"),
        Index("login_failures_ip_idx", "ip", "failed_at"),
        Index("login_failures_failed_at_idx", "failed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(Text)
    ip: Mapped[IPv4Address | IPv6Address | None] = mapped_column(INET)
    failed_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
    # An attempt whose password is still being checked (migration 0014).
    pending: Mapped[bool] = mapped_column(server_default=text("false"))


class RegistrationAttempt(Base):
    __tablename__ = "registration_attempts"
    __table_args__ = (
        Index("registration_attempts_ip_idx", "ip", "attempted_at"),
        Index("registration_attempts_attempted_at_idx", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ip: Mapped[IPv4Address | IPv6Address | None] = mapped_column(INET)
    attempted_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint("role IN ('operator')", name="user_roles_role_check"),)

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(User.id, ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(Text, primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(TIMESTAMPTZ, server_default=NOW)
