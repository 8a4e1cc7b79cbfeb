"""Prometheus metrics: request durations per route template and status class, at `/metrics`.

Labels stay few and bounded (Prometheus keeps a series per combination): the route's template
(`/v1/jobs/{job_id}`, never the raw path), the method, and the status class (`2xx`, `5xx`).
Counts are the histogram's `_count`; the 5xx rate alert divides two of them.
"""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest

REQUEST_DURATION = Histogram(
    "pgstack_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status class.",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class RequestDurations:
    """The request duration series of one service (shared/service_app.py times each request),
    each series looked up once: `labels()` costs a lock and a tuple per call."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._series: dict[tuple[str, str, int], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # An unknown method would be a label per attacker's whim: those are "other".
        method = method if method in _METHODS else "other"
        key = (method, route, status // 100)
        series = self._series.get(key)
        if series is None:
            series = REQUEST_DURATION.labels(self.service, method, route, f"{status // 100}xx")
            self._series[key] = series
        series.observe(seconds)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
