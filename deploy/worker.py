"""`pgstack worker`: one Procrastinate worker running every service's tasks.

SIGTERM (or SIGINT) stops fetching; running jobs get `WORKER_SHUTDOWN_GRACE` seconds to
finish, then are aborted (and retried if their task says so); the process exits 0. The worker
also schedules the recovery of stalled jobs and the pruning of old ones (job_service/tasks.py).
"""

import asyncio
import importlib
import logging
from typing import Any

from procrastinate.app import WorkerOptions
from procrastinate.periodic import PeriodicTask
from pydantic import Field

import auth_service.tasks
import demo_service.tasks
import job_service.tasks
from deploy import worker_health
from shared import connections, db, jobs, queue
from shared.logging import configure_logging
from shared.settings import ServiceSettings

# Importing the task modules registers their blueprints on the shared app.
TASK_MODULES = (auth_service.tasks, demo_service.tasks, job_service.tasks)

logger = logging.getLogger(__name__)


class WorkerSettings(ServiceSettings):
    concurrency: int = Field(default=10, ge=1, validation_alias="WORKER_CONCURRENCY")
    # SIGTERM stops fetching; running jobs get this long to finish before they are cancelled.
    shutdown_grace_seconds: float = Field(default=30, validation_alias="WORKER_SHUTDOWN_GRACE")
    # A task without a timeout of its own fails with TimeoutError after this long.
    task_timeout_seconds: float = Field(default=600, gt=0, validation_alias="WORKER_TASK_TIMEOUT")
    heartbeat_seconds: float = Field(default=10, gt=0, validation_alias="WORKER_HEARTBEAT")
    # A worker silent this long is dead: its running jobs are retried by `jobs:recover_stalled`.
    stalled_worker_seconds: float = Field(default=30, gt=0, validation_alias="WORKER_STALLED_AFTER")
    # A job whose worker died this many times (attempts included) fails instead.
    max_recoveries: int = Field(default=3, ge=1, validation_alias="WORKER_MAX_RECOVERIES")
    # Crons with an optional 6th column for seconds.
    recover_cron: str = Field(default="* * * * * */10", validation_alias="WORKER_RECOVER_CRON")
    prune_cron: str = Field(default="17 * * * *", validation_alias="WORKER_PRUNE_CRON")
    prune_queue_hours: int = Field(default=24, ge=1, validation_alias="WORKER_PRUNE_QUEUE_HOURS")
    prune_jobs_days: int = Field(default=30, ge=1, validation_alias="WORKER_PRUNE_JOBS_DAYS")
    # New jobs arrive by NOTIFY; polling only covers a lost notification or a scheduled job.
    poll_seconds: float = Field(default=2, gt=0, validation_alias="WORKER_POLL_SECONDS")
    # The queues this worker takes jobs from, comma-separated; empty: every queue.
    queues: str = Field(default="", validation_alias="WORKER_QUEUES")
    # Extra modules whose blueprints to run, comma-separated (tests' and plugins' tasks).
    import_paths: str = Field(default="", validation_alias="WORKER_IMPORT_PATHS")
    # /healthz and /readyz for Kubernetes' probes on this port (deploy/worker_health.py); 0: off.
    health_port: int = Field(default=0, ge=0, validation_alias="WORKER_HEALTH_PORT")
    health_host: str = Field(default="127.0.0.1", validation_alias="WORKER_HEALTH_HOST")


def schedule_periodic(settings: WorkerSettings) -> None:
    """(Re)register the periodic tasks with the crons of these settings."""
    registry = queue.app.periodic_registry
    for name, cron in (
        ("jobs:recover_stalled", settings.recover_cron),
        ("jobs:prune", settings.prune_cron),
    ):
        task = queue.app.tasks[name]
        registry.periodic_tasks[(name, "")] = PeriodicTask(
            task=task, cron=cron, periodic_id="", configure_kwargs={}
        )


async def run_worker(settings: WorkerSettings, *, install_signal_handlers: bool = True) -> None:
    for module in filter(None, (p.strip() for p in settings.import_paths.split(","))):
        importlib.import_module(module)
    schedule_periodic(settings)
    engine = db.create_engine(settings)
    await connections.check_headroom(
        engine,
        "worker",
        connections.budget(
            "worker", pool_size=settings.db_pool_size, concurrency=settings.concurrency
        ),
    )
    context: dict[str, Any] = {
        "sessionmaker": db.create_sessionmaker(engine),
        "stalled_worker_seconds": settings.stalled_worker_seconds,
        "max_recoveries": settings.max_recoveries,
        "prune_queue_hours": settings.prune_queue_hours,
        "prune_jobs_days": settings.prune_jobs_days,
    }
    options: WorkerOptions = {
        "concurrency": settings.concurrency,
        "shutdown_graceful_timeout": settings.shutdown_grace_seconds,
        "install_signal_handlers": install_signal_handlers,
        "update_heartbeat_interval": settings.heartbeat_seconds,
        "stalled_worker_timeout": settings.stalled_worker_seconds,
        "fetch_job_polling_interval": settings.poll_seconds,
        "abort_job_polling_interval": settings.poll_seconds,
        "additional_context": context,
        "worker_middleware": [jobs.job_middleware(settings.task_timeout_seconds)],
    }
    if queues := [q.strip() for q in settings.queues.split(",") if q.strip()]:
        options["queues"] = queues
    try:
        # Procrastinate LISTENs on a connection made from its pool's URL, so the queue's pool
        # goes where LISTEN may go; the tasks' sessions (the engine) use DATABASE_URL.
        async with queue.opened(settings.listen_url, max_size=settings.concurrency + 2) as app:
            logger.info("worker starting", extra={"concurrency": settings.concurrency})
            async with worker_health.serving(settings.health_host, settings.health_port, app):
                await app.run_worker_async(**options)
    finally:
        await engine.dispose()


def main(settings: WorkerSettings) -> None:
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings))
