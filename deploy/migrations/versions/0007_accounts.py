"""Accounts: one account per NFKC-equal email, the operator role, registration throttling, and
the indexes the session expiry checks and the purge filter on.

Emails are folded to the form auth_service writes (NFKC, case-folded, then email-validator's
normalisation). Folding is done here in Python with its own copy of the rule, so this
revision means the same thing whatever auth_service later becomes.

Collisions (two or more rows that fold to one address, e.g. `ada@x.com` and a fullwidth
`\uff41\uff44\uff41@x.com`): one account keeps the address: the row whose lower(email) is
already the folded form (the one today's logins reach by typing it plainly), else the oldest
(lowest id: a look-alike is the later copy). Every other row of the collision keeps its exact
email, is disabled and has its sessions revoked; its data stays for an operator to merge or
delete. The migration logs each collision's ids.

Downgrade drops the tables and indexes; emails stay folded (the older code reads them as they
are) and collision losers stay disabled.

Revision ID: 0007_accounts
Revises: 0006_demo
"""

import logging
import unicodedata
from collections import defaultdict

import email_validator
from alembic import op
from sqlalchemy import text

revision = "0007_accounts"
down_revision = "0006_demo"
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")


def fold(email: str) -> str:
    """auth_service's canonical email as of this revision."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold())
    folded = folded.strip()
    try:
        checked = email_validator.validate_email(folded, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return folded
    return checked.normalized


def _fold_emails() -> None:
    bind = op.get_bind()
    rows = bind.execute(text("SELECT id, email FROM users ORDER BY id")).all()
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for user_id, email in rows:
        groups[fold(email)].append((user_id, email))
    for folded, members in groups.items():
        keeper = next(
            ((i, e) for i, e in members if e.lower() == folded),
            members[0],
        )
        losers = [user_id for user_id, _ in members if user_id != keeper[0]]
        if losers:
            logger.warning(
                "0007: email collision on user %s: users %s disabled, sessions revoked",
                keeper[0],
                losers,
            )
            bind.execute(
                text("UPDATE users SET is_active = false, updated_at = now() WHERE id = ANY(:ids)"),
                {"ids": losers},
            )
            bind.execute(
                text(
                    "UPDATE user_sessions SET revoked_at = now()"
                    " WHERE user_id = ANY(:ids) AND revoked_at IS NULL"
                ),
                {"ids": losers},
            )
        if keeper[1] != folded:
            bind.execute(
                text("UPDATE users SET email = :email WHERE id = :id"),
                {"email": folded, "id": keeper[0]},
            )


def upgrade() -> None:
    _fold_emails()
    op.execute(
        """
        CREATE TABLE user_roles (
            user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            role       text NOT NULL CONSTRAINT user_roles_role_check CHECK (role IN ('operator')),
            granted_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, role)
        );

        -- One row per accepted registration request, by client address, for the throttle.
        CREATE TABLE registration_attempts (
            id           bigserial PRIMARY KEY,
            ip           inet,
            attempted_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX registration_attempts_ip_idx ON registration_attempts(ip, attempted_at);
        CREATE INDEX registration_attempts_attempted_at_idx
            ON registration_attempts(attempted_at);

        -- The purge's conditions (and the live-session filters) each have an index.
        CREATE INDEX user_sessions_absolute_expires_at_idx
            ON user_sessions(absolute_expires_at);
        CREATE INDEX user_sessions_last_seen_at_idx ON user_sessions(last_seen_at);
        CREATE INDEX login_failures_failed_at_idx ON login_failures(failed_at);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX login_failures_failed_at_idx;
        DROP INDEX user_sessions_last_seen_at_idx;
        DROP INDEX user_sessions_absolute_expires_at_idx;
        DROP TABLE registration_attempts;
        DROP TABLE user_roles;
        """
    )
