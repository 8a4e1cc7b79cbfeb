"""The three services: each one's app factory (for uvicorn) and default port."""

SERVICES = {
    "auth": ("auth_service.app:create_app", 8001),
    "demo": ("demo_service.app:create_app", 8002),
    "jobs": ("job_service.app:create_app", 8003),
}
