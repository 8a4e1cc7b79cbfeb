"""Request and response bodies of auth_service."""

import datetime as dt
import uuid
from typing import Literal

import ua_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from auth_service import emails, passwords
from shared.validation import PlainText

# RFC 5321 caps a path at 254 characters; anything longer is not an address.
_EMAIL_MAX = 254
# No composition rules; never truncated, and capped so hashing stays cheap.
_PASSWORD_MIN, _PASSWORD_MAX = 8, 1024


def _new_password(password: str, email: str | None = None) -> str:
    reason = passwords.weakness(password, email=email)
    if reason is not None:
        raise ValueError(reason)
    return password


class UserCreate(BaseModel):
    email: PlainText = Field(max_length=_EMAIL_MAX, examples=["ada@example.com"])
    password: str = Field(min_length=_PASSWORD_MIN, max_length=_PASSWORD_MAX)
    full_name: PlainText = Field(default="", max_length=200)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return emails.validate(value)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str, info: ValidationInfo) -> str:
        return _new_password(value, info.data.get("email"))


class RegistrationRead(BaseModel):
    """The same answer whether the email was free or taken: registering must not tell."""

    email: str
    detail: str = "If this email had no account, it has one now: log in with POST /v1/session."


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=_PASSWORD_MAX)
    new_password: str = Field(min_length=_PASSWORD_MIN, max_length=_PASSWORD_MAX)

    @field_validator("new_password")
    @classmethod
    def _password(cls, value: str) -> str:
        return _new_password(value)


class LoginRequest(BaseModel):
    email: PlainText = Field(max_length=_EMAIL_MAX)
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
    # "operator" for those who may use the ops API (also in the passport's `roles`).
    roles: list[str] = Field(default_factory=list)


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
