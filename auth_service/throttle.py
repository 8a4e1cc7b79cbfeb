"""Throttles in Postgres: failed logins per account and per client address, with back-off, and
registrations per address and in all.

Logins: up to the limit, failures are free; from then on every new failure doubles the wait
(from `login_backoff_base` to `login_backoff_max`), counted from the latest failure. The check
is one indexed read made before any password hashing, so a throttled guess costs no CPU; an
attempt let through is written at once, before its password is checked, as in flight: a right
password deletes it, a wrong one settles it as a failure. For the account an attempt in
flight counts as a failure (a burst of concurrent guesses is counted while it is still
hashing: the first ones to arrive trip the limit for the rest); for the address it does not
(twenty people of one office logging in at once are not ten failures), and the address's
attempts in flight have a limit of their own (`login_in_flight_per_ip`). An attempt left in
flight by a process that died counts as a failure after `PENDING_AT_MOST`.

Each process also remembers, in memory, when every back-off it has read from the database
ends (`BackingOff`): until then a further guess for that account or from that address is
refused before it takes a connection (it would write nothing anyway). In bench/login_flood.py
that took the flood's queries off the pool the correct logins wait on.

Registrations: a fixed window; the total limit is what a distributed burst meets.
"""

import asyncio
import datetime as dt
import ipaddress
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from auth_service.config import Settings
from auth_service.errors import TooManyAttempts, TooManyRegistrations
from shared import sql

logger = logging.getLogger(__name__)

QUERIES = sql.load(__file__)
# An attempt still in flight after this long had its process die while hashing (a hash takes
# well under a second): it counts as a failure.
PENDING_AT_MOST = dt.timedelta(seconds=30)


def address_key(ip: str | None) -> str | None:
    """The address failures are counted against: an IPv6 client is its /64, as one host
    commonly holds a whole /64 and could otherwise guess from a fresh address every time."""
    if ip is None:
        return None
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)  # else its /64 would be every IPv4 client at once
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


class BackingOff:
    """The end of each back-off this process has seen, by account and by address; and one
    admission at a time per account, so a burst for one account meets its back-off after the
    limit's worth of queries instead of all queueing for the pool (which ran dry: 503s)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._until: dict[str, dt.datetime] = {}
        self._admitting: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def one_at_a_time(self, email: str) -> AsyncIterator[None]:
        """Hold while this account's attempt is checked and recorded (milliseconds: never
        while hashing)."""
        lock, users = self._admitting.get(email, (asyncio.Lock(), 0))
        self._admitting[email] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._admitting[email]
            if users == 1:
                del self._admitting[email]
            else:
                self._admitting[email] = (lock, users - 1)

    def refuse(self, *, email: str, ip: str | None, now: dt.datetime) -> None:
        """Raise TooManyAttempts while the account or the address is known to back off."""
        ends = [self._until.get(key) for key in _keys(email, ip)]
        wait = max(((end - now).total_seconds() for end in ends if end is not None), default=0)
        if wait > 0:
            raise TooManyAttempts(headers={"Retry-After": str(math.ceil(wait))})

    def hold(self, key: str, until: dt.datetime, *, now: dt.datetime) -> None:
        if len(self._until) >= self._limit:
            self._until = {k: end for k, end in self._until.items() if end > now}
            if len(self._until) >= self._limit:
                self._until.clear()  # a flood of distinct keys: forget, the database knows
        self._until[key] = until


def _keys(email: str, ip: str | None) -> tuple[str, str]:
    return f"email:{email}", f"ip:{address_key(ip)}"


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
    backing_off: BackingOff,
) -> int:
    """Raise TooManyAttempts (with Retry-After) while the account or the address backs off
    (remembered in `backing_off`), or while the address has too many attempts in flight;
    else record the attempt, in flight (an autocommit write: it outlives the request), and
    return its id for `settle_failure`."""
    params = {
        "email": email,
        "ip": address_key(ip),
        "since": now - settings.login_failure_window,
        "pending_since": now - PENDING_AT_MOST,
    }
    cursor = await connection.execute(QUERIES["count_failures"], params)
    row = await cursor.fetchone()
    assert row is not None
    account_failures, account_last, ip_failures, ip_last, ip_in_flight = row
    waits = (
        _wait(account_failures, account_last, settings.login_failures_per_account, now, settings),
        _wait(ip_failures, ip_last, settings.login_failures_per_ip, now, settings),
    )
    for key, wait in zip(_keys(email, ip), waits, strict=True):
        if wait > 0:
            backing_off.hold(key, now + dt.timedelta(seconds=wait), now=now)
            # The address is logged (an operator may block it), never the email.
            logger.warning(
                "login backing off",
                extra={"by": key.partition(":")[0], "ip": ip, "seconds": math.ceil(wait)},
            )
    if max(waits) > 0:
        raise TooManyAttempts(headers={"Retry-After": str(math.ceil(max(waits)))})
    if ip is not None and ip_in_flight >= settings.login_in_flight_per_ip:
        # Not a back-off: these attempts end within a second, as right or wrong passwords.
        raise TooManyAttempts(headers={"Retry-After": "1"})
    cursor = await connection.execute(
        QUERIES["record_attempt"], {"email": email, "ip": address_key(ip), "now": now}
    )
    attempt = await cursor.fetchone()
    assert attempt is not None
    return int(attempt[0])


async def settle_failure(connection: psycopg.AsyncConnection[Any], *, attempt_id: int) -> None:
    """The attempt's password was wrong (or its account disabled): a failure from now on."""
    await connection.execute(QUERIES["settle_failure"], {"id": attempt_id})


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
