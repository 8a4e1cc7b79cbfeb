"""Session tokens `<session id>.<secret>`: 32 random bytes, of which only SHA-256 is stored.

The id finds the row by primary key; the secret proves possession. A dump of the table holds
ids and hashes only, and a hash is not a secret: sending it back hashes it again and fails.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

SECRET_BYTES = 32
_SECRET_CHARS = 43  # base64url of 32 bytes, unpadded


@dataclass(frozen=True, slots=True)
class Token:
    session_id: uuid.UUID
    secret: bytes

    def __str__(self) -> str:
        encoded = base64.urlsafe_b64encode(self.secret).rstrip(b"=").decode()
        return f"{self.session_id}.{encoded}"


def new_token() -> Token:
    return Token(session_id=uuid.uuid4(), secret=secrets.token_bytes(SECRET_BYTES))


def parse(text: str) -> Token | None:
    """The token in `text`, or None when it is not one (before any database read)."""
    session_id, dot, encoded = text.partition(".")
    if not dot or len(encoded) != _SECRET_CHARS or len(session_id) != 36:
        return None
    try:
        token = Token(
            session_id=uuid.UUID(session_id),
            secret=base64.urlsafe_b64decode(encoded + "="),
        )
    except (ValueError, binascii.Error):
        return None
    return token if len(token.secret) == SECRET_BYTES else None


def secret_hash(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def matches(secret: bytes, stored_hash: bytes) -> bool:
    """Constant-time comparison, so response times say nothing about the stored hash."""
    return hmac.compare_digest(secret_hash(secret), stored_hash)


def session_ref(session_id: uuid.UUID) -> str:
    """What logs name a session by: a hash of its id, so a log line can be matched to a row
    (by hashing the row's id) while no log holds a token's half."""
    return hashlib.sha256(b"pgstack-session:" + session_id.bytes).hexdigest()[:16]
