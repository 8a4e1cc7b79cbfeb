"""The worker's batch claim (issue 18).

- `pgstack_fetch_jobs(queues, worker_id, max_jobs)` (`sql/0015_pgstack_fetch_jobs`): the fair
  fetch of 0012 repeated up to `max_jobs` times in one statement, so a worker fills all its free
  slots in one round trip and one commit.

A catalog change (no row is read): old and new pods run beside it (old workers keep
Procrastinate's fetch). Downgrade drops it.

Revision ID: 0015_worker_claim
Revises: 0014_login_in_flight
"""

from alembic import op

from deploy.migrations import read_sql

revision = "0015_worker_claim"
down_revision = "0014_login_in_flight"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(read_sql("0015_pgstack_fetch_jobs"))


def downgrade() -> None:
    op.execute("DROP FUNCTION pgstack_fetch_jobs(character varying[], bigint, integer);")
