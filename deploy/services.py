"""The three services: each one's app factory (for uvicorn) and default port, and the garbage
collector's settings in a serving process.

CPython's cyclic collector stops the event loop while it runs, and a full collection walks every
object the process holds: the hundreds of thousands that imports and the app's construction
made, which live as long as the process. With 1,000 SSE streams that was a pause of 170-200 ms
every ~12,000 events (issue 19). So once the app is built, what exists is moved out of the
collector's sight (`gc.freeze()`: a full collection then walks only what came later), and the
youngest generation is collected less often (each collection of it is a pause too; a request
makes a few hundred objects). bench/fanout.py measures both (`--gc-default` for CPython's).
"""

import gc

from fastapi import FastAPI

SERVICES = {
    "auth": ("deploy.services:create_auth", 8001),
    "demo": ("deploy.services:create_demo", 8002),
    "jobs": ("deploy.services:create_jobs", 8003),
}

# CPython's are (700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 20)


def create_auth() -> FastAPI:
    from auth_service.app import create_app

    return _frozen(create_app())


def create_demo() -> FastAPI:
    from demo_service.app import create_app

    return _frozen(create_app())


def create_jobs() -> FastAPI:
    # With every service's tasks registered: job_service enqueues and retries them all.
    from deploy.tasks import create_job_service

    return _frozen(create_job_service())


def _frozen(app: FastAPI) -> FastAPI:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return app
