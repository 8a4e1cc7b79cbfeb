"""Leftovers of the first wave: a failed disconnect ends in `error`, an idempotency key without
a user is unique too, and the database records its Procrastinate schema version.

- A disconnect whose job failed every attempt (or was cancelled) left the platform
  `disconnecting` for good. The connection machine gains `disconnecting -> error`, and from
  `error` a user may disconnect as well as connect again (`error -> disconnecting`):
  demo_service/states.py, the transition trigger (`sql/0008_platforms_connection_transition`)
  and `demo_job_ended` (`sql/0008_demo_job_ended`), which now moves a platform whose connect or
  disconnect job ended failed or cancelled to `error`, with the reason.
- `(user_id, idempotency_key)` was a plain UNIQUE constraint, and NULLs are distinct: two
  enqueues without a user and with one key made two jobs. It becomes a unique index NULLS NOT
  DISTINCT over the rows that have a key (a constraint cannot be partial, and without the
  predicate every keyless job of a user would collide with the first).
- Procrastinate's schema version (deploy/migrations/procrastinate.py): every database that
  came through 0004 before this revision got procrastinate 3.10.0's schema, 03.04.00; a
  database created since records the installed package's version in 0004 itself.

Downgrade restores 0006's triggers (a platform left in `error` by a failed disconnect stays
there: 0006 lets it connect again) and the plain constraint (it fails if two jobs without a
user share a key: delete one first). The version record stays: it describes Procrastinate's
schema, which 0004's downgrade drops with it.

Revision ID: 0008_leftovers
Revises: 0007_accounts
"""

from alembic import op

from deploy.migrations import procrastinate, read_sql

revision = "0008_leftovers"
down_revision = "0007_accounts"
branch_labels = None
depends_on = None

DROP_TRIGGERS = """
    DROP TRIGGER demo_job_ended ON background_jobs;
    DROP FUNCTION demo_job_ended();
    DROP TRIGGER platforms_connection_transition ON platforms;
    DROP FUNCTION platforms_connection_transition();
"""


def upgrade() -> None:
    op.execute(DROP_TRIGGERS)
    op.execute(read_sql("0008_platforms_connection_transition"))
    op.execute(read_sql("0008_demo_job_ended"))
    op.execute(
        """
        ALTER TABLE background_jobs DROP CONSTRAINT background_jobs_idempotency_key;
        CREATE UNIQUE INDEX background_jobs_idempotency_key
            ON background_jobs (user_id, idempotency_key) NULLS NOT DISTINCT
            WHERE idempotency_key IS NOT NULL;
        """
    )
    connection = procrastinate.psycopg_of(op.get_bind())
    if procrastinate.recorded_version(connection) is None:
        procrastinate.record_version(connection, procrastinate.FIRST_RECORDED)


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX background_jobs_idempotency_key;
        ALTER TABLE background_jobs ADD CONSTRAINT background_jobs_idempotency_key
            UNIQUE (user_id, idempotency_key);
        """
    )
    op.execute(DROP_TRIGGERS)
    op.execute(read_sql("0006_platforms_connection_transition"))
    op.execute(read_sql("0006_demo_job_ended"))
