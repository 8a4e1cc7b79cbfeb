"""auth_service's HTTP routes: parse, call the service layer, render a schema."""

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from psycopg_pool import AsyncConnectionPool

from auth_service import credentials, csrf, service, service_tokens
from auth_service.config import Settings
from auth_service.errors import BearerLoginsDisabled, NotAuthenticated
from auth_service.keys import PassportKeys
from auth_service.schemas import (
    DeviceRead,
    LoginRequest,
    PassportRead,
    PasswordChange,
    RegistrationRead,
    RevokedRead,
    SessionInfo,
    SessionRead,
    UserCreate,
    UserRead,
    describe_device,
)
from auth_service.session_cache import SessionCache
from shared.db import SessionDep
from shared.errors import EVERY_ROUTE, problem_responses

# Every unsafe route of the router goes through the CSRF check; it cannot be forgotten.
# Unsafe routes also answer 403 (cross-site) and 415 (not JSON): csrf.protect.
router = APIRouter(
    prefix="/v1",
    tags=["auth"],
    dependencies=[Depends(csrf.protect)],
    responses=problem_responses(*EVERY_ROUTE),
)
# Routes no browser cookie is involved in, so outside the CSRF check.
well_known = APIRouter(tags=["auth"])
# The session check alone, tried first of every route (FastAPI tries them in order, about
# 2.5 us each) and outside the router's CSRF dependency, which has nothing to check on a GET
# and costs resolving it: every page view calls this route.
session_check = APIRouter(prefix="/v1", tags=["auth"], responses=problem_responses(*EVERY_ROUTE))


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_now(request: Request) -> dt.datetime:
    clock: service.Clock = request.app.state.clock
    return clock()


SettingsDep = Annotated[Settings, Depends(get_settings)]
NowDep = Annotated[dt.datetime, Depends(get_now)]


async def current_session(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> service.Authenticated:
    token, presented_by = credentials.presented_token(request, settings)
    return await service.authenticate(
        service.in_transaction(session),
        token=token,
        presented_by=presented_by,
        now=now,
        settings=settings,
    )


CurrentSession = Annotated[service.Authenticated, Depends(current_session)]


async def get_cache(request: Request) -> SessionCache[service.SessionRow]:
    cache: SessionCache[service.SessionRow] = request.app.state.session_cache
    return cache


CacheDep = Annotated[SessionCache[service.SessionRow], Depends(get_cache)]


async def get_connect(request: Request) -> service.Connect:
    """Short autocommit connections (the session check's pool), for the work a request does
    before or without its transaction: a login's reads and its throttle's writes."""
    pool: AsyncConnectionPool = request.app.state.session_pool
    return pool.connection


ConnectDep = Annotated[service.Connect, Depends(get_connect)]


def _session_read(
    request: Request,
    current: service.Authenticated,
    *,
    now: dt.datetime,
    settings: Settings,
    token: str | None = None,
) -> SessionRead:
    keys: PassportKeys = request.app.state.passport_keys
    # A new session (login, exchange) has no recent passport: it gets a new one.
    passport, expires_at = keys.recent(
        user_id=current.user_id,
        session_id=current.session_id,
        audience=settings.passport_audience,
        now=now,
        ttl=settings.passport_ttl,
        roles=current.roles,
    )
    return SessionRead(
        user=UserRead(
            id=current.user_id,
            email=current.email,
            full_name=current.full_name,
            roles=list(current.roles),
        ),
        session=SessionInfo(
            id=current.session_id,
            auth_method=current.auth_method,
            transport=current.transport,
            presented_by=current.presented_by,
            created_at=current.created_at,
            last_seen_at=current.last_seen_at,
            idle_expires_at=current.idle_expires_at,
            absolute_expires_at=current.absolute_expires_at,
        ),
        passport=PassportRead(token=passport, expires_at=expires_at),
        token=token,
    )


def _json(body: SessionRead, status_code: int = 200) -> Response:
    # Serialised by pydantic-core straight to bytes: this route runs on every page view.
    return Response(
        body.model_dump_json(exclude_none=True),
        status_code=status_code,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


def _with_cookie(
    request: Request, opened: service.NewSession, *, now: dt.datetime, settings: Settings
) -> Response:
    """The new session's body, its token set as the session cookie."""
    response = _json(_session_read(request, opened.authenticated, now=now, settings=settings))
    credentials.set_session_cookie(
        response,
        token=str(opened.token),
        expires_at=opened.authenticated.absolute_expires_at,
        now=now,
        settings=settings,
    )
    return response


@router.post(
    "/users", status_code=status.HTTP_201_CREATED, responses=problem_responses(403, 415, 429)
)
async def register(
    body: UserCreate,
    request: Request,
    session: SessionDep,
    connect: ConnectDep,
    settings: SettingsDep,
    now: NowDep,
) -> RegistrationRead:
    """Create an account (log in afterwards); the same answer if the email is taken."""
    await service.register(
        session,
        connect=connect,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        ip=credentials.client_ip(request, settings),
        now=now,
        settings=settings,
    )
    return RegistrationRead(email=body.email)


@router.post(
    "/session", response_model=SessionRead, responses=problem_responses(401, 403, 415, 429)
)
async def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    connect: ConnectDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """Log in: a new session in a `__Host-session` cookie, with the user and a passport."""
    if body.transport == "bearer" and not (settings.bearer_logins and settings.legacy_bearer):
        raise BearerLoginsDisabled()
    opened = await service.login(
        session,
        connect=connect,
        email=body.email,
        password=body.password,
        ip=credentials.client_ip(request, settings),
        user_agent=request.headers.get("user-agent"),
        transport=body.transport,
        now=now,
        settings=settings,
        backing_off=request.app.state.backing_off,
    )
    if body.transport == "bearer":
        token = str(opened.token)
        return _json(
            _session_read(request, opened.authenticated, now=now, settings=settings, token=token)
        )
    return _with_cookie(request, opened, now=now, settings=settings)


@session_check.get("/session", response_model=SessionRead, responses=problem_responses(401))
async def read_session(request: Request) -> Response:
    """The current user, session and a passport (from the cookie, or a legacy bearer)."""
    # Every page view calls this: no request transaction (see service.authenticate), and the
    # app's state is read inline, as each resolved dependency costs more than this route's
    # own work on a cached session.
    state = request.app.state
    settings: Settings = state.settings
    now = state.clock()
    token, presented_by = credentials.presented_token(request, settings)
    pool: AsyncConnectionPool = state.session_pool
    current = await service.authenticate(
        pool.connection,
        token=token,
        presented_by=presented_by,
        now=now,
        settings=settings,
        cache=state.session_cache,
    )
    return _json(_session_read(request, current, now=now, settings=settings))


@router.delete(
    "/session", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(403, 415)
)
async def logout(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, cache: CacheDep
) -> Response:
    """Log out: the session is revoked and the cookie cleared (idempotent)."""
    token, _ = credentials.presented_token(request, settings)
    await service.logout(session, token=token, now=now, cache=cache)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    credentials.clear_session_cookie(response, settings=settings)
    return response


@router.post(
    "/session/exchange", response_model=SessionRead, responses=problem_responses(401, 403, 415)
)
async def exchange(
    request: Request,
    current: CurrentSession,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    cache: CacheDep,
) -> Response:
    """Trade a legacy bearer session for a cookie session; the bearer token stops working."""
    if current.presented_by != "bearer":
        raise NotAuthenticated("Exchange takes a bearer session token.")
    opened = await service.exchange(
        session,
        current=current,
        cache=cache,
        ip=credentials.client_ip(request, settings),
        user_agent=request.headers.get("user-agent"),
        now=now,
        settings=settings,
    )
    return _with_cookie(request, opened, now=now, settings=settings)


@router.put(
    "/users/me/password",
    response_model=SessionRead,
    # 429: wrong current passwords are throttled as failed logins are.
    responses=problem_responses(401, 403, 415, 429),
)
async def change_password(
    body: PasswordChange,
    request: Request,
    current: CurrentSession,
    session: SessionDep,
    connect: ConnectDep,
    settings: SettingsDep,
    now: NowDep,
    cache: CacheDep,
) -> Response:
    """Change my password: every session of mine ends, and this client gets a new one."""
    opened = await service.change_password(
        session,
        connect=connect,
        current=current,
        current_password=body.current_password,
        new_password=body.new_password,
        ip=credentials.client_ip(request, settings),
        user_agent=request.headers.get("user-agent"),
        now=now,
        settings=settings,
        backing_off=request.app.state.backing_off,
        cache=cache,
    )
    return _with_cookie(request, opened, now=now, settings=settings)


@router.get("/sessions", responses=problem_responses(401))
async def list_sessions(
    current: CurrentSession, session: SessionDep, settings: SettingsDep, now: NowDep
) -> list[DeviceRead]:
    """My signed-in devices, most recently used first."""
    rows = await service.list_sessions(session, user_id=current.user_id, now=now, settings=settings)
    return [
        DeviceRead(
            **row,
            device=describe_device(row["user_agent"]),
            current=row["id"] == current.session_id,
        )
        for row in rows
    ]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 415, 404),
)
async def revoke_session(
    session_id: uuid.UUID,
    current: CurrentSession,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    cache: CacheDep,
) -> None:
    """Sign out one of my devices (needs a password login under an hour old)."""
    await service.revoke_session(
        session,
        current=current,
        session_id=session_id,
        now=now,
        settings=settings,
        cache=cache,
    )


@router.delete("/sessions", responses=problem_responses(401, 403, 415))
async def revoke_other_sessions(
    current: CurrentSession,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    cache: CacheDep,
) -> RevokedRead:
    """Sign out everywhere else (needs a password login under an hour old)."""
    revoked = await service.revoke_other_sessions(
        session, current=current, now=now, settings=settings, cache=cache
    )
    return RevokedRead(revoked=revoked)


@well_known.get("/.well-known/jwks.json")
async def jwks(request: Request) -> Response:
    """The public keys that verify passports (every configured key, current one first)."""
    keys: PassportKeys = request.app.state.passport_keys
    return Response(
        keys.jwks_json,
        media_type="application/json",
        headers={"cache-control": "public, max-age=300"},
    )


@well_known.post(
    "/v1/service-token",
    responses=problem_responses(401, 413, 422),  # 401: invalid client credentials
)
async def service_token(
    body: service_tokens.ServiceTokenRequest, request: Request, settings: SettingsDep, now: NowDep
) -> service_tokens.ServiceTokenRead:
    """A service passport (at most 60 s) for an internal caller's client credentials."""
    client = service_tokens.authenticate(
        settings.service_clients, client_id=body.client_id, client_secret=body.client_secret
    )
    keys: PassportKeys = request.app.state.passport_keys
    token, expires_at = service_tokens.sign(
        keys, client=client, audience=settings.passport_audience, now=now, ttl=settings.passport_ttl
    )
    return service_tokens.ServiceTokenRead(token=token, expires_at=expires_at, scope=client.scopes)
