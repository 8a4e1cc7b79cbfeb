"""Request and response bodies of auth_service."""

import datetime as dt
import uuid
from typing import Literal

import ua_parser
from pydantic import BaseModel, ConfigDict, Field, field_validator

from auth_service.service import normalise_email

# RFC 5321 caps a path at 254 characters; anything longer is not an address.
_EMAIL_MAX = 254


class UserCreate(BaseModel):
    email: str = Field(max_length=_EMAIL_MAX, examples=["ada@example.com"])
    # No composition rules; never truncated, and capped so hashing stays cheap.
    password: str = Field(min_length=8, max_length=1024)
    full_name: str = Field(default="", max_length=200)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        email = normalise_email(value)
        local, at, domain = email.rpartition("@")
        if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in email):
            raise ValueError("not an email address")
        return email


class LoginRequest(BaseModel):
    email: str = Field(max_length=_EMAIL_MAX)
    # Legacy passwords may be shorter than today's minimum, so only the cap applies here.
    password: str = Field(min_length=1, max_length=1024)
    # "bearer" is the old client's way (token in the body, no cookie); only while
    # AUTH_LEGACY_BEARER is on.
    transport: Literal["cookie", "bearer"] = "cookie"


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str


class SessionInfo(BaseModel):
    id: uuid.UUID
    auth_method: Literal["password", "exchange"]
    transport: Literal["cookie", "bearer"]
    presented_by: Literal["cookie", "bearer"]
    created_at: dt.datetime
    last_seen_at: dt.datetime
    idle_expires_at: dt.datetime
    absolute_expires_at: dt.datetime


class PassportRead(BaseModel):
    # An EdDSA JWT for `Authorization: Bearer` on demo_service and job_service.
    token: str
    expires_at: dt.datetime


class SessionRead(BaseModel):
    user: UserRead
    session: SessionInfo
    passport: PassportRead
    # Only for a legacy bearer login: the session token the old client stores.
    token: str | None = None


class DeviceRead(BaseModel):
    id: uuid.UUID
    device: str
    user_agent: str | None
    ip: str | None
    auth_method: Literal["password", "exchange"]
    created_at: dt.datetime
    last_seen_at: dt.datetime
    current: bool


class RevokedRead(BaseModel):
    revoked: int


def describe_device(user_agent: str | None) -> str:
    """ "Firefox on Linux"-style names for the session list (ua-parser's rules)."""
    if not user_agent:
        return "Unknown device"
    parsed = ua_parser.parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else None
    system = parsed.os.family if parsed.os else None
    if browser and system and system != "Other":
        return f"{browser} on {system}"
    return browser or system or "Unknown device"
