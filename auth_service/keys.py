"""The Ed25519 keys that sign passports, and the JWKS that publishes their public halves.

Keys are parsed once per process: signing then costs one Ed25519 signature (~26 us; ~48 us
with the JWT around it) and the JWKS response is serialised once. The session check, which
every page view makes, hands out a session's passport again for the first quarter of its life
(`recent`) instead of minting one per call: that signature was a sixth of the check's CPU.
"""

import base64
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from shared.passport import ALGORITHM


class InvalidKey(ValueError):
    """A configured passport key is not an Ed25519 private key (PEM or JWK)."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    public_jwk: dict[str, str]


def thumbprint(public_jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint: the key id is derived from the key, so every replica agrees."""
    canonical = json.dumps(
        {"crv": public_jwk["crv"], "kty": public_jwk["kty"], "x": public_jwk["x"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def load_key(source: str | dict[str, Any]) -> SigningKey:
    """A signing key from a PEM (PKCS#8) string or a private OKP JWK (its `kid` is kept)."""
    try:
        loaded: object
        if isinstance(source, dict):
            loaded = OKPAlgorithm.from_jwk(source)
            kid = source.get("kid")
        else:
            loaded = serialization.load_pem_private_key(source.encode(), password=None)
            kid = None
    except (ValueError, TypeError, jwt.InvalidKeyError) as exc:
        raise InvalidKey() from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise InvalidKey()
    public = OKPAlgorithm.to_jwk(loaded.public_key(), as_dict=True)
    public_jwk = {"kty": public["kty"], "crv": public["crv"], "x": public["x"]}
    kid = kid or thumbprint(public_jwk)
    return SigningKey(
        kid=kid, private_key=loaded, public_jwk={**public_jwk, "kid": kid, "alg": ALGORITHM}
    )


def generate_pem() -> str:
    """A fresh private key as PEM: what to put in AUTH_PASSPORT_PRIVATE_KEYS."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


class PassportKeys:
    """The configured keys: the first signs, all are published."""

    def __init__(self, keys: list[SigningKey], *, recent_limit: int = 100_000) -> None:
        if not keys:
            raise InvalidKey("At least one passport key is needed.")
        self.keys = keys
        self.signing = keys[0]
        self._headers = {"kid": self.signing.kid}
        self.jwks_json = json.dumps({"keys": [key.public_jwk for key in keys]}).encode()
        # (session, user, roles, audience) -> (minted at, passport, expires at); emptied when
        # full, which costs each session one signature more.
        self._recent: dict[tuple[Any, ...], tuple[float, str, dt.datetime]] = {}
        self._recent_limit = recent_limit

    @classmethod
    def from_settings(cls, sources: list[str | dict[str, Any]]) -> "PassportKeys":
        """The configured keys, or (development and tests only: settings refuse an empty list
        in production) one generated for this process."""
        return cls([load_key(source) for source in sources or [generate_pem()]])

    def sign(
        self,
        *,
        user_id: int,
        session_id: uuid.UUID,
        audience: str,
        now: dt.datetime,
        ttl: dt.timedelta,
        roles: Sequence[str] = (),
    ) -> tuple[str, dt.datetime]:
        """A passport for this session, and when it expires. `roles` only when there are any,
        so most passports (every page view mints one) stay as short as before."""
        issued = int(now.timestamp())
        expires = issued + int(ttl.total_seconds())
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "sid": str(session_id),
            "aud": audience,
            "iat": issued,
            "exp": expires,
            "jti": uuid.uuid4().hex,
        }
        if roles:
            claims["roles"] = list(roles)
        token = jwt.encode(claims, self.signing.private_key, ALGORITHM, headers=self._headers)
        return token, dt.datetime.fromtimestamp(expires, dt.UTC)

    def recent(
        self,
        *,
        user_id: int,
        session_id: uuid.UUID,
        audience: str,
        now: dt.datetime,
        ttl: dt.timedelta,
        roles: Sequence[str] = (),
    ) -> tuple[str, dt.datetime]:
        """The passport minted for this session less than a quarter of `ttl` ago, else a new
        one: it still has three quarters of its life, and it names the same user, session and
        roles (a change of roles mints a new one; a revoked session gets none, as the check
        refuses it before asking)."""
        key = (session_id, user_id, tuple(roles), audience)
        minted = now.timestamp()
        entry = self._recent.get(key)
        if entry is not None and 0 <= minted - entry[0] < ttl.total_seconds() / 4:
            return entry[1], entry[2]
        token, expires_at = self.sign(
            user_id=user_id,
            session_id=session_id,
            audience=audience,
            now=now,
            ttl=ttl,
            roles=roles,
        )
        if len(self._recent) >= self._recent_limit:
            self._recent.clear()
        self._recent[key] = (minted, token, expires_at)
        return token, expires_at


if __name__ == "__main__":
    # `python -m auth_service.keys`: a new key for AUTH_PASSPORT_PRIVATE_KEYS.
    print(generate_pem(), end="")
