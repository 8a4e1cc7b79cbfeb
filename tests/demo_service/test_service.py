"""The state machines and the idempotent steps, at the database (each test rolled back)."""

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from demo_service import service
from demo_service.config import TaskSettings


async def make_user(session: AsyncSession) -> int:
    user_id = await session.scalar(
        text(
            "INSERT INTO users (email, hashed_password)"
            " VALUES ('u' || gen_random_uuid() || '@example.com', 'x') RETURNING id"
        )
    )
    assert user_id is not None
    return int(user_id)


class TestTransitions:
    @pytest.mark.parametrize(
        "path",
        [
            ("enabled",),
            ("disabling",),
            ("enabling", "disabling"),
            ("enabling", "enabled", "disabling", "enabling"),
            ("enabling", "enabled", "failed"),
        ],
    )
    async def test_the_database_refuses_a_demo_transition_the_design_does_not_have(
        self, session: AsyncSession, path: tuple[str, ...]
    ) -> None:
        user_id = await make_user(session)
        *legal, illegal = path
        for status in legal:
            await session.execute(
                text("UPDATE users SET demo_mode_status = :s WHERE id = :id"),
                {"s": status, "id": user_id},
            )
        with pytest.raises(IntegrityError, match="illegal demo mode transition"):
            async with session.begin_nested():
                await session.execute(
                    text("UPDATE users SET demo_mode_status = :s WHERE id = :id"),
                    {"s": illegal, "id": user_id},
                )

    async def test_every_demo_transition_of_the_design_is_allowed(
        self, session: AsyncSession
    ) -> None:
        user_id = await make_user(session)
        path = ["enabling", "failed", "enabling", "enabled", "disabling", "failed", "disabling"]
        for status in [*path, "disabled"]:
            await session.execute(
                text("UPDATE users SET demo_mode_status = :s WHERE id = :id"),
                {"s": status, "id": user_id},
            )

    @pytest.mark.parametrize(
        ("start", "illegal"),
        [("disconnected", "connected"), ("connected", "connecting"), ("error", "connected")],
    )
    async def test_the_database_refuses_a_connection_transition_the_design_does_not_have(
        self, session: AsyncSession, start: str, illegal: str
    ) -> None:
        user_id = await make_user(session)
        platform_id = await session.scalar(
            text(
                "INSERT INTO platforms (user_id, kind, name, connection_status)"
                " VALUES (:u, 'meta_ads', 'Meta', :s) RETURNING id"
            ),
            {"u": user_id, "s": start},
        )
        with pytest.raises(IntegrityError, match="illegal connection transition"):
            async with session.begin_nested():
                await session.execute(
                    text("UPDATE platforms SET connection_status = :s WHERE id = :id"),
                    {"s": illegal, "id": platform_id},
                )


class TestDemoSteps:
    async def test_repeating_every_step_still_makes_one_workspace(
        self, session: AsyncSession
    ) -> None:
        user_id = await make_user(session)
        for _ in range(2):
            platform_ids = await service.create_demo_platforms(session, user_id=user_id)
            for platform in service.DEMO_PLATFORMS:
                await service.generate_demo_metrics(
                    session, platform_id=platform_ids[platform.kind], platform=platform
                )
        assert sorted(platform_ids) == sorted(p.kind for p in service.DEMO_PLATFORMS)
        assert await service.count_demo_metrics(session, user_id=user_id) == 360

    async def test_metrics_are_plausible(self, session: AsyncSession) -> None:
        user_id = await make_user(session)
        platform_ids = await service.create_demo_platforms(session, user_id=user_id)
        google = service.DEMO_PLATFORMS[0]
        await service.generate_demo_metrics(
            session, platform_id=platform_ids[google.kind], platform=google
        )
        row = (
            await session.execute(
                text(
                    "SELECT count(DISTINCT day), min(day), max(day), bool_and(clicks <= impressions"
                    " AND conversions <= clicks AND spend > 0 AND impressions > 0)"
                    " FROM daily_metrics WHERE platform_id = :p"
                ),
                {"p": platform_ids[google.kind]},
            )
        ).one()
        days, first, last, sane = row
        assert days == 90
        assert (last - first).days == 89
        assert sane

    async def test_removing_the_demo_data_keeps_the_users_own_platform(
        self, session: AsyncSession
    ) -> None:
        user_id = await make_user(session)
        own = await session.scalar(
            text(
                "INSERT INTO platforms (user_id, kind, name) VALUES (:u, 'google_ads', 'Mine')"
                " RETURNING id"
            ),
            {"u": user_id},
        )
        await session.execute(
            text("INSERT INTO daily_metrics (platform_id, day) VALUES (:p, current_date)"),
            {"p": own},
        )
        platform_ids = await service.create_demo_platforms(session, user_id=user_id)
        assert own not in platform_ids.values()
        google = service.DEMO_PLATFORMS[0]
        await service.generate_demo_metrics(
            session, platform_id=platform_ids[google.kind], platform=google
        )

        assert await service.remove_demo_metrics(session, user_id=user_id) == 90
        assert await service.remove_demo_platforms(session, user_id=user_id) == 4

        left = await session.execute(
            text(
                "SELECT p.id, count(m.id) FROM platforms p"
                " LEFT JOIN daily_metrics m ON m.platform_id = p.id"
                " WHERE p.user_id = :u GROUP BY p.id"
            ),
            {"u": user_id},
        )
        assert left.all() == [(own, 1)]

    async def test_a_job_that_no_longer_drives_demo_mode_cannot_claim_it(
        self, session: AsyncSession
    ) -> None:
        user_id = await make_user(session)
        job = await session.scalar(
            text(
                "INSERT INTO background_jobs (user_id, kind, procrastinate_job_id)"
                " VALUES (:u, 'demo:enable', 424242) RETURNING id"
            ),
            {"u": user_id},
        )
        await session.execute(
            text("UPDATE users SET demo_mode_status = 'enabling', demo_job_id = :j WHERE id = :u"),
            {"u": user_id, "j": job},
        )
        assert await service.claim_demo_job(
            session, user_id=user_id, procrastinate_job_id=424242, status="enabling"
        )
        assert not await service.claim_demo_job(
            session, user_id=user_id, procrastinate_job_id=999, status="enabling"
        )
        await service.fail_demo(
            session, user_id=user_id, procrastinate_job_id=999, moving="enabling", reason="x"
        )
        status = await session.scalar(
            text("SELECT demo_mode_status FROM users WHERE id = :u"), {"u": user_id}
        )
        assert status == "enabling"  # a stale job's failure does not fail the current one


class TestTaskSettings:
    def test_the_failure_hook_is_refused_in_production(self) -> None:
        with pytest.raises(ValidationError, match="DEMO_FAIL_ATTEMPTS"):
            TaskSettings(PGSTACK_ENV="production", fail_attempts=1)
        assert TaskSettings(PGSTACK_ENV="test", fail_attempts=1).fail_attempts == 1

    def test_enabling_takes_about_two_seconds_by_default(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Five steps of DEMO_STEP_DELAY: long enough for people to watch "enabling"."""
        monkeypatch.delenv("DEMO_STEP_DELAY")
        assert TaskSettings(PGSTACK_ENV="production").step_delay * 5 == pytest.approx(2)
