"""deploy/schema.sql is the schema the migrations produce, and the code needs their head."""

import difflib

from deploy import migrate, release, schema
from shared.health import SCHEMA_REVISIONS

REGENERATE = "make schema (pgstack schema --write)"


def test_the_migrations_produce_exactly_the_committed_schema(empty_db_url: str) -> None:
    """A fresh database, migrated to the head, dumps to deploy/schema.sql line for line."""
    migrate.upgrade(empty_db_url)
    produced = schema.dump(empty_db_url)
    committed = schema.SCHEMA_FILE.read_text()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            produced.splitlines(keepends=True),
            "deploy/schema.sql",
            "the migrations",
        )
    )
    assert not diff, f"deploy/schema.sql is out of date; run `{REGENERATE}`:\n{diff}"


def test_the_services_know_every_revision_of_the_migrations() -> None:
    """/readyz accepts revisions from shared.health.SCHEMA_REVISIONS: a new revision must be
    added there too, in the migrations' order."""
    assert list(SCHEMA_REVISIONS) == release.history(), (
        f"the migrations are {release.history()}: make shared/health.py's SCHEMA_REVISIONS so"
    )


def test_a_downgrade_to_base_leaves_nothing_behind(empty_db_url: str) -> None:
    """Every revision's downgrade drops what it made (0004: every object Procrastinate's schema
    created, found in the catalogue), so only Alembic's own table is left, and upgrading again
    makes exactly the committed schema."""
    migrate.upgrade(empty_db_url)
    migrate.downgrade(empty_db_url, "base")
    created = [
        line for line in schema.dump(empty_db_url).splitlines() if line.startswith("CREATE ")
    ]
    assert created == ["CREATE TABLE public.alembic_version ("]
    migrate.upgrade(empty_db_url)
    assert schema.dump(empty_db_url) == schema.SCHEMA_FILE.read_text()
