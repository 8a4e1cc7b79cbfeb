"""Every service's tasks on the one Procrastinate app (`shared.queue`).

Importing a service's `tasks` module registers its blueprint. The worker runs every task, and
job_service enqueues and retries any of them by kind (with its queue, lock and retry policy),
so its server registers them all too. They are listed here, where the services are put
together, because a service never imports another.
"""

import importlib
import os

from fastapi import FastAPI

import auth_service.tasks
import demo_service.tasks
import job_service.app
import job_service.tasks

MODULES = (auth_service.tasks, demo_service.tasks, job_service.tasks)


def import_worker_modules(paths: str | None = None) -> None:
    """Register the extra task modules of `paths`, comma-separated (plugins', tests'); default
    WORKER_IMPORT_PATHS. The worker runs them; job_service and `pgstack jobs retry` enqueue a
    job again by its kind, so they need them registered too."""
    if paths is None:
        paths = os.environ.get("WORKER_IMPORT_PATHS", "")
    for module in filter(None, (p.strip() for p in paths.split(","))):
        importlib.import_module(module)


def create_job_service() -> FastAPI:
    """job_service's app with every service's kinds registered, and WORKER_IMPORT_PATHS'
    (`pgstack serve jobs`): its ops API retries any job the workers ran."""
    import_worker_modules()
    return job_service.app.create_app()
