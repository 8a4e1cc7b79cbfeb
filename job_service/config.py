"""job_service's settings, read from `JOBS_*` environment variables (and the shared ones)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JOBS_", extra="ignore")

    # A comment line this often keeps idle SSE streams open through proxies.
    sse_heartbeat_seconds: float = Field(default=15, gt=0)
    # Open streams (job, `/v1/events`, `/v1/ops/events`) one user may hold on one process;
    # beyond, a 429 (job_service/access.py).
    max_streams_per_user: int = Field(default=20, ge=1)
    # `/v1/events` resumes from the jobs changed this long before its cursor: longer than any
    # transaction that writes `background_jobs` can last (see job_service/streams.py).
    sse_resume_slack_seconds: float = Field(default=10, gt=0)
    # How long the job event log keeps a change (`jobs:prune` deletes older ones): a stream
    # resumes exactly within it, and gets `missed` and the current state after it. The worker
    # reads the same variable, JOBS_EVENTS_RETENTION_HOURS.
    events_retention_hours: float = Field(default=24, gt=0)
    # A process streaming a user's jobs registers as their watcher for this long, renewed
    # every third of it (only watched job changes are announced: see migration 0004).
    sse_watch_seconds: float = Field(default=60, gt=0)
    # Job metrics (by kind and status, queue depth, ages, durations) are read this often.
    metrics_refresh_seconds: float = Field(default=15, gt=0)
    # /readyz is 503 while no worker's heartbeat is this recent (jobs would only pile up),
    # unless JOBS_READY_WITHOUT_WORKERS=true (workers deployed apart, started later).
    ready_without_workers: bool = False
    worker_heartbeat_fresh_seconds: float = Field(default=10, gt=0)
    # The ops API and `pgstack status` call a job stuck once it has run this long (the
    # workers' WORKER_TASK_TIMEOUT: a task past it should have failed with TimeoutError).
    stuck_after_seconds: float = Field(default=600, gt=0)
