"""Alembic environment: runs revisions on a plain synchronous psycopg connection."""

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("no database URL: run migrations through `pgstack migrate`")

engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    # One transaction per revision, so a failing revision leaves the previous head intact.
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
