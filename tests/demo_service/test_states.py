"""states.py is the database's state machines: every (from, to) pair of each machine is tried
as an UPDATE on the migrated database (each test rolled back), and the pairs its triggers
accept are exactly the moves states.py allows; its CHECK constraints hold exactly the states."""

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from demo_service import states


@dataclass(frozen=True)
class Column:
    """Where a machine's state is stored, how a row in a given state is made, and the words of
    the trigger's refusal."""

    machine: states.Machine
    table: str
    column: str
    insert: str
    refusal: str


DEMO = Column(
    states.DEMO,
    "users",
    "demo_mode_status",
    "INSERT INTO users (email, hashed_password, demo_mode_status)"
    " VALUES ('u' || gen_random_uuid() || '@example.com', 'x', :state) RETURNING id",
    "illegal demo mode transition",
)
CONNECTION = Column(
    states.CONNECTION,
    "platforms",
    "connection_status",
    "WITH owner AS (INSERT INTO users (email, hashed_password)"
    " VALUES ('u' || gen_random_uuid() || '@example.com', 'x') RETURNING id)"
    " INSERT INTO platforms (user_id, kind, name, connection_status)"
    " SELECT id, 'meta_ads', 'Meta', :state FROM owner RETURNING id",
    "illegal connection transition",
)
COLUMNS = pytest.mark.parametrize("column", [DEMO, CONNECTION], ids=["demo", "connection"])


async def refusal(session: AsyncSession, column: Column, start: str, end: str) -> str | None:
    """The database's error when a row in `start` is updated to `end`; None if it accepts
    (a savepoint each)."""
    row_id = await session.scalar(text(column.insert), {"state": start})
    try:
        async with session.begin_nested():
            await session.execute(
                text(f"UPDATE {column.table} SET {column.column} = :end WHERE id = :id"),
                {"end": end, "id": row_id},
            )
    except IntegrityError as exc:
        return str(exc.orig)
    return None


@COLUMNS
async def test_the_database_accepts_exactly_the_moves_states_py_allows(
    session: AsyncSession, column: Column
) -> None:
    machine = column.machine
    pairs = [(a, b) for a in machine.states for b in machine.states if a != b]

    refusals = {pair: await refusal(session, column, *pair) for pair in pairs}

    assert {pair for pair, error in refusals.items() if error is None} == machine.moves
    assert all(column.refusal in error for error in refusals.values() if error is not None)


@COLUMNS
async def test_the_check_constraint_holds_exactly_the_states_of_states_py(
    session: AsyncSession, column: Column
) -> None:
    definition = await session.scalar(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conname = :name AND contype = 'c'"
        ),
        {"name": f"{column.table}_{column.column}_check"},
    )
    assert definition is not None
    assert set(re.findall(r"'(\w+)'", definition)) == set(column.machine.states)


@pytest.mark.parametrize(
    ("operation", "start", "refused"),
    [
        (states.ENABLE, {"disabled", "failed"}, {"disabling"}),
        (states.DISABLE, {"enabled", "failed"}, {"enabling"}),
        (states.CONNECT, {"disconnected", "error"}, {"disconnecting"}),
        (states.DISCONNECT, {"connected"}, {"connecting", "error"}),
    ],
    ids=["enable", "disable", "connect", "disconnect"],
)
def test_each_operation_starts_and_is_refused_where_the_design_says(
    operation: states.Operation, start: set[str], refused: set[str]
) -> None:
    """DESIGN.md's table of requests: 202 from a start state, 409 in a refused one, 200 (the
    current state) while under way or done."""
    assert set(operation.start) == start
    assert set(operation.refused) == refused
    assert operation.machine.allows(operation.moving, operation.done)
    if operation.failed is not None:
        assert operation.machine.allows(operation.moving, operation.failed)
