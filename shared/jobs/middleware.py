"""The worker middleware around every job: its timeout, its result or error in its row, and
its span in the trace of the request that enqueued it.

The result is what the task returns, written before Procrastinate marks the job succeeded, so
a succeeded job always has it. An exception is stored as its type and message (never a
traceback: the message is shown to users); then Procrastinate records the failure.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
from procrastinate import JobContext
from psycopg.types.json import Jsonb

from shared import sql, tracing
from shared.jobs.kit import timeout_of

logger = logging.getLogger(__name__)

QUERIES = sql.load(__file__)

# Kept short: an error message is shown to users and travels in notifications.
ERROR_MESSAGE_LIMIT = 500

Middleware = Callable[[Callable[[], Awaitable[Any]], JobContext, Any], Awaitable[Any]]


def job_middleware(default_timeout: float) -> Middleware:
    """The worker middleware: `default_timeout` seconds for a task without its own."""

    async def run_job(
        call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Any
    ) -> Any:
        seconds = timeout_of(context, default_timeout)
        deadline = asyncio.timeout(seconds)
        traceparent = await _traceparent(context)
        try:
            with tracing.job_span(context.job.task_name, traceparent):
                async with deadline:
                    result = await call_next()
        except TimeoutError as exc:
            if not deadline.expired():  # the task's own timeout (a slow HTTP call, say)
                await _store_error(context, "TimeoutError", str(exc))
                raise
            await _store_error(
                context, "TimeoutError", f"The job did not finish within {seconds:g} s."
            )
            raise TimeoutError(f"timed out after {seconds:g} s") from exc
        except asyncio.CancelledError:
            if context.abort_reason() == procrastinate.job_context.AbortReason.SHUTDOWN:
                await _store_error(
                    context, "WorkerShutdown", "The worker stopped before the job finished."
                )
            raise
        except Exception as exc:
            await _store_error(context, type(exc).__name__, str(exc))
            raise
        if result is not None:
            async with _pool(context).connection() as conn:
                await conn.execute(
                    QUERIES["store_result"],
                    {
                        "result": Jsonb(result, dumps=_dumps),
                        "job_id": context.job.id,
                        "worker_id": context.job.worker_id,
                    },
                )
        return result

    return run_job


async def _traceparent(context: JobContext) -> str | None:
    """The trace the job was enqueued in; None outside one (or for a periodic task), and
    without a read while spans are not exported (a round trip per job for nothing)."""
    if not tracing.exporting():
        return None
    async with _pool(context).connection() as conn:
        cursor = await conn.execute(QUERIES["traceparent"], {"job_id": context.job.id})
        row = await cursor.fetchone()
    return None if row is None else row[0]


def _pool(context: JobContext) -> Any:
    """The worker's autocommit pool (Procrastinate's own)."""
    return context.app.connector.pool  # type: ignore[attr-defined]


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


async def _store_error(context: JobContext, error_type: str, message: str) -> None:
    try:
        async with _pool(context).connection() as conn:
            await conn.execute(
                QUERIES["store_error"],
                {
                    "error_type": error_type,
                    "error_message": message[:ERROR_MESSAGE_LIMIT],
                    "job_id": context.job.id,
                    "worker_id": context.job.worker_id,
                },
            )
    except Exception:
        # The job's own failure is what matters; Procrastinate still records its status.
        logger.exception("could not record a job's error")
