"""Demo mode, platform connections, metrics and the dashboard: the logic and its SQL.

Every state change is one conditional UPDATE (`... WHERE status IN (<allowed>) RETURNING`):
of two tabs, a double click or a hundred parallel requests, the one whose UPDATE matches
enqueues the job, in the same transaction; the others wait on the row lock, match nothing,
then read the state the winner committed. A trigger (migration 0006) refuses any transition
the state machines of DESIGN.md do not have, whoever writes it.

Functions below the "Tasks" line are the steps of demo_service's jobs (tasks.py runs them).
"""

from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from demo_service.errors import DemoBusy, PlatformBusy, PlatformNotFound, UserNotFound
from demo_service.models import Platform
from demo_service.schemas import DemoRead, PlatformRead
from shared import events, jobs
from shared.job_schemas import JobRead
from shared.jobs import BackgroundJob
from shared.users import User

DemoOperation = Literal["enable", "disable"]
PlatformOperation = Literal["connect", "disconnect"]


@dataclass(frozen=True)
class _Move:
    """One operation of a state machine: where it may start, the state it moves to while its
    job runs, and the states in which it is refused (the other operation is running)."""

    start: tuple[str, ...]
    moving: str
    refused: tuple[str, ...]


_DEMO_MOVES: dict[DemoOperation, _Move] = {
    "enable": _Move(start=("disabled", "failed"), moving="enabling", refused=("disabling",)),
    "disable": _Move(start=("enabled", "failed"), moving="disabling", refused=("enabling",)),
}
_PLATFORM_MOVES: dict[PlatformOperation, _Move] = {
    "connect": _Move(
        start=("disconnected", "error"), moving="connecting", refused=("disconnecting",)
    ),
    "disconnect": _Move(
        start=("connected",), moving="disconnecting", refused=("connecting", "error")
    ),
}


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
    return await _start_demo(session, user_id=user_id, operation="enable")


async def disable_demo(session: AsyncSession, *, user_id: int) -> DemoRead:
    """Start disabling demo mode, or return the operation already under way or done."""
    return await _start_demo(session, user_id=user_id, operation="disable")


async def _start_demo(session: AsyncSession, *, user_id: int, operation: DemoOperation) -> DemoRead:
    move = _DEMO_MOVES[operation]
    moved = await session.scalar(
        update(User)
        .where(User.id == user_id, User.demo_mode_status.in_(move.start))
        .values(demo_mode_status=move.moving, demo_error=None, updated_at=func.now())
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        demo = await get_demo(session, user_id=user_id)
        if demo.status in move.refused:
            raise DemoBusy(f"Demo mode is {demo.status}; try again when that has finished.")
        return demo
    job = await jobs.enqueue(session, f"demo:{operation}", user_id, {"user_id": user_id})
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(demo_job_id=job.id)
        .execution_options(synchronize_session=False)
    )
    demo = DemoRead(status=move.moving, error=None, job=JobRead.of(job))
    await _announce_demo(session, user_id=user_id, demo=demo)
    return demo


async def _announce_demo(session: AsyncSession, *, user_id: int, demo: DemoRead) -> None:
    await events.announce(
        session,
        user_id=user_id,
        type="demo",
        data={
            "status": demo.status,
            "error": demo.error,
            "job_id": demo.job.id if demo.job else None,
        },
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
        session, user_id=user_id, platform_id=platform_id, operation="connect"
    )


async def disconnect_platform(
    session: AsyncSession, *, user_id: int, platform_id: int
) -> PlatformRead:
    """Start disconnecting a platform, or return the operation already under way or done."""
    return await _start_platform(
        session, user_id=user_id, platform_id=platform_id, operation="disconnect"
    )


async def _start_platform(
    session: AsyncSession, *, user_id: int, platform_id: int, operation: PlatformOperation
) -> PlatformRead:
    move = _PLATFORM_MOVES[operation]
    platform = await session.scalar(
        update(Platform)
        .where(
            Platform.id == platform_id,
            Platform.user_id == user_id,
            Platform.connection_status.in_(move.start),
        )
        .values(connection_status=move.moving, connection_error=None, updated_at=func.now())
        .returning(Platform)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if platform is None:
        current = await get_platform_or_raise(session, user_id=user_id, platform_id=platform_id)
        if current.connection_status in move.refused:
            raise PlatformBusy(
                f"The platform is {current.connection_status}; it cannot {operation} now."
            )
        return current
    job = await jobs.enqueue(
        session, f"demo:{operation}_platform", user_id, {"platform_id": platform_id}
    )
    platform.connection_job_id = job.id
    await session.flush()
    read = _platform_read(platform, job)
    await _announce_platform(session, user_id=user_id, platform=read)
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


async def _announce_platform(
    session: AsyncSession, *, user_id: int, platform: PlatformRead
) -> None:
    await events.announce(
        session,
        user_id=user_id,
        type="platform",
        data={
            "platform_id": platform.id,
            "status": platform.connection_status,
            "error": platform.connection_error,
            "job_id": platform.job.id if platform.job else None,
        },
    )


# Metrics and the dashboard: JSON built by Postgres in one statement each, sent as it is, on a
# plain psycopg connection of the read pool (app.state.read_pool): the hot path skips the ORM.
ReadConnection = AsyncConnection[Any]

# A job as schemas.JobRead renders it; `{j}` is the alias of background_jobs in the query.
_JOB_JSON = """json_build_object(
    'id', {j}.id, 'kind', {j}.kind, 'status', {j}.status,
    'progress', {j}.progress_percent, 'message', {j}.progress_message,
    'attempts', {j}.attempts, 'result', {j}.result,
    'error', CASE WHEN {j}.error_type IS NOT NULL THEN
        json_build_object('type', {j}.error_type, 'message', {j}.error_message) END,
    'version', {j}.version, 'created_at', {j}.created_at, 'updated_at', {j}.updated_at,
    'started_at', {j}.started_at, 'finished_at', {j}.finished_at,
    'links', json_build_object('self', '/v1/jobs/' || {j}.id,
                               'status', '/v1/jobs/' || {j}.id || '/status',
                               'events', '/v1/jobs/' || {j}.id || '/events'))"""

METRICS_SQL = """
    WITH per_day AS (
        SELECT m.day, sum(m.impressions) AS impressions, sum(m.clicks) AS clicks,
               sum(m.spend) AS spend, sum(m.conversions) AS conversions
        FROM daily_metrics m JOIN platforms p ON p.id = m.platform_id
        WHERE p.user_id = %(user_id)s AND m.day > current_date - CAST(%(days)s AS integer)
        GROUP BY m.day
    ), series AS (
        SELECT current_date - i AS day FROM generate_series(0, CAST(%(days)s AS integer) - 1) AS i
    )
    SELECT json_build_object(
        'days', CAST(%(days)s AS integer),
        'totals', (SELECT json_build_object(
            'impressions', COALESCE(sum(impressions), 0), 'clicks', COALESCE(sum(clicks), 0),
            'spend', COALESCE(sum(spend), 0), 'conversions', COALESCE(sum(conversions), 0))
            FROM per_day),
        'daily', (SELECT json_agg(json_build_object(
            'day', s.day, 'impressions', COALESCE(d.impressions, 0),
            'clicks', COALESCE(d.clicks, 0), 'spend', COALESCE(d.spend, 0),
            'conversions', COALESCE(d.conversions, 0)) ORDER BY s.day)
            FROM series s LEFT JOIN per_day d USING (day))
    )::text
    """

DASHBOARD_METRIC_DAYS = 30

DASHBOARD_SQL = f"""
    SELECT json_build_object(
        'user', json_build_object('id', u.id, 'email', u.email, 'name', u.full_name),
        'demo', json_build_object(
            'status', u.demo_mode_status, 'error', u.demo_error,
            'job', (SELECT {_JOB_JSON.format(j="dj")}
                    FROM background_jobs dj WHERE dj.id = u.demo_job_id)),
        'platforms', COALESCE((
            SELECT json_agg(json_build_object(
                'id', p.id, 'kind', p.kind, 'name', p.name,
                'connection_status', p.connection_status,
                'connection_error', p.connection_error, 'is_demo', p.is_demo,
                'job', (SELECT {_JOB_JSON.format(j="pj")}
                        FROM background_jobs pj WHERE pj.id = p.connection_job_id)
            ) ORDER BY p.id)
            FROM platforms p WHERE p.user_id = u.id), '[]'),
        'metrics', (
            SELECT json_build_object(
                'days', {DASHBOARD_METRIC_DAYS},
                'impressions', COALESCE(sum(m.impressions), 0),
                'clicks', COALESCE(sum(m.clicks), 0),
                'spend', COALESCE(sum(m.spend), 0),
                'conversions', COALESCE(sum(m.conversions), 0))
            FROM daily_metrics m JOIN platforms p ON p.id = m.platform_id
            WHERE p.user_id = u.id AND m.day > current_date - {DASHBOARD_METRIC_DAYS}),
        'active_jobs', COALESCE((
            SELECT json_agg({_JOB_JSON.format(j="aj")} ORDER BY aj.created_at DESC)
            FROM background_jobs aj
            WHERE aj.user_id = u.id AND aj.status IN {tuple(jobs.ACTIVE_STATUSES)!r}), '[]')
    )::text
    FROM users u WHERE u.id = %(user_id)s
    """


async def get_metrics(connection: ReadConnection, *, user_id: int, days: int) -> str:
    """Totals and a daily series (every day, zeros included) over the last `days` days, as
    JSON text (schemas.MetricsRead)."""
    cursor = await connection.execute(METRICS_SQL, {"user_id": user_id, "days": days})
    row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


async def get_dashboard(connection: ReadConnection, *, user_id: int) -> str:
    """Everything the dashboard page shows, as JSON text (schemas.DashboardRead), from one
    SQL statement: the page waits for this one round trip before its first byte."""
    cursor = await connection.execute(DASHBOARD_SQL, {"user_id": user_id})
    row = await cursor.fetchone()
    if row is None:
        raise UserNotFound()
    return str(row[0])


# Tasks: the steps of demo_service's jobs, each run in its own transaction by tasks.py.


@dataclass(frozen=True)
class DemoPlatform:
    kind: str
    name: str
    # Shapes of the generated metrics: daily impressions, click-through rate, cost per click,
    # conversion rate; roughly what these networks look like for a small advertiser.
    impressions: int
    ctr: float
    cpc: float
    cvr: float


DEMO_PLATFORMS = (
    DemoPlatform("google_ads", "Google Ads", 12_000, 0.035, 1.20, 0.050),
    DemoPlatform("meta_ads", "Meta Ads", 20_000, 0.012, 0.70, 0.030),
    DemoPlatform("linkedin_ads", "LinkedIn Ads", 4_000, 0.006, 5.50, 0.060),
    DemoPlatform("tiktok_ads", "TikTok Ads", 30_000, 0.010, 0.35, 0.020),
)
DEMO_DAYS = 90


async def claim_demo_job(
    session: AsyncSession, *, user_id: int, procrastinate_job_id: int, status: str
) -> bool:
    """Lock the user's row if this job still drives demo mode through `status`.

    False for a stale job (a retry after the state moved on): it must change nothing.
    """
    claimed = await session.scalar(
        text(
            """
            SELECT u.id FROM users u JOIN background_jobs j ON j.id = u.demo_job_id
            WHERE u.id = :user_id AND u.demo_mode_status = :status
              AND j.procrastinate_job_id = :job_id
            FOR NO KEY UPDATE OF u
            """
        ),
        {"user_id": user_id, "status": status, "job_id": procrastinate_job_id},
    )
    return claimed is not None


async def create_demo_platforms(session: AsyncSession, *, user_id: int) -> dict[str, int]:
    """The user's demo platforms, created if missing: their ids by kind.

    ON CONFLICT on the unique (user_id, kind) WHERE is_demo: a retry finds what an earlier
    attempt made, so a workspace is never created twice.
    """
    await session.execute(
        text(
            """
            INSERT INTO platforms (user_id, kind, name, connection_status, is_demo)
            SELECT :user_id, kind, name, 'connected', true
            FROM unnest(CAST(:kinds AS text[]), CAST(:names AS text[])) AS demo(kind, name)
            ON CONFLICT (user_id, kind) WHERE is_demo DO NOTHING
            """
        ),
        {
            "user_id": user_id,
            "kinds": [p.kind for p in DEMO_PLATFORMS],
            "names": [p.name for p in DEMO_PLATFORMS],
        },
    )
    rows = await session.execute(
        select(Platform.kind, Platform.id).where(Platform.user_id == user_id, Platform.is_demo)
    )
    return {kind: platform_id for kind, platform_id in rows}


async def generate_demo_metrics(
    session: AsyncSession, *, platform_id: int, platform: DemoPlatform
) -> None:
    """DEMO_DAYS days of plausible metrics up to today: a slow growth, quieter weekends and
    some noise. Days that exist already are kept (a retry adds only what is missing)."""
    await session.execute(
        text(
            """
            INSERT INTO daily_metrics (platform_id, day, impressions, clicks, spend, conversions)
            SELECT :platform_id, day, impressions, clicks,
                   round(CAST(clicks * :cpc * (0.85 + 0.3 * random()) AS numeric), 2),
                   CAST(round(clicks * :cvr * (0.7 + 0.6 * random())) AS bigint)
            FROM (
                SELECT day, impressions,
                       CAST(round(impressions * :ctr * (0.8 + 0.4 * random())) AS bigint)
                           AS clicks
                FROM (
                    SELECT current_date - i AS day,
                           CAST(round(:impressions * (1 + 0.004 * (CAST(:days AS integer) - i))
                                      * CASE WHEN extract(isodow FROM current_date - i) >= 6
                                             THEN 0.75 ELSE 1 END
                                      * (0.85 + 0.3 * random())) AS bigint) AS impressions
                    FROM generate_series(0, CAST(:days AS integer) - 1) AS i
                ) AS by_day
            ) AS with_clicks
            ON CONFLICT (platform_id, day) DO NOTHING
            """
        ),
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
    count = await session.scalar(
        text(
            "SELECT count(*) FROM daily_metrics m JOIN platforms p ON p.id = m.platform_id"
            " WHERE p.user_id = :user_id AND p.is_demo"
        ),
        {"user_id": user_id},
    )
    return int(count or 0)


async def remove_demo_metrics(session: AsyncSession, *, user_id: int) -> int:
    """Delete the metrics of the user's demo platforms (never of the user's own)."""
    result = await session.execute(
        text(
            "DELETE FROM daily_metrics m USING platforms p"
            " WHERE p.id = m.platform_id AND p.user_id = :user_id AND p.is_demo"
        ),
        {"user_id": user_id},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def remove_demo_platforms(session: AsyncSession, *, user_id: int) -> int:
    """Delete the user's demo platforms (and, by cascade, anything left of their metrics)."""
    result = await session.execute(
        text("DELETE FROM platforms WHERE user_id = :user_id AND is_demo"), {"user_id": user_id}
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def finish_demo(session: AsyncSession, *, user_id: int, moving: str, to: str) -> None:
    """Move demo mode from `moving` to its destination `to` (the job's last step)."""
    await _set_demo_status(session, user_id=user_id, moving=moving, to=to, error=None)


async def fail_demo(
    session: AsyncSession, *, user_id: int, procrastinate_job_id: int, moving: str, reason: str
) -> None:
    """After a job's last attempt failed: demo mode becomes `failed`, with the reason."""
    if await claim_demo_job(
        session, user_id=user_id, procrastinate_job_id=procrastinate_job_id, status=moving
    ):
        await _set_demo_status(session, user_id=user_id, moving=moving, to="failed", error=reason)


async def _set_demo_status(
    session: AsyncSession, *, user_id: int, moving: str, to: str, error: str | None
) -> None:
    job_id = await session.scalar(
        update(User)
        .where(User.id == user_id, User.demo_mode_status == moving)
        .values(demo_mode_status=to, demo_error=error, updated_at=func.now())
        .returning(User.demo_job_id)
        .execution_options(synchronize_session=False)
    )
    await events.announce(
        session,
        user_id=user_id,
        type="demo",
        data={"status": to, "error": error, "job_id": job_id},
    )


async def claim_connection_job(
    session: AsyncSession, *, platform_id: int, procrastinate_job_id: int, status: str
) -> int | None:
    """Lock the platform if this job still drives it through `status`: its user's id."""
    user_id = await session.scalar(
        text(
            """
            SELECT p.user_id FROM platforms p JOIN background_jobs j ON j.id = p.connection_job_id
            WHERE p.id = :platform_id AND p.connection_status = :status
              AND j.procrastinate_job_id = :job_id
            FOR NO KEY UPDATE OF p
            """
        ),
        {"platform_id": platform_id, "status": status, "job_id": procrastinate_job_id},
    )
    return None if user_id is None else int(user_id)


async def set_connection_status(
    session: AsyncSession,
    *,
    user_id: int,
    platform_id: int,
    moving: str,
    to: str,
    error: str | None = None,
) -> None:
    """Move a claimed platform from `moving` to `to` (`error` with its reason)."""
    platform = await session.scalar(
        update(Platform)
        .where(Platform.id == platform_id, Platform.connection_status == moving)
        .values(connection_status=to, connection_error=error, updated_at=func.now())
        .returning(Platform)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if platform is not None:
        await events.announce(
            session,
            user_id=user_id,
            type="platform",
            data={
                "platform_id": platform_id,
                "status": to,
                "error": error,
                "job_id": platform.connection_job_id,
            },
        )
