"""Demo: the database refuses illegal demo and connection transitions; a platform's job; a
demo or connection whose job ends failed or cancelled, however it ended, ends failed.

demo_service moves `users.demo_mode_status` and `platforms.connection_status` with conditional
UPDATEs; these triggers make the state machines of DESIGN.md hold for every writer, a
hand-typed UPDATE included. `platforms.connection_job_id` is the platform's current connect or
disconnect job, as `users.demo_job_id` is the demo's (no foreign key: `background_jobs` rows
are pruned after days, and a dangling id only means "no job to show").

A demo task marks its state failed itself after its last attempt, with its own reason; but a
job can also end without its code seeing it (a timeout, a worker lost too often, a user's
cancellation). The trigger on `background_jobs` catches every such end, so demo mode is never
left `enabling` behind a dead job, and announces it on `job_events` like the service does.

Revision ID: 0006_demo
Revises: 0005_contract
"""

from alembic import op

from deploy.migrations import read_sql

revision = "0006_demo"
down_revision = "0005_contract"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE platforms ADD COLUMN connection_job_id uuid")
    op.execute(read_sql("0006_users_demo_mode_transition"))
    op.execute(read_sql("0006_platforms_connection_transition"))
    op.execute(read_sql("0006_demo_job_ended"))


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER demo_job_ended ON background_jobs;
        DROP FUNCTION demo_job_ended();
        DROP TRIGGER platforms_connection_transition ON platforms;
        DROP FUNCTION platforms_connection_transition();
        DROP TRIGGER users_demo_mode_transition ON users;
        DROP FUNCTION users_demo_mode_transition();
        ALTER TABLE platforms DROP COLUMN connection_job_id;
        """
    )
