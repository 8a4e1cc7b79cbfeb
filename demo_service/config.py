"""demo_service's settings, read from `DEMO_*` environment variables (and the shared ones)."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The HTTP service's settings."""

    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")


class TaskSettings(BaseSettings):
    """What the demo tasks read, from the environment of the worker that runs them.

    The worker runs every service's tasks and is configured only by its environment, so these
    are read there, at each run, never passed in from the HTTP service.
    """

    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        default="production", validation_alias="PGSTACK_ENV"
    )
    # Pause before each step of a demo task but its last: 5 pauses of 0.4 s make enabling take
    # about 2 s, long enough for people to watch "enabling" (0 in tests).
    step_delay: float = Field(default=0.4, ge=0, le=10)
    # Test hook: the first N attempts of every demo task fail part-way through.
    fail_attempts: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _no_failure_hook_in_production(self) -> "TaskSettings":
        if self.fail_attempts and self.environment == "production":
            raise ValueError("DEMO_FAIL_ATTEMPTS is a test hook and is refused in production")
        return self
