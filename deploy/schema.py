"""`pgstack schema`: the current schema (tables, constraints, indexes, functions, triggers) as SQL.

`deploy/schema.sql` is its output, so the schema can be read without replaying the migrations;
tests/deploy/test_schema.py holds the migrations to it. After adding or changing a migration,
regenerate it with `make schema` (`pgstack schema --write`) and commit the file with the
migration.
"""

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from deploy import migrate
from deploy.embedded import EmbeddedPostgres, NoPostgres, find_bindir
from shared.settings import plain_database_url

SCHEMA_FILE = Path(__file__).parent / "schema.sql"
ROOT = Path(__file__).resolve().parent.parent

# Stable across runs: no owners or grants (they name the account that ran the migrations).
PG_DUMP_OPTIONS = ("--schema-only", "--no-owner", "--no-privileges", "--no-tablespaces")
# Lines that say which pg_dump wrote the file or set up its restore session, not the schema:
# the version banners, session SETs, and pg_dump 17.6+'s `\restrict` key (random every run).
_NOISE = ("SET ", "SELECT pg_catalog.set_config(", "\\restrict", "\\unrestrict", "-- Dumped ")


def pg_dump() -> str:
    """The pg_dump beside the server binaries (the embedded cluster's version), else PATH's."""
    try:
        candidate = find_bindir() / "pg_dump"
        if candidate.exists():
            return str(candidate)
    except NoPostgres:
        pass
    found = shutil.which("pg_dump")
    if found is None:
        raise NoPostgres("pg_dump is not installed (Debian: `apt-get install postgresql-client`)")
    return found


def dump(database_url: str) -> str:
    """The schema of this database as pg_dump prints it, without the version-specific noise."""
    output = subprocess.run(
        [pg_dump(), *PG_DUMP_OPTIONS, "--dbname", plain_database_url(database_url)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kept: list[str] = []
    for line in output.splitlines():
        # Removed lines leave runs of blank lines behind: keep one.
        if line.startswith(_NOISE) or (not line and kept and not kept[-1]):
            continue
        kept.append(line)
    return "\n".join(kept).strip() + "\n"


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """An empty database on the server of `server_url`, dropped afterwards."""
    base = plain_database_url(server_url).rpartition("/")[0]
    name = f"pgstack_schema_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def current_schema(server_url: str) -> str:
    """The schema the migrations produce, dumped from a fresh database they migrated."""
    with fresh_database(server_url) as url:
        migrate.upgrade(url)
        return dump(url)


def main(*, write: bool) -> None:
    """Print the current schema, or write it to deploy/schema.sql. The server: DATABASE_URL's,
    else the embedded cluster under `.pgstack/` (started if stopped)."""
    server_url = (
        os.environ.get("DATABASE_URL")
        or EmbeddedPostgres(Path(os.environ.get("PGSTACK_HOME", ROOT / ".pgstack"))).start()
    )
    schema = current_schema(server_url)
    if write:
        SCHEMA_FILE.write_text(schema)
        print(f"wrote {SCHEMA_FILE.relative_to(ROOT)}")
    else:
        print(schema, end="")
