"""The legacy baseline: the app before the refactor, booleans and bcrypt hashes.

Revision ID: 0001_legacy_baseline
Revises:
"""

from alembic import op

revision = "0001_legacy_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE users (
            id              bigserial PRIMARY KEY,
            email           text NOT NULL UNIQUE,
            hashed_password text NOT NULL,
            full_name       text NOT NULL DEFAULT '',
            is_active       boolean NOT NULL DEFAULT true,
            is_demo_mode    boolean NOT NULL DEFAULT false,
            created_at      timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE platforms (
            id           bigserial PRIMARY KEY,
            user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            kind         text NOT NULL,
            name         text NOT NULL,
            is_connected boolean NOT NULL DEFAULT false,
            created_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX platforms_user_id_idx ON platforms(user_id);

        CREATE TABLE daily_metrics (
            id          bigserial PRIMARY KEY,
            platform_id bigint NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
            day         date NOT NULL,
            impressions bigint NOT NULL DEFAULT 0,
            clicks      bigint NOT NULL DEFAULT 0,
            spend       numeric(14, 2) NOT NULL DEFAULT 0,
            conversions bigint NOT NULL DEFAULT 0,
            UNIQUE (platform_id, day)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE daily_metrics; DROP TABLE platforms; DROP TABLE users;")
