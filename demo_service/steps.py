"""The steps of demo_service's jobs, each run in a step's transaction by tasks.py (SQL in
steps.sql): claim the state the job drives, build or remove the demo workspace, then finish the
operation or fail it (states.py says where each ends).

Every step may run twice (a retry after a crash): the inserts keep what an earlier attempt made,
and a claim makes a stale job (a retry after the state moved on) change nothing.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from demo_service import service, states
from demo_service.demo_data import DEMO_DAYS, DEMO_PLATFORMS, DemoPlatform
from shared import db, sql

QUERIES = sql.load(__file__)


# Demo mode


async def claim_demo_job(
    session: AsyncSession, *, user_id: int, procrastinate_job_id: int, operation: states.Operation
) -> bool:
    """Lock the user's row if this job still drives demo mode through `operation`.

    False for a stale job (a retry after the state moved on): it must change nothing.
    """
    cursor = await db.execute(
        session,
        QUERIES["claim_demo_job"],
        {"user_id": user_id, "status": operation.moving, "job_id": procrastinate_job_id},
    )
    return await cursor.fetchone() is not None


async def create_demo_platforms(session: AsyncSession, *, user_id: int) -> dict[str, int]:
    """The user's demo platforms, created if missing: their ids by kind.

    ON CONFLICT on the unique (user_id, kind) WHERE is_demo: a retry finds what an earlier
    attempt made, so a workspace is never created twice.
    """
    await db.execute(
        session,
        QUERIES["create_demo_platforms"],
        {
            "user_id": user_id,
            "kinds": [p.kind for p in DEMO_PLATFORMS],
            "names": [p.name for p in DEMO_PLATFORMS],
        },
    )
    cursor = await db.execute(session, QUERIES["list_demo_platforms"], {"user_id": user_id})
    return {row["kind"]: int(row["id"]) for row in await cursor.fetchall()}


async def generate_demo_metrics(
    session: AsyncSession, *, platform_id: int, platform: DemoPlatform
) -> None:
    """DEMO_DAYS days of plausible metrics up to today: a slow growth, quieter weekends and
    some noise. Days that exist already are kept (a retry adds only what is missing)."""
    await db.execute(
        session,
        QUERIES["generate_demo_metrics"],
        {
            "platform_id": platform_id,
            "days": DEMO_DAYS,
            "impressions": platform.impressions,
            "ctr": platform.ctr,
            "cpc": platform.cpc,
            "cvr": platform.cvr,
        },
    )


async def count_demo_metrics(session: AsyncSession, *, user_id: int) -> int:
    cursor = await db.execute(session, QUERIES["count_demo_metrics"], {"user_id": user_id})
    row = await cursor.fetchone()
    assert row is not None
    return int(row["metric_rows"])


async def remove_demo_metrics(session: AsyncSession, *, user_id: int) -> int:
    """Delete the metrics of the user's demo platforms (never of the user's own)."""
    cursor = await db.execute(session, QUERIES["remove_demo_metrics"], {"user_id": user_id})
    return cursor.rowcount


async def remove_demo_platforms(session: AsyncSession, *, user_id: int) -> int:
    """Delete the user's demo platforms (and, by cascade, anything left of their metrics)."""
    cursor = await db.execute(session, QUERIES["remove_demo_platforms"], {"user_id": user_id})
    return cursor.rowcount


async def finish_demo(session: AsyncSession, *, user_id: int, operation: states.Operation) -> None:
    """Move demo mode on to where `operation` ends (the job's last step)."""
    await _set_demo_status(
        session, user_id=user_id, moving=operation.moving, to=operation.done, error=None
    )


async def fail_demo(
    session: AsyncSession,
    *,
    user_id: int,
    procrastinate_job_id: int,
    operation: states.Operation,
    reason: str,
) -> None:
    """After a job's last attempt failed: demo mode takes `operation`'s failure exit, with the
    reason, if this job still drives it."""
    if await claim_demo_job(
        session, user_id=user_id, procrastinate_job_id=procrastinate_job_id, operation=operation
    ):
        await _set_demo_status(
            session, user_id=user_id, moving=operation.moving, to=operation.failed, error=reason
        )


async def _set_demo_status(
    session: AsyncSession, *, user_id: int, moving: str, to: str, error: str | None
) -> None:
    cursor = await db.execute(
        session,
        QUERIES["set_demo_status"],
        {"user_id": user_id, "moving": moving, "to": to, "error": error},
    )
    row = await cursor.fetchone()
    await service.announce_demo(
        session,
        user_id=user_id,
        status=to,
        error=error,
        job_id=row["demo_job_id"] if row else None,
    )


# Platform connections


async def claim_connection_job(
    session: AsyncSession,
    *,
    platform_id: int,
    procrastinate_job_id: int,
    operation: states.Operation,
) -> int | None:
    """Lock the platform if this job still drives it through `operation`: its user's id."""
    cursor = await db.execute(
        session,
        QUERIES["claim_connection_job"],
        {"platform_id": platform_id, "status": operation.moving, "job_id": procrastinate_job_id},
    )
    row = await cursor.fetchone()
    return None if row is None else int(row["user_id"])


async def end_connection(
    session: AsyncSession,
    *,
    user_id: int,
    platform_id: int,
    operation: states.Operation,
    reason: str | None = None,
) -> None:
    """Move a claimed platform on to where `operation` ends: `done`, or with a `reason` its
    failure exit."""
    to = operation.done if reason is None else operation.failed
    await _set_connection_status(
        session,
        user_id=user_id,
        platform_id=platform_id,
        moving=operation.moving,
        to=to,
        error=reason,
    )


async def _set_connection_status(
    session: AsyncSession,
    *,
    user_id: int,
    platform_id: int,
    moving: str,
    to: str,
    error: str | None,
) -> None:
    cursor = await db.execute(
        session,
        QUERIES["set_connection_status"],
        {"platform_id": platform_id, "moving": moving, "to": to, "error": error},
    )
    row = await cursor.fetchone()
    if row is not None:
        await service.announce_platform(
            session,
            user_id=user_id,
            platform_id=platform_id,
            status=to,
            error=error,
            job_id=row["connection_job_id"],
        )
