"""Durable steps and per-user fairness (issue 14).

- `background_jobs.steps`: the job's steps in the order the task met them, each
  `{name, status, attempts, started_at, finished_at, result}` (shared/jobs/steps.py). On the
  row rather than a table of their own: `JobRead` shows them wherever a job is served, and a
  step's end is written by the same UPDATE path that already bumps the version and announces.
- `pgstack_background_job_changed` (sql/0009_...) counts a change of `steps` as user-visible:
  a step's start and end bump the version and reach the job's streams like progress does.
- `background_jobs.max_active_per_user`: the cap in force when the job was enqueued
  (JOBS_MAX_ACTIVE_PER_USER, shared/jobs/fairness.py); NULL: no cap.
- `procrastinate_fetch_job_v2` (sql/0009_...) is replaced by a fair version: a job whose user
  already runs `max_active_per_user` jobs is passed over, under a per-user advisory lock so the
  cap holds with any number of workers. The index `background_jobs_running_user_idx` keeps that
  count to the user's running jobs.

Downgrade drops the columns and the index, restores 0004's trigger body and Procrastinate's own
fetch (from the installed package's schema.sql, never copied here).

Revision ID: 0009_durable_steps
Revises: 0008_leftovers
"""

import re
from importlib import resources

from alembic import op

from deploy.migrations import read_sql

revision = "0009_durable_steps"
down_revision = "0008_leftovers"
branch_labels = None
depends_on = None

DROP_JOB_CHANGED = """
    DROP TRIGGER pgstack_background_job_changed ON background_jobs;
    DROP FUNCTION pgstack_background_job_changed();
"""


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE background_jobs
            ADD COLUMN steps jsonb NOT NULL DEFAULT '[]',
            ADD COLUMN max_active_per_user integer
                CONSTRAINT background_jobs_max_active_check CHECK (max_active_per_user > 0);
        CREATE INDEX background_jobs_running_user_idx ON background_jobs (user_id)
            WHERE status IN ('running', 'cancelling');
        """
    )
    op.execute(DROP_JOB_CHANGED)
    op.execute(read_sql("0009_pgstack_background_job_changed"))
    op.execute(read_sql("0009_procrastinate_fetch_job_v2"))


def downgrade() -> None:
    op.execute(_package_fetch_function())
    op.execute(DROP_JOB_CHANGED)
    op.execute(read_sql("0004_pgstack_background_job_changed"))
    op.execute(
        """
        DROP INDEX background_jobs_running_user_idx;
        ALTER TABLE background_jobs DROP COLUMN steps, DROP COLUMN max_active_per_user;
        """
    )


def _package_fetch_function() -> str:
    """Procrastinate's own `procrastinate_fetch_job_v2`, as its installed schema.sql has it."""
    schema = (resources.files("procrastinate.sql") / "schema.sql").read_text()
    found = re.search(r"CREATE FUNCTION procrastinate_fetch_job_v2\(.*?\n\$\$;", schema, re.S)
    assert found is not None, "procrastinate's schema.sql has no procrastinate_fetch_job_v2"
    return found.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
