"""Passports: short-lived EdDSA JWTs minted by auth_service, verified offline by the others.

A service never reads the session table: it checks the signature against auth_service's public
keys (JWKS, fetched once and again only for an unknown key id), the audience and the expiry,
and refuses sessions revoked since the passport was minted (fed by `NOTIFY session_revoked`).
"""

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import Unauthorized
from shared.listener import Listener
from shared.settings import ServiceSettings

logger = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
# auth_service sends `NOTIFY session_revoked, '<session id>'` when it revokes a session.
REVOCATION_CHANNEL = "session_revoked"
# Passports live at most 60 s; a revocation is remembered at least this long.
REVOCATION_MEMORY_SECONDS = 120
# Verified passports are kept until they expire: verification costs ~80 us, a dict lookup ~0.
_CACHE_LIMIT = 50_000


class InvalidPassport(Unauthorized):
    """The passport is missing, invalid or expired."""


@dataclass(frozen=True, slots=True)
class Passport:
    user_id: int
    session_id: uuid.UUID
    expires_at: float


class RevokedSessions:
    """Session ids revoked recently; kept until every passport they could hold has expired."""

    def __init__(self, keep_seconds: float = REVOCATION_MEMORY_SECONDS) -> None:
        self.keep_seconds = keep_seconds
        self._until: dict[uuid.UUID, float] = {}

    def add(self, session_id: uuid.UUID) -> None:
        now = time.time()
        self._until[session_id] = now + self.keep_seconds
        if len(self._until) > 1000:
            self._until = {sid: t for sid, t in self._until.items() if t > now}

    def __contains__(self, session_id: uuid.UUID) -> bool:
        return session_id in self._until


class PassportVerifier:
    def __init__(
        self,
        *,
        audience: str,
        jwks: dict[str, Any] | None = None,
        jwks_url: str | None = None,
        revoked: RevokedSessions | None = None,
    ) -> None:
        if jwks is None and jwks_url is None:
            raise ValueError("a passport verifier needs a JWKS or the URL of one")
        self.audience = audience
        self.jwks_url = jwks_url
        self.revoked = revoked or RevokedSessions()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._verified: dict[str, Passport] = {}
        self._last_fetch = 0.0
        self._fetching = asyncio.Lock()
        if jwks is not None:
            self._load(jwks)

    def _load(self, jwks: dict[str, Any]) -> None:
        self._keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys if key.key_id}

    async def refresh(self) -> None:
        """Fetch the JWKS again (at most every 5 s: unknown key ids must not hammer auth)."""
        if self.jwks_url is None:
            return
        # Concurrent first requests with a new key id wait for the one fetch in flight instead
        # of returning early (throttled) and answering 401 before the keys arrive.
        async with self._fetching:
            if time.monotonic() - self._last_fetch < 5:
                return
            self._last_fetch = time.monotonic()
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(self.jwks_url)
                response.raise_for_status()
                self._load(response.json())

    async def verify(self, token: str) -> Passport:
        now = time.time()
        passport = self._verified.get(token)
        if passport is None:
            passport = await self._decode(token)
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified = {t: p for t, p in self._verified.items() if p.expires_at > now}
            self._verified[token] = passport
        if passport.expires_at <= now:
            self._verified.pop(token, None)
            raise InvalidPassport("The passport has expired.")
        if passport.session_id in self.revoked:
            raise InvalidPassport("The session has been revoked.")
        return passport

    async def _decode(self, token: str) -> Passport:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if kid not in self._keys:
                await self.refresh()
            key = self._keys.get(kid or "")
            if key is None:
                raise InvalidPassport("The passport is signed by an unknown key.")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                options={"require": ["sub", "sid", "aud", "exp", "iat"]},
            )
            return Passport(
                user_id=int(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                expires_at=float(claims["exp"]),
            )
        except (jwt.PyJWTError, ValueError, KeyError, httpx.HTTPError) as exc:
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
        revoked=revoked,
    )
