"""Job metrics for `/metrics`, read from the database every `metrics_refresh_seconds`.

Prometheus collects synchronously; a blocking query there would stall the event loop, so a
task of the app's lifespan reads the numbers and the collector serves the latest reading.
"""

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.config import Settings
from shared import db, sql
from shared.health import NotReady, ReadinessCheck

logger = logging.getLogger(__name__)

QUERIES = sql.load(__file__)
# The queries of a reading, each a list of rows for `collect`.
READINGS = ("by_status", "queues", "durations")


class JobCollector(Collector):
    def __init__(self) -> None:
        self.reading: dict[str, list[Any]] = {name: [] for name in READINGS}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "pgstack_jobs", "Jobs in background_jobs by kind and status.", labels=["kind", "status"]
        )
        for kind, status, count in self.reading["by_status"]:
            jobs.add_metric([kind, status], count)
        depth = GaugeMetricFamily(
            "pgstack_job_queue_depth", "Jobs due and waiting for a worker.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "pgstack_job_oldest_waiting_seconds",
            "How long the oldest waiting job has waited.",
            labels=["queue"],
        )
        for queue, count, oldest in self.reading["queues"]:
            depth.add_metric([queue], count)
            age.add_metric([queue], float(oldest))
        durations = GaugeMetricFamily(
            "pgstack_job_run_seconds",
            "Run time of jobs finished in the last 15 minutes, by kind and quantile.",
            labels=["kind", "quantile"],
        )
        for kind, _count, p50, p95, longest in self.reading["durations"]:
            durations.add_metric([kind, "0.5"], float(p50))
            durations.add_metric([kind, "0.95"], float(p95))
            durations.add_metric([kind, "1"], float(longest))
        yield from (jobs, depth, age, durations)

    async def refresh(self, engine: AsyncEngine) -> None:
        reading = {}
        async with engine.connect() as conn:
            for name in READINGS:
                cursor = await db.execute(conn, QUERIES[name])
                reading[name] = [tuple(row.values()) for row in await cursor.fetchall()]
        self.reading = reading

    async def refresh_forever(self, engine: AsyncEngine, every: float) -> None:
        while True:
            try:
                await self.refresh(engine)
            except Exception as exc:  # a database outage: keep the last reading
                logger.warning("job metrics not refreshed: %s", exc.__class__.__name__)
            await asyncio.sleep(every)


# One per process, registered once: the registry is global, apps may be many (tests).
collector = JobCollector()
REGISTRY.register(collector)


def worker_readiness(settings: Settings) -> ReadinessCheck:
    """Readiness: some worker's heartbeat is fresh (JOBS_WORKER_HEARTBEAT_FRESH_SECONDS),
    unless JOBS_READY_WITHOUT_WORKERS."""

    async def check(engine: AsyncEngine) -> dict[str, Any]:
        report = await worker_heartbeat(engine)
        age = report["worker_heartbeat_age_seconds"]
        fresh = settings.worker_heartbeat_fresh_seconds
        if not settings.ready_without_workers and (age is None or age > fresh):
            raise NotReady(f"no worker heartbeat in the last {fresh:g} s")
        return report

    return check


async def worker_heartbeat(engine: AsyncEngine) -> dict[str, Any]:
    """Readiness detail: how many workers are registered and the freshest heartbeat's age."""
    async with engine.connect() as conn:
        cursor = await db.execute(conn, QUERIES["worker_heartbeat"])
        row = await cursor.fetchone()
    assert row is not None  # an aggregate: always one row
    count, age = row["workers"], row["age"]
    return {
        "workers": count,
        "worker_heartbeat_age_seconds": None if age is None else round(float(age), 3),
    }
