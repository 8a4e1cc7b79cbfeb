"""Every service's tasks on the one Procrastinate app (`shared.queue`).

Importing a service's `tasks` module registers its blueprint. The worker runs every task, and
job_service enqueues and retries any of them by kind (with its queue, lock and retry policy),
so its server registers them all too. They are listed here, where the services are put
together, because a service never imports another.
"""

from fastapi import FastAPI

import auth_service.tasks
import demo_service.tasks
import job_service.app
import job_service.tasks

MODULES = (auth_service.tasks, demo_service.tasks, job_service.tasks)


def create_job_service() -> FastAPI:
    """job_service's app with every service's kinds registered (`pgstack serve jobs`)."""
    return job_service.app.create_app()
