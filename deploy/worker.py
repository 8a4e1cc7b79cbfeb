"""`pgstack worker`: one worker running every service's tasks, on Procrastinate's queue.

The hot path is pgstack's own (issue 18): one statement claims as many runnable jobs as the
worker has free slots (the fair fetch, repeated: `claim_jobs` in worker.sql), and outcomes are
stored in batches by one statement (`store_outcomes`): the next claim's transaction takes them
along, else a flush `WORKER_FLUSH_SECONDS` after the first. Running a job (middleware,
retries, aborts) stays Procrastinate's.
A worker that dies with outcomes not yet stored loses no job: they are still `doing`, so they
are recovered as stalled and run again, their finished steps skipped.

SIGTERM (or SIGINT) stops fetching; running jobs get `WORKER_SHUTDOWN_GRACE` seconds to
finish, then are aborted (and retried if their task says so); the process exits 0. The worker
also schedules the recovery of stalled jobs and the pruning of old ones (job_service/tasks.py).

The worker outlives its database: a restart or a cut connection pauses fetching, heartbeats
and scheduling, which retry with back-off; running jobs go on, and their outcome is stored
once the database is back. It never stops because the database went away, and when it must
stop for any other failure it exits non-zero, so that a supervisor starts it again.
"""

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from procrastinate import exceptions, job_context, manager, retry, utils, worker
from procrastinate import jobs as queue_jobs
from procrastinate.app import WorkerOptions
from procrastinate.periodic import PeriodicTask
from psycopg.rows import dict_row
from pydantic import Field

from deploy import (
    tasks,  # the import registers every service's tasks
    worker_health,
)
from shared import connections, db, jobs, queue, sql, tracing
from shared.listener import Listener, backoff
from shared.logging import configure_logging
from shared.settings import ServiceSettings

logger = logging.getLogger(__name__)

QUERIES = sql.load(__file__)


class WorkerSettings(ServiceSettings):
    concurrency: int = Field(default=10, ge=1, validation_alias="WORKER_CONCURRENCY")
    # SIGTERM stops fetching; running jobs get this long to finish before they are cancelled.
    shutdown_grace_seconds: float = Field(default=30, validation_alias="WORKER_SHUTDOWN_GRACE")
    # A task without a timeout of its own fails with TimeoutError after this long.
    task_timeout_seconds: float = Field(default=600, gt=0, validation_alias="WORKER_TASK_TIMEOUT")
    # Tight enough that a killed worker's jobs start again within about 12 s (stalled after
    # 10 s, recovery every 2 s), loose enough that a database restart stalls no live worker.
    heartbeat_seconds: float = Field(default=2, gt=0, validation_alias="WORKER_HEARTBEAT")
    # A worker silent this long is dead: its running jobs are retried by `jobs:recover_stalled`.
    stalled_worker_seconds: float = Field(default=10, gt=0, validation_alias="WORKER_STALLED_AFTER")
    # A job whose worker died this many times (attempts included) fails instead.
    max_recoveries: int = Field(default=3, ge=1, validation_alias="WORKER_MAX_RECOVERIES")
    # Crons with an optional 6th column for seconds.
    recover_cron: str = Field(default="* * * * * */2", validation_alias="WORKER_RECOVER_CRON")
    prune_cron: str = Field(default="17 * * * *", validation_alias="WORKER_PRUNE_CRON")
    prune_queue_hours: int = Field(default=24, ge=1, validation_alias="WORKER_PRUNE_QUEUE_HOURS")
    prune_jobs_days: int = Field(default=30, ge=1, validation_alias="WORKER_PRUNE_JOBS_DAYS")
    # The job event log's retention; job_service reads the same variable (streams resume
    # exactly within it).
    prune_events_hours: float = Field(
        default=24, gt=0, validation_alias="JOBS_EVENTS_RETENTION_HOURS"
    )
    # Finished jobs' outcomes not taken along by the next claim are stored this long after the
    # first of them: one statement and one commit for many jobs instead of one each.
    flush_seconds: float = Field(default=0.005, gt=0, validation_alias="WORKER_FLUSH_SECONDS")
    # New jobs arrive by NOTIFY; polling only covers a lost notification or a scheduled job.
    poll_seconds: float = Field(default=2, gt=0, validation_alias="WORKER_POLL_SECONDS")
    # The queues this worker takes jobs from, comma-separated; empty: every queue.
    queues: str = Field(default="", validation_alias="WORKER_QUEUES")
    # Extra modules whose blueprints to run, comma-separated (tests' and plugins' tasks).
    import_paths: str = Field(default="", validation_alias="WORKER_IMPORT_PATHS")
    # /healthz and /readyz for Kubernetes' probes on this port (deploy/worker_health.py); 0: off.
    health_port: int = Field(default=0, ge=0, validation_alias="WORKER_HEALTH_PORT")
    health_host: str = Field(default="127.0.0.1", validation_alias="WORKER_HEALTH_HOST")


def schedule_periodic(settings: WorkerSettings) -> None:
    """(Re)register the periodic tasks with the crons of these settings."""
    registry = queue.app.periodic_registry
    for name, cron in (
        ("jobs:recover_stalled", settings.recover_cron),
        ("jobs:prune", settings.prune_cron),
    ):
        task = queue.app.tasks[name]
        registry.periodic_tasks[(name, "")] = PeriodicTask(
            task=task, cron=cron, periodic_id="", configure_kwargs={}
        )


class WorkerFailed(RuntimeError):
    """The worker stopped because one of its own tasks failed (not the database)."""


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says the database is out of reach (rather than a bug or a refusal)."""
    if isinstance(exc, exceptions.ConnectorException):
        exc = exc.__cause__ or exc
    return isinstance(exc, psycopg.OperationalError | OSError)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished attempt, waiting to be stored: its end, or its retry."""

    job_id: int
    worker_id: int | None  # the worker that took the job: the attempt's identity
    status: queue_jobs.Status
    retry: retry.RetryDecision | None


class Worker(worker.Worker):
    """Procrastinate's worker, made to outlive its database.

    Procrastinate's own stops (and the process exits 0) as soon as a side task fails, and
    they fail at the first lost connection; a failed fetch ends its run. Here the database
    going away is waited out, with back-off, by every part: fetching, heartbeats, the
    periodic deferrer, and storing a finished job's outcome. Notifications come through the
    process's one `Listener` (which reconnects, and drains the pools when the server goes
    away); its reconnect triggers a fetch, since jobs deferred meanwhile were not announced.
    """

    def __init__(self, *args: Any, database_url: str, flush_seconds: float, **kwargs: Any) -> None:
        kwargs["listen_notify"] = False  # the process's Listener instead (`_listen`)
        super().__init__(*args, **kwargs)
        self.listener = Listener(database_url)
        self.failure: BaseException | None = None
        self._fetch_failures = 0
        self.flush_seconds = flush_seconds
        # Finished attempts not stored yet; one claim or flush stores them at a time.
        self._outcomes: list[Outcome] = []
        self._storing = asyncio.Lock()
        self._outcome_waiting = asyncio.Event()
        self._flushed = asyncio.Event()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await super().run()  # type: ignore[no-untyped-call]
                return
            except Exception as exc:
                # Only a database that is not up yet is waited for; once the worker has
                # registered, its own shutdown has run and the failure is reported.
                if not is_outage(exc) or self.run_task is not None:
                    raise
                failures += 1
                logger.warning("database unavailable at start, retrying: %s", exc_name(exc))
                await asyncio.sleep(backoff(failures, cap=5))

    def _start_side_tasks(self) -> list[asyncio.Task[Any]]:
        return [
            *super()._start_side_tasks(),
            asyncio.create_task(self._listen(), name="listener"),
            asyncio.create_task(self._flush_outcomes(), name="flush_outcomes"),
        ]

    async def _monitor_side_tasks(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        done, _ = await asyncio.wait(side_tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                self.failure = exc
        await super()._monitor_side_tasks(side_tasks)

    async def _listen(self) -> None:
        channels = list(manager.get_channel_for_queues(self.queues))
        for channel in channels:
            self.listener.subscribe(channel, self._notified)
        self.listener.on_reconnect(self._new_job_event.set)
        await self.listener.start(channels)
        try:
            await asyncio.Future()  # until cancelled by the shutdown
        finally:
            await self.listener.stop()

    def _notified(self, payload: str) -> None:
        notification = json.loads(payload)
        if notification["type"] == "job_inserted":
            self._new_job_event.set()
        elif notification["type"] == "abort_job_requested":
            self._handle_abort_jobs_requested([notification["job_id"]])

    async def _update_heartbeat(self) -> None:
        failures = 0
        while True:
            # After a failure, sooner: a worker silent too long has its jobs taken from it.
            await asyncio.sleep(
                backoff(failures, cap=self.update_heartbeat_interval)
                if failures
                else self.update_heartbeat_interval
            )
            try:
                await self._beat()
                failures = 0
            except Exception as exc:
                if not is_outage(exc):
                    raise
                failures += 1
                logger.warning("heartbeat failed, retrying: %s", exc_name(exc))

    async def _beat(self) -> None:
        assert self.worker_id is not None
        rows = await self.app.connector.execute_query_all_async(
            "UPDATE procrastinate_workers SET last_heartbeat = now()"
            " WHERE id = %(worker_id)s RETURNING id",
            worker_id=self.worker_id,
        )
        if not rows:
            # Silent past WORKER_STALLED_AFTER (a long outage): another worker pruned this one
            # and retries its running jobs. Register again, or no job could be fetched.
            logger.warning("worker %s was pruned as stalled; registering again", self.worker_id)
            self.worker_id = await self.app.job_manager.register_worker()

    async def _periodic_deferrer(self) -> None:
        failures = 0
        while True:
            try:
                await super()._periodic_deferrer()  # type: ignore[no-untyped-call]
                return
            except Exception as exc:
                if not is_outage(exc):
                    raise
                failures += 1
                logger.warning("periodic deferrer failed, retrying: %s", exc_name(exc))
                await asyncio.sleep(backoff(failures))

    async def _fetch_and_process_jobs(self) -> None:
        try:
            await self._claim_and_process_jobs()
            self._fetch_failures = 0
        except (exceptions.ConnectorException, psycopg.Error) as exc:
            cause = exc.__cause__ if isinstance(exc, exceptions.ConnectorException) else exc
            if isinstance(cause, psycopg.errors.ForeignKeyViolation):
                await self._beat()  # pruned as stalled: registers again
            elif not is_outage(exc):
                raise
            self._fetch_failures += 1
            logger.warning("fetching jobs failed, retrying: %s", exc_name(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), backoff(self._fetch_failures))
            self._new_job_event.set()  # try again now, not at the next poll

    async def _claim_and_process_jobs(self) -> None:
        """Claim jobs for every free slot in one statement and start them, until the queue has
        no more runnable jobs than free slots (or the worker stops)."""
        semaphore = self._job_semaphore
        while not self._stop_event.is_set():
            acquire = asyncio.create_task(semaphore.acquire())
            await utils.wait_any(acquire, self._stop_event.wait())
            if self._stop_event.is_set():
                if acquire.done():
                    semaphore.release()
                break
            slots = 1
            while not semaphore.locked():  # the other free slots, without waiting
                await semaphore.acquire()
                slots += 1
            rows: list[dict[str, Any]] = []  # a claim that failed took no job: free every slot
            try:
                rows = await self._claim(slots)
            finally:
                self._new_job_event.clear()
                claimed = 0 if self._stop_event.is_set() else len(rows)
                for _ in range(slots - claimed):
                    semaphore.release()
            for row in rows[:claimed]:
                self._start(queue_jobs.Job.from_row(row))
            if claimed < slots:
                break  # nothing more may run now: wait for a notification or the poll

    async def _claim(self, slots: int) -> list[dict[str, Any]]:
        """Store the outcomes waiting, then claim up to `slots` jobs, in one transaction: the
        claim counts the users' running jobs without those that just ended."""
        assert self.worker_id is not None
        async with self._storing:
            batch = self._outcomes[:]
            async with self._pool.connection() as conn, conn.transaction():
                if batch:
                    await self._store(conn, batch)
                cursor = conn.cursor(row_factory=dict_row)
                await cursor.execute(
                    QUERIES["claim_jobs"],
                    {"queues": self.queues, "worker_id": self.worker_id, "slots": slots},
                )
                rows: list[dict[str, Any]] = await cursor.fetchall()
            self._stored(batch)
        return rows

    def _start(self, job: queue_jobs.Job) -> None:
        """Run a claimed job in its own task; its slot is free when the task ends."""
        job_id = job.id
        context = job_context.JobContext(
            app=self.app,
            worker_name=self.worker_name,
            worker_queues=self.queues,
            additional_context=self.additional_context.copy() if self.additional_context else {},
            job=job,
            abort_reason=lambda: self._job_ids_to_abort.get(job_id) if job_id else None,
            start_timestamp=time.time(),
        )
        job_task = asyncio.create_task(
            self._process_job(context), name=f"process job {job.task_name}[{job.id}]"
        )
        self._running_jobs[job_task] = context

        def on_job_complete(task: asyncio.Task[Any]) -> None:
            del self._running_jobs[task]
            self._job_semaphore.release()

        job_task.add_done_callback(on_job_complete)

    async def _persist_job_status(
        self,
        job: queue_jobs.Job,
        status: queue_jobs.Status,
        retry_decision: retry.RetryDecision | None,
        context: job_context.JobContext,
        job_result: job_context.JobResult | None,
    ) -> None:
        """Hand a finished job's outcome to the next claim or flush; its slot is free at once.
        When outcomes pile up (a slow database), wait for them to be stored first."""
        assert job.id is not None
        self._outcomes.append(Outcome(job.id, job.worker_id, status, retry_decision))
        self._job_ids_to_abort.pop(job.id, None)
        self._outcome_waiting.set()
        if len(self._outcomes) >= 2 * self.concurrency:
            self._flushed.clear()
            await self._flushed.wait()

    async def _flush_outcomes(self) -> None:
        """Store the outcomes no claim took along, `flush_seconds` after the first of them."""
        while True:
            await self._outcome_waiting.wait()
            await asyncio.sleep(self.flush_seconds)
            await self._store_outcomes(deadline=None)

    async def _store_outcomes(self, *, deadline: float | None) -> None:
        """Store every waiting outcome, waiting for the database if it is away; until
        `deadline` (loop time) if given, then they are left to the recovery of stalled jobs."""
        loop = asyncio.get_running_loop()
        failures = 0
        while self._outcomes:
            async with self._storing:
                batch = self._outcomes[:]
                try:
                    async with self._pool.connection() as conn:
                        await self._store(conn, batch)
                except Exception as exc:
                    if not is_outage(exc):
                        raise
                    failures += 1
                    logger.warning("storing jobs' outcomes failed, retrying: %s", exc_name(exc))
                    if deadline is not None and loop.time() >= deadline:
                        logger.warning("%s outcomes left to stalled recovery", len(batch))
                        return
                else:
                    self._stored(batch)
                    # Claim again: a user whose job just ended may have been at a cap, and a
                    # worker idle since a short claim would otherwise wait for the poll.
                    self._new_job_event.set()
                    continue
            await asyncio.sleep(backoff(failures))

    def _stored(self, batch: list[Outcome]) -> None:
        del self._outcomes[: len(batch)]
        if not self._outcomes:
            self._outcome_waiting.clear()
            self._flushed.set()

    async def _store(self, conn: psycopg.AsyncConnection[Any], batch: list[Outcome]) -> None:
        """One statement for the whole batch (`store_outcomes`)."""
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(
            QUERIES["store_outcomes"],
            {
                "ids": [o.job_id for o in batch],
                "worker_ids": [o.worker_id for o in batch],
                "statuses": [o.status.value for o in batch],
                "retries": [o.retry is not None for o in batch],
                "retry_ats": [o.retry.retry_at if o.retry else None for o in batch],
                "priorities": [o.retry.priority if o.retry else None for o in batch],
                "queue_names": [o.retry.queue if o.retry else None for o in batch],
                "locks": [o.retry.lock if o.retry else None for o in batch],
            },
        )
        stored = {row["id"] for row in await cursor.fetchall()}
        if refused := [o.job_id for o in batch if o.job_id not in stored]:
            # Recovered as stalled meanwhile (and maybe run again): the newer run's stands.
            logger.warning("outcomes of attempts no longer current refused: %s", refused)

    @property
    def _pool(self) -> Any:
        """The queue's autocommit pool (Procrastinate's connector's)."""
        return self.app.connector.pool  # type: ignore[attr-defined]

    async def _shutdown(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        """Procrastinate's shutdown (side tasks stopped, running jobs given their grace, then
        aborted), with the outcomes stored before the worker unregisters: its jobs are only
        its own while it is registered."""
        await utils.cancel_and_capture_errors(side_tasks)
        if self._running_jobs:
            await asyncio.wait(self._running_jobs, timeout=self.shutdown_graceful_timeout)
        if self._running_jobs:
            logger.info("%s jobs still running after the grace; aborting", len(self._running_jobs))
            await self._abort_running_jobs()  # type: ignore[no-untyped-call]
        loop = asyncio.get_running_loop()
        await self._store_outcomes(deadline=loop.time() + (self.shutdown_graceful_timeout or 0))
        assert self.worker_id is not None
        await self.app.job_manager.unregister_worker(self.worker_id)
        self.worker_id = None
        logger.info("worker stopped")


def exc_name(exc: BaseException) -> str:
    cause = exc.__cause__ if isinstance(exc, exceptions.ConnectorException) else None
    return (cause or exc).__class__.__name__


async def run_worker(settings: WorkerSettings, *, install_signal_handlers: bool = True) -> None:
    """Run the worker until SIGTERM; raises WorkerFailed if it stopped on a failure."""
    tracing.configure("worker")  # before any connection: psycopg is instrumented
    tasks.import_worker_modules(settings.import_paths)
    schedule_periodic(settings)
    engine = db.create_engine(settings)
    context: dict[str, Any] = {
        "sessionmaker": db.create_sessionmaker(engine),
        "stalled_worker_seconds": settings.stalled_worker_seconds,
        "max_recoveries": settings.max_recoveries,
        "prune_queue_hours": settings.prune_queue_hours,
        "prune_jobs_days": settings.prune_jobs_days,
        "prune_events_hours": settings.prune_events_hours,
    }
    options: WorkerOptions = {
        "concurrency": settings.concurrency,
        "shutdown_graceful_timeout": settings.shutdown_grace_seconds,
        "install_signal_handlers": install_signal_handlers,
        "update_heartbeat_interval": settings.heartbeat_seconds,
        "stalled_worker_timeout": settings.stalled_worker_seconds,
        "fetch_job_polling_interval": settings.poll_seconds,
        "abort_job_polling_interval": settings.poll_seconds,
        "additional_context": context,
        "worker_middleware": [jobs.job_middleware(settings.task_timeout_seconds)],
    }
    if queues := [q.strip() for q in settings.queues.split(",") if q.strip()]:
        options["queues"] = queues
    try:
        # Inside the try: a worker stopped while it checks still closes the check's connection.
        await connections.check_headroom(
            engine,
            "worker",
            connections.budget(
                "worker", pool_size=settings.db_pool_size, concurrency=settings.concurrency
            ),
        )
        # The queue's pool and the worker's LISTEN go to DATABASE_LISTEN_URL (a direct or
        # session-mode connection: a worker holds few), the tasks' sessions to DATABASE_URL.
        async with queue.opened(settings.listen_url, max_size=settings.concurrency + 2) as app:
            logger.info("worker starting", extra={"concurrency": settings.concurrency})
            runner = Worker(
                app=app,
                database_url=settings.listen_url,
                flush_seconds=settings.flush_seconds,
                **options,
            )
            async with worker_health.serving(settings.health_host, settings.health_port, app):
                await runner.run()
            if runner.failure is not None:
                raise WorkerFailed(f"stopped: {runner.failure!r}") from runner.failure
    finally:
        await engine.dispose()


def main(settings: WorkerSettings) -> None:
    configure_logging(settings.log_level)
    try:
        asyncio.run(run_worker(settings))
    except WorkerFailed as exc:
        logger.error("worker failed", exc_info=exc)
        raise SystemExit(1) from exc
