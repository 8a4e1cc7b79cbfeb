"""A job remembers the trace it was enqueued in (issue 13): `background_jobs.traceparent`;
`background_jobs_finished_idx` finds the jobs finished since a time (job_service's metrics).

The W3C `traceparent` of the request that enqueued the job (shared/tracing.py); the worker
continues that trace when it runs the job, so one trace shows click -> enqueue -> task. NULL
for jobs enqueued outside a trace (and for every job made before this revision). Nothing reads
it by value: no index. A nullable column without a default is a catalog change only; the index
is built CONCURRENTLY, so a large table keeps taking writes meanwhile.

Revision ID: 0011_job_traceparent
Revises: 0010_event_log
"""

from alembic import op

revision = "0011_job_traceparent"
down_revision = "0010_event_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE background_jobs ADD COLUMN traceparent text")
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY background_jobs_finished_idx"
            " ON background_jobs (finished_at)"
        )


def downgrade() -> None:
    op.execute("DROP INDEX background_jobs_finished_idx")
    op.execute("ALTER TABLE background_jobs DROP COLUMN traceparent")
