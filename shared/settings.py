"""Settings every service shares; each service's `config.Settings` extends them."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every process needs: the database, the environment and logging."""

    model_config = SettingsConfigDict(extra="ignore")

    # Shared by all services, so read without the service's prefix.
    database_url: str = Field(validation_alias="DATABASE_URL")
    # LISTEN needs a session of its own: behind PgBouncer in transaction mode, point this at
    # Postgres itself (or a session-mode pool). Default: DATABASE_URL.
    database_listen_url: str | None = Field(default=None, validation_alias="DATABASE_LISTEN_URL")
    # false behind a pooler that cannot keep prepared statements (PgBouncer in transaction
    # mode before 1.21): psycopg then never prepares (prepare_threshold=None).
    db_prepared_statements: bool = Field(default=True, validation_alias="DB_PREPARED_STATEMENTS")
    environment: Literal["development", "test", "production"] = Field(
        default="production", validation_alias="PGSTACK_ENV"
    )
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    db_pool_size: int = Field(default=10, ge=1, validation_alias="DB_POOL_SIZE")
    # Passports (demo and jobs verify them; auth mints them for this audience).
    passport_audience: str = Field(default="pgstack", validation_alias="PASSPORT_AUDIENCE")
    passport_jwks_url: str = Field(
        default="http://127.0.0.1:8001/.well-known/jwks.json",
        validation_alias="PASSPORT_JWKS_URL",
    )
    # The fetched keys are fetched again once this old: a key auth_service stops publishing
    # (a rotation) stops verifying within this long.
    passport_jwks_refresh_seconds: float = Field(
        default=60, gt=0, le=3600, validation_alias="PASSPORT_JWKS_REFRESH_SECONDS"
    )
    # An inline JWKS (JSON) instead of fetching it: tests and air-gapped deploys.
    passport_jwks: str | None = Field(default=None, validation_alias="PASSPORT_JWKS")

    @model_validator(mode="after")
    def _normalise_url(self) -> "ServiceSettings":
        self.database_url = plain_database_url(self.database_url)
        if self.database_listen_url:
            self.database_listen_url = plain_database_url(self.database_listen_url)
        return self

    @property
    def listen_url(self) -> str:
        """Where LISTEN connections go: DATABASE_LISTEN_URL, else DATABASE_URL."""
        return self.database_listen_url or self.database_url


def plain_database_url(url: str) -> str:
    """Return a libpq URL (`postgresql://...`), whatever driver prefix it carries."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def sqlalchemy_url(url: str) -> str:
    """Return the URL SQLAlchemy needs to use psycopg 3."""
    return "postgresql+psycopg://" + plain_database_url(url).removeprefix("postgresql://")
