"""The three services: each one's app factory (for uvicorn) and default port."""

SERVICES = {
    "auth": ("auth_service.app:create_app", 8001),
    "demo": ("demo_service.app:create_app", 8002),
    # With every service's tasks registered: job_service enqueues and retries them all.
    "jobs": ("deploy.tasks:create_job_service", 8003),
}
