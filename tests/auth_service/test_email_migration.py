"""Revision 0007 on rows the older code wrote: every email folded to its canonical form, and
accounts whose emails fold to one address resolved as its docstring says."""

import psycopg
from psycopg.rows import dict_row

from deploy import migrate

BEFORE = "0006_demo"


def seed(url: str) -> dict[str, int]:
    """Users as the older code could leave them (it lowercased, nothing more), by label."""
    emails = {
        "plain": "ada@example.com",
        "fullwidth_of_plain": "\uff41\uff44\uff41@example.com",
        "decomposed_alone": "e\u0301cole@example.com",
        "fullwidth_alone": "\uff42\uff4f\uff42@example.com",
        "fullwidth_older": "\uff43\uff41\uff52\uff4c@example.com",
        "fullwidth_newer": "\uff43\uff41\uff52\uff4c@"
        + "\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
    }
    ids = {}
    with psycopg.connect(url) as conn:
        for label, email in emails.items():
            row = conn.execute(
                "INSERT INTO users (email, hashed_password) VALUES (%s, 'x') RETURNING id",
                (email,),
            ).fetchone()
            assert row is not None
            ids[label] = row[0]
            conn.execute(
                "INSERT INTO user_sessions (user_id, secret_hash, auth_method,"
                " absolute_expires_at) VALUES (%s, '\\x00', 'password', now() + interval '1 day')",
                (row[0],),
            )
    return ids


def users(url: str) -> dict[int, dict[str, object]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT u.id, u.email, u.is_active,"
            " bool_or(s.revoked_at IS NOT NULL) AS revoked"
            " FROM users u JOIN user_sessions s ON s.user_id = u.id GROUP BY u.id"
        ).fetchall()
    return {row["id"]: row for row in rows}


def test_emails_are_folded_and_each_collision_keeps_one_account(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, BEFORE)
    ids = seed(empty_db_url)
    migrate.upgrade(empty_db_url)
    after = users(empty_db_url)

    def state(label: str) -> tuple[object, object, object]:
        row = after[ids[label]]
        return row["email"], row["is_active"], row["revoked"]

    # The address typed plainly keeps its account; the fullwidth copy is disabled, untouched.
    assert state("plain") == ("ada@example.com", True, False)
    assert state("fullwidth_of_plain") == ("\uff41\uff44\uff41@example.com", False, True)
    # Alone, a spelling is folded and its account goes on as before.
    assert state("decomposed_alone") == ("\u00e9cole@example.com", True, False)
    assert state("fullwidth_alone") == ("bob@example.com", True, False)
    # No plain spelling in the collision: the oldest account takes the address.
    assert state("fullwidth_older") == ("carl@example.com", True, False)
    assert state("fullwidth_newer")[1:] == (False, True)


def test_downgrade_drops_what_0007_added_and_keeps_the_folded_emails(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, BEFORE)
    ids = seed(empty_db_url)
    migrate.upgrade(empty_db_url)
    migrate.downgrade(empty_db_url, BEFORE)
    with psycopg.connect(empty_db_url) as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        row = conn.execute("SELECT email FROM users WHERE id = %s", (ids["fullwidth_alone"],))
        email = row.fetchone()
    assert not {"user_roles", "registration_attempts"} & tables
    assert email == ("bob@example.com",)
    migrate.upgrade(empty_db_url)  # and up again, over folded rows
