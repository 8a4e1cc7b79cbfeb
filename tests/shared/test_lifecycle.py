"""lifecycle.py is the database's job lifecycle: every (from, to) pair of statuses is tried as an
UPDATE on the migrated database (each in a savepoint, the test rolled back), and the pairs it
accepts are exactly the moves lifecycle.py allows; its CHECK holds exactly the statuses. The
status lists spelled elsewhere (runtime SQL, the web app) are held to the lifecycle's sets."""

import re
import subprocess
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.jobs import lifecycle

ROOT = Path(__file__).parents[2]


async def refusal(session: AsyncSession, start: str, end: str) -> str | None:
    """The database's error when a job in `start` is updated to `end`; None if it accepts."""
    job_id = await session.scalar(
        text(
            "INSERT INTO background_jobs (kind, status) VALUES ('test:lifecycle', :s) RETURNING id"
        ),
        {"s": start},
    )
    try:
        async with session.begin_nested():
            await session.execute(
                text("UPDATE background_jobs SET status = :end WHERE id = :id"),
                {"end": end, "id": job_id},
            )
    except IntegrityError as exc:
        return str(exc.orig)
    return None


async def test_the_database_accepts_exactly_the_moves_lifecycle_py_allows(
    session: AsyncSession,
) -> None:
    pairs = [(a, b) for a in lifecycle.STATUSES for b in lifecycle.STATUSES if a != b]

    refusals = {pair: await refusal(session, *pair) for pair in pairs}

    assert {pair for pair, error in refusals.items() if error is None} == lifecycle.MOVES
    assert all("illegal job status transition" in error for error in refusals.values() if error)


async def test_the_check_constraint_holds_exactly_the_statuses_of_lifecycle_py(
    session: AsyncSession,
) -> None:
    definition = await session.scalar(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conname = 'background_jobs_status_check' AND contype = 'c'"
        )
    )
    assert definition is not None
    assert set(re.findall(r"'(\w+)'", definition)) == set(lifecycle.STATUSES)


async def test_a_new_job_starts_where_the_lifecycle_starts(session: AsyncSession) -> None:
    status = await session.scalar(
        text("INSERT INTO background_jobs (kind) VALUES ('test:lifecycle') RETURNING status")
    )
    assert status == lifecycle.INITIAL


def test_every_terminal_status_is_left_only_by_a_retry_and_a_retry_restarts_the_job() -> None:
    for status in lifecycle.TERMINAL_STATUSES:
        assert {end for start, end in lifecycle.MOVES if start == status} <= {lifecycle.INITIAL}
    assert set(lifecycle.RETRYABLE_STATUSES) == {"failed", "cancelled"}
    # Every status is reachable from the start, and every non-terminal one can end.
    reachable = {lifecycle.INITIAL}
    while frontier := {end for start, end in lifecycle.MOVES if start in reachable} - reachable:
        reachable |= frontier
    assert reachable == set(lifecycle.STATUSES)
    for status in lifecycle.ACTIVE_STATUSES:
        ends = {end for start, end in lifecycle.MOVES if start == status}
        assert ends & {*lifecycle.TERMINAL_STATUSES, *lifecycle.RUNNING_STATUSES}


NAMED_SETS = {
    "active": set(lifecycle.ACTIVE_STATUSES),
    "running": set(lifecycle.RUNNING_STATUSES),
    "terminal": set(lifecycle.TERMINAL_STATUSES),
    "retryable": set(lifecycle.RETRYABLE_STATUSES),
}


def test_every_job_status_list_in_runtime_sql_is_one_of_the_lifecycles_sets() -> None:
    """Runtime queries spell their status lists as literals (a partial index is used only when
    the query's predicate names its statuses); each must be a set lifecycle.py names. Trigger
    bodies need no such check: the transition trigger refuses any move they would make."""
    files = subprocess.run(
        ["git", "ls-files", "*.sql", ":!deploy/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    lists = [
        (name, set(re.findall(r"'(\w+)'", found)))
        for name in files
        for found in re.findall(r"\bstatus\s+IN\s*\(([^)]*)\)", (ROOT / name).read_text())
    ]
    job_lists = [(name, words) for name, words in lists if words & set(lifecycle.STATUSES)]

    assert len(job_lists) >= 5  # the reads of demo_service, ops, prune, enqueue, progress
    for name, words in job_lists:
        assert words in NAMED_SETS.values(), f"{name}: {sorted(words)} is no lifecycle set"


def test_the_web_apps_job_status_type_and_terminal_set_are_the_lifecycles() -> None:
    """The web app's `JobStatus` is generated from the OpenAPI (web/lib/api/jobs.ts, kept
    current by tests/e2e/test_web.py); its own list of terminal statuses is written by hand."""
    generated = (ROOT / "web/lib/api/jobs.ts").read_text()
    job_read = generated[generated.index("        JobRead: {") :]
    status_type = re.search(r"\n\s+status: ([^;]+);", job_read)
    assert status_type is not None
    assert re.findall(r'"(\w+)"', status_type.group(1)) == list(lifecycle.STATUSES)

    progress = (ROOT / "web/components/jobs/useJobProgress.ts").read_text()
    terminal = re.search(r"const TERMINAL = new Set\(\[([^\]]*)\]\)", progress)
    assert terminal is not None
    assert set(re.findall(r'"(\w+)"', terminal.group(1))) == set(lifecycle.TERMINAL_STATUSES)
