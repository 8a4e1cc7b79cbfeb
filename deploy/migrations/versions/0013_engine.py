"""The engine (issue 18): the job lifecycle enforced for every writer.

- Trigger `background_jobs_status_transition` (`sql/0013_background_jobs_status_transition`)
  refuses a status change that shared/jobs/lifecycle.py does not allow, as 0006 and 0008 do for
  demo mode and connections. The moves were only implied until now, by the conditional updates
  of the mirror of Procrastinate's events (`sql/0004_pgstack_mirror_job_event`) and by
  job_service's retry; every writer of the previous release stays within them.

A catalog change (no row is read): old and new pods run beside it. Downgrade drops it.

Revision ID: 0013_engine
Revises: 0012_fair_fetch
"""

from alembic import op

from deploy.migrations import read_sql

revision = "0013_engine"
down_revision = "0012_fair_fetch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(read_sql("0013_background_jobs_status_transition"))


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER background_jobs_status_transition ON background_jobs;
        DROP FUNCTION background_jobs_status_transition();
        """
    )
