"""What auth's logs hold: sessions by a hash of their id (traceable, never a token), and no
bound parameters in database errors."""

import logging
import uuid
from collections.abc import Iterator

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from auth_service import tokens
from shared import db
from shared.settings import ServiceSettings
from tests.auth_service.kit import login, new_user, register, with_cookie


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in self.records)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("auth_service")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def refs(records: Records, message: str) -> list[str]:
    return [str(getattr(r, "session", "")) for r in records.records if r.getMessage() == message]


async def test_login_logout_and_revocation_log_the_session_s_hash_and_never_its_token(
    client: AsyncClient, records: Records
) -> None:
    email, first = await new_user(client)
    second = await login(client, email)
    first_ref = tokens.session_ref(uuid.UUID(first.partition(".")[0]))
    second_ref = tokens.session_ref(uuid.UUID(second.partition(".")[0]))
    assert refs(records, "session opened") == [first_ref, second_ref]

    await client.delete("/v1/sessions", headers=with_cookie(second))  # revokes `first`
    await client.delete("/v1/session", headers=with_cookie(second))
    assert refs(records, "session revoked") == [first_ref, second_ref]
    logged = records.text()
    for token in (first, second):
        session_id, _, secret = token.partition(".")
        assert session_id not in logged
        assert secret not in logged


async def test_a_database_error_s_message_holds_no_bound_parameter(db_url: str) -> None:
    """The engine every service uses: an error names the statement, not the values (an email,
    an address or a password hash would otherwise reach the logs)."""
    engine = db.create_engine(ServiceSettings(DATABASE_URL=db_url))
    secret = "ada.lovelace@example.com"
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as raised:
                # Division by zero: an error whose own text repeats no value.
                await conn.execute(
                    text("SELECT 1 / (length(:value) - length(:value))"), {"value": secret}
                )
    finally:
        await engine.dispose()
    assert "length" in str(raised.value)
    assert secret not in str(raised.value)


async def test_a_failed_login_logs_no_email_or_password(
    client: AsyncClient, records: Records
) -> None:
    email = await register(client)
    await client.post("/v1/session", json={"email": email, "password": "my secret guess"})
    logged = records.text()
    assert "login failed" in logged
    assert email not in logged
    assert "my secret guess" not in logged
