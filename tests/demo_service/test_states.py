"""states.py is the database's state machines: every (from, to) pair of each machine is tried
as an UPDATE on the migrated database (each test rolled back), and the pairs its triggers
accept are exactly the moves states.py allows; its CHECK constraints hold exactly the states.
Every operation's failure exit is taken when its job fails for good, with the real worker."""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from demo_service import states
from demo_service.schemas import PlatformRead
from demo_service.tasks import DISCONNECT_RETRY
from tests.demo_service.conftest import ClientFor
from tests.demo_service.kit import create_platform, query
from tests.kit.users import make_user
from tests.kit.waiting import eventually


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
        (states.DISCONNECT, {"connected", "error"}, {"connecting"}),
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
    assert operation.machine.allows(operation.moving, operation.failed)
    assert operation.failed in operation.start  # after a failure, the user may try again


REFUSAL = "the ad platform did not revoke the credentials"


@pytest.fixture
async def refused_disconnect(db_url: str) -> AsyncIterator[tuple[int, int]]:
    """(user, platform): a connected platform whose every disconnect fails, until the test
    drops trigger `refuse_disconnect` (the database refuses the platform's move to
    `disconnected`, as an ad platform that never answers would fail the job)."""
    user_id = make_user(db_url)
    platform_id = await create_platform(db_url, user_id, status="connected")
    await query(
        db_url,
        f"""
        CREATE FUNCTION refuse_disconnect() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$;
        CREATE TRIGGER refuse_disconnect BEFORE UPDATE OF connection_status ON platforms
            FOR EACH ROW WHEN (NEW.id = {platform_id} AND NEW.connection_status = 'disconnected')
            EXECUTE FUNCTION refuse_disconnect();
        """,
    )
    yield user_id, platform_id
    await query(db_url, "DROP TRIGGER IF EXISTS refuse_disconnect ON platforms")
    await query(db_url, "DROP FUNCTION refuse_disconnect()")


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("worker")
async def test_a_disconnect_failing_every_attempt_ends_in_error_with_the_reason(
    db_url: str, client_for: ClientFor, refused_disconnect: tuple[int, int]
) -> None:
    """The platform is not left `disconnecting` for good: after the job's last attempt it is
    `error` with the reason, and the user can disconnect it again from there."""
    user_id, platform_id = refused_disconnect
    client = client_for(user_id)
    started = await client.post(f"/v1/platforms/{platform_id}/disconnect")
    assert started.status_code == 202

    async def ended() -> PlatformRead | None:
        (platform,) = (await client.get("/v1/platforms")).json()
        read = PlatformRead.model_validate(platform)
        return read if read.connection_status != "disconnecting" else None

    platform = await eventually(ended, within=90, every=0.5)

    assert platform.connection_status == "error"
    assert REFUSAL in (platform.connection_error or "")
    assert platform.job is not None
    assert (str(platform.job.id), platform.job.status) == (started.json()["job"]["id"], "failed")
    assert platform.job.attempts == DISCONNECT_RETRY.attempts

    await query(db_url, "DROP TRIGGER refuse_disconnect ON platforms")  # it answers again
    again = await client.post(f"/v1/platforms/{platform_id}/disconnect")
    assert again.status_code == 202
    assert again.json()["connection_error"] is None

    async def disconnected() -> bool:
        (platform,) = (await client.get("/v1/platforms")).json()
        return PlatformRead.model_validate(platform).connection_status == "disconnected"

    await eventually(disconnected, within=30)
