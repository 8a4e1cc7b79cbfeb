"""Runtime SQL kept as SQL: a module's queries live in a `.sql` file beside it.

The model is Procrastinate's `sql/queries.sql`: one file, one named block per query, each block
opened by a line `-- name --` and a one-line comment that says what the query is for. Every query
uses psycopg's named parameters (`%(user_id)s`), the one style in this codebase (the loader
refuses `%s` and `:name`; a literal percent sign is `%%`), and runs on a
psycopg connection (for a request's SQLAlchemy session: `shared.db.execute`). No SQL is ever
assembled from Python strings; what varies is a parameter.

    QUERIES = sql.load(__file__)            # demo_service/reads.py -> demo_service/reads.sql
    await connection.execute(QUERIES["get_dashboard"], {"user_id": user_id})
"""

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

_HEADER = re.compile(r"^-- ([a-z][a-z0-9_]*) --$", re.MULTILINE)
# A `%` must open a named parameter `%(name)s` or be a literal `%%`: no positional `%s`.
_STRAY_PERCENT = re.compile(r"%(?!\([a-z_][a-z0-9_]*\)s|%)")
# SQLAlchemy's `:name` is the other style; `::type` casts are not parameters.
_COLON_PARAMETER = re.compile(r"(?<![:\w]):[a-z_]\w*", re.IGNORECASE)


class SQLFileError(ValueError):
    """A `.sql` file of queries is malformed."""


def load(module_file: str | Path) -> Mapping[str, str]:
    """The named queries of the `.sql` file beside `module_file` (`x/y.py` -> `x/y.sql`)."""
    return parse(Path(module_file).with_suffix(".sql"))


def parse(path: Path) -> Mapping[str, str]:
    """The named blocks of `path`: `{name: query}`, each query stripped of its comments' end."""
    parts = _HEADER.split(path.read_text())
    if parts[0].strip() and not _only_comments(parts[0]):
        raise SQLFileError(f"{path}: text before the first `-- name --` line")
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise SQLFileError(f"{path}: query {name!r} is defined twice")
        query = body.strip()
        if _only_comments(query):
            raise SQLFileError(f"{path}: query {name!r} is empty")
        code = _without_comments(query)
        if _STRAY_PERCENT.search(code.replace("%%", "")) or _COLON_PARAMETER.search(code):
            raise SQLFileError(
                f"{path}: query {name!r} has a parameter not in the `%(name)s` style"
                " (a literal percent sign is `%%`)"
            )
        queries[name] = query
    return MappingProxyType(queries)


def _without_comments(query: str) -> str:
    return "\n".join(line for line in query.splitlines() if not line.lstrip().startswith("--"))


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("--") for line in text.splitlines())
