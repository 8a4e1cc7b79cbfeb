"""Demo: the database refuses illegal demo and connection transitions; a platform's job; a
demo or connection whose job ends failed or cancelled, however it ended, ends failed.

demo_service moves `users.demo_mode_status` and `platforms.connection_status` with conditional
UPDATEs; these triggers make the state machines of DESIGN.md hold for every writer, a
hand-typed UPDATE included. `platforms.connection_job_id` is the platform's current connect or
disconnect job, as `users.demo_job_id` is the demo's (no foreign key: `background_jobs` rows
are pruned after days, and a dangling id only means "no job to show").

A demo task marks its state failed itself after its last attempt, with its own reason; but a
job can also end without its code seeing it (a timeout, a worker lost too often, a user's
cancellation). The trigger on `background_jobs` catches every such end, so demo mode is never
left `enabling` behind a dead job, and announces it on `job_events` like the service does.

Revision ID: 0006_demo
Revises: 0005_contract
"""

from alembic import op

revision = "0006_demo"
down_revision = "0005_contract"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE platforms ADD COLUMN connection_job_id uuid;

        CREATE FUNCTION users_demo_mode_transition() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (OLD.demo_mode_status, NEW.demo_mode_status) NOT IN (
                ('disabled', 'enabling'), ('enabling', 'enabled'), ('enabled', 'disabling'),
                ('disabling', 'disabled'), ('enabling', 'failed'), ('disabling', 'failed'),
                ('failed', 'enabling'), ('failed', 'disabling')
            ) THEN
                RAISE EXCEPTION 'illegal demo mode transition: % -> %',
                    OLD.demo_mode_status, NEW.demo_mode_status
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER users_demo_mode_transition BEFORE UPDATE OF demo_mode_status ON users
            FOR EACH ROW WHEN (OLD.demo_mode_status IS DISTINCT FROM NEW.demo_mode_status)
            EXECUTE FUNCTION users_demo_mode_transition();

        CREATE FUNCTION platforms_connection_transition() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (OLD.connection_status, NEW.connection_status) NOT IN (
                ('disconnected', 'connecting'), ('connecting', 'connected'),
                ('connected', 'disconnecting'), ('disconnecting', 'disconnected'),
                ('connecting', 'error'), ('error', 'connecting')
            ) THEN
                RAISE EXCEPTION 'illegal connection transition: % -> %',
                    OLD.connection_status, NEW.connection_status
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER platforms_connection_transition
            BEFORE UPDATE OF connection_status ON platforms
            FOR EACH ROW WHEN (OLD.connection_status IS DISTINCT FROM NEW.connection_status)
            EXECUTE FUNCTION platforms_connection_transition();

        CREATE FUNCTION demo_job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            reason text := CASE NEW.status
                WHEN 'cancelled' THEN 'The job was cancelled.'
                ELSE COALESCE(NEW.error_message, 'The job failed.') END;
            moved record;
        BEGIN
            FOR moved IN
                UPDATE users SET demo_mode_status = 'failed', demo_error = reason,
                                 updated_at = now()
                WHERE demo_job_id = NEW.id AND demo_mode_status IN ('enabling', 'disabling')
                RETURNING id
            LOOP
                PERFORM pg_notify('job_events', json_build_object(
                    'type', 'demo', 'user_id', moved.id, 'status', 'failed',
                    'error', reason, 'job_id', NEW.id)::text);
            END LOOP;
            FOR moved IN
                UPDATE platforms SET connection_status = 'error', connection_error = reason,
                                     updated_at = now()
                WHERE connection_job_id = NEW.id AND connection_status = 'connecting'
                RETURNING id, user_id
            LOOP
                PERFORM pg_notify('job_events', json_build_object(
                    'type', 'platform', 'user_id', moved.user_id, 'platform_id', moved.id,
                    'status', 'error', 'error', reason, 'job_id', NEW.id)::text);
            END LOOP;
            RETURN NULL;
        END $$;
        CREATE TRIGGER demo_job_ended AFTER UPDATE OF status ON background_jobs
            FOR EACH ROW
            WHEN (NEW.status IN ('failed', 'cancelled') AND NEW.kind LIKE 'demo:%'
                  AND OLD.status IS DISTINCT FROM NEW.status)
            EXECUTE FUNCTION demo_job_ended();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER demo_job_ended ON background_jobs;
        DROP FUNCTION demo_job_ended();
        DROP TRIGGER platforms_connection_transition ON platforms;
        DROP FUNCTION platforms_connection_transition();
        DROP TRIGGER users_demo_mode_transition ON users;
        DROP FUNCTION users_demo_mode_transition();
        ALTER TABLE platforms DROP COLUMN connection_job_id;
        """
    )
