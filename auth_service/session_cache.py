"""Session rows kept in memory between revocations, so the session check skips Postgres.

A row changes only when the session is revoked (which notifies `session_revoked`) or its
last-seen is renewed (hourly, by this code). So a row read once stays true until a
notification says otherwise. Three guards keep the cache honest:
- it is used only while the process's LISTEN connection is up, and emptied when it reconnects
  (notifications may have been missed in between);
- every revocation bumps a generation, and a row read before a revocation arrived is not
  stored, so an in-flight read cannot bring a revoked session back;
- entries expire after `ttl` anyway, bounding any change made behind the code's back (a
  hand-written UPDATE that sends no notification).
The secret is still compared on every request: the cache holds the hash, never a verdict.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Row = TypeVar("Row")


@dataclass(slots=True)
class _Entry(Generic[Row]):
    row: Row
    until: float


class SessionCache(Generic[Row]):
    def __init__(
        self, *, ttl_seconds: float, live: Callable[[], bool], max_entries: int = 100_000
    ) -> None:
        """`live()` says whether notifications are flowing (the LISTEN connection is up)."""
        self.ttl_seconds = ttl_seconds
        self.live = live
        self.max_entries = max_entries
        self.generation = 0
        self._entries: dict[uuid.UUID, _Entry[Row]] = {}

    def get(self, session_id: uuid.UUID) -> Row | None:
        if not self.live():
            return None
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        if entry.until < time.monotonic():
            self._entries.pop(session_id, None)
            return None
        return entry.row

    def put(self, session_id: uuid.UUID, row: Row, *, generation: int) -> None:
        """Store a row read when the generation was `generation` (read it before the query)."""
        if self.ttl_seconds <= 0 or generation != self.generation or not self.live():
            return
        now = time.monotonic()
        if len(self._entries) >= self.max_entries:
            self._entries = {sid: e for sid, e in self._entries.items() if e.until >= now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[session_id] = _Entry(row, now + self.ttl_seconds)

    def revoked(self, session_id: uuid.UUID) -> None:
        self.generation += 1
        self._entries.pop(session_id, None)

    def on_notification(self, payload: str) -> None:
        try:
            session_id = uuid.UUID(payload)
        except ValueError:  # not ours to judge: forget everything rather than guess
            self.clear()
            return
        self.revoked(session_id)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
