"""job_service's settings, read from `JOBS_*` environment variables (and the shared ones)."""

import secrets

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JOBS_", extra="ignore")

    # Shared secrets of internal callers of `POST /internal/v1/jobs`, comma-separated: add the
    # new one, move callers over, drop the old one. Stands in for service passports for now.
    internal_tokens: str = ""
    # A comment line this often keeps idle SSE streams open through proxies.
    sse_heartbeat_seconds: float = Field(default=15, gt=0)
    # `/v1/events` resumes from the jobs changed this long before its cursor: longer than any
    # transaction that writes `background_jobs` can last (see job_service/streams.py).
    sse_resume_slack_seconds: float = Field(default=10, gt=0)
    # A process streaming a user's jobs registers as their watcher for this long, renewed
    # every third of it (only watched job changes are announced: see migration 0004).
    sse_watch_seconds: float = Field(default=60, gt=0)
    # Job metrics (by kind and status, queue depth, ages, durations) are read this often.
    metrics_refresh_seconds: float = Field(default=15, gt=0)

    @property
    def internal_token_list(self) -> list[str]:
        return [token.strip() for token in self.internal_tokens.split(",") if token.strip()]

    @model_validator(mode="after")
    def _refuse_weak_tokens(self) -> "Settings":
        if self.environment != "development" and any(
            len(token) < 32 for token in self.internal_token_list
        ):
            raise ValueError(
                "JOBS_INTERNAL_TOKENS: each token needs at least 32 characters, e.g. "
                + secrets.token_urlsafe(32)
            )
        return self
