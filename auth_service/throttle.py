"""Login throttling in Postgres: failures per account and per client address, with back-off.

Up to the limit, failures are free; from then on every new failure doubles the wait (from
`login_backoff_base` to `login_backoff_max`), counted from the latest failure. The check is
one indexed read made before any password hashing, so a throttled guess costs no CPU.
"""

import datetime as dt
import ipaddress
import math

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from auth_service.config import Settings
from auth_service.errors import TooManyAttempts

_COUNT = text(
    """
    SELECT count(*) FILTER (WHERE email = :email) AS account_failures,
           max(failed_at) FILTER (WHERE email = :email) AS account_last,
           count(*) FILTER (WHERE ip = CAST(:ip AS inet)) AS ip_failures,
           max(failed_at) FILTER (WHERE ip = CAST(:ip AS inet)) AS ip_last
    FROM login_failures
    WHERE (email = :email OR ip = CAST(:ip AS inet)) AND failed_at > :since
    """
)


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


async def check(
    session: AsyncSession, *, email: str, ip: str | None, now: dt.datetime, settings: Settings
) -> None:
    """Raise TooManyAttempts (with Retry-After) while the account or the address backs off."""
    params = {"email": email, "ip": address_key(ip), "since": now - settings.login_failure_window}
    row = (await session.execute(_COUNT, params)).one()
    wait = max(
        _wait(
            row.account_failures,
            row.account_last,
            settings.login_failures_per_account,
            now,
            settings,
        ),
        _wait(row.ip_failures, row.ip_last, settings.login_failures_per_ip, now, settings),
    )
    if wait > 0:
        raise TooManyAttempts(headers={"Retry-After": str(math.ceil(wait))})


async def record_failure(
    engine: AsyncEngine, *, email: str, ip: str | None, now: dt.datetime
) -> None:
    """Record a failed login in a transaction of its own: the request's transaction is rolled
    back by the 401 that follows, and the failure must outlive it."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO login_failures (email, ip, failed_at)"
                " VALUES (:email, CAST(:ip AS inet), :now)"
            ),
            {"email": email, "ip": address_key(ip), "now": now},
        )


async def forget_account(session: AsyncSession, *, email: str) -> None:
    """A successful login clears the account's failures (never the address's: one known
    password must not buy an attacker fresh guesses against other accounts)."""
    await session.execute(text("DELETE FROM login_failures WHERE email = :email"), {"email": email})
