"""job_service's settings, read from `JOBS_*` environment variables (and the shared ones)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JOBS_", extra="ignore")
