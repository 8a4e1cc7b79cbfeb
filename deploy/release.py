"""This release's place in the schema history, for rolling deploys.

A rolling deploy runs old and new pods against one database at once, so the schema moves in
three steps: `pgstack migrate --to expand` (every revision the previous release still runs on),
the rollout, then `pgstack migrate --to head` (the contract revisions, which drop what only the
previous release used, and whatever must follow them). Each process kind of this release
declares the oldest revision it runs on (`shared.health.OLDEST_SCHEMA`); its `/readyz` is 200
on any revision from that one to the newest this code knows, and 503 outside that window (an
old pod sees a newer schema it does not know as unknown, so it is not ready once the schema has
moved past its own head).

The oldest revisions are per kind because the kinds need different parts of the schema: auth
needs the sessions (0003); jobs and the worker the queue (0004); demo needs
`platforms.connection_job_id` and its state-machine triggers (0006), which come after the
contract on purpose, since the legacy writers jump states (false -> true) that the triggers
refuse. So between expand and contract, new auth, jobs and worker pods serve beside the old
app; new demo pods become ready once the contract is applied.
"""

from functools import cache

from alembic.script import ScriptDirectory

# Revisions that drop what the previous release still reads or writes: `--to expand` stops
# before the first of them that is not applied yet.
CONTRACT_REVISIONS = frozenset({"0005_contract"})


@cache
def _scripts() -> ScriptDirectory:
    from deploy.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config())


def history() -> list[str]:
    """Every revision this code knows, oldest first (the history is one line)."""
    return [script.revision for script in reversed(list(_scripts().walk_revisions()))]


def expand_target(current: str | None) -> str:
    """The newest revision before the first contract revision after `current` (None: an
    empty database); the head if no contract revision is left to apply."""
    revisions = history()
    start = 0 if current is None else revisions.index(current) + 1
    for index in range(start, len(revisions)):
        if revisions[index] in CONTRACT_REVISIONS:
            if index == 0:
                raise ValueError("the first revision is a contract revision")
            return revisions[index - 1]
    return revisions[-1]
