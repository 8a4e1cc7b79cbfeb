"""Contract: drop the booleans and their dual-write triggers; only the statuses remain.

Revision ID: 0005_contract
Revises: 0004_jobs
"""

from alembic import op

from deploy.migrations import read_sql

revision = "0005_contract"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DROP TRIGGER users_sync_demo_mode ON users;
        DROP FUNCTION users_sync_demo_mode();
        DROP TRIGGER platforms_sync_connection ON platforms;
        DROP FUNCTION platforms_sync_connection();
        ALTER TABLE users DROP COLUMN is_demo_mode;
        ALTER TABLE platforms DROP COLUMN is_connected;
        """
    )


def downgrade() -> None:
    # Recreate the booleans from the statuses, then the triggers of the expand phase.
    op.execute(
        """
        ALTER TABLE users ADD COLUMN is_demo_mode boolean NOT NULL DEFAULT false;
        UPDATE users SET is_demo_mode = demo_mode_status IN ('enabled', 'disabling');
        ALTER TABLE platforms ADD COLUMN is_connected boolean NOT NULL DEFAULT false;
        UPDATE platforms SET is_connected = connection_status IN ('connected', 'disconnecting');
        """
    )
    op.execute(read_sql("0002_users_sync_demo_mode"))
    op.execute(read_sql("0002_platforms_sync_connection"))
