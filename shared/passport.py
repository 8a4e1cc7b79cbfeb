"""Passports: short-lived EdDSA JWTs minted by auth_service, verified offline by the others.

A service never reads the session table: it checks the signature against auth_service's public
keys, the audience and the expiry, and refuses sessions revoked since the passport was minted
(fed by `NOTIFY session_revoked`). The keys (JWKS) are PyJWT's `PyJWKClient`'s: fetched again
once they are `PASSPORT_JWKS_REFRESH_SECONDS` old (or for an unknown key id, at most every
`UNKNOWN_KEY_COOLDOWN` seconds), so a key auth_service no longer publishes stops verifying
within that interval, passports already verified with it included.

Two kinds: a user's (`sub` = user id, `sid` = session id) and a service's (`sub` =
`service:<client id>`, `scope` = what it may do, `kinds` = the job kinds it may enqueue; minted
by `POST /v1/service-token` for internal endpoints). Neither is accepted where the other is
expected. Whatever the signature, a passport that claims to live longer than any auth_service
mints (a leaked signing key's year-long token) is refused, and claims of the wrong type are a
401, never a 500.
"""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import AppError, Forbidden, Unauthorized
from shared.listener import Listener
from shared.settings import ServiceSettings
from shared.validation import INT64_MAX

logger = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
# auth_service sends `NOTIFY session_revoked, '<session id>'` when it revokes a session.
REVOCATION_CHANNEL = "session_revoked"
# Passports live at most 60 s (auth_service's AUTH_PASSPORT_TTL is capped there); a verifier
# allows this much clock difference between machines on top, and refuses anything longer.
MAX_PASSPORT_SECONDS = 60
LEEWAY_SECONDS = 5
# A revocation is remembered at least this long, beyond any passport of the session.
REVOCATION_MEMORY_SECONDS = 120
SERVICE_SUBJECT_PREFIX = "service:"
# Verified passports are kept until they expire: verification costs ~80 us, a dict lookup ~0.
_CACHE_LIMIT = 50_000
# A passport with a key id the set lacks fetches the set again, but not more often than this:
# forged key ids must not make every request a fetch from auth_service.
UNKNOWN_KEY_COOLDOWN = 5.0
FETCH_TIMEOUT = 2.0


class InvalidPassport(Unauthorized):
    """The passport is missing, invalid or expired."""


@dataclass(frozen=True, slots=True)
class Passport:
    user_id: int
    session_id: uuid.UUID
    expires_at: float
    # The account's roles when the passport was minted ("operator": the ops API).
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ServicePassport:
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    # The job kinds this client may enqueue (its AUTH_SERVICE_CLIENTS entry's `kinds`).
    kinds: frozenset[str] = frozenset()


class RevokedSessions:
    """Session ids revoked recently; kept until every passport they could hold has expired."""

    def __init__(self, keep_seconds: float = REVOCATION_MEMORY_SECONDS) -> None:
        self.keep_seconds = keep_seconds
        self._until: dict[uuid.UUID, float] = {}
        self._callbacks: list[Callable[[uuid.UUID], None]] = []

    def add(self, session_id: uuid.UUID) -> None:
        now = time.time()
        self._until[session_id] = now + self.keep_seconds
        if len(self._until) > 1000:
            self._until = {sid: t for sid, t in self._until.items() if t > now}
        for callback in self._callbacks:
            callback(session_id)

    def on_revoke(self, callback: Callable[[uuid.UUID], None]) -> None:
        """Call `callback(session_id)` on each revocation: what outlives a passport check (a
        stream) ends with its session."""
        self._callbacks.append(callback)

    def __contains__(self, session_id: uuid.UUID) -> bool:
        return session_id in self._until


class KeysUnavailable(AppError):
    """auth_service's passport keys cannot be fetched; try again shortly."""

    status = 503
    title = "Service unavailable"


class PassportVerifier:
    def __init__(
        self,
        *,
        audience: str,
        jwks: dict[str, Any] | None = None,
        jwks_url: str | None = None,
        refresh_seconds: float = 60,
        revoked: RevokedSessions | None = None,
    ) -> None:
        if jwks is None and jwks_url is None:
            raise ValueError("a passport verifier needs a JWKS or the URL of one")
        self.audience = audience
        self.revoked = revoked or RevokedSessions()
        # An inline JWKS is fixed for the process's life; a URL is fetched and kept by PyJWT's
        # client (its JWK set cache expires after `refresh_seconds`).
        self._fixed = (
            {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys if key.key_id}
            if jwks is not None
            else None
        )
        self._client = (
            jwt.PyJWKClient(
                jwks_url,
                lifespan=refresh_seconds,
                cooldown_duration=UNKNOWN_KEY_COOLDOWN,
                timeout=FETCH_TIMEOUT,
            )
            if jwks_url is not None and jwks is None
            else None
        )
        # Verified passports with the key id that signed them, until they expire.
        self._verified: dict[str, tuple[Passport | ServicePassport, str]] = {}
        self._fetching = asyncio.Lock()

    def _published_key(self, kid: str) -> jwt.PyJWK | None:
        """The key with this id in the set as last fetched; None also when that set is older
        than the refresh interval (then it must be fetched again before anything verifies)."""
        if self._fixed is not None:
            return self._fixed.get(kid)
        assert self._client is not None
        assert self._client.jwk_set_cache is not None
        published = self._client.jwk_set_cache.get()
        if published is None:
            return None
        return next((key for key in published.keys if key.key_id == kid), None)

    async def _key(self, kid: str) -> jwt.PyJWK:
        """The published key `kid`, fetching the set when it is stale or lacks the id."""
        key = self._published_key(kid)
        if key is not None or self._client is None:
            if key is None:
                raise InvalidPassport("The passport is signed by an unknown key.")
            return key
        # One fetch at a time: concurrent first requests wait for it rather than each
        # fetching, and PyJWKClient's urllib call runs in a thread, off the event loop.
        async with self._fetching:
            key = self._published_key(kid)
            if key is None:
                try:
                    key = await asyncio.to_thread(self._client.get_signing_key, kid)
                except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, ValueError) as exc:
                    # auth_service is down or answered something that is no key set: not the
                    # caller's fault, and no reason to think its passport is forged.
                    logger.warning("passport keys not fetched: %s", exc)
                    raise KeysUnavailable(headers={"Retry-After": "2"}) from exc
                except jwt.PyJWKClientError as exc:
                    raise InvalidPassport("The passport is signed by an unknown key.") from exc
        return key

    async def verify(self, token: str) -> Passport:
        """A user's passport: valid, unexpired, of a session not revoked."""
        passport = await self._verified_passport(token)
        if not isinstance(passport, Passport):
            raise InvalidPassport("A user's passport is required.")
        if passport.session_id in self.revoked:
            raise InvalidPassport("The session has been revoked.")
        return passport

    async def verify_service(self, token: str, *, scope: str) -> ServicePassport:
        """A service's passport that grants `scope`."""
        passport = await self._verified_passport(token)
        if not isinstance(passport, ServicePassport):
            raise InvalidPassport("A service passport is required.")
        if scope not in passport.scopes:
            raise InsufficientScope(f"The service passport does not grant {scope!r}.")
        return passport

    async def _verified_passport(self, token: str) -> Passport | ServicePassport:
        now = time.time()
        verified = self._verified.get(token)
        if verified is None:
            passport, kid = await self._decode(token, now)
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified = {
                    t: (p, k) for t, (p, k) in self._verified.items() if p.expires_at > now
                }
            self._verified[token] = passport, kid
        else:
            passport, kid = verified
            # Its key may have been withdrawn since: a rotation ends trust in what it signed.
            await self._key(kid)
        if passport.expires_at <= now:
            self._verified.pop(token, None)
            raise InvalidPassport("The passport has expired.")
        return passport

    async def _decode(self, token: str, now: float) -> tuple[Passport | ServicePassport, str]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidPassport() from exc
        if not isinstance(kid, str):
            raise InvalidPassport("The passport is signed by an unknown key.")
        key = await self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                options={"require": ["sub", "aud", "exp", "iat"]},
                # For an issuer whose clock is ahead (`iat` in the future); the expiry is
                # checked again without leeway on every use (_verified_passport).
                leeway=LEEWAY_SECONDS,
            )
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise InvalidPassport() from exc
        expires, issued = claims["exp"], claims["iat"]
        # PyJWT takes numeric strings too; these are compared here, so only numbers will do.
        if not all(
            isinstance(t, int | float) and not isinstance(t, bool) for t in (expires, issued)
        ):
            raise InvalidPassport()
        longest = MAX_PASSPORT_SECONDS + LEEWAY_SECONDS
        if expires - issued > longest or expires - now > longest:
            raise InvalidPassport("The passport claims to live longer than any passport does.")
        return _passport_of(claims), kid


class InsufficientScope(Forbidden):
    """The service passport does not grant this."""


def _passport_of(claims: dict[str, Any]) -> Passport | ServicePassport:
    """The passport these verified claims describe; a claim of the wrong type is a 401."""
    subject = claims["sub"]
    if not isinstance(subject, str):
        raise InvalidPassport()
    if subject.startswith(SERVICE_SUBJECT_PREFIX):
        scopes, kinds = claims.get("scope"), claims.get("kinds", [])
        client_id = subject.removeprefix(SERVICE_SUBJECT_PREFIX)
        if not client_id or not isinstance(scopes, list) or not isinstance(kinds, list):
            raise InvalidPassport()
        if not all(isinstance(value, str) for value in (*scopes, *kinds)):
            raise InvalidPassport()
        return ServicePassport(
            client_id=client_id,
            scopes=frozenset(scopes),
            expires_at=float(claims["exp"]),
            kinds=frozenset(kinds),
        )
    session_id = claims.get("sid")
    # `isdecimal` and the bound: a user id is a positive bigint, and `int()` alone would take
    # " 7", "٣" or a 4300-digit number.
    if not subject.isascii() or not subject.isdecimal() or not isinstance(session_id, str):
        raise InvalidPassport()
    user_id = int(subject)
    roles = claims.get("roles", [])
    if not 1 <= user_id <= INT64_MAX or not isinstance(roles, list):
        raise InvalidPassport()
    if not all(isinstance(role, str) for role in roles):
        raise InvalidPassport()
    try:
        return Passport(
            user_id=user_id,
            session_id=uuid.UUID(session_id),
            expires_at=float(claims["exp"]),
            roles=frozenset(roles),
        )
    except ValueError as exc:
        raise InvalidPassport() from exc


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def require_passport(request: Request) -> Passport:
    """The caller's passport from `Authorization: Bearer <passport>`; 401 problem otherwise."""
    token = bearer_token(request)
    if token is None:
        raise InvalidPassport("A passport is required.", headers={"WWW-Authenticate": "Bearer"})
    verifier: PassportVerifier = request.app.state.passport_verifier
    return await verifier.verify(token)


CurrentPassport = Annotated[Passport, Depends(require_passport)]


async def require_service_passport(request: Request, scope: str) -> ServicePassport:
    """The calling service's passport, granting `scope`; 401 (or 403 for the scope) otherwise."""
    token = bearer_token(request)
    if token is None:
        raise InvalidPassport(
            "A service passport is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    verifier: PassportVerifier = request.app.state.passport_verifier
    return await verifier.verify_service(token, scope=scope)


def service_route(scope: str) -> type[APIRoute]:
    """A route class (`APIRouter(route_class=...)`) for internal endpoints: the caller's
    service passport is checked before anything else, the body included, so an unknown caller
    gets its 401 without the service reading or parsing what it sent."""

    class ServicePassportRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def checked(request: Request) -> Response:
                await require_service_passport(request, scope)
                return await handler(request)

            return checked

    return ServicePassportRoute


async def start_verifier(
    settings: ServiceSettings, engine: AsyncEngine, listener: Listener
) -> PassportVerifier:
    """A verifier for this process, fed with revocations: those recent enough to matter
    (read once at start) and every later one, by NOTIFY, within milliseconds."""
    revoked = RevokedSessions()
    listener.subscribe(REVOCATION_CHANNEL, lambda payload: revoked.add(uuid.UUID(payload)))

    async def load_recent() -> None:
        async with engine.connect() as conn:
            recent = await conn.scalars(
                text(
                    "SELECT id FROM user_sessions"
                    " WHERE revoked_at > now() - make_interval(secs => :seconds)"
                ),
                {"seconds": REVOCATION_MEMORY_SECONDS},
            )
            for session_id in recent:
                revoked.add(session_id)

    # Again after every reconnect: revocations sent while the listener was away are not lost.
    listener.on_reconnect(load_recent)
    try:
        await load_recent()
    except (OSError, SQLAlchemyError) as exc:
        # The database is down at start: the service starts anyway (its routes answer 503
        # until the database is back) and the listener's reconnect loads the revocations.
        logger.warning("revocations not loaded at start: %s", exc.__class__.__name__)
    return PassportVerifier(
        audience=settings.passport_audience,
        jwks=json.loads(settings.passport_jwks) if settings.passport_jwks else None,
        jwks_url=settings.passport_jwks_url,
        refresh_seconds=settings.passport_jwks_refresh_seconds,
        revoked=revoked,
    )
