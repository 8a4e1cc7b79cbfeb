"""A test key standing in for auth_service's: it mints passports and publishes its JWKS."""

import json
import time
import uuid
from collections.abc import Generator

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm


class PassportKey:
    """An Ed25519 key: `jwks` goes into PASSPORT_JWKS, `mint` signs passports with it."""

    def __init__(self) -> None:
        self.kid = f"test-{uuid.uuid4().hex[:8]}"
        self.private = Ed25519PrivateKey.generate()
        public = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = json.dumps(
            {"keys": [{**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}
        )

    def mint(self, user_id: int, *, expires_in: int = 60, audience: str = "pgstack") -> str:
        """A passport as auth_service mints it: sub, sid, aud, iat, exp (<= 60 s), jti."""
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "sid": str(uuid.uuid4()),
            "aud": audience,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})

    def headers(self, user_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(user_id)}"}


class PassportAuth(httpx.Auth):
    """A fresh passport on each request: tests that wait on a worker outlive one."""

    def __init__(self, key: PassportKey, user_id: int) -> None:
        self.key = key
        self.user_id = user_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.key.headers(self.user_id))
        yield request
