"""Demo mode and platform connections at request time: start an operation, announce it.

Every start is one conditional UPDATE (`... WHERE status IN (<start states>) RETURNING`): of
two tabs, a double click or a hundred parallel requests, the one whose UPDATE matches enqueues
the job, in the same transaction; the others wait on the row lock, match nothing, then read the
state the winner committed. The operations are states.py's; the worker's steps are steps.py's.
"""

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from demo_service import states
from demo_service.errors import DemoBusy, PlatformBusy, PlatformNotFound, UserNotFound
from demo_service.models import Platform
from demo_service.schemas import DemoRead, PlatformRead
from shared import events, jobs
from shared.jobs import BackgroundJob, JobRead
from shared.users import User

# Demo mode


async def get_demo(session: AsyncSession, *, user_id: int) -> DemoRead:
    """The user's demo state with its current (or last) job."""
    row = (
        await session.execute(
            select(User.demo_mode_status, User.demo_error, BackgroundJob)
            .outerjoin(BackgroundJob, BackgroundJob.id == User.demo_job_id)
            .where(User.id == user_id)
        )
    ).one_or_none()
    if row is None:
        raise UserNotFound()
    status, error, job = row
    return DemoRead(status=status, error=error, job=JobRead.of(job) if job else None)


async def enable_demo(session: AsyncSession, *, user_id: int) -> DemoRead:
    """Start enabling demo mode, or return the operation already under way or done."""
    return await _start_demo(session, user_id=user_id, operation=states.ENABLE)


async def disable_demo(session: AsyncSession, *, user_id: int) -> DemoRead:
    """Start disabling demo mode, or return the operation already under way or done."""
    return await _start_demo(session, user_id=user_id, operation=states.DISABLE)


async def _start_demo(
    session: AsyncSession, *, user_id: int, operation: states.Operation
) -> DemoRead:
    moved = await session.scalar(
        update(User)
        .where(User.id == user_id, User.demo_mode_status.in_(operation.start))
        .values(demo_mode_status=operation.moving, demo_error=None, updated_at=func.now())
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        demo = await get_demo(session, user_id=user_id)
        if demo.status in operation.refused:
            raise DemoBusy(f"Demo mode is {demo.status}; try again when that has finished.")
        return demo
    job = await jobs.enqueue(session, f"demo:{operation.name}", user_id, {"user_id": user_id})
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(demo_job_id=job.id)
        .execution_options(synchronize_session=False)
    )
    demo = DemoRead(status=operation.moving, error=None, job=JobRead.of(job))
    await announce_demo(session, user_id=user_id, status=demo.status, error=None, job_id=job.id)
    return demo


async def announce_demo(
    session: AsyncSession, *, user_id: int, status: str, error: str | None, job_id: uuid.UUID | None
) -> None:
    """Tell the user's streams that demo mode is now `status` (shared.events)."""
    await events.announce(
        session,
        user_id=user_id,
        type="demo",
        data={"status": status, "error": error, "job_id": job_id},
    )


# Platforms


async def list_platforms(session: AsyncSession, *, user_id: int) -> list[PlatformRead]:
    """The user's platforms, each with its current (or last) connection job."""
    rows = await session.execute(
        select(Platform, BackgroundJob)
        .outerjoin(BackgroundJob, BackgroundJob.id == Platform.connection_job_id)
        .where(Platform.user_id == user_id)
        .order_by(Platform.id)
    )
    return [_platform_read(platform, job) for platform, job in rows]


async def get_platform_or_raise(
    session: AsyncSession, *, user_id: int, platform_id: int
) -> PlatformRead:
    """One of the user's platforms; another user's is not found, like a missing one."""
    row = (
        await session.execute(
            select(Platform, BackgroundJob)
            .outerjoin(BackgroundJob, BackgroundJob.id == Platform.connection_job_id)
            .where(Platform.id == platform_id, Platform.user_id == user_id)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:
        raise PlatformNotFound()
    return _platform_read(*row)


async def connect_platform(
    session: AsyncSession, *, user_id: int, platform_id: int
) -> PlatformRead:
    """Start connecting a platform, or return the connection already under way or done."""
    return await _start_platform(
        session, user_id=user_id, platform_id=platform_id, operation=states.CONNECT
    )


async def disconnect_platform(
    session: AsyncSession, *, user_id: int, platform_id: int
) -> PlatformRead:
    """Start disconnecting a platform, or return the operation already under way or done."""
    return await _start_platform(
        session, user_id=user_id, platform_id=platform_id, operation=states.DISCONNECT
    )


async def _start_platform(
    session: AsyncSession, *, user_id: int, platform_id: int, operation: states.Operation
) -> PlatformRead:
    platform = await session.scalar(
        update(Platform)
        .where(
            Platform.id == platform_id,
            Platform.user_id == user_id,
            Platform.connection_status.in_(operation.start),
        )
        .values(connection_status=operation.moving, connection_error=None, updated_at=func.now())
        .returning(Platform)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if platform is None:
        current = await get_platform_or_raise(session, user_id=user_id, platform_id=platform_id)
        if current.connection_status in operation.refused:
            raise PlatformBusy(
                f"The platform is {current.connection_status}; it cannot {operation.name} now."
            )
        return current
    job = await jobs.enqueue(
        session, f"demo:{operation.name}_platform", user_id, {"platform_id": platform_id}
    )
    platform.connection_job_id = job.id
    await session.flush()
    read = _platform_read(platform, job)
    await announce_platform(
        session,
        user_id=user_id,
        platform_id=platform_id,
        status=read.connection_status,
        error=None,
        job_id=job.id,
    )
    return read


def _platform_read(platform: Platform, job: BackgroundJob | None) -> PlatformRead:
    return PlatformRead(
        id=platform.id,
        kind=platform.kind,
        name=platform.name,
        connection_status=platform.connection_status,
        connection_error=platform.connection_error,
        is_demo=platform.is_demo,
        job=JobRead.of(job) if job else None,
    )


async def announce_platform(
    session: AsyncSession,
    *,
    user_id: int,
    platform_id: int,
    status: str,
    error: str | None,
    job_id: uuid.UUID | None,
) -> None:
    """Tell the user's streams that the platform's connection is now `status`."""
    await events.announce(
        session,
        user_id=user_id,
        type="platform",
        data={"platform_id": platform_id, "status": status, "error": error, "job_id": job_id},
    )
