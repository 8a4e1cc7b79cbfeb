"""Alembic, driven from code: `pgstack migrate` and the test harness both come through here."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from shared.settings import sqlalchemy_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if database_url is not None:
        # '%' is ConfigParser's interpolation character; URLs may contain it (escaped passwords).
        config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def head() -> str:
    """The last revision of the migrations."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, "no migrations"
    return revision


def current_revision(database_url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
        if not (exists and exists[0]):
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def migrate_to(database_url: str, target: str) -> str:
    """`pgstack migrate --to expand|head|<revision>`: upgrade (or downgrade, for an older
    revision id) to the target and return the revision reached."""
    from deploy import release

    current = current_revision(database_url)
    history = release.history()
    if current is not None and current not in history:
        raise ValueError(f"the database is at {current}, a revision this release does not know")
    if target == "expand":
        target = release.expand_target(current)
    elif target == "head":
        target = head()
    if target not in history:
        raise ValueError(f"unknown revision {target!r}; this release knows {', '.join(history)}")
    if current is not None and history.index(target) < history.index(current):
        downgrade(database_url, target)
    else:
        upgrade(database_url, target)
    return target
