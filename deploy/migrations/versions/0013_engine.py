"""The engine (issue 18): the job lifecycle enforced for every writer, and the worker's batch
claim.

- Trigger `background_jobs_status_transition` (`sql/0013_background_jobs_status_transition`)
  refuses a status change that shared/jobs/lifecycle.py does not allow, as 0006 and 0008 do for
  demo mode and connections. The moves were only implied until now, by the conditional updates
  of the mirror of Procrastinate's events (`sql/0004_pgstack_mirror_job_event`) and by
  job_service's retry; every writer of the previous release stays within them.
- `pgstack_fetch_jobs(queues, worker_id, max_jobs)` (`sql/0013_pgstack_fetch_jobs`): the fair
  fetch of 0012 repeated up to `max_jobs` times in one statement, so a worker fills all its free
  slots in one round trip and one commit.

Both are catalog changes (no row is read): old and new pods run beside them. Downgrade drops
them.

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
    op.execute(read_sql("0013_pgstack_fetch_jobs"))


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION pgstack_fetch_jobs(character varying[], bigint, integer);
        DROP TRIGGER background_jobs_status_transition ON background_jobs;
        DROP FUNCTION background_jobs_status_transition();
        """
    )
