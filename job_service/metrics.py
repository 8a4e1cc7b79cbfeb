"""Job metrics for `/metrics`, read from the database every `metrics_refresh_seconds`.

Prometheus collects synchronously; a blocking query there would stall the event loop, so a
task of the app's lifespan reads the numbers and the collector serves the latest reading.
Wait and run times are histograms of the jobs finished since this process started (read as
they finish, so they count like any counter: from zero at a restart); every replica of
job_service reads every job, so aggregate them with `max`, never `sum`. Names and PromQL for
dashboards and KEDA: README "Operating" and deploy/monitoring/.
"""

import asyncio
import datetime
import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import Histogram
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service.config import Settings
from shared import db, sql
from shared.health import NotReady, ReadinessCheck

logger = logging.getLogger(__name__)

QUERIES = sql.load(__file__)

# Seconds, from a quick task's run to a long import's.
BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
WAIT = Histogram(
    "pgstack_job_wait_seconds",
    "Time a finished job waited from enqueue to its start, by kind.",
    ["kind"],
    buckets=BUCKETS,
)
RUN = Histogram(
    "pgstack_job_run_seconds",
    "Run time of finished jobs, by kind and outcome (succeeded, failed, cancelled).",
    ["kind", "status"],
    buckets=BUCKETS,
)


class JobCollector(Collector):
    """The gauges of the latest reading (jobs by status, queues, workers)."""

    def __init__(self) -> None:
        self.by_status: list[dict[str, Any]] = []
        self.queues: list[dict[str, Any]] = []
        self.workers: dict[str, Any] = {"workers": 0, "age": None}
        self.database_up = 0  # whether the latest reading reached the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "pgstack_jobs", "Jobs in background_jobs by kind and status.", labels=["kind", "status"]
        )
        for row in self.by_status:
            jobs.add_metric([row["kind"], row["status"]], row["jobs"])
        depth = GaugeMetricFamily(
            "pgstack_job_queue_depth", "Jobs due and waiting for a worker.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "pgstack_job_oldest_waiting_seconds",
            "How long the oldest waiting job has waited.",
            labels=["queue"],
        )
        load = GaugeMetricFamily(
            "pgstack_job_queue_load",
            "Waiting jobs per registered worker (all of them with none): the autoscaler's input.",
            labels=["queue"],
        )
        for row in self.queues:
            depth.add_metric([row["queue"]], row["waiting"])
            age.add_metric([row["queue"]], float(row["oldest"]))
            load.add_metric([row["queue"]], row["waiting"] / max(row["workers"], 1))
        workers = GaugeMetricFamily(
            "pgstack_workers", "Workers registered with the queue (a heartbeat not yet pruned)."
        )
        workers.add_metric([], self.workers["workers"])
        heartbeat = GaugeMetricFamily(
            "pgstack_worker_heartbeat_age_seconds",
            "Age of the freshest worker heartbeat (absent while no worker is registered).",
        )
        if self.workers["age"] is not None:
            heartbeat.add_metric([], float(self.workers["age"]))
        up = GaugeMetricFamily(
            "pgstack_database_up", "1 if the latest reading of job metrics reached the database."
        )
        up.add_metric([], self.database_up)
        yield from (jobs, depth, age, load, workers, heartbeat, up)

    async def refresh_forever(self, engine: AsyncEngine, every: float) -> None:
        """Read `engine`'s database every `every` seconds until cancelled."""
        since: datetime.datetime | None = None  # this app's mark in the finished jobs
        while True:
            try:
                since = await self.refresh(engine, since)
                self.database_up = 1
            except Exception as exc:  # a database outage: keep the last reading
                self.database_up = 0
                logger.warning("job metrics not refreshed: %s", exc.__class__.__name__)
            await asyncio.sleep(every)

    async def refresh(
        self, engine: AsyncEngine, since: datetime.datetime | None
    ) -> datetime.datetime:
        """One reading; observes the jobs finished after `since` (None: from now on) and
        returns the mark for the next. A job whose outcome commits after a later-finished
        one's reading is missed (older than the mark): a rounding error for a histogram."""
        async with engine.connect() as conn:
            if since is None:
                now = await (await db.execute(conn, QUERIES["now"])).fetchone()
                assert now is not None
                since = now["now"]
            assert since is not None
            by_status = await (await db.execute(conn, QUERIES["by_status"])).fetchall()
            queues = await (await db.execute(conn, QUERIES["queues"])).fetchall()
            workers = await (await db.execute(conn, QUERIES["worker_heartbeat"])).fetchone()
            finished = await (
                await db.execute(conn, QUERIES["finished_since"], {"since": since})
            ).fetchall()
        for job in finished:
            WAIT.labels(job["kind"]).observe(max(float(job["waited"]), 0))
            RUN.labels(job["kind"], job["status"]).observe(max(float(job["ran"]), 0))
            since = job["finished_at"]
        assert workers is not None  # an aggregate: always one row
        self.by_status, self.queues, self.workers = by_status, queues, workers
        return since


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
