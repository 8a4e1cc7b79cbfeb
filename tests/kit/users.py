"""Users made with SQL, as auth_service's registration would leave them (most tests are not
about registration, and demo_service and job_service never register anyone)."""

import uuid

import psycopg


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def make_user(db_url: str, *, name: str = "Ada Lovelace") -> int:
    """A committed user row; its id."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO users (email, hashed_password, full_name) VALUES (%s, 'x', %s)"
            " RETURNING id",
            (unique_email(), name),
        ).fetchone()
    assert row is not None
    return int(row[0])
