"""Demo: the database refuses illegal demo and connection transitions; a platform's job.

demo_service moves `users.demo_mode_status` and `platforms.connection_status` with conditional
UPDATEs; these triggers make the state machines of DESIGN.md hold for every writer, a
hand-typed UPDATE included. `platforms.connection_job_id` is the platform's current connect or
disconnect job, as `users.demo_job_id` is the demo's (no foreign key: `background_jobs` rows
are pruned after days, and a dangling id only means "no job to show").

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
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER platforms_connection_transition ON platforms;
        DROP FUNCTION platforms_connection_transition();
        DROP TRIGGER users_demo_mode_transition ON users;
        DROP FUNCTION users_demo_mode_transition();
        ALTER TABLE platforms DROP COLUMN connection_job_id;
        """
    )
