"""Expand: Procrastinate's queue (from the pinned package), `background_jobs` and its triggers.

The database keeps `background_jobs.status` itself: a trigger on `procrastinate_events` mirrors
every queue event (a worker's start and finish, a cancellation, a stalled job's retry, which no
worker sees) onto the row. A second trigger on `background_jobs` bumps `version` whenever what a
user sees changes (status, progress) and sends `NOTIFY job_events` with a small payload when
someone watches that user's jobs (`job_event_watchers`), so every path that changes a job
notifies once per change, in the transaction of the change.

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


JOB_TRIGGERS = """
-- Who wants `job_events`: a process with open streams registers each user it streams (user 0:
-- every user) and renews the registration while they stay open. A change nobody watches is
-- not announced: NOTIFY takes a cluster-wide lock at commit and wakes every listening backend
-- of the database, the largest cost of a job's life when nobody looks (bench/jobs.py).
-- UNLOGGED: a crash empties it, and listeners register again when they reconnect.
CREATE UNLOGGED TABLE job_event_watchers (
    user_id    bigint NOT NULL,
    watcher    uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, watcher)
);

-- A user-visible change (status, progress) bumps the version and is announced, once, when
-- the transaction commits. Writes of the result or the error alone do not: the status change
-- that follows them in the same job's life carries them.
CREATE FUNCTION pgstack_background_job_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.status, NEW.progress_percent, NEW.progress_message)
                IS NOT DISTINCT FROM (OLD.status, OLD.progress_percent, OLD.progress_message) THEN
            RETURN NEW;
        END IF;
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    -- Only a change someone watches is announced (see job_event_watchers). Registering a
    -- watcher takes this lock exclusively: a change either commits before the new watcher's
    -- first read, or sees the watcher and is announced.
    PERFORM pg_advisory_xact_lock_shared(7001, hashint8(coalesce(NEW.user_id, 0)));
    IF NOT EXISTS (
        SELECT 1 FROM job_event_watchers
        WHERE user_id IN (NEW.user_id, 0) AND expires_at > now()
    ) THEN
        RETURN NEW;
    END IF;
    PERFORM pg_notify('job_events', json_build_object(
        'type', 'job',
        'id', NEW.id,
        'user_id', NEW.user_id,
        'kind', NEW.kind,
        'status', NEW.status,
        'progress', NEW.progress_percent,
        'message', left(NEW.progress_message, 200),
        'version', NEW.version,
        -- epoch milliseconds, to the microsecond: clients measure delivery with it
        'updated_at', round(extract(epoch FROM NEW.updated_at) * 1000, 3)
    )::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER pgstack_background_job_changed
    BEFORE INSERT OR UPDATE ON background_jobs
    FOR EACH ROW EXECUTE FUNCTION pgstack_background_job_changed();

-- Procrastinate's queue events, mirrored onto the job's row. Each transition is conditional
-- (`WHERE status IN (<allowed>)`), so a late or repeated event never moves a job backwards.
-- Jobs without a row (periodic tasks) match nothing.
CREATE FUNCTION pgstack_mirror_job_event() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    CASE NEW.type
    WHEN 'started' THEN
        UPDATE background_jobs
        SET status = 'running', attempts = attempts + 1, started_at = NEW.at,
            finished_at = NULL, progress_percent = 0, progress_message = NULL
        WHERE procrastinate_job_id = NEW.job_id AND status = 'queued';
    WHEN 'deferred_for_retry', 'retried' THEN
        UPDATE background_jobs SET status = 'queued'
        WHERE procrastinate_job_id = NEW.job_id AND status IN ('running', 'failed');
    WHEN 'succeeded' THEN
        UPDATE background_jobs
        SET status = 'succeeded', progress_percent = 100, finished_at = NEW.at,
            error_type = NULL, error_message = NULL
        WHERE procrastinate_job_id = NEW.job_id AND status IN ('running', 'cancelling');
    WHEN 'failed', 'aborted' THEN
        -- A job the user asked to cancel ends cancelled, whatever interrupted it; an abort
        -- nobody asked for (a worker shut down past its grace period) is a failure.
        UPDATE background_jobs
        SET status = CASE status WHEN 'cancelling' THEN 'cancelled' ELSE 'failed' END,
            finished_at = NEW.at
        WHERE procrastinate_job_id = NEW.job_id AND status IN ('running', 'cancelling');
    WHEN 'cancelled' THEN
        UPDATE background_jobs SET status = 'cancelled', finished_at = NEW.at
        WHERE procrastinate_job_id = NEW.job_id AND status = 'queued';
    WHEN 'abort_requested' THEN
        UPDATE background_jobs SET status = 'cancelling'
        WHERE procrastinate_job_id = NEW.job_id AND status = 'running';
    ELSE
        NULL;  -- an event type added by a later Procrastinate: nothing to mirror yet
    END CASE;
    RETURN NULL;
END;
$$;

CREATE TRIGGER pgstack_mirror_job_event
    AFTER INSERT ON procrastinate_events
    FOR EACH ROW
    WHEN (NEW.type NOT IN ('deferred', 'scheduled'))
    EXECUTE FUNCTION pgstack_mirror_job_event();
"""


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
    op.execute(JOB_TRIGGERS)


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE background_jobs, job_event_watchers;
        DROP FUNCTION pgstack_background_job_changed();
        DROP TRIGGER pgstack_mirror_job_event ON procrastinate_events;
        DROP FUNCTION pgstack_mirror_job_event();
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
