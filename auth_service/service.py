"""Accounts and sessions: registration, login, validation, password change, revocation, roles.

Every function takes the request's session and flushes, never commits. Time comes from the
caller (`now`), so tests drive expiry with a controlled clock. Every revocation notifies
`session_revoked` in the same transaction, so other services learn of it exactly when it commits.

Password hashing (tens of milliseconds of CPU) never runs while the request holds a database
connection: a login's reads and its throttle write happen before the hash on a short autocommit
connection (`connect`), and only a right password opens the request's transaction. Holding a
connection through the hash, plus a second one to record the failure, ran the pool dry under
20 concurrent wrong passwords (500s); now 200 are answered (tests/auth_service/test_flood.py).

Logs name a session by `tokens.session_ref` (a hash of its id), never by its token.
"""

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from prometheus_client import Counter
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service import emails, passwords, throttle, tokens
from auth_service.config import SessionLifetimes, Settings
from auth_service.errors import (
    AccountDisabled,
    CurrentPasswordIncorrect,
    InvalidCredentials,
    NotAuthenticated,
    RecentLoginRequired,
    SessionNotFound,
    TooManyAttempts,
    UserNotFound,
)
from auth_service.session_cache import SessionCache
from shared import db, sql
from shared.passport import REVOCATION_CHANNEL

logger = logging.getLogger(__name__)

QUERIES = sql.load(__file__)

LOGINS = Counter("pgstack_auth_logins", "Login attempts by outcome.", ["outcome"])
REVOCATIONS = Counter("pgstack_auth_revoked_sessions", "Sessions revoked, by reason.", ["reason"])

Clock = Callable[[], dt.datetime]
Transport = Literal["cookie", "bearer"]
AuthMethod = Literal["password", "exchange"]
Role = Literal["operator"]
_USER_AGENT_LIMIT = 512

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A valid session and its user, as seen by this request."""

    session_id: uuid.UUID
    user_id: int
    email: str
    full_name: str
    roles: tuple[str, ...]
    auth_method: AuthMethod
    transport: Transport  # what the session was created for
    presented_by: Transport  # how this request carried the token
    created_at: dt.datetime
    last_seen_at: dt.datetime
    idle_expires_at: dt.datetime
    absolute_expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NewSession:
    authenticated: Authenticated
    token: tokens.Token


@dataclass(frozen=True, slots=True)
class Account:
    """The user a new session is opened for."""

    id: int
    email: str
    full_name: str


async def _one(
    connection: psycopg.AsyncConnection[Any], query: str, params: Mapping[str, Any]
) -> dict[str, Any] | None:
    cursor = connection.cursor(row_factory=dict_row)
    await cursor.execute(query, params)
    return await cursor.fetchone()


async def _session_one(
    session: AsyncSession, query: str, params: Mapping[str, Any]
) -> dict[str, Any] | None:
    return await (await db.execute(session, query, params)).fetchone()


async def create_user(
    session: AsyncSession, *, email: str, password: str, full_name: str = ""
) -> int | None:
    """Create an account; its id, or None when the email is taken (the caller must not say
    which: see `register`)."""
    hashed = await passwords.hash_password(password)
    row = await _session_one(
        session,
        QUERIES["create_user"],
        {"email": emails.canonical(email), "hashed_password": hashed, "full_name": full_name},
    )
    return int(row["id"]) if row else None


async def register(
    session: AsyncSession,
    *,
    connect: Connect,
    email: str,
    password: str,
    full_name: str,
    ip: str | None,
    now: dt.datetime,
    settings: Settings,
) -> int | None:
    """Registration behind its throttle. A taken email costs the same hash and gets the same
    answer as a new one, so registering says nothing about who has an account."""
    async with connect() as connection:
        await throttle.admit_registration(connection, ip=ip, now=now, settings=settings)
    return await create_user(session, email=email, password=password, full_name=full_name)


async def login(
    session: AsyncSession,
    *,
    connect: Connect,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    transport: Transport,
    now: dt.datetime,
    settings: Settings,
    backing_off: throttle.BackingOff,
) -> NewSession:
    """Check the password (after the throttle) and open a new session."""
    email = emails.canonical(email)
    try:
        async with backing_off.one_at_a_time(email):
            backing_off.refuse(email=email, ip=ip, now=now)
            async with connect() as connection:
                attempt_id = await throttle.admit_login(
                    connection,
                    email=email,
                    ip=ip,
                    now=now,
                    settings=settings,
                    backing_off=backing_off,
                )
                user = await _one(connection, QUERIES["get_login_user"], {"email": email})
    except TooManyAttempts:
        # Counted, not logged: a flood would be a log line per guess (the throttle logs each
        # back-off once, when it starts).
        LOGINS.labels("throttled").inc()
        raise
    # No connection is held from here until the password is known to be right.
    ok = await passwords.verify_password(password, user["hashed_password"] if user else None)
    if user is None or not ok or not user["is_active"]:
        # A short connection of its own, as the admission's: none was held while hashing.
        async with connect() as connection:
            await throttle.settle_failure(connection, attempt_id=attempt_id)
    if user is None or not ok:
        LOGINS.labels("failed").inc()
        logger.info("login failed", extra={"ip": ip})
        raise InvalidCredentials()
    if not user["is_active"]:
        LOGINS.labels("disabled").inc()
        raise AccountDisabled()
    if passwords.needs_rehash(user["hashed_password"]):
        # Legacy bcrypt (or weaker argon2) is replaced while the plain password is at hand.
        await _set_password(session, user_id=user["id"], password=password, now=now)
    await throttle.forget_account(await db.psycopg_connection(session), email=email)
    LOGINS.labels("succeeded").inc()
    return await _open_session(
        session,
        account=Account(id=user["id"], email=user["email"], full_name=user["full_name"]),
        auth_method="password",
        transport=transport,
        absolute_expires_at=now + settings.session_absolute_timeout,
        ip=ip,
        user_agent=user_agent,
        now=now,
        settings=settings,
    )


async def _set_password(
    session: AsyncSession, *, user_id: int, password: str, now: dt.datetime
) -> None:
    hashed = await passwords.hash_password(password)
    await db.execute(
        session,
        QUERIES["set_password"],
        {"user_id": user_id, "hashed_password": hashed, "now": now},
    )


async def _open_session(
    session: AsyncSession,
    *,
    account: Account,
    auth_method: AuthMethod,
    transport: Transport,
    absolute_expires_at: dt.datetime,
    ip: str | None,
    user_agent: str | None,
    now: dt.datetime,
    settings: Settings,
    cache: SessionCache["SessionRow"] | None = None,
) -> NewSession:
    token = tokens.new_token()
    await db.execute(
        session,
        QUERIES["insert_session"],
        {
            "id": token.session_id,
            "user_id": account.id,
            "secret_hash": tokens.secret_hash(token.secret),
            "auth_method": auth_method,
            "transport": transport,
            "now": now,
            "absolute_expires_at": absolute_expires_at,
            "user_agent": (user_agent or "")[:_USER_AGENT_LIMIT] or None,
            "ip": ip,
        },
    )
    logger.info(
        "session opened",
        extra={"session": tokens.session_ref(token.session_id), "user_id": account.id},
    )
    await _revoke(
        session,
        QUERIES["revoke_oldest_sessions"],
        {
            "user_id": account.id,
            "id": token.session_id,
            "others": settings.max_sessions - 1,
            "idle_since": now - settings.session_idle_timeout,
        },
        reason="session_cap",
        now=now,
        cache=cache,
    )
    roles = await _session_one(session, QUERIES["get_roles"], {"user_id": account.id})
    authenticated = Authenticated(
        session_id=token.session_id,
        user_id=account.id,
        email=account.email,
        full_name=account.full_name,
        roles=tuple(roles["roles"]) if roles else (),
        auth_method=auth_method,
        transport=transport,
        presented_by=transport,
        created_at=now,
        last_seen_at=now,
        idle_expires_at=min(now + settings.session_idle_timeout, absolute_expires_at),
        absolute_expires_at=absolute_expires_at,
    )
    return NewSession(authenticated=authenticated, token=token)


@dataclass(frozen=True, slots=True)
class SessionRow:
    """What the session check reads: the session and its (active) user."""

    secret_hash: bytes
    user_id: int
    auth_method: AuthMethod
    transport: Transport
    created_at: dt.datetime
    last_seen_at: dt.datetime
    absolute_expires_at: dt.datetime
    email: str
    full_name: str
    roles: tuple[str, ...]


async def authenticate(
    connect: Connect,
    *,
    token: str | None,
    presented_by: Transport,
    now: dt.datetime,
    settings: SessionLifetimes,
    cache: SessionCache[SessionRow] | None = None,
) -> Authenticated:
    """The valid session behind `token`, or NotAuthenticated; a read, plus an hourly write.

    Plain psycopg, as this runs on every page view: SQLAlchemy's execution layer costs about
    four times the CPU of the query itself here. `connect()` is only entered when the
    database is needed: a row in `cache` (GET /v1/session) needs none. Safe on autocommit
    connections, as the one write is a single conditional statement.
    """
    parsed = tokens.parse(token) if token else None
    if parsed is None:
        raise NotAuthenticated()
    row = cache.get(parsed.session_id) if cache is not None else None
    if row is None:
        generation = cache.generation if cache is not None else 0
        async with connect() as connection:
            found = await _one(connection, QUERIES["get_session"], {"id": parsed.session_id})
        if found is None:
            raise NotAuthenticated()
        row = SessionRow(**{**found, "roles": tuple(found["roles"])})
        if cache is not None:
            cache.put(parsed.session_id, row, generation=generation)
    if not tokens.matches(parsed.secret, row.secret_hash):
        raise NotAuthenticated()
    if now >= row.last_seen_at + settings.session_idle_timeout or now >= row.absolute_expires_at:
        raise NotAuthenticated("The session has expired: log in again.")
    if now - row.last_seen_at >= settings.last_seen_interval:
        generation = cache.generation if cache is not None else 0
        async with connect() as connection:
            await connection.execute(
                QUERIES["touch_session"],
                {"id": parsed.session_id, "now": now, "stale": now - settings.last_seen_interval},
            )
        row = dataclasses.replace(row, last_seen_at=now)
        if cache is not None:
            cache.put(parsed.session_id, row, generation=generation)
    return Authenticated(
        session_id=parsed.session_id,
        user_id=row.user_id,
        email=row.email,
        full_name=row.full_name,
        roles=row.roles,
        auth_method=row.auth_method,
        transport=row.transport,
        presented_by=presented_by,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        idle_expires_at=min(
            row.last_seen_at + settings.session_idle_timeout, row.absolute_expires_at
        ),
        absolute_expires_at=row.absolute_expires_at,
    )


def in_transaction(session: AsyncSession) -> Connect:
    """`connect` for authenticate() inside the request's transaction."""

    @asynccontextmanager
    async def connect() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        yield await db.psycopg_connection(session)

    return connect


async def _revoke(
    session: AsyncSession,
    query: str,
    params: Mapping[str, object],
    *,
    reason: str,
    now: dt.datetime,
    cache: SessionCache[SessionRow] | None,
) -> list[uuid.UUID]:
    cursor = await db.execute(session, query, {**params, "now": now, "channel": REVOCATION_CHANNEL})
    revoked = [row["id"] for row in await cursor.fetchall()]
    REVOCATIONS.labels(reason).inc(len(revoked))
    for session_id in revoked:
        logger.info(
            "session revoked", extra={"session": tokens.session_ref(session_id), "reason": reason}
        )
        if cache is not None:
            # This process forgets at once; every process (this one again) on the NOTIFY.
            cache.revoked(session_id)
    return revoked


async def logout(
    session: AsyncSession,
    *,
    token: str | None,
    now: dt.datetime,
    cache: SessionCache[SessionRow] | None = None,
) -> None:
    """Revoke the session behind `token` if the token is genuine; nothing otherwise."""
    parsed = tokens.parse(token) if token else None
    if parsed is None:
        return
    stored = await _session_one(session, QUERIES["get_secret_hash"], {"id": parsed.session_id})
    if stored is not None and tokens.matches(parsed.secret, stored["secret_hash"]):
        await _revoke(
            session,
            QUERIES["revoke_session"],
            {"id": parsed.session_id},
            reason="logout",
            now=now,
            cache=cache,
        )


async def exchange(
    session: AsyncSession,
    *,
    current: Authenticated,
    ip: str | None,
    user_agent: str | None,
    now: dt.datetime,
    cache: SessionCache[SessionRow] | None = None,
    settings: Settings,
) -> NewSession:
    """Turn the presented (bearer) session into a cookie session and revoke the old one.

    The new session keeps the old absolute expiry: exchanging must not extend a login.
    """
    await _revoke(
        session,
        QUERIES["revoke_session"],
        {"id": current.session_id},
        reason="exchange",
        now=now,
        cache=cache,
    )
    return await _open_session(
        session,
        account=Account(id=current.user_id, email=current.email, full_name=current.full_name),
        auth_method="exchange",
        transport="cookie",
        absolute_expires_at=current.absolute_expires_at,
        ip=ip,
        user_agent=user_agent,
        now=now,
        settings=settings,
        cache=cache,
    )


async def change_password(
    session: AsyncSession,
    *,
    connect: Connect,
    current: Authenticated,
    current_password: str,
    new_password: str,
    ip: str | None,
    user_agent: str | None,
    now: dt.datetime,
    settings: Settings,
    backing_off: throttle.BackingOff,
    cache: SessionCache[SessionRow] | None = None,
) -> NewSession:
    """Replace the password (the current one proves it is the user, not a stolen cookie),
    revoke every session of the user and open a new one for this client.

    Wrong current passwords count as failed logins of the account, so a stolen session cannot
    guess the password faster than the login form can.
    """
    async with backing_off.one_at_a_time(current.email):
        backing_off.refuse(email=current.email, ip=ip, now=now)
        async with connect() as connection:
            attempt_id = await throttle.admit_login(
                connection,
                email=current.email,
                ip=ip,
                now=now,
                settings=settings,
                backing_off=backing_off,
            )
            account = await _one(connection, QUERIES["get_account"], {"user_id": current.user_id})
    assert account is not None  # the session check found the user a moment ago
    if not await passwords.verify_password(current_password, account["hashed_password"]):
        async with connect() as connection:
            await throttle.settle_failure(connection, attempt_id=attempt_id)
        raise CurrentPasswordIncorrect()
    await _set_password(session, user_id=current.user_id, password=new_password, now=now)
    await throttle.forget_account(await db.psycopg_connection(session), email=current.email)
    await _revoke(
        session,
        QUERIES["revoke_all_sessions"],
        {"user_id": current.user_id},
        reason="password_changed",
        now=now,
        cache=cache,
    )
    return await _open_session(
        session,
        account=Account(id=current.user_id, email=current.email, full_name=current.full_name),
        auth_method="password",
        transport="cookie",
        absolute_expires_at=now + settings.session_absolute_timeout,
        ip=ip,
        user_agent=user_agent,
        now=now,
        settings=settings,
        cache=cache,
    )


async def list_sessions(
    session: AsyncSession, *, user_id: int, now: dt.datetime, settings: SessionLifetimes
) -> Sequence[dict[str, Any]]:
    """The user's live sessions, most recently used first."""
    cursor = await db.execute(
        session,
        QUERIES["list_sessions"],
        {"user_id": user_id, "now": now, "idle_since": now - settings.session_idle_timeout},
    )
    return await cursor.fetchall()


def _require_recent_login(current: Authenticated, *, now: dt.datetime, settings: Settings) -> None:
    if current.auth_method != "password" or now - current.created_at > settings.recent_login:
        raise RecentLoginRequired()


async def revoke_session(
    session: AsyncSession,
    *,
    current: Authenticated,
    session_id: uuid.UUID,
    now: dt.datetime,
    cache: SessionCache[SessionRow] | None = None,
    settings: Settings,
) -> None:
    """Revoke one of the user's sessions; another user's (or an unknown) id is a 404."""
    _require_recent_login(current, now=now, settings=settings)
    revoked = await _revoke(
        session,
        QUERIES["revoke_users_session"],
        {"id": session_id, "user_id": current.user_id},
        reason="revoked",
        now=now,
        cache=cache,
    )
    if not revoked:
        raise SessionNotFound()


async def revoke_other_sessions(
    session: AsyncSession,
    *,
    current: Authenticated,
    now: dt.datetime,
    cache: SessionCache[SessionRow] | None = None,
    settings: Settings,
) -> int:
    """Log out everywhere else; returns how many sessions were revoked."""
    _require_recent_login(current, now=now, settings=settings)
    revoked = await _revoke(
        session,
        QUERIES["revoke_other_sessions"],
        {"user_id": current.user_id, "id": current.session_id},
        reason="others_revoked",
        now=now,
        cache=cache,
    )
    return len(revoked)


async def disable_user(
    session: AsyncSession,
    *,
    user_id: int,
    now: dt.datetime,
    cache: SessionCache[SessionRow] | None = None,
) -> int:
    """Revoke every session of a user (just disabled); returns how many were revoked."""
    revoked = await _revoke(
        session,
        QUERIES["revoke_all_sessions"],
        {"user_id": user_id},
        reason="user_disabled",
        now=now,
        cache=cache,
    )
    return len(revoked)


async def set_active(session: AsyncSession, *, email: str, active: bool, now: dt.datetime) -> int:
    """Enable or disable an account (an operator's command); disabling revokes every session
    at once. Returns how many sessions were revoked."""
    row = await _session_one(
        session,
        QUERIES["set_active"],
        {"email": emails.canonical(email), "active": active, "now": now},
    )
    if row is None:
        raise UserNotFound()
    return 0 if active else await disable_user(session, user_id=row["id"], now=now)


async def set_role(
    session: AsyncSession, *, email: str, role: Role, granted: bool, now: dt.datetime
) -> bool:
    """Grant or take away a role; returns whether anything changed. Taking one away revokes
    the user's sessions, so no passport carries the role past its 60 s lifetime."""
    user = await _session_one(session, QUERIES["get_user_id"], {"email": emails.canonical(email)})
    if user is None:
        raise UserNotFound()
    params = {"user_id": user["id"], "role": role}
    if granted:
        cursor = await db.execute(session, QUERIES["grant_role"], params)
        return cursor.rowcount == 1
    if await _session_one(session, QUERIES["revoke_role"], params) is None:
        return False
    await _revoke(
        session,
        QUERIES["revoke_all_sessions"],
        {"user_id": user["id"]},
        reason="role_revoked",
        now=now,
        cache=None,
    )
    return True
