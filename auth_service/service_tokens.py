"""Service passports: a service trades its client credentials for a passport that lets it call
another service's internal endpoints (`POST /v1/service-token`).

Threat model: internal endpoints used to take long-lived shared secrets, the same string
presented to every service on every call, so one leaked log line or proxy trace gave lasting
access. Now the secret only ever travels to auth_service; what other services see is a passport
of at most 60 s, naming the caller (`sub` = `service:<client id>`), what it may do (`scope`)
and which job kinds it may enqueue (`kinds`).

auth_service stores no secret, only its SHA-256 digest (the secrets are random 256-bit strings:
no dictionary to try, so a slow hash would add cost and nothing else). The presented secret is
compared with every configured digest in constant time, so timing tells nothing. A client id
may appear more than once: that is how a secret is rotated (add the new one, move the caller
over, remove the old one).
"""

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from typing import Annotated

import jwt
from pydantic import BaseModel, Field, StringConstraints, model_validator

from auth_service.keys import PassportKeys
from shared.errors import Unauthorized
from shared.passport import ALGORITHM, SERVICE_SUBJECT_PREFIX
from shared.validation import PlainText

ClientId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9:_.-]+$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Kind = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w:.-]+$")]
ENQUEUE_SCOPE = "jobs:enqueue"
# Procrastinate registers its own tasks under both names (job_service refuses them anyway).
BUILTIN_PREFIXES = ("builtin:", "procrastinate.")


class ServiceClient(BaseModel):
    """One entry of AUTH_SERVICE_CLIENTS."""

    client_id: ClientId
    secret_sha256: Sha256Hex
    scopes: list[Scope] = Field(min_length=1)
    # The job kinds it may enqueue (`POST /internal/v1/jobs`), carried by its passports.
    kinds: list[Kind] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kinds_to_enqueue(self) -> "ServiceClient":
        # A client that may enqueue names what: job_service refuses every kind not listed,
        # so an entry without any would fail every call rather than at start.
        if ENQUEUE_SCOPE in self.scopes and not self.kinds:
            raise ValueError(f"{self.client_id}: the {ENQUEUE_SCOPE} scope needs `kinds`")
        if any(kind.startswith(BUILTIN_PREFIXES) for kind in self.kinds):
            raise ValueError(f"{self.client_id}: Procrastinate's builtin tasks are never enqueued")
        return self


class ServiceTokenRequest(BaseModel):
    client_id: Annotated[PlainText, StringConstraints(min_length=1, max_length=64)]
    client_secret: Annotated[PlainText, StringConstraints(min_length=1, max_length=256)]


class ServiceTokenRead(BaseModel):
    # An EdDSA JWT for `Authorization: Bearer` on another service's internal endpoints.
    token: str
    expires_at: dt.datetime
    scope: list[str]


class InvalidClient(Unauthorized):
    """The client credentials are not valid."""


def digest(secret: str) -> str:
    """What AUTH_SERVICE_CLIENTS stores for a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def authenticate(
    clients: list[ServiceClient], *, client_id: str, client_secret: str
) -> ServiceClient:
    """The configured client these credentials match, or InvalidClient."""
    presented = digest(client_secret).encode()
    matched: ServiceClient | None = None
    # Every entry is compared, matching or not, so the answer takes as long for any input.
    for client in clients:
        same_secret = hmac.compare_digest(presented, client.secret_sha256.encode())
        if same_secret and hmac.compare_digest(client_id.encode(), client.client_id.encode()):
            matched = client
    if matched is None:
        raise InvalidClient()
    return matched


def sign(
    keys: PassportKeys,
    *,
    client: ServiceClient,
    audience: str,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> tuple[str, dt.datetime]:
    """A service passport for this client, and when it expires."""
    issued = int(now.timestamp())
    expires = issued + int(ttl.total_seconds())
    claims = {
        "sub": SERVICE_SUBJECT_PREFIX + client.client_id,
        "scope": client.scopes,
        **({"kinds": client.kinds} if client.kinds else {}),
        "aud": audience,
        "iat": issued,
        "exp": expires,
        "jti": uuid.uuid4().hex,
    }
    headers = {"kid": keys.signing.kid}
    token = jwt.encode(claims, keys.signing.private_key, ALGORITHM, headers=headers)
    return token, dt.datetime.fromtimestamp(expires, dt.UTC)


if __name__ == "__main__":
    # `python -m auth_service.service_tokens`: a new secret for the caller, and the digest for
    # AUTH_SERVICE_CLIENTS.
    secret = secrets.token_urlsafe(32)
    print(f"client_secret: {secret}\nsecret_sha256: {digest(secret)}")
