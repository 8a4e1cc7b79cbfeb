"""demo_service's background tasks, registered on the shared Procrastinate app as `demo:*`.

Each task runs in durable steps (`jobs.step`): a step is one transaction that first re-checks
(and locks) the state its job drives, so a stale retry changes nothing, and is recorded as done
in that same transaction, so a retry after a crash skips the steps that finished and runs the
one that did not (its writes are idempotent besides). The last step moves the state; its result
is the job's. When the last attempt fails, the state becomes `failed`
(`error` for a connection) with the reason, and the user can start again.

Tasks use the worker's task kit (`shared.jobs`: sessions, timeout, back-off, result and error
recording); their own knobs come from the worker's environment (config.TaskSettings).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import procrastinate
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncSession

from demo_service import states, steps
from demo_service.config import TaskSettings
from demo_service.demo_data import DEMO_PLATFORMS, DemoPlatform
from demo_service.errors import SimulatedFailure
from shared import jobs, queue

logger = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()

# Runs in all, the first included; the waits are short because a person is watching.
DEMO_RETRY = jobs.Backoff(attempts=3, first=1, cap=5)
CONNECT_RETRY = jobs.Backoff(attempts=2, first=1, cap=5)
DISCONNECT_RETRY = jobs.Backoff(attempts=5, first=1, cap=10)
# Far above a run's normal length (5 pauses of at most DEMO_STEP_DELAY, 10 s, plus the SQL).
TIMEOUT_SECONDS = 120


class Superseded(Exception):
    """The state this job was started for has moved on; the job changes nothing."""


# Re-checks, in a step's transaction, that the job still drives its state.
Claim = Callable[[AsyncSession], Awaitable[bool]]
T = TypeVar("T")


@dataclass(frozen=True)
class _Run:
    """One attempt of a job: its settings and its claim on the state."""

    context: JobContext
    settings: TaskSettings
    claim: Claim

    @property
    def job_id(self) -> int:
        job_id = self.context.job.id
        assert job_id is not None
        return job_id

    async def step(
        self, name: str, fn: Callable[[AsyncSession], Awaitable[T]], *, pause: bool = True
    ) -> T:
        """Pause (DEMO_STEP_DELAY), then the durable step `name`: `fn` in one transaction
        holding the claimed state, skipped if an earlier attempt finished it."""

        async def claimed(session: AsyncSession) -> T:
            if not await self.claim(session):
                raise Superseded()
            return await fn(session)

        if pause:
            await asyncio.sleep(self.settings.step_delay)
        return await jobs.step(self.context, name, claimed)

    def maybe_fail(self, where: str) -> None:
        """The DEMO_FAIL_ATTEMPTS test hook: fail this attempt if it is one of the first N."""
        if self.context.job.attempts < self.settings.fail_attempts:
            raise SimulatedFailure(
                f"attempt {self.context.job.attempts + 1} failed on purpose {where}"
            )


def _reason(action: str, exc: Exception) -> str:
    return f"{action}: {exc}" if str(exc) else f"{action} ({exc.__class__.__name__})."


def _demo_run(context: JobContext, *, user_id: int, operation: states.Operation) -> _Run:
    def claim(session: AsyncSession) -> Awaitable[bool]:
        return steps.claim_demo_job(
            session, user_id=user_id, procrastinate_job_id=job_id, operation=operation
        )

    job_id = context.job.id or 0
    return _Run(context, TaskSettings(), claim)


async def _fail_demo(run: _Run, *, user_id: int, operation: states.Operation, reason: str) -> None:
    async with jobs.session(run.context) as session:
        await steps.fail_demo(
            session,
            user_id=user_id,
            procrastinate_job_id=run.job_id,
            operation=operation,
            reason=reason,
        )


@jobs.task(blueprint, name="enable", queue="demo", timeout=TIMEOUT_SECONDS, retry=DEMO_RETRY)
async def enable(context: JobContext, *, user_id: int) -> dict[str, Any]:
    """Create the demo workspace: 4 connected platforms and 90 days of metrics each."""
    run = _demo_run(context, user_id=user_id, operation=states.ENABLE)
    try:

        async def create(session: AsyncSession) -> dict[str, int]:
            platform_ids = await steps.create_demo_platforms(session, user_id=user_id)
            await jobs.report_progress(session, context, 20, "Created the demo platforms")
            return platform_ids

        platform_ids = await run.step("create_platforms", create)
        for done, platform in enumerate(DEMO_PLATFORMS, start=1):
            if done == 2:
                run.maybe_fail("after the first platform's metrics")

            async def generate(
                session: AsyncSession, platform: DemoPlatform = platform, done: int = done
            ) -> None:
                await steps.generate_demo_metrics(
                    session, platform_id=platform_ids[platform.kind], platform=platform
                )
                await jobs.report_progress(
                    session, context, 20 + 15 * done, f"Generated metrics for {platform.name}"
                )

            await run.step(f"metrics:{platform.kind}", generate)

        async def finish(session: AsyncSession) -> dict[str, Any]:
            result = {
                "platforms": len(platform_ids),
                "metric_rows": await steps.count_demo_metrics(session, user_id=user_id),
            }
            await jobs.report_progress(session, context, 100, "Demo mode is enabled")
            await steps.finish_demo(session, user_id=user_id, operation=states.ENABLE)
            return result

        return await run.step("finish", finish, pause=False)
    except Superseded:
        logger.info("demo:enable superseded", extra={"user_id": user_id})
        return {"superseded": True}
    except Exception as exc:
        if jobs.is_final_attempt(context):
            reason = _reason("The demo workspace could not be created", exc)
            await _fail_demo(run, user_id=user_id, operation=states.ENABLE, reason=reason)
        raise


@jobs.task(blueprint, name="disable", queue="demo", timeout=TIMEOUT_SECONDS, retry=DEMO_RETRY)
async def disable(context: JobContext, *, user_id: int) -> dict[str, Any]:
    """Remove exactly the demo workspace: demo platforms and their metrics, nothing else."""
    run = _demo_run(context, user_id=user_id, operation=states.DISABLE)
    try:

        async def remove_metrics(session: AsyncSession) -> int:
            metric_rows = await steps.remove_demo_metrics(session, user_id=user_id)
            await jobs.report_progress(session, context, 50, "Removed the demo metrics")
            return metric_rows

        metric_rows = await run.step("remove_metrics", remove_metrics)
        run.maybe_fail("after removing the demo metrics")

        async def remove_platforms(session: AsyncSession) -> dict[str, Any]:
            platforms = await steps.remove_demo_platforms(session, user_id=user_id)
            await jobs.report_progress(session, context, 100, "Demo mode is disabled")
            await steps.finish_demo(session, user_id=user_id, operation=states.DISABLE)
            return {"platforms_removed": platforms, "metric_rows_removed": metric_rows}

        return await run.step("remove_platforms", remove_platforms)
    except Superseded:
        logger.info("demo:disable superseded", extra={"user_id": user_id})
        return {"superseded": True}
    except Exception as exc:
        if jobs.is_final_attempt(context):
            reason = _reason("The demo workspace could not be removed", exc)
            await _fail_demo(run, user_id=user_id, operation=states.DISABLE, reason=reason)
        raise


def _platform_run(
    context: JobContext, *, platform_id: int, operation: states.Operation
) -> tuple[_Run, list[int]]:
    """A run whose claim also remembers the platform's user (for announcements)."""
    owner: list[int] = []

    async def claim(session: AsyncSession) -> bool:
        user_id = await steps.claim_connection_job(
            session, platform_id=platform_id, procrastinate_job_id=job_id, operation=operation
        )
        if user_id is not None:
            owner[:] = [user_id]
        return user_id is not None

    job_id = context.job.id or 0
    return _Run(context, TaskSettings(), claim), owner


@jobs.task(
    blueprint, name="connect_platform", queue="demo", timeout=TIMEOUT_SECONDS, retry=CONNECT_RETRY
)
async def connect_platform(context: JobContext, *, platform_id: int) -> dict[str, Any]:
    """Stand-in for the OAuth handshake: `connected`, or `error` with the reason."""
    run, owner = _platform_run(context, platform_id=platform_id, operation=states.CONNECT)
    try:

        async def handshake(session: AsyncSession) -> dict[str, Any]:
            run.maybe_fail("during the handshake")
            await steps.end_connection(
                session, user_id=owner[0], platform_id=platform_id, operation=states.CONNECT
            )
            return {"platform_id": platform_id}

        return await run.step("handshake", handshake)
    except Superseded:
        return {"superseded": True}
    except Exception as exc:
        if jobs.is_final_attempt(context):
            async with jobs.session(context) as session:
                if await run.claim(session):
                    await steps.end_connection(
                        session,
                        user_id=owner[0],
                        platform_id=platform_id,
                        operation=states.CONNECT,
                        reason=_reason("The platform could not be connected", exc),
                    )
        raise


@jobs.task(
    blueprint,
    name="disconnect_platform",
    queue="demo",
    timeout=TIMEOUT_SECONDS,
    retry=DISCONNECT_RETRY,
)
async def disconnect_platform(context: JobContext, *, platform_id: int) -> dict[str, Any]:
    """Forget the platform's credentials (a stand-in): the platform ends `disconnected`."""
    run, owner = _platform_run(context, platform_id=platform_id, operation=states.DISCONNECT)
    try:

        async def forget(session: AsyncSession) -> dict[str, Any]:
            await steps.end_connection(
                session, user_id=owner[0], platform_id=platform_id, operation=states.DISCONNECT
            )
            return {"platform_id": platform_id}

        return await run.step("forget_credentials", forget)
    except Superseded:
        return {"superseded": True}


# Keep last: it registers the tasks defined above, under this service's namespace.
queue.app.add_tasks_from(blueprint, namespace="demo")
