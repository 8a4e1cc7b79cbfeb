"""Expand: server-side sessions and the login throttle.

Revision ID: 0003_sessions
Revises: 0002_expand_statuses
"""

from alembic import op

revision = "0003_sessions"
down_revision = "0002_expand_statuses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE user_sessions (
            id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            user_id             bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            -- SHA-256 of the token's secret; the secret itself is never stored.
            secret_hash         bytea NOT NULL,
            auth_method         text NOT NULL
                CONSTRAINT user_sessions_auth_method_check
                CHECK (auth_method IN ('password', 'exchange')),
            transport           text NOT NULL DEFAULT 'cookie'
                CONSTRAINT user_sessions_transport_check
                CHECK (transport IN ('cookie', 'bearer')),
            created_at          timestamptz NOT NULL DEFAULT now(),
            last_seen_at        timestamptz NOT NULL DEFAULT now(),
            absolute_expires_at timestamptz NOT NULL,
            revoked_at          timestamptz,
            user_agent          text,
            ip                  inet
        );
        CREATE INDEX user_sessions_user_id_idx ON user_sessions(user_id);
        CREATE INDEX user_sessions_revoked_at_idx ON user_sessions(revoked_at)
            WHERE revoked_at IS NOT NULL;

        -- One row per failed login, keyed by account and by client address, for back-off.
        CREATE TABLE login_failures (
            id        bigserial PRIMARY KEY,
            email     text NOT NULL,
            ip        inet,
            failed_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX login_failures_email_idx ON login_failures(email, failed_at);
        CREATE INDEX login_failures_ip_idx ON login_failures(ip, failed_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE login_failures; DROP TABLE user_sessions;")
