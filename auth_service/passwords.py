"""Password hashing: argon2id for every new hash; legacy bcrypt hashes verify once. New
passwords that appear in a breach corpus's list of the most common ones are refused.

Hashing is CPU work of tens of milliseconds, so it runs in a thread and never blocks the event
loop. Unknown accounts are checked against a dummy hash, so answering "no such account" takes
as long as answering "wrong password".
"""

import asyncio
import concurrent.futures
import functools
import os
from collections.abc import Callable
from typing import TypeVar

import argon2
import bcrypt
from zxcvbn.frequency_lists import FREQUENCY_LISTS

# OWASP's recommended argon2id parameters (19 MiB, 2 passes, 1 lane).
_HASHER = argon2.PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, type=argon2.Type.ID
)
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
T = TypeVar("T")
# The legacy system's bcrypt silently used only the first 72 bytes of a password.
_BCRYPT_MAX_BYTES = 72


# zxcvbn's list of the 30,000 passwords most often found in leaked password dumps (maintained
# with the package), as NIST SP 800-63B asks: "values known to be commonly-used or compromised".
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])


def weakness(password: str, *, email: str | None = None) -> str | None:
    """Why `password` may not be chosen, or None. Compared case-insensitively, as guessing
    tools try every case of a common password."""
    if password.lower() in _COMMON:
        return "this password is one of the 30,000 most common in breached password lists"
    if email is not None and password.strip().lower() in {email, email.partition("@")[0]}:
        return "this password is your email address"
    return None


def _hash(password: str) -> str:
    return _HASHER.hash(password)


def _verify(password: str, hashed: str) -> bool:
    if hashed.startswith(_BCRYPT_PREFIXES):
        try:
            return bcrypt.checkpw(password.encode()[:_BCRYPT_MAX_BYTES], hashed.encode())
        except ValueError:  # a malformed legacy hash matches nothing
            return False
    try:
        return _HASHER.verify(hashed, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hash("not a password anyone has: it only makes a miss take as long as a hit")


# Hashes run on threads of their own, one per core: argon2 is CPU work (more threads than
# cores hash no faster), and every thread that has hashed keeps the hash's 19 MiB in its
# malloc arena after the hash (glibc's dynamic mmap threshold), so the pool's size is what
# auth's memory levels off at. With asyncio's default executor (cores + 4 threads, up to 32)
# auth grew 150 -> 246 MiB in a soak's first 30 s (6 threads x 19 MiB on 2 cores; Python's
# own heap, traced by tracemalloc, +0.1 MiB); with this pool, 2 x 19 MiB.
_HASHING = concurrent.futures.ThreadPoolExecutor(
    max_workers=os.cpu_count() or 1, thread_name_prefix="password-hash"
)


async def _hashing(function: Callable[..., T], *args: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, function, *args)


async def hash_password(password: str) -> str:
    return await _hashing(_hash, password)


async def verify_password(password: str, hashed: str | None) -> bool:
    """Whether `password` matches; `hashed=None` (no such account) costs the same and fails."""
    if hashed is None:
        await _hashing(_verify, password, _dummy_hash())
        return False
    return await _hashing(_verify, password, hashed)


def needs_rehash(hashed: str) -> bool:
    """Legacy bcrypt, or argon2 with weaker parameters than today's."""
    if hashed.startswith(_BCRYPT_PREFIXES):
        return True
    try:
        return _HASHER.check_needs_rehash(hashed)
    except argon2.exceptions.InvalidHashError:
        return True


def warm_up() -> None:
    """Compute the dummy hash now, so the first unknown-email login is not slower."""
    _dummy_hash()
