"""Expand: Procrastinate's queue (from the pinned package), `background_jobs` and its triggers.

The database keeps `background_jobs.status` itself: a trigger on `procrastinate_events` mirrors
every queue event (a worker's start and finish, a cancellation, a stalled job's retry, which no
worker sees) onto the row. A second trigger on `background_jobs` bumps `version` whenever what a
user sees changes (status, progress) and sends `NOTIFY job_events` with a small payload when
someone watches that user's jobs (`job_event_watchers`), so every path that changes a job
notifies once per change, in the transaction of the change.

Procrastinate's SQL is read from the installed package at migration time, never copied into
this tree; a later Procrastinate upgrade is one more revision applying that release's
migration files from the package (deploy/migrations/procrastinate.py), so the version of the
schema created here is recorded with it (a database migrated before 0008 has it recorded
there). The downgrade finds Procrastinate's objects in the catalogue
(`sql/0004_drop_procrastinate.sql`), so it drops whatever the installed release created.

Revision ID: 0004_jobs
Revises: 0003_sessions
"""

from alembic import op

from deploy.migrations import procrastinate, read_sql

revision = "0004_jobs"
down_revision = "0003_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    procrastinate.create_schema(procrastinate.psycopg_of(op.get_bind()))
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

        -- Who wants `job_events`: a process with open streams registers each user it streams
        -- (user 0: every user) and renews the registration while they stay open. A change
        -- nobody watches is not announced: NOTIFY takes a cluster-wide lock at commit and wakes
        -- every listening backend of the database, the largest cost of a job's life when
        -- nobody looks (bench/jobs.py). UNLOGGED: a crash empties it, and listeners register
        -- again when they reconnect.
        CREATE UNLOGGED TABLE job_event_watchers (
            user_id    bigint NOT NULL,
            watcher    uuid NOT NULL,
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (user_id, watcher)
        );
        """
    )
    op.execute(read_sql("0004_pgstack_background_job_changed"))
    op.execute(read_sql("0004_pgstack_mirror_job_event"))


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE background_jobs, job_event_watchers;
        DROP FUNCTION pgstack_background_job_changed();
        DROP TRIGGER pgstack_mirror_job_event ON procrastinate_events;
        DROP FUNCTION pgstack_mirror_job_event();
        """
    )
    op.execute(read_sql("0004_drop_procrastinate"))
