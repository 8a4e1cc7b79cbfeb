"""Throttles in Postgres: failed logins per account and per client address, with back-off, and
registrations per address and in all.

Logins: up to the limit, failures are free; from then on every new failure doubles the wait
(from `login_backoff_base` to `login_backoff_max`), counted from the latest failure. The check
is one indexed read made before any password hashing, so a throttled guess costs no CPU; an
attempt let through is written as a failure at once, before its password is checked, and
only a right password deletes it. So a burst of concurrent guesses is counted while it is
still hashing (the first ones to arrive trip the limit for the rest), and recording a failure
needs no connection after the hash (in a flood, a second connection per request ran the pool
dry: 500s).

Registrations: a fixed window; the total limit is what a distributed burst meets.
"""

import datetime as dt
import ipaddress
import math
from typing import Any

import psycopg

from auth_service.config import Settings
from auth_service.errors import TooManyAttempts, TooManyRegistrations
from shared import sql

QUERIES = sql.load(__file__)


def address_key(ip: str | None) -> str | None:
    """The address failures are counted against: an IPv6 client is its /64, as one host
    commonly holds a whole /64 and could otherwise guess from a fresh address every time."""
    if ip is None:
        return None
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def _wait(
    failures: int, last: dt.datetime | None, limit: int, now: dt.datetime, settings: Settings
) -> float:
    if failures < limit or last is None:
        return 0.0
    exponent = min(failures - limit, 30)  # 2**30 base periods is beyond any maximum
    backoff = min(settings.login_backoff_base * 2**exponent, settings.login_backoff_max)
    return float((last + backoff - now).total_seconds())


async def admit_login(
    connection: psycopg.AsyncConnection[Any],
    *,
    email: str,
    ip: str | None,
    now: dt.datetime,
    settings: Settings,
) -> None:
    """Raise TooManyAttempts (with Retry-After) while the account or the address backs off;
    else record the attempt as a failure (an autocommit write: it outlives the request)."""
    params = {"email": email, "ip": address_key(ip), "since": now - settings.login_failure_window}
    cursor = await connection.execute(QUERIES["count_failures"], params)
    row = await cursor.fetchone()
    assert row is not None
    account_failures, account_last, ip_failures, ip_last = row
    wait = max(
        _wait(account_failures, account_last, settings.login_failures_per_account, now, settings),
        _wait(ip_failures, ip_last, settings.login_failures_per_ip, now, settings),
    )
    if wait > 0:
        raise TooManyAttempts(headers={"Retry-After": str(math.ceil(wait))})
    await connection.execute(
        QUERIES["record_failure"], {"email": email, "ip": address_key(ip), "now": now}
    )


async def forget_account(connection: psycopg.AsyncConnection[Any], *, email: str) -> None:
    """A successful login clears the account's failures (never the address's: one known
    password must not buy an attacker fresh guesses against other accounts)."""
    await connection.execute(QUERIES["forget_account"], {"email": email})


async def admit_registration(
    connection: psycopg.AsyncConnection[Any],
    *,
    ip: str | None,
    now: dt.datetime,
    settings: Settings,
) -> None:
    """Raise TooManyRegistrations (with Retry-After) past either limit; else count this one."""
    key = address_key(ip)
    since = now - settings.registration_window
    cursor = await connection.execute(QUERIES["count_registrations"], {"ip": key, "since": since})
    row = await cursor.fetchone()
    assert row is not None
    ip_count, ip_oldest, total_count, total_oldest = row
    oldest = None
    if total_count >= settings.registrations_total:
        oldest = total_oldest
    elif key is not None and ip_count >= settings.registrations_per_ip:
        oldest = ip_oldest
    if oldest is not None:
        wait = (oldest + settings.registration_window - now).total_seconds()
        raise TooManyRegistrations(headers={"Retry-After": str(max(1, math.ceil(wait)))})
    await connection.execute(QUERIES["record_registration"], {"ip": key, "now": now})
