"""A login attempt still being checked is told apart from a failure (issue 20):
`login_failures.pending`.

auth_service writes each attempt before it hashes the password (so a burst is counted while
it hashes) and, until now, counted it as a failure at once: twenty people logging in together
from one office address met the address's limit of ten with attempts that were about to
succeed. An attempt is now written pending, and settled as a failure once its password is
known wrong (a right one deletes it); the address's limit counts failures, and its attempts in
flight have a limit of their own. A pending row older than a hash can take (its process died)
counts as a failure. Rows written before this revision, and by the previous release's auth
during a rolling deploy, are failures: the default. A column with a constant default is a
catalog change only.

Revision ID: 0014_login_in_flight
Revises: 0013_job_lifecycle
"""

from alembic import op

revision = "0014_login_in_flight"
down_revision = "0013_job_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE login_failures ADD COLUMN pending boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    # Attempts still pending become failures, as the previous release counted them.
    op.execute("ALTER TABLE login_failures DROP COLUMN pending")
