"""Alembic's revisions (`versions/`) and the SQL bodies they run (`sql/`).

Each trigger or function a revision creates is one file `sql/<revision>_<name>.sql`, read when
the revision runs. A later revision that replaces a body adds a file of its own, so an old
revision always runs the body it introduced.
"""

from pathlib import Path

SQL = Path(__file__).parent / "sql"


def read_sql(name: str) -> str:
    """The text of `sql/<name>.sql`."""
    return (SQL / f"{name}.sql").read_text()
