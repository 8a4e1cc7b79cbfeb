"""auth_service's settings, read from `AUTH_*` environment variables (and the shared ones).

Every lifetime and limit here is documented in the README's settings table; the defaults are
the product's policy (idle 7 days, absolute 30 days, 10 failures before back-off).
"""

import datetime as dt
import ipaddress
import json
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from auth_service.service_tokens import ServiceClient
from shared.settings import ServiceSettings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _seconds(value: Any) -> Any:
    """Durations from the environment: plain seconds (`3600`) or ISO 8601 (`P7D`)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


Duration = Annotated[dt.timedelta, BeforeValidator(_seconds)]

# Words that mark a value copied from an example rather than generated for this deployment.
_PLACEHOLDERS = ("placeholder", "changeme", "change-me", "example", "replace")


def _list_from_env(value: Any) -> Any:
    """A list given either as JSON (`["a", "b"]`) or comma-separated (`a,b`)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


class SessionLifetimes(BaseSettings):
    """How long sessions live; shared by the API and the purge task (which has no keys)."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    # A session unused this long is over (AUTH_SESSION_IDLE_TIMEOUT, seconds or ISO 8601).
    session_idle_timeout: Duration = dt.timedelta(days=7)
    # A session is over this long after its login, used or not.
    session_absolute_timeout: Duration = dt.timedelta(days=30)
    # last_seen_at is written at most this often, so validating a session is a read.
    last_seen_interval: Duration = dt.timedelta(hours=1)


class Settings(ServiceSettings, SessionLifetimes):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    # Session rows are kept in memory between revocations (signalled by NOTIFY) at most this
    # long, bounding changes made without a notification; 0 turns the cache off.
    session_cache_ttl: Duration = dt.timedelta(seconds=60)
    # Revoking other sessions needs a password login this recent.
    recent_login: Duration = dt.timedelta(hours=1)

    # false: cookie `session` without Secure, for http://localhost; refused in production.
    cookie_secure: bool = True
    # Accept `Authorization: Bearer <session token>` from the old client (counted in a metric),
    # and let such tokens be exchanged for cookie sessions.
    legacy_bearer: bool = True
    # Mint new bearer sessions (`transport: bearer` logins); off: the old client's existing
    # tokens still work (while legacy_bearer is on) but no new ones are made.
    bearer_logins: bool = False
    # Origins allowed to make cookie-authenticated unsafe requests besides same-origin ones.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Private Ed25519 keys signing passports: a JSON list of PEM strings or JWKs. The first
    # signs; all are published, so a retired key keeps verifying until its passports expire.
    passport_private_keys: Annotated[list[str | dict[str, Any]], NoDecode] = Field(
        default_factory=list
    )
    passport_ttl: Duration = Field(
        default=dt.timedelta(seconds=60), gt=dt.timedelta(0), le=dt.timedelta(seconds=60)
    )

    # Throttling: failures per account and per client address within the window; past the
    # limit each further failure doubles the wait, from backoff_base up to backoff_max.
    login_failure_window: Duration = dt.timedelta(minutes=15)
    login_failures_per_account: int = Field(default=10, ge=1)
    login_failures_per_ip: int = Field(default=10, ge=1)
    # Attempts from one address whose passwords are still being checked: counted apart from
    # failures (an office's people logging in at once are not guesses), and past this many a
    # 429 for a second.
    login_in_flight_per_ip: int = Field(default=50, ge=1)
    login_backoff_base: Duration = dt.timedelta(seconds=30)
    login_backoff_max: Duration = dt.timedelta(minutes=15)

    # Registrations accepted per client address, and from everyone together, per window.
    registration_window: Duration = Field(default=dt.timedelta(hours=1), gt=dt.timedelta(0))
    registrations_per_ip: int = Field(default=20, ge=1)
    registrations_total: int = Field(default=1000, ge=1)

    # Live sessions a user may hold; a login past it revokes the oldest.
    max_sessions: int = Field(default=50, ge=1)

    # Proxies (addresses or networks) whose client-address header is believed: none by
    # default, so behind no proxy the socket's peer is the client, whatever it claims.
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    client_ip_header: str = "x-forwarded-for"

    # Internal callers that may get service passports (POST /v1/service-token): a JSON list of
    # {"client_id", "secret_sha256", "scopes"}; the same client_id twice while rotating its
    # secret. `python -m auth_service.service_tokens` makes a secret and its digest.
    service_clients: list[ServiceClient] = Field(default_factory=list)

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _list_from_env(value)

    @field_validator("passport_private_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return []
            # One bare PEM is accepted as a list of one.
            return json.loads(text) if text.startswith("[") else [text]
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _normalise_origins(cls, value: list[str]) -> list[str]:
        return [origin.lower().rstrip("/") for origin in value]

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.environment != "production":
            return self
        if not self.cookie_secure:
            raise ValueError("AUTH_COOKIE_SECURE=false is for plain-http development only")
        if not self.passport_private_keys:
            raise ValueError("AUTH_PASSPORT_PRIVATE_KEYS is required in production")
        for key in self.passport_private_keys:
            if any(word in json.dumps(key).lower() for word in _PLACEHOLDERS):
                raise ValueError("AUTH_PASSPORT_PRIVATE_KEYS holds a placeholder key")
        return self

    @property
    def cookie_name(self) -> str:
        # `__Host-` makes the browser insist on Secure, Path=/ and no Domain.
        return "__Host-session" if self.cookie_secure else "session"
