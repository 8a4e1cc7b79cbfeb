"""A cap per kind and a fetch that stays fast behind a capped user (issue 14).

- `background_jobs.max_active_per_kind`: the cap in force for the job's kind when it was
  enqueued (JOBS_MAX_ACTIVE_PER_KIND, shared/jobs/fairness.py); NULL: only the user's cap.
- `procrastinate_fetch_job_v2` (sql/0012_...): 0009's fair fetch with the kind's cap, and the
  owner's row read per candidate instead of joined. PL/pgSQL plans 0009's join generically as a
  hash join and a sort of every waiting job, so each fetch cost grew with the queue (2 ms per job
  at 3,000 waiting, bench/durable.py's pipeline at 0.66x bare Procrastinate).

An expand revision: a nullable column without a default is a catalog change, and the previous
release's enqueues (which leave it NULL) keep working beside this one's fetch. Downgrade puts
0009's fetch back and drops the column.

Revision ID: 0012_fair_fetch
Revises: 0011_job_traceparent
"""

from alembic import op

from deploy.migrations import read_sql

revision = "0012_fair_fetch"
down_revision = "0011_job_traceparent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE background_jobs ADD COLUMN max_active_per_kind integer
            CONSTRAINT background_jobs_max_active_kind_check CHECK (max_active_per_kind > 0)
        """
    )
    op.execute(read_sql("0012_procrastinate_fetch_job_v2"))


def downgrade() -> None:
    op.execute(read_sql("0009_procrastinate_fetch_job_v2"))
    op.execute("ALTER TABLE background_jobs DROP COLUMN max_active_per_kind")
