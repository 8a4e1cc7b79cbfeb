"""job_service's background tasks, registered on the shared Procrastinate app as `jobs:*`.

`recover_stalled` and `prune` are periodic: the worker schedules them with the crons of its
settings (`WORKER_RECOVER_CRON`, `WORKER_PRUNE_CRON`) and passes their limits in the job
context. `noop` is a job that does nothing, for benchmarks and end-to-end checks.
"""

import json
import logging
from typing import Any

import procrastinate
from procrastinate import JobContext, exceptions
from procrastinate.jobs import Job, Status

from shared import jobs, queue, sql

logger = logging.getLogger(__name__)

QUERIES = sql.load(__file__)

blueprint = procrastinate.Blueprint()


@jobs.task(blueprint, name="noop", queue="jobs", timeout=10)
async def noop(context: JobContext, **args: Any) -> None:
    """Do nothing: the cost of a job is then the pipeline's alone."""


@blueprint.task(name="recover_stalled", pass_context=True, queue="jobs")
async def recover_stalled(context: JobContext, timestamp: int) -> dict[str, int]:
    """Put the jobs of workers whose heartbeat stopped back in the queue.

    A job that has already been through `max_attempts` runs (a job that kills its worker
    would otherwise loop forever), or whose queueing lock a newer waiting job now holds
    (Procrastinate refuses two waiting jobs with one queueing lock), ends failed with
    error type `WorkerLost` instead.
    """
    limits = context.additional_context
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs(
        seconds_since_heartbeat=limits["stalled_worker_seconds"]
    )
    retried = failed = 0
    for job in stalled:
        if job.attempts + 1 >= limits["max_recoveries"]:
            await _give_up(context, job, "The job's worker stopped too many times.")
            failed += 1
            continue
        try:
            await manager.retry_job(job)
            await _announce_requeued(context, job)
            retried += 1
        except exceptions.UniqueViolation:
            await _give_up(context, job, "The job's worker stopped; a newer job replaces it.")
            failed += 1
        except exceptions.ConnectorException:
            # Another worker's recovery got there first: the job is no longer running.
            logger.info("stalled job %s already recovered", job.id)
    if retried or failed:
        logger.warning("recovered stalled jobs", extra={"retried": retried, "failed": failed})
    return {"retried": retried, "failed": failed}


async def _announce_requeued(context: JobContext, job: Job) -> None:
    """Wake the workers for a requeued job as for a new one: a retry is an UPDATE, which
    Procrastinate's trigger does not announce, so the job would wait for the next poll."""
    payload = json.dumps({"type": "job_inserted", "job_id": job.id})
    async with context.app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
        await conn.execute(
            "SELECT pg_notify('procrastinate_queue_v1#' || %s, %s),"
            " pg_notify('procrastinate_any_queue_v1', %s)",
            (job.queue, payload, payload),
        )


async def _give_up(context: JobContext, job: Job, message: str) -> None:
    assert job.id is not None
    async with context.app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
        await conn.execute(QUERIES["mark_worker_lost"], {"message": message, "job_id": job.id})
    try:
        await context.app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
    except exceptions.ConnectorException:
        logger.info("stalled job %s already finished", job.id)


@blueprint.task(name="prune", pass_context=True, queue="jobs")
async def prune(context: JobContext, timestamp: int) -> dict[str, int]:
    """Delete finished queue rows after `prune_queue_hours`, finished `background_jobs` rows
    after `prune_jobs_days`, the event log's rows after `prune_events_hours`: the queue stays
    small, users keep their history for days, streams resume for hours."""
    limits = context.additional_context
    await context.app.job_manager.delete_old_jobs(
        nb_hours=limits["prune_queue_hours"],
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )
    async with context.app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
        cursor = await conn.execute(QUERIES["prune_jobs"], {"days": limits["prune_jobs_days"]})
        events = await conn.execute(
            QUERIES["prune_events"], {"hours": limits["prune_events_hours"]}
        )
    return {"background_jobs": cursor.rowcount, "job_events": events.rowcount}


# Keep last: it registers the tasks defined above, under this service's namespace.
queue.app.add_tasks_from(blueprint, namespace="jobs")
