"""Accounts and sessions: registration, login, validation, revocation.

Every function takes the request's session and flushes, never commits. Time comes from the
caller (`now`), so tests drive expiry with a controlled clock. Every revocation notifies
`session_revoked` in the same transaction, so other services learn of it exactly when it commits.
"""

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from prometheus_client import Counter
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from auth_service import passwords, throttle, tokens
from auth_service.config import SessionLifetimes, Settings
from auth_service.errors import (
    AccountDisabled,
    EmailTaken,
    InvalidCredentials,
    NotAuthenticated,
    RecentLoginRequired,
    SessionNotFound,
    TooManyAttempts,
)
from auth_service.models import UserSession
from auth_service.session_cache import SessionCache
from shared.passport import REVOCATION_CHANNEL
from shared.users import User

logger = logging.getLogger(__name__)

LOGINS = Counter("pgstack_auth_logins", "Login attempts by outcome.", ["outcome"])
REVOCATIONS = Counter("pgstack_auth_revoked_sessions", "Sessions revoked, by reason.", ["reason"])

Clock = Callable[[], dt.datetime]
Transport = Literal["cookie", "bearer"]
AuthMethod = Literal["password", "exchange"]
_USER_AGENT_LIMIT = 512


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A valid session and its user, as seen by this request."""

    session_id: uuid.UUID
    user_id: int
    email: str
    full_name: str
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


# The hot path: one primary-key read joined to the user, then (at most hourly) one write.
_SESSION_BY_ID = """
    SELECT s.secret_hash, s.user_id, s.auth_method, s.transport, s.created_at,
           s.last_seen_at, s.absolute_expires_at, u.email, u.full_name
    FROM user_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = %(id)s AND s.revoked_at IS NULL AND u.is_active
"""
# Conditional, so 20 parallel requests at the renewal boundary write once: the others wait
# for the first one's row lock, re-check the condition on the new row and match nothing.
_TOUCH = (
    "UPDATE user_sessions SET last_seen_at = %(now)s WHERE id = %(id)s AND last_seen_at < %(stale)s"
)
_REVOKE_NOTIFY = """
    WITH revoked AS (
        UPDATE user_sessions SET revoked_at = :now
        WHERE revoked_at IS NULL AND {condition}
        RETURNING id
    )
    SELECT id, pg_notify('{channel}', id::text) FROM revoked
"""


async def create_user(
    session: AsyncSession, *, email: str, password: str, full_name: str = ""
) -> User:
    hashed = await passwords.hash_password(password)
    user: User | None = await session.scalar(
        pg_insert(User)
        .values(email=normalise_email(email), hashed_password=hashed, full_name=full_name)
        # Either unique index (email, lower(email)) turns a duplicate into no row.
        .on_conflict_do_nothing()
        .returning(User)
    )
    if user is None:
        raise EmailTaken()
    return user


async def get_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return await session.scalar(
        select(User).where(func.lower(User.email) == normalise_email(email))
    )


async def login(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    transport: Transport,
    now: dt.datetime,
    settings: Settings,
) -> NewSession:
    """Check the password (after the throttle) and open a new session."""
    email = normalise_email(email)
    try:
        await throttle.check(session, email=email, ip=ip, now=now, settings=settings)
    except TooManyAttempts:
        LOGINS.labels("throttled").inc()
        logger.warning("login throttled", extra={"ip": ip})
        raise
    user = await get_user_by_email(session, email=email)
    ok = await passwords.verify_password(password, user.hashed_password if user else None)
    if user is None or not ok:
        engine = session.bind
        assert isinstance(engine, AsyncEngine)
        await throttle.record_failure(engine, email=email, ip=ip, now=now)
        LOGINS.labels("failed").inc()
        logger.info("login failed", extra={"ip": ip})
        raise InvalidCredentials()
    if not user.is_active:
        LOGINS.labels("disabled").inc()
        raise AccountDisabled()
    if passwords.needs_rehash(user.hashed_password):
        # Legacy bcrypt (or weaker argon2) is replaced while the plain password is at hand.
        user.hashed_password = await passwords.hash_password(password)
        user.updated_at = now
    await throttle.forget_account(session, email=email)
    LOGINS.labels("succeeded").inc()
    return await _open_session(
        session,
        user=user,
        auth_method="password",
        transport=transport,
        absolute_expires_at=now + settings.session_absolute_timeout,
        ip=ip,
        user_agent=user_agent,
        now=now,
        settings=settings,
    )


async def _open_session(
    session: AsyncSession,
    *,
    user: User,
    auth_method: AuthMethod,
    transport: Transport,
    absolute_expires_at: dt.datetime,
    ip: str | None,
    user_agent: str | None,
    now: dt.datetime,
    settings: SessionLifetimes,
) -> NewSession:
    token = tokens.new_token()
    await session.execute(
        insert(UserSession).values(
            id=token.session_id,
            user_id=user.id,
            secret_hash=tokens.secret_hash(token.secret),
            auth_method=auth_method,
            transport=transport,
            created_at=now,
            last_seen_at=now,
            absolute_expires_at=absolute_expires_at,
            user_agent=(user_agent or "")[:_USER_AGENT_LIMIT] or None,
            ip=ip,
        )
    )
    authenticated = Authenticated(
        session_id=token.session_id,
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
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


Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


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
            cursor = await connection.execute(_SESSION_BY_ID, {"id": parsed.session_id})
            found = await cursor.fetchone()
        if found is None:
            raise NotAuthenticated()
        row = SessionRow(*found)
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
                _TOUCH,
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
        yield await psycopg_connection(session)

    return connect


async def psycopg_connection(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under `session`, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver


async def _revoke(
    session: AsyncSession,
    *,
    reason: str,
    condition: str,
    params: dict[str, object],
    now: dt.datetime,
    cache: SessionCache[SessionRow] | None,
) -> list[uuid.UUID]:
    statement = text(_REVOKE_NOTIFY.format(condition=condition, channel=REVOCATION_CHANNEL))
    revoked = [row.id for row in await session.execute(statement, {**params, "now": now})]
    REVOCATIONS.labels(reason).inc(len(revoked))
    if cache is not None:
        # This process forgets at once; every process (this one again) on the NOTIFY.
        for session_id in revoked:
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
    stored = await session.scalar(
        select(UserSession.secret_hash).where(UserSession.id == parsed.session_id)
    )
    if stored is not None and tokens.matches(parsed.secret, stored):
        await _revoke(
            session,
            reason="logout",
            condition="id = :id",
            params={"id": parsed.session_id},
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
        reason="exchange",
        condition="id = :id",
        params={"id": current.session_id},
        now=now,
        cache=cache,
    )
    user = await session.get_one(User, current.user_id)
    return await _open_session(
        session,
        user=user,
        auth_method="exchange",
        transport="cookie",
        absolute_expires_at=current.absolute_expires_at,
        ip=ip,
        user_agent=user_agent,
        now=now,
        settings=settings,
    )


async def list_sessions(
    session: AsyncSession, *, user_id: int, now: dt.datetime, settings: SessionLifetimes
) -> Sequence[UserSession]:
    """The user's live sessions, most recently used first."""
    result = await session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.absolute_expires_at > now,
            UserSession.last_seen_at > now - settings.session_idle_timeout,
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
    )
    return result.all()


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
        reason="revoked",
        condition="id = :id AND user_id = :user_id",
        params={"id": session_id, "user_id": current.user_id},
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
        reason="others_revoked",
        condition="user_id = :user_id AND id <> :id",
        params={"user_id": current.user_id, "id": current.session_id},
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
    """Disable an account and revoke every session it has; returns how many were revoked."""
    await session.execute(
        update(User).where(User.id == user_id).values(is_active=False, updated_at=now)
    )
    revoked = await _revoke(
        session,
        reason="user_disabled",
        condition="user_id = :user_id",
        params={"user_id": user_id},
        now=now,
        cache=cache,
    )
    return len(revoked)
