"""Builds demo_service's FastAPI application."""

from fastapi import FastAPI

from demo_service import api
from demo_service.config import Settings
from shared.service_app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        name="demo",
        title="pgstack demo_service",
        settings=settings or Settings(),  # from the environment
        routers=[api.router],
        verify_passports=True,
    )
