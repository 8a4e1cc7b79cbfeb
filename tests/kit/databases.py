"""Throwaway databases on the test server, copied from a migrated template in milliseconds."""

import uuid

import psycopg


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`."""
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


def create_database(server_url: str, *, template: str | None = None, prefix: str = "t") -> str:
    """Create a database (a copy of `template` if given) and return its URL."""
    name = f"pgstack_{prefix}_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}'.encode())
    return database_url(server_url, name)


def drop_database(url: str) -> None:
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
