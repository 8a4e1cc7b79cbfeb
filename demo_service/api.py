"""demo_service's HTTP routes: parse, call the service layer, render a schema."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
