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
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

QUERIES = {
    "by_status": "SELECT kind, status, count(*) FROM background_jobs GROUP BY kind, status",
    # Waiting jobs (due now) per queue, and how long the oldest has waited.
    "queues": """
        SELECT j.queue_name, count(*),
               coalesce(extract(epoch FROM now() - min(coalesce(j.scheduled_at, e.at))), 0)
        FROM procrastinate_jobs j
        LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
        WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
        GROUP BY j.queue_name
    """,
    # Run time of the jobs finished in the last 15 minutes.
    "durations": """
        SELECT kind, count(*),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY d),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY d),
               max(d)
        FROM (SELECT kind, extract(epoch FROM finished_at - started_at) AS d
              FROM background_jobs
              WHERE finished_at > now() - interval '15 minutes' AND started_at IS NOT NULL) f
        GROUP BY kind
    """,
}


class JobCollector(Collector):
    def __init__(self) -> None:
        self.reading: dict[str, list[Any]] = {name: [] for name in QUERIES}

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
        async with engine.connect() as conn:
            self.reading = {
                name: [tuple(row) for row in await conn.execute(text(query))]
                for name, query in QUERIES.items()
            }

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


async def worker_heartbeat(engine: AsyncEngine) -> dict[str, Any]:
    """Readiness detail: how many workers are registered and the freshest heartbeat's age."""
    async with engine.connect() as conn:
        count, age = (
            await conn.execute(
                text(
                    "SELECT count(*), extract(epoch FROM now() - max(last_heartbeat))"
                    " FROM procrastinate_workers"
                )
            )
        ).one()
    return {
        "workers": count,
        "worker_heartbeat_age_seconds": None if age is None else round(float(age), 3),
    }
