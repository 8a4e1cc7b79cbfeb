"""The revision a Procrastinate upgrade adds (deploy/migrations/procrastinate.py): a database
whose queue is at an older release's schema, built from the package's own migration files, is
brought to the installed release's with those files, and is then the schema a fresh install
gets; the version is recorded, checked against the installed package, and never applied twice."""

import difflib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from deploy import migrate, schema
from deploy.migrations import procrastinate
from tests.kit.databases import create_database, drop_database


@pytest.fixture
def fresh_db_url(server_url: str) -> Iterator[str]:
    """A database of this test's own with a fresh install of the queue (what 0004 runs)."""
    url = create_database(server_url, prefix="empty")
    with psycopg.connect(url) as connection:
        procrastinate.create_schema(connection)
    yield url
    drop_database(url)


def autocommit(database_url: str) -> psycopg.Connection[Any]:
    """A connection as a revision's `autocommit_block` hands it over."""
    return psycopg.connect(database_url, autocommit=True)


def recorded(database_url: str) -> str | None:
    with autocommit(database_url) as connection:
        return procrastinate.recorded_version(connection)


def build_at(database_url: str, version: str) -> None:
    """The queue at Procrastinate's schema `version`, built from the package's files as a
    database created by that release has it, the version recorded."""
    with autocommit(database_url) as connection:
        procrastinate.apply(connection, after=None, to=version)


def comparable_schema(database_url: str) -> list[str]:
    """pg_dump's schema of the database, each table's columns in name order: a column added
    by a migration comes last in the table, and in its place in a fresh install's."""
    lines: list[str] = []
    table: list[str] | None = None
    for line in schema.dump(database_url).splitlines():
        if line.startswith("CREATE TABLE "):
            lines.append(line)
            table = []
        elif table is not None and line == ");":
            lines += [*sorted(table), line]
            table = None
        elif table is not None:
            table.append(line.removesuffix(","))
        else:
            lines.append(line)
    return lines


def schema_differences(database_url: str, reference_url: str) -> str:
    """The database's schema as a diff against the reference's ('' if they are equal)."""
    return "\n".join(
        difflib.unified_diff(
            comparable_schema(reference_url),
            comparable_schema(database_url),
            "a fresh install",
            "the upgraded database",
            lineterm="",
        )
    )


def files_after(version: str) -> list[str]:
    """The package's migration files of the versions above `version`, in order."""
    after = procrastinate.parse_version(version)
    return [m.path.name for m in procrastinate.migrations() if m.version > after]


class TestUpgrade:
    @pytest.mark.parametrize("older", ["02.14.01", "03.02.00"])
    def test_an_older_schema_is_brought_to_the_installed_one_and_equals_a_fresh_install(
        self, empty_db_url: str, fresh_db_url: str, older: str
    ) -> None:
        installed = procrastinate.installed_version()
        build_at(empty_db_url, older)
        assert recorded(empty_db_url) == older

        with autocommit(empty_db_url) as connection:
            applied = procrastinate.upgrade(connection, to=installed)

        assert applied == files_after(older)
        assert recorded(empty_db_url) == installed
        assert schema_differences(empty_db_url, fresh_db_url) == ""

    def test_a_database_already_at_the_target_runs_nothing(self, fresh_db_url: str) -> None:
        """A database created from a newer package's schema.sql skips the files it has."""
        older = procrastinate.migrations()[0].version_text

        with autocommit(fresh_db_url) as connection:
            applied = procrastinate.upgrade(connection, to=older)

        assert applied == []
        assert recorded(fresh_db_url) == procrastinate.installed_version()

    def test_a_target_beyond_the_installed_package_is_refused_and_changes_nothing(
        self, empty_db_url: str
    ) -> None:
        """A revision written for a newer Procrastinate than the installed one says so."""
        build_at(empty_db_url, "03.00.00")

        with (
            autocommit(empty_db_url) as connection,
            pytest.raises(procrastinate.ProcrastinateTooOld, match=r"stops at \d\d\.\d\d\.\d\d"),
        ):
            procrastinate.upgrade(connection, to="99.00.00")

        assert recorded(empty_db_url) == "03.00.00"


class TestRecord:
    def test_a_migrated_database_records_the_installed_packages_schema(
        self, empty_db_url: str
    ) -> None:
        migrate.upgrade(empty_db_url)
        assert recorded(empty_db_url) == procrastinate.installed_version()

    def test_a_database_migrated_before_the_record_existed_records_the_first_pinned_schema(
        self, empty_db_url: str
    ) -> None:
        """0004 ran with procrastinate 3.10.0 on every database migrated before 0008; 0008
        records its schema, 03.04.00, where there is no record."""
        migrate.upgrade(empty_db_url, "0007_accounts")
        with autocommit(empty_db_url) as connection:
            connection.execute("DROP TABLE procrastinate_schema_version")
        assert recorded(empty_db_url) is None

        migrate.upgrade(empty_db_url)

        assert recorded(empty_db_url) == procrastinate.FIRST_RECORDED == "03.04.00"
