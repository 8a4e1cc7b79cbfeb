"""Expand: Procrastinate's queue (from the pinned package) and `background_jobs`.

Procrastinate's SQL is read from the installed package at migration time, never copied into
this tree; a later Procrastinate upgrade is one more revision applying that release's
migration files from the package.

Revision ID: 0004_jobs
Revises: 0003_sessions
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0004_jobs"
down_revision = "0003_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(SchemaManager.get_schema())
    op.execute(
        """
        CREATE TABLE background_jobs (
            id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            user_id           bigint REFERENCES users(id) ON DELETE CASCADE,
            kind              text NOT NULL,
            args              jsonb NOT NULL DEFAULT '{}',
            idempotency_key   text,
            procrastinate_job_id bigint UNIQUE,
            status            text NOT NULL DEFAULT 'queued'
                CONSTRAINT background_jobs_status_check CHECK (status IN
                    ('queued', 'running', 'succeeded', 'failed', 'cancelling', 'cancelled')),
            attempts          integer NOT NULL DEFAULT 0,
            progress_percent  smallint NOT NULL DEFAULT 0
                CONSTRAINT background_jobs_progress_check
                CHECK (progress_percent BETWEEN 0 AND 100),
            progress_message  text,
            result            jsonb,
            error_type        text,
            error_message     text,
            version           bigint NOT NULL DEFAULT 1,
            created_at        timestamptz NOT NULL DEFAULT now(),
            updated_at        timestamptz NOT NULL DEFAULT now(),
            started_at        timestamptz,
            finished_at       timestamptz,
            CONSTRAINT background_jobs_idempotency_key UNIQUE (user_id, idempotency_key)
        );
        CREATE INDEX background_jobs_user_created_idx ON background_jobs(user_id, created_at DESC);
        CREATE INDEX background_jobs_active_idx ON background_jobs(user_id)
            WHERE status IN ('queued', 'running', 'cancelling');
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE background_jobs;
        DROP TABLE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
            procrastinate_workers CASCADE;
        DO $$
        DECLARE fn regprocedure;
        BEGIN
            FOR fn IN SELECT p.oid::regprocedure FROM pg_proc p
                      JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE 'DROP FUNCTION ' || fn || ' CASCADE';
            END LOOP;
        END $$;
        DROP TYPE procrastinate_job_to_defer_v1, procrastinate_job_event_type,
            procrastinate_job_status;
        """
    )
