"""`shared.sql`: a module's queries in the `.sql` file beside it, one named block each, one
parameter style; and every module's queries are the ones it runs."""

import re
import subprocess
from pathlib import Path

import pytest

from shared import sql

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "module.sql"
    path.write_text(text)
    return path


class TestLoad:
    def test_a_module_gets_the_named_queries_of_the_sql_file_beside_it(
        self, tmp_path: Path
    ) -> None:
        write(
            tmp_path,
            "-- A file's own comment.\n\n"
            "-- get_user --\n-- One user.\nSELECT * FROM users WHERE id = %(id)s\n\n"
            "-- count_users --\nSELECT count(*) FROM users WHERE note LIKE '100%%'\n",
        )
        queries = sql.load(tmp_path / "module.py")
        assert dict(queries) == {
            "get_user": "-- One user.\nSELECT * FROM users WHERE id = %(id)s",
            "count_users": "SELECT count(*) FROM users WHERE note LIKE '100%%'",
        }

    def test_the_queries_cannot_be_changed_by_whoever_loaded_them(self, tmp_path: Path) -> None:
        queries = sql.parse(write(tmp_path, "-- one --\nSELECT 1\n"))
        with pytest.raises(TypeError):
            queries["one"] = "DROP TABLE users"  # type: ignore[index]

    @pytest.mark.parametrize(
        ("text", "complaint"),
        [
            ("SELECT 1\n-- one --\nSELECT 1\n", "text before the first"),
            ("-- one --\nSELECT 1\n-- one --\nSELECT 2\n", "defined twice"),
            ("-- one --\n-- only a comment\n-- two --\nSELECT 2\n", "'one' is empty"),
            ("-- one --\nSELECT * FROM users WHERE id = %s\n", "not in the `%(name)s` style"),
            ("-- one --\nSELECT * FROM users WHERE id = :id\n", "not in the `%(name)s` style"),
            ("-- one --\nSELECT '100%' AS share\n", "not in the `%(name)s` style"),
        ],
    )
    def test_a_malformed_file_is_refused_with_the_reason(
        self, tmp_path: Path, text: str, complaint: str
    ) -> None:
        with pytest.raises(sql.SQLFileError, match=re.escape(complaint)):
            sql.parse(write(tmp_path, text))

    def test_casts_and_comments_are_not_taken_for_parameters(self, tmp_path: Path) -> None:
        queries = sql.parse(
            write(tmp_path, "-- one --\n-- 5% of :them\nSELECT %(ids)s::bigint[], '{}'::jsonb\n")
        )
        assert queries["one"].endswith("SELECT %(ids)s::bigint[], '{}'::jsonb")


def sql_modules() -> list[Path]:
    """Every module of the product that loads a `.sql` file."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    paths = [ROOT / name for name in listed if not name.startswith(("tests/", "bench/", "web/"))]
    loads = re.compile(r"^QUERIES = sql\.load\(__file__\)$", re.MULTILINE)
    return [path for path in paths if path.exists() and loads.search(path.read_text())]


@pytest.mark.parametrize("module", sql_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_module_runs_exactly_the_queries_of_its_sql_file(module: Path) -> None:
    """A query named in the code exists (no KeyError the first time it runs), and each query
    of the file is run by its module (none left behind when the code stops using it)."""
    code = module.read_text()
    defined = set(sql.load(module))
    assert set(re.findall(r"QUERIES\[\"([a-z0-9_]+)\"\]", code)) <= defined
    assert defined <= set(re.findall(r"\"([a-z0-9_]+)\"", code))
