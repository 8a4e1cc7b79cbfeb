"""Look-alike emails over real HTTP on a real PostgreSQL: spellings that fold to one address
are one account; invisible characters, mixed scripts and malformed addresses are a 422."""

import uuid

import pytest
from httpx import AsyncClient

from tests.auth_service.kit import PASSWORD, login

OTHER_PASSWORD = "another long passphrase"


def fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in text)


async def register_status(client: AsyncClient, email: str, password: str = PASSWORD) -> int:
    response = await client.post("/v1/users", json={"email": email, "password": password})
    return response.status_code


@pytest.mark.parametrize(
    "look_alike",
    [
        pytest.param(lambda local: fullwidth(local) + "@example.com", id="fullwidth letters"),
        pytest.param(lambda local: local.upper() + "@EXAMPLE.COM", id="upper case"),
        pytest.param(lambda local: local + "@ｅｘａｍｐｌｅ.com", id="fullwidth domain"),  # noqa: RUF001
    ],
)
async def test_a_look_alike_of_an_address_is_the_same_account(
    client: AsyncClient, look_alike: object
) -> None:
    """Registering a compatibility- or case-equal spelling creates no second account, and
    logging in with either spelling reaches the first."""
    local = f"ada{uuid.uuid4().hex[:8]}"
    email = f"{local}@example.com"
    assert callable(look_alike)
    assert await register_status(client, email) == 201
    spelled = look_alike(local)
    response = await client.post("/v1/users", json={"email": spelled, "password": OTHER_PASSWORD})
    assert response.status_code == 201
    assert response.json()["email"] == email  # the canonical form, not what was typed
    await login(client, spelled)
    wrong = await client.post("/v1/session", json={"email": email, "password": OTHER_PASSWORD})
    assert wrong.status_code == 401


async def test_a_combining_accent_and_a_composed_letter_are_one_account(
    client: AsyncClient,
) -> None:
    tail = uuid.uuid4().hex[:8]
    composed = f"\u00e9cole{tail}@example.com"
    decomposed = f"e\u0301cole{tail}@example.com"
    assert await register_status(client, decomposed) == 201
    assert await register_status(client, composed, OTHER_PASSWORD) == 201
    await login(client, composed)
    await login(client, decomposed)


@pytest.mark.parametrize(
    ("email", "why"),
    [
        pytest.param("p\u0430ypal-{tag}@example.com", "mixes scripts", id="cyrillic a in latin"),
        pytest.param("ada\u200b{tag}@example.com", "format characters", id="zero-width space"),
        pytest.param(
            "ada\u202e{tag}@example.com", "format characters", id="right-to-left override"
        ),
        pytest.param("ada{tag}\u0000@example.com", "control", id="nul"),
        pytest.param("ada{tag}@example.com.", "period", id="trailing dot in the domain"),
        pytest.param("ada{tag}@evil@example.com", "@", id="two at signs"),
        pytest.param("ada{tag}@localhost", "period", id="no domain"),
        # NFKC composes a letter and its accent; after a digit the accent stays a mark of
        # its own, and "1\u0301" reads as "1" to a person.
        pytest.param("ada1\u0301{tag}@example.com", "combining mark", id="accent on a digit"),
        pytest.param("ada{tag}@ex\u20ddample.com", "combining mark", id="enclosing circle"),
    ],
)
async def test_an_address_that_hides_what_it_is_is_a_422_saying_why(
    client: AsyncClient, email: str, why: str
) -> None:
    response = await client.post(
        "/v1/users", json={"email": email.format(tag=uuid.uuid4().hex[:6]), "password": PASSWORD}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "email"]
    assert why in error["msg"]


async def test_marks_of_a_scripts_own_are_accepted(client: AsyncClient) -> None:
    """Devanagari's vowel signs and virama are combining marks a word needs (and of its own
    script): only the marks that attach to anything (Unicode's Inherited script) are refused."""
    digits = str(uuid.uuid4().int)[:6]
    assert (
        await register_status(client, f"\u0939\u093f\u0928\u094d\u0926\u0940{digits}@example.com")
        == 201
    )


async def test_an_address_wholly_in_another_script_is_accepted(client: AsyncClient) -> None:
    """Only mixing is refused: a Cyrillic local part on an internationalised domain is fine."""
    digits = str(uuid.uuid4().int)[:6]
    email = f"\u0430\u0434\u0430{digits}@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"
    assert await register_status(client, email) == 201
    await login(client, email)
