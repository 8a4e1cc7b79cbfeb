"""The one Alembic history: expand, migrate, contract, every step reversible."""

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import auth_service.models
import demo_service.models
import shared.jobs
import shared.users
from deploy import migrate
from shared.db import Base
from shared.settings import sqlalchemy_url

MODEL_MODULES = (auth_service.models, demo_service.models, shared.jobs, shared.users)


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def seed_legacy(url: str, users: int = 1000) -> None:
    """Legacy rows as the old app wrote them: booleans set both ways, bcrypt hashes."""
    with psycopg.connect(url) as conn:
        conn.execute(
            """
            INSERT INTO users (email, hashed_password, is_demo_mode)
            SELECT 'user' || i || '@example.com', '$2b$12$' || repeat('x', 53), i %% 3 = 0
            FROM generate_series(1, %s) AS i
            """,
            (users,),
        )
        conn.execute(
            """
            INSERT INTO platforms (user_id, kind, name, is_connected)
            SELECT id, 'google_ads', 'Google Ads', id % 2 = 0 FROM users
            """
        )
        conn.execute(
            """
            INSERT INTO daily_metrics (platform_id, day, impressions, clicks, spend, conversions)
            SELECT id, current_date, 100, 10, 12.50, 1 FROM platforms
            """
        )


class TestChain:
    def test_upgrades_downgrades_and_upgrades_again(self, empty_db_url: str) -> None:
        migrate.upgrade(empty_db_url)
        assert {"users", "user_sessions", "background_jobs", "procrastinate_jobs"} <= tables(
            empty_db_url
        )
        migrate.downgrade(empty_db_url, "base")
        assert tables(empty_db_url) == {"alembic_version"}
        migrate.upgrade(empty_db_url)
        assert "procrastinate_events" in tables(empty_db_url)

    def test_legacy_rows_come_through_expand_and_contract(self, empty_db_url: str) -> None:
        migrate.upgrade(empty_db_url, "0001_legacy_baseline")
        seed_legacy(empty_db_url)
        migrate.upgrade(empty_db_url)
        with psycopg.connect(empty_db_url) as conn:
            demo: dict[str, int] = dict(
                conn.execute("SELECT demo_mode_status, count(*) FROM users GROUP BY 1").fetchall()
            )
            connection: dict[str, int] = dict(
                conn.execute(
                    "SELECT connection_status, count(*) FROM platforms GROUP BY 1"
                ).fetchall()
            )
            (metrics,) = conn.execute("SELECT count(*) FROM daily_metrics").fetchone() or (0,)
            (hashes,) = conn.execute(
                "SELECT count(*) FROM users WHERE hashed_password LIKE '$2b$%'"
            ).fetchone() or (0,)
        assert demo == {"enabled": 333, "disabled": 667}
        assert connection == {"connected": 500, "disconnected": 500}
        assert metrics == 1000
        assert hashes == 1000

    def test_contract_downgrade_restores_the_booleans(self, empty_db_url: str) -> None:
        migrate.upgrade(empty_db_url, "0001_legacy_baseline")
        seed_legacy(empty_db_url, users=30)
        migrate.upgrade(empty_db_url)
        migrate.downgrade(empty_db_url, "0001_legacy_baseline")
        with psycopg.connect(empty_db_url) as conn:
            (demo,) = conn.execute("SELECT count(*) FROM users WHERE is_demo_mode").fetchone() or (
                0,
            )
            (connected,) = conn.execute(
                "SELECT count(*) FROM platforms WHERE is_connected"
            ).fetchone() or (0,)
        assert (demo, connected) == (10, 15)


class TestExpandPhase:
    """While both columns exist, a write to either shows in the other."""

    @pytest.fixture
    def expanded(self, empty_db_url: str) -> str:
        migrate.upgrade(empty_db_url, "0004_jobs")
        return empty_db_url

    def test_old_code_writing_the_boolean_moves_the_status(self, expanded: str) -> None:
        with psycopg.connect(expanded) as conn:
            (user_id,) = conn.execute(
                "INSERT INTO users (email, hashed_password, is_demo_mode)"
                " VALUES ('old@example.com', 'x', true) RETURNING id"
            ).fetchone() or (0,)
            status = conn.execute(
                "SELECT demo_mode_status FROM users WHERE id = %s", (user_id,)
            ).fetchone()
            assert status == ("enabled",)
            conn.execute("UPDATE users SET is_demo_mode = false WHERE id = %s", (user_id,))
            status = conn.execute(
                "SELECT demo_mode_status FROM users WHERE id = %s", (user_id,)
            ).fetchone()
            assert status == ("disabled",)
            (platform_id,) = conn.execute(
                "INSERT INTO platforms (user_id, kind, name) VALUES (%s, 'meta_ads', 'Meta')"
                " RETURNING id",
                (user_id,),
            ).fetchone() or (0,)
            conn.execute("UPDATE platforms SET is_connected = true WHERE id = %s", (platform_id,))
            row = conn.execute(
                "SELECT connection_status FROM platforms WHERE id = %s", (platform_id,)
            ).fetchone()
            assert row == ("connected",)

    def test_new_code_writing_the_status_moves_the_boolean(self, expanded: str) -> None:
        with psycopg.connect(expanded) as conn:
            (user_id,) = conn.execute(
                "INSERT INTO users (email, hashed_password, demo_mode_status)"
                " VALUES ('new@example.com', 'x', 'enabling') RETURNING id"
            ).fetchone() or (0,)
            flag = conn.execute("SELECT is_demo_mode FROM users WHERE id = %s", (user_id,))
            assert flag.fetchone() == (False,)
            conn.execute("UPDATE users SET demo_mode_status = 'enabled' WHERE id = %s", (user_id,))
            flag = conn.execute("SELECT is_demo_mode FROM users WHERE id = %s", (user_id,))
            assert flag.fetchone() == (True,)
            (platform_id,) = conn.execute(
                "INSERT INTO platforms (user_id, kind, name, connection_status)"
                " VALUES (%s, 'meta_ads', 'Meta', 'connected') RETURNING id",
                (user_id,),
            ).fetchone() or (0,)
            flag = conn.execute("SELECT is_connected FROM platforms WHERE id = %s", (platform_id,))
            assert flag.fetchone() == (True,)
            conn.execute(
                "UPDATE platforms SET connection_status = 'disconnecting' WHERE id = %s",
                (platform_id,),
            )
            conn.execute(
                "UPDATE platforms SET connection_status = 'disconnected' WHERE id = %s",
                (platform_id,),
            )
            flag = conn.execute("SELECT is_connected FROM platforms WHERE id = %s", (platform_id,))
            assert flag.fetchone() == (False,)


def test_models_match_the_migrated_schema(db_url: str) -> None:
    engine = create_engine(sqlalchemy_url(db_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                # Procrastinate's tables are the package's, not ours to model.
                "include_name": lambda name, type_, parent: (
                    type_ != "table"
                    or not (name or "").startswith(("procrastinate_", "alembic_version"))
                ),
            },
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []
