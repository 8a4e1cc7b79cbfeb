"""The idempotent steps of the demo jobs (steps.py), at the database (each test rolled back);
the state machines are test_states.py's."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from demo_service import states, steps
from demo_service.demo_data import DEMO_PLATFORMS
from tests.kit.users import make_user


class TestDemoSteps:
    async def test_repeating_every_step_still_makes_one_workspace(
        self, db_url: str, session: AsyncSession
    ) -> None:
        user_id = make_user(db_url)
        for _ in range(2):
            platform_ids = await steps.create_demo_platforms(session, user_id=user_id)
            for platform in DEMO_PLATFORMS:
                await steps.generate_demo_metrics(
                    session, platform_id=platform_ids[platform.kind], platform=platform
                )
        assert sorted(platform_ids) == sorted(p.kind for p in DEMO_PLATFORMS)
        assert await steps.count_demo_metrics(session, user_id=user_id) == 360

    async def test_metrics_are_plausible(self, db_url: str, session: AsyncSession) -> None:
        user_id = make_user(db_url)
        platform_ids = await steps.create_demo_platforms(session, user_id=user_id)
        google = DEMO_PLATFORMS[0]
        await steps.generate_demo_metrics(
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
        self, db_url: str, session: AsyncSession
    ) -> None:
        user_id = make_user(db_url)
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
        platform_ids = await steps.create_demo_platforms(session, user_id=user_id)
        assert own not in platform_ids.values()
        google = DEMO_PLATFORMS[0]
        await steps.generate_demo_metrics(
            session, platform_id=platform_ids[google.kind], platform=google
        )

        assert await steps.remove_demo_metrics(session, user_id=user_id) == 90
        assert await steps.remove_demo_platforms(session, user_id=user_id) == 4

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
        self, db_url: str, session: AsyncSession
    ) -> None:
        user_id = make_user(db_url)
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
        assert await steps.claim_demo_job(
            session, user_id=user_id, procrastinate_job_id=424242, operation=states.ENABLE
        )
        assert not await steps.claim_demo_job(
            session, user_id=user_id, procrastinate_job_id=999, operation=states.ENABLE
        )
        await steps.fail_demo(
            session, user_id=user_id, procrastinate_job_id=999, operation=states.ENABLE, reason="x"
        )
        status = await session.scalar(
            text("SELECT demo_mode_status FROM users WHERE id = :u"), {"u": user_id}
        )
        assert status == "enabling"  # a stale job's failure does not fail the current one
