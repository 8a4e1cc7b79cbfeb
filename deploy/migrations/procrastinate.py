"""Procrastinate's schema across the package's releases: what a Procrastinate upgrade runs.

The queue's schema is the package's, never copied into this tree. Revision 0004 creates it from
the installed package's `schema.sql` (`create_schema`); each release of the package that changes
the schema ships migration files, `sql/migrations/<version>_<nn>_<name>.sql` in the package,
which bring a database from the previous release's schema to its own. The database records
which of those versions its schema is at (table `procrastinate_schema_version`, one row: ours,
named like the package's tables so that it goes with them), so a revision that upgrades
Procrastinate applies exactly the files between that record and its target, and a database
created from a newer `schema.sql` skips them (docs/ARCHITECTURE.md, "Adding a migration"):

    def upgrade() -> None:
        with op.get_context().autocommit_block():
            procrastinate.upgrade(procrastinate.psycopg_of(op.get_bind()), to="03.05.00")

Each file runs in a transaction of its own, as Procrastinate's files expect (a file adds an enum
value that a later one uses, which Postgres allows only once the first has committed); the
record moves in the transaction of each version's last file, so an upgrade that stopped
part-way starts again at the first version it did not finish (if some of that version's files
had committed, an operator removes their effects first: Procrastinate ships no down files).
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
import sqlalchemy
from procrastinate.schema import SchemaManager

MIGRATIONS = Path(SchemaManager.get_migrations_path())
# `03.04.00_50_post_add_retry_failed_job_procedure.sql`: the release, then the order within it.
_FILE_NAME = re.compile(r"(\d+)\.(\d+)\.(\d+)_(\d+)_\w+\.sql")

# Procrastinate's schema that revision 0004 created on every database migrated before the
# version was recorded: uv.lock pinned procrastinate 3.10.0 from the first commit, and 3.10.0's
# schema.sql is its migrations up to 03.04.00 (tests/deploy/test_procrastinate_upgrade.py).
FIRST_RECORDED = "03.04.00"


class ProcrastinateTooOld(Exception):
    """The installed Procrastinate does not have the schema this revision upgrades to."""


@dataclass(frozen=True, order=True)
class Migration:
    """One of the package's migration files, ordered as Procrastinate applies them."""

    version: tuple[int, int, int]
    order: int
    path: Path

    @property
    def version_text(self) -> str:
        return format_version(self.version)


def parse_version(version: str) -> tuple[int, int, int]:
    """`"03.04.00"` as (3, 4, 0)."""
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def format_version(version: tuple[int, int, int]) -> str:
    return ".".join(f"{part:02d}" for part in version)


def migrations() -> list[Migration]:
    """The installed package's migration files, in the order they apply."""
    found = []
    for path in MIGRATIONS.glob("*.sql"):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise ValueError(f"unexpected Procrastinate migration file name: {path.name}")
        major, minor, patch, order = (int(group) for group in match.groups())
        found.append(Migration((major, minor, patch), order, path))
    return sorted(found)


def installed_version() -> str:
    """The schema version of the installed package: its newest migration's, which is the
    schema its `schema.sql` creates."""
    return migrations()[-1].version_text


def psycopg_of(connection: sqlalchemy.Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy one (Alembic's `op.get_bind()`): Procrastinate's
    files are sent to it as they are (without parameters psycopg sends many statements at once
    and leaves `%` alone)."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def recorded_version(connection: psycopg.Connection[Any]) -> str | None:
    """The Procrastinate schema version this database records; None if it records none (a
    database migrated past 0004 before 0008)."""
    row = connection.execute("SELECT to_regclass('procrastinate_schema_version')").fetchone()
    if row is None or row[0] is None:
        return None
    row = connection.execute("SELECT version FROM procrastinate_schema_version").fetchone()
    return None if row is None else str(row[0])


def record_version(connection: psycopg.Connection[Any], version: str) -> None:
    """Record `version` as this database's Procrastinate schema (the table made if missing)."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS procrastinate_schema_version (version text NOT NULL)"
    )
    connection.execute("DELETE FROM procrastinate_schema_version")
    connection.execute("INSERT INTO procrastinate_schema_version (version) VALUES (%s)", (version,))


def create_schema(connection: psycopg.Connection[Any]) -> None:
    """Procrastinate's queue from the installed package's schema.sql, its version recorded."""
    connection.execute(SchemaManager.get_schema())
    record_version(connection, installed_version())


def apply(connection: psycopg.Connection[Any], *, after: str | None, to: str) -> list[str]:
    """Run the package's migration files of the versions above `after` (None: from the very
    first) up to `to`, in order, each in a transaction of its own (a savepoint if the
    connection is in one), recording each version with its last file; the files run."""
    low = parse_version(after) if after is not None else None
    pending = [
        migration
        for migration in migrations()
        if (low is None or migration.version > low) and migration.version <= parse_version(to)
    ]
    for index, migration in enumerate(pending):
        with connection.transaction():
            connection.execute(migration.path.read_text())
            following = pending[index + 1] if index + 1 < len(pending) else None
            if following is None or following.version != migration.version:
                record_version(connection, migration.version_text)
    return [migration.path.name for migration in pending]


def upgrade(connection: psycopg.Connection[Any], *, to: str) -> list[str]:
    """Bring this database's Procrastinate schema to version `to` with the package's own
    migration files, and record it; the names of the files run. `connection` is in
    autocommit mode (Alembic's `autocommit_block`), so that each file commits.

    Nothing runs on a database already at `to` or beyond (created from a newer schema.sql).
    Raises `ProcrastinateTooOld` when the installed package's files stop before `to`: the
    revision was written for a newer Procrastinate than the one installed.
    """
    installed = installed_version()
    if parse_version(installed) < parse_version(to):
        raise ProcrastinateTooOld(
            f"this revision upgrades Procrastinate's schema to {to}, but the installed"
            f" procrastinate {procrastinate.__version__} stops at {installed}:"
            " install the version uv.lock pins (`uv sync`)"
        )
    if not connection.autocommit:
        raise RuntimeError("run Procrastinate's files in autocommit mode: one transaction each")
    current = recorded_version(connection)
    if current is None:
        raise LookupError("this database records no Procrastinate schema version (run 0008)")
    if parse_version(current) >= parse_version(to):
        return []
    return apply(connection, after=current, to=to)
