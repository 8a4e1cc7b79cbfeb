"""`pgstack worker`: one Procrastinate worker running every service's tasks."""

import asyncio
import logging

from pydantic import Field

import auth_service.tasks
import demo_service.tasks
import job_service.tasks
from shared import queue
from shared.logging import configure_logging
from shared.settings import ServiceSettings

# Importing the task modules registers their blueprints on the shared app.
TASK_MODULES = (auth_service.tasks, demo_service.tasks, job_service.tasks)

logger = logging.getLogger(__name__)


class WorkerSettings(ServiceSettings):
    concurrency: int = Field(default=10, ge=1, validation_alias="WORKER_CONCURRENCY")
    # SIGTERM stops fetching; running jobs get this long to finish before they are cancelled.
    shutdown_grace_seconds: float = Field(default=30, validation_alias="WORKER_SHUTDOWN_GRACE")


async def run_worker(settings: WorkerSettings) -> None:
    async with queue.opened(settings.database_url, max_size=settings.concurrency + 2) as app:
        logger.info("worker starting", extra={"concurrency": settings.concurrency})
        await app.run_worker_async(
            concurrency=settings.concurrency,
            shutdown_graceful_timeout=settings.shutdown_grace_seconds,
            install_signal_handlers=True,
        )


def main(settings: WorkerSettings) -> None:
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings))
