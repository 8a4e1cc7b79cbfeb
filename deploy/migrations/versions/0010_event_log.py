"""The replayable event log of jobs (issue 14): `job_events`.

- `job_events`: one row per user-visible change of a job (its creation, status, progress, a
  step's start or end), written by the job's own change in its transaction
  (`sql/0010_pgstack_background_job_changed`). `job_offset` is the job's version after the
  change: dense per job (the row lock of the UPDATE orders them), so it is the SSE id of a
  job's stream. `at` is the insert's clock time, `/v1/events`' resume cursor
  (job_service/streams.py); `id` orders the rows of many jobs and lets the prune task delete
  the oldest by the primary key. No foreign key: the log outlives nothing it describes for
  long (it is pruned after WORKER_PRUNE_EVENTS_HOURS), and a check per event costs a lookup.
- The trigger is split: BEFORE UPDATE bumps the version and logs; AFTER INSERT logs a new job
  (an INSERT ... ON CONFLICT DO NOTHING that inserts nothing still runs BEFORE triggers).

Downgrade drops the log and restores 0009's trigger.

Revision ID: 0010_event_log
Revises: 0009_durable_steps
"""

from alembic import op

from deploy.migrations import read_sql

revision = "0010_event_log"
down_revision = "0009_durable_steps"
branch_labels = None
depends_on = None

DROP_TRIGGERS = """
    DROP TRIGGER pgstack_background_job_changed ON background_jobs;
    DROP TRIGGER IF EXISTS pgstack_background_job_inserted ON background_jobs;
    DROP FUNCTION pgstack_background_job_changed();
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE job_events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            job_id uuid NOT NULL,
            job_offset bigint NOT NULL,
            user_id bigint,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            kind text NOT NULL CONSTRAINT job_events_kind_check
                CHECK (kind IN ('status', 'progress', 'step')),
            payload jsonb NOT NULL,
            CONSTRAINT job_events_job_offset_key UNIQUE (job_id, job_offset)
        );
        CREATE INDEX job_events_user_at_idx ON job_events (user_id, at);
        """
    )
    op.execute(DROP_TRIGGERS)
    op.execute(read_sql("0010_pgstack_background_job_changed"))


def downgrade() -> None:
    op.execute(DROP_TRIGGERS)
    op.execute(read_sql("0009_pgstack_background_job_changed"))
    op.execute("DROP TABLE job_events")
