"""Expand: status columns beside the booleans, backfilled, kept in step by triggers.

While old code (writing the booleans) and new code (writing the statuses) run side by side,
a trigger on each table derives the column the writer did not touch.

Revision ID: 0002_expand_statuses
Revises: 0001_legacy_baseline
"""

from alembic import op

from deploy.migrations import read_sql

revision = "0002_expand_statuses"
down_revision = "0001_legacy_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE users
            ADD COLUMN demo_mode_status text NOT NULL DEFAULT 'disabled'
                CONSTRAINT users_demo_mode_status_check CHECK (demo_mode_status IN
                    ('disabled', 'enabling', 'enabled', 'disabling', 'failed')),
            ADD COLUMN demo_job_id uuid,
            ADD COLUMN demo_error text,
            ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
        UPDATE users SET demo_mode_status = 'enabled' WHERE is_demo_mode;
        -- Emails are unique whatever their case; the application stores them lower-cased.
        CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

        ALTER TABLE platforms
            ADD COLUMN connection_status text NOT NULL DEFAULT 'disconnected'
                CONSTRAINT platforms_connection_status_check CHECK (connection_status IN
                    ('disconnected', 'connecting', 'connected', 'disconnecting', 'error')),
            ADD COLUMN connection_error text,
            ADD COLUMN is_demo boolean NOT NULL DEFAULT false,
            ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
        UPDATE platforms SET connection_status = 'connected' WHERE is_connected;
        -- One demo platform of each kind per user: a retried demo.enable cannot make two.
        CREATE UNIQUE INDEX platforms_demo_kind_key ON platforms (user_id, kind) WHERE is_demo;
        """
    )
    op.execute(read_sql("0002_users_sync_demo_mode"))
    op.execute(read_sql("0002_platforms_sync_connection"))


def downgrade() -> None:
    # The booleans were kept in step, so dropping the statuses loses nothing old code reads.
    op.execute(
        """
        DROP TRIGGER platforms_sync_connection ON platforms;
        DROP FUNCTION platforms_sync_connection();
        DROP TRIGGER users_sync_demo_mode ON users;
        DROP FUNCTION users_sync_demo_mode();
        DROP INDEX platforms_demo_kind_key;
        ALTER TABLE platforms DROP COLUMN connection_status, DROP COLUMN connection_error,
            DROP COLUMN is_demo, DROP COLUMN updated_at;
        DROP INDEX users_email_lower_key;
        ALTER TABLE users DROP COLUMN demo_mode_status, DROP COLUMN demo_job_id,
            DROP COLUMN demo_error, DROP COLUMN updated_at;
        """
    )
